"""The pure part of processing a raw item: normalise it, and categorise and route it.

No I/O here, so it can run in this process or, for the large batches of a first import, in a
pool of processes on the other cores (`[ingest] processes`). Failures come back as values, not
exceptions, so a pool never loses the others' results to one bad item.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import traceback
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass

from intake.errors import PermanentError
from intake.schema import PRODUCTS, Complaint, RawMessage, RoutingDecision
from intake.settings import Settings
from normalize.channels import normalize_raw
from normalize.records import Normalized
from routing.route import route, unit_for

POOL_MIN_BATCH = 16  # smaller batches are not worth the trip to another process


@dataclass(frozen=True)
class Prepared:
    normalized: Normalized
    complaint: Complaint
    decision: RoutingDecision | None  # None for auto-submitted mail


@dataclass(frozen=True)
class Failed:
    """Why an item could not be processed; `permanent` when it is the input's fault (not an
    e-mail, …: recorded, not worth a retry) rather than ours or the store's."""

    error: str
    permanent: bool
    trace: str

    @classmethod
    def of(cls, exc: BaseException) -> Failed:
        """The failure `exc` stands for (called where it was caught, for its traceback)."""
        return cls(
            f"{type(exc).__name__}: {exc}",
            isinstance(exc, PermanentError),
            "".join(traceback.format_exception(exc)),
        )


def prepare(raw: RawMessage, settings: Settings) -> Prepared | Failed:
    """Normalise and route one raw item; a failure is returned, never raised."""
    try:
        normalized = normalize_raw(raw, settings)
        complaint = dataclasses.replace(
            normalized.complaint,
            channel=raw.channel,
            source_id=raw.source_id,
            received_at=raw.received_at,
        )
        decision = (
            None
            if complaint.auto_submitted
            else route(complaint.subject, complaint.body, complaint.channel, settings)
        )
        if decision is not None and complaint.product in PRODUCTS:
            decision = with_product_hint(decision, complaint.product, settings)
        return Prepared(normalized, complaint, decision)
    except Exception as exc:
        return Failed.of(exc)


def with_product_hint(
    decision: RoutingDecision, product: str, settings: Settings
) -> RoutingDecision:
    """A product the complainant chose (a web form's menu) outranks the categoriser; a KVKK
    request stays with the data protection contact (`routing.route.unit_for`)."""
    if product == decision.product:
        return decision
    unit = unit_for(product, decision.category, settings)
    to_privacy = unit.code != settings.unit_for(product).code
    return dataclasses.replace(
        decision,
        product=product,
        unit=unit.code,
        queue=unit.queue,
        confidence=1.0,
        decided_by=decision.decided_by if to_privacy else f"hint:{product}",
    )


def prepare_many(
    raws: Sequence[RawMessage], settings: Settings, pool: Executor | None = None
) -> list[Prepared | Failed]:
    """Prepare `raws` in order, on the pool when there is one and the batch is large."""
    if pool is None or len(raws) < POOL_MIN_BATCH:
        return [prepare(raw, settings) for raw in raws]
    chunk = max(1, len(raws) // (4 * _pool_size(pool)))
    return list(pool.map(_prepare_in_worker, raws, chunksize=chunk))


_worker_settings: Settings | None = None


def start_pool(settings: Settings) -> ProcessPoolExecutor | None:
    """The pool of `[ingest] processes` (None below 2), warmed: `intake run` starts it at
    once, so that the first large batch does not wait for it."""
    if settings.ingest.processes < 2:
        return None
    pool = make_pool(settings, settings.ingest.processes)
    warm(pool)
    return pool


def make_pool(settings: Settings, processes: int) -> ProcessPoolExecutor:
    """Worker processes started fresh (forkserver): safe from a threaded daemon."""
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=_init_worker,
        initargs=(settings,),
    )


def _pool_size(pool: Executor) -> int:
    """The number of worker processes of `pool` (its private `_max_workers`, which the
    standard library's type stubs leave out)."""
    return getattr(pool, "_max_workers", None) or 1


def warm(pool: ProcessPoolExecutor) -> None:
    """Start every worker now (imports, the categoriser's model), not on the first batch."""
    workers = _pool_size(pool)
    list(pool.map(_warm_worker, range(workers * 2), chunksize=1))


def _warm_worker(_: int) -> bool:
    from routing.model import default_model

    default_model()
    return True


def _init_worker(settings: Settings) -> None:
    global _worker_settings
    _worker_settings = settings


def _prepare_in_worker(raw: RawMessage) -> Prepared | Failed:
    assert _worker_settings is not None
    return prepare(raw, _worker_settings)
