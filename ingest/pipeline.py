"""The spine: store the raw item first, then normalise, route, record, and enqueue after commit.

`ingest(runtime, raws)` is the one door every channel uses. It stores the items raw in one
commit (with the feed's watermark, when a poller gives one), then processes the new ones, at
once or in the background while the caller fetches more. A second delivery of the same
(channel, source_id) is recorded on the first and creates nothing. An item that cannot be
processed is kept raw, marked failed with its error, and never blocks the next one;
`process(runtime, raw_ids)` processes stored items again (the reconciler, `intake retry`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import records
from ingest.continuation import depends_on, settle
from ingest.prepare import Failed, Prepared, prepare_many
from ingest.records import Outcome, OutcomeStatus
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.states import RawState
from outbound import jobs
from outbound.jobs import Job, Work
from store import repo
from store.models import ComplaintRow, RawMessageRow
from store.repo import Watermark

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    """What the door did with a batch: stored at once; processed now or in the background."""

    stored: list[int | Outcome]  # per item: its new raw id, or the outcome of a duplicate
    processing: Future[dict[int, Outcome]]

    def outcomes(self) -> list[Outcome]:
        """One outcome per item, in order (waits for processing in the background)."""
        processed = self.processing.result()
        return [processed[item] if isinstance(item, int) else item for item in self.stored]


def ingest(
    runtime: Runtime,
    raws: Sequence[RawMessage],
    *,
    watermark: Watermark | None = None,
    background: Executor | None = None,
) -> Ingested:
    """Store every item raw in one commit (with `watermark`), then process the new ones.

    The raw items are committed when this returns. Processing runs here, or on `background`
    (one batch at a time, in order) while the caller goes on; each item is processed in its
    own savepoint, so one bad item never takes the others down with it.
    """
    stored = _store(runtime, raws, watermark)
    new = [item for item in stored if isinstance(item, int)]
    if background is not None:
        return Ingested(stored, background.submit(process, runtime, new))
    done: Future[dict[int, Outcome]] = Future()
    done.set_result(process(runtime, new))
    return Ingested(stored, done)


def _store(
    runtime: Runtime, raws: Sequence[RawMessage], watermark: Watermark | None
) -> list[int | Outcome]:
    """New raw ids, or the outcome of an item already stored (the receipt is recorded)."""
    results: list[int | Outcome] = []
    with runtime.sessions.begin() as session:
        for raw in raws:
            row, created = repo.save_raw(session, raw)
            if created:
                results.append(row.id)
                continue
            repo.add_event(
                session,
                "received_again",
                complaint_id=row.complaint_id,
                raw_message_id=row.id,
                channel=raw.channel,
                mailbox=raw.mailbox,
            )
            reference = _reference_of(session, row.complaint_id)
            log.info("raw %s: %s already stored, nothing new", row.id, raw.channel)
            results.append(Outcome(row.id, OutcomeStatus.DUPLICATE, row.complaint_id, reference))
        if watermark is not None:  # advanced in the same commit as what it covers
            repo.set_watermark(session, watermark)
    return results


def reject(runtime: Runtime, raw: RawMessage, error: str) -> Outcome:
    """Record an item that could not even be read (a failed fetch): kept, counted, failed."""
    with runtime.sessions.begin() as session:
        row, created = repo.save_raw(session, raw)
        if created:
            row.status, row.error = RawState.FAILED, error[:4000]
            repo.add_event(
                session, "failed", raw_message_id=row.id, error=error[:4000], permanent=False
            )
        raw_id = row.id
    log.warning("raw %s: %s", raw_id, error)
    return Outcome(raw_id, OutcomeStatus.FAILED, error=error)


def process(runtime: Runtime, raw_ids: Sequence[int]) -> dict[int, Outcome]:
    """Process stored raw items in one transaction; enqueue after the commit.

    The pure work (normalise, categorise) comes first; mail that continues a complaint, is
    an auto-reply or a copy from another mailbox is settled one by one; new complaints are
    written together. An item that fails is recorded failed on its own.
    """
    outcomes: dict[int, Outcome] = {}
    failures: dict[int, Failed] = {}
    results = _prepare_outside_transaction(runtime, raw_ids, outcomes)
    with runtime.sessions.begin() as session:
        rows = _load(session, list(results), outcomes)
        fresh: list[records.Item] = []
        later: list[records.Item] = []
        for item in _items(rows, results, failures):
            if depends_on(fresh, item):
                later.append(item)  # continues an item of this batch: settled once created
                continue
            settled = _settle_safely(session, runtime, item, failures)
            if isinstance(settled, Outcome):
                outcomes[item.row.id] = settled
            elif settled is not None:
                fresh.append(settled)
        created = records.create_complaints(session, runtime, fresh, failures)
        for item in later:
            settled = _settle_safely(session, runtime, item, failures)
            if isinstance(settled, Outcome):
                outcomes[item.row.id] = settled
            elif settled is not None:  # its own, or its twin failed: it stands on its own
                created += records.create_complaints(session, runtime, [settled], failures)
        for done in created:
            outcomes[done.raw_id] = Outcome(
                done.raw_id, OutcomeStatus.CREATED, done.complaint_id, done.reference
            )
    for raw_id, failed in failures.items():
        outcomes[raw_id] = _record_failure(runtime, raw_id, failed)
    jobs.dispatch(runtime, _work_of(created, outcomes.values()))
    return outcomes


def _work_of(created: list[records.Created], outcomes: Iterable[Outcome]) -> list[Work]:
    """The jobs the processed items owe: each new complaint's ticket (and acknowledgement,
    unless it has no one to answer), each follow-up's forward to the unit."""
    work = []
    for done in created:
        work.append(Work(Job.TICKET, done.complaint_id, done.queue))
        if done.ack_pending:
            work.append(Work(Job.ACK, done.complaint_id, done.queue))
    for outcome in outcomes:
        if outcome.forward_queue:
            work.append(Work(Job.FOLLOWUP, outcome.raw_id, outcome.forward_queue))
        work.extend(outcome.work)
    return work


def _settle_safely(
    session: Session, runtime: Runtime, item: records.Item, failures: dict[int, Failed]
) -> Outcome | records.Item | None:
    """`settle` in a savepoint: a failure is the item's alone (PostgreSQL would otherwise
    abort the whole batch's transaction); None when it failed."""
    try:
        with session.begin_nested():
            return settle(session, runtime, item)
    except Exception as exc:
        failures[item.row.id] = Failed.of(exc)
        return None


def _load(
    session: Session, raw_ids: Sequence[int], outcomes: dict[int, Outcome], lock: bool = True
) -> list[RawMessageRow]:
    """The raw rows still to process, in the order given; others are reported as duplicates."""
    found = {}
    for start in range(0, len(raw_ids), 500):
        chunk = list(raw_ids[start : start + 500])
        query = select(RawMessageRow).where(RawMessageRow.id.in_(chunk))
        if lock:
            query = query.with_for_update()
        found.update({row.id: row for row in session.scalars(query)})
    todo = []
    for raw_id in raw_ids:
        row = found.get(raw_id)
        if row is None or row.status == RawState.PROCESSED:
            outcomes[raw_id] = Outcome(
                raw_id, OutcomeStatus.DUPLICATE, row.complaint_id if row else None
            )
        elif (row.transport or {}).get("refused"):  # refused unread (too large): no retry
            outcomes[raw_id] = Outcome(raw_id, OutcomeStatus.FAILED, error=row.error)
        else:
            todo.append(row)
    return todo


def _prepare_outside_transaction(
    runtime: Runtime, raw_ids: Sequence[int], outcomes: dict[int, Outcome]
) -> dict[int, Prepared | Failed]:
    """The pure work, done before the write transaction opens: a batch of hundreds of mails
    must not hold the database's write lock while it is normalised and categorised."""
    with runtime.sessions() as session:
        rows = _load(session, raw_ids, outcomes, lock=False)
        raws = [
            RawMessage(
                channel=row.channel,
                source_id=row.source_id,
                received_at=row.received_at,
                payload=row.payload,
                mailbox=row.mailbox,
                transport=row.transport,
            )
            for row in rows
        ]
        ids = [row.id for row in rows]
    results = prepare_many(raws, runtime.settings, runtime.pool)
    return dict(zip(ids, results))


def _items(
    rows: list[RawMessageRow], results: dict[int, Prepared | Failed], failures: dict[int, Failed]
) -> list[records.Item]:
    """The prepared items; every row counts one attempt, whatever becomes of it."""
    items = []
    for row in rows:
        row.attempts = (row.attempts or 0) + 1
        result = results[row.id]
        if isinstance(result, Failed):
            failures[row.id] = result
            continue
        items.append(records.Item(row, result.normalized, result.complaint, result.decision))
    return items


def _record_failure(runtime: Runtime, raw_id: int, failed: Failed) -> Outcome:
    """Keep the raw item, mark it failed with the error; the next item goes on."""
    if failed.permanent:
        log.warning("raw %s: rejected: %s", raw_id, failed.error)
    else:
        log.error("raw %s: processing failed\n%s", raw_id, failed.trace)
    with runtime.sessions.begin() as session:
        row = session.get(RawMessageRow, raw_id)
        if row is not None:
            row.status, row.error = RawState.FAILED, failed.error[:4000]
            repo.add_event(
                session,
                "failed",
                raw_message_id=raw_id,
                error=failed.error[:4000],
                permanent=failed.permanent,
            )
    return Outcome(raw_id, OutcomeStatus.FAILED, error=failed.error)


def _reference_of(session: Session, complaint_id: int | None) -> str | None:
    if complaint_id is None:
        return None
    return session.scalar(select(ComplaintRow.reference).where(ComplaintRow.id == complaint_id))
