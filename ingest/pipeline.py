"""The spine: store the raw item first, then normalise, route, record, and enqueue after commit.

`ingest(raw)` is what every channel calls. A second delivery of the same (channel, source_id)
is recorded on the first and creates nothing. An item that cannot be processed is kept raw,
marked failed with its error, and never blocks the next one; `process(raw_id)` retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import records
from ingest.continuation import depends_on, settle
from ingest.prepare import Failed, Prepared, as_exception, prepare_many
from ingest.records import Outcome
from intake.errors import PermanentError
from intake.runtime import Runtime
from intake.schema import RawMessage
from outbound import jobs
from store import repo
from store.models import ComplaintRow, RawMessageRow

log = logging.getLogger(__name__)


def ingest(runtime: Runtime, raw: RawMessage) -> Outcome:
    """Store `raw` (committed before anything else), then process it."""
    return ingest_batch(runtime, [raw])[0]


def ingest_batch(runtime: Runtime, raws: Sequence[RawMessage]) -> list[Outcome]:
    """Store every item raw in one commit, then process the new ones, then enqueue.

    Batches are what make a first import of thousands of mails fast; each item is still
    processed in its own savepoint, so one bad item never takes the others down with it.
    """
    stored = store_all(runtime, raws)
    processed = process_batch(runtime, [item for item in stored if isinstance(item, int)])
    return [processed[item] if isinstance(item, int) else item for item in stored]


def store_all(runtime: Runtime, raws: Sequence[RawMessage]) -> list[int | Outcome]:
    """New raw ids, or the outcome of an item already stored (the receipt is recorded)."""
    results: list[int | Outcome] = []
    with runtime.sessions.begin() as session:
        for raw in raws:
            row, created = repo.save_raw(session, raw)
            if created:
                results.append(row.id)
                continue
            repo.add_event(
                session, "received_again", complaint_id=row.complaint_id, raw_message_id=row.id,
                channel=raw.channel, mailbox=raw.mailbox,
            )
            reference = _reference_of(session, row.complaint_id)
            log.info("raw %s: %s already stored, nothing new", row.id, raw.channel)
            results.append(Outcome(row.id, "duplicate", row.complaint_id, reference))
    return results


def reject(runtime: Runtime, raw: RawMessage, error: str) -> Outcome:
    """Record an item that could not even be read (a failed fetch): kept, counted, failed."""
    with runtime.sessions.begin() as session:
        row, created = repo.save_raw(session, raw)
        if created:
            row.status, row.error = "failed", error[:4000]
            repo.add_event(session, "failed", raw_message_id=row.id, error=error[:4000],
                           permanent=False)
        raw_id = row.id
    log.warning("raw %s: %s", raw_id, error)
    return Outcome(raw_id, "failed", error=error)


def process(runtime: Runtime, raw_id: int) -> Outcome:
    """Normalise, route and record raw item `raw_id`; failures are recorded on it."""
    return process_batch(runtime, [raw_id])[raw_id]


def process_batch(runtime: Runtime, raw_ids: Sequence[int]) -> dict[int, Outcome]:
    """Process stored raw items in one transaction; enqueue after the commit.

    The pure work (normalise, categorise) comes first; mail that continues a complaint, is
    an auto-reply or a copy from another mailbox is settled one by one; new complaints are
    written together. An item that fails is recorded failed on its own.
    """
    outcomes: dict[int, Outcome] = {}
    failures: list[tuple[int, Exception]] = []
    results = _prepare_outside_transaction(runtime, raw_ids, outcomes)
    with runtime.sessions.begin() as session:
        rows = _load(session, list(results), outcomes)
        fresh: list[records.Prepared] = []
        later: list[records.Prepared] = []
        for item in _prepared(rows, results, failures):
            outcome = _settle_safely(session, runtime, item, failures)
            if outcome is not None:
                outcomes[item.row.id] = outcome
            elif item.row.id in dict(failures):
                continue
            elif depends_on(fresh, item):
                later.append(item)  # continues an item of this batch: settled once created
            else:
                fresh.append(item)
        created = records.create_complaints(session, runtime, fresh, failures)
        for item in later:
            outcome = _settle_safely(session, runtime, item, failures)
            if outcome is not None:
                outcomes[item.row.id] = outcome
            elif item.row.id not in dict(failures):  # its twin failed: it stands on its own
                created += records.create_complaints(session, runtime, [item], failures)
        for done in created:
            outcomes[done.raw_id] = Outcome(done.raw_id, "created", done.complaint_id,
                                            done.reference)
    for raw_id, error in failures:
        outcomes[raw_id] = _record_failure(runtime, raw_id, error)
    jobs.dispatch(runtime, [(c.complaint_id, c.queue, True, c.ack_pending) for c in created])
    jobs.dispatch_followups(runtime, [(o.raw_id, o.forward_queue) for o in outcomes.values()
                                      if o.forward_queue])
    return outcomes


def _settle_safely(session: Session, runtime: Runtime, item: records.Prepared,
                   failures: list[tuple[int, Exception]]) -> Outcome | None:
    """`_settle` in a savepoint: a failure is the item's alone (PostgreSQL would otherwise
    abort the whole batch's transaction)."""
    try:
        with session.begin_nested():
            return settle(session, runtime, item)
    except Exception as exc:
        failures.append((item.row.id, exc))
        return None


def _load(session: Session, raw_ids: Sequence[int], outcomes: dict,
          lock: bool = True) -> list[RawMessageRow]:
    """The raw rows still pending, in the order given; others are reported as duplicates."""
    found = {}
    for start in range(0, len(raw_ids), 500):
        chunk = list(raw_ids[start:start + 500])
        query = select(RawMessageRow).where(RawMessageRow.id.in_(chunk))
        if lock:
            query = query.with_for_update()
        found.update({row.id: row for row in session.scalars(query)})
    pending = []
    for raw_id in raw_ids:
        row = found.get(raw_id)
        if row is None or row.status == "processed":
            outcomes[raw_id] = Outcome(raw_id, "duplicate", row.complaint_id if row else None)
        else:
            pending.append(row)
    return pending


def _prepare_outside_transaction(runtime: Runtime, raw_ids: Sequence[int],
                                 outcomes: dict) -> dict[int, Prepared | Failed]:
    """The pure work, done before the write transaction opens: a batch of hundreds of mails
    must not hold the database's write lock while it is normalised and categorised."""
    with runtime.sessions() as session:
        rows = _load(session, raw_ids, outcomes, lock=False)
        raws = [RawMessage(
            channel=row.channel, source_id=row.source_id, received_at=row.received_at,
            payload=row.payload, mailbox=row.mailbox, transport=row.transport,
        ) for row in rows]
        ids = [row.id for row in rows]
    results = prepare_many(raws, runtime.settings, runtime.prepare_pool())
    return dict(zip(ids, results))


def _prepared(rows: list[RawMessageRow], results: dict[int, Prepared | Failed],
              failures: list[tuple[int, Exception]]) -> list[records.Prepared]:
    prepared = []
    for row in rows:
        row.attempts += 1
        result = results[row.id]
        if isinstance(result, Failed):
            failures.append((row.id, as_exception(result)))
            continue
        prepared.append(records.Prepared(row, result.normalized, result.complaint,
                                         result.decision))
    return prepared


def _record_failure(runtime: Runtime, raw_id: int, exc: Exception) -> Outcome:
    """Keep the raw item, mark it failed with the error; the next item goes on."""
    permanent = isinstance(exc, PermanentError)
    failed = getattr(exc, "failed", None)
    error = failed.error if failed else f"{type(exc).__name__}: {exc}"
    if permanent:
        log.warning("raw %s: rejected: %s", raw_id, error)
    elif failed:
        log.error("raw %s: processing failed\n%s", raw_id, failed.trace)
    else:
        log.error("raw %s: processing failed", raw_id, exc_info=exc)
    with runtime.sessions.begin() as session:
        row = session.get(RawMessageRow, raw_id)
        if row is not None:
            row.status, row.error = "failed", error[:4000]
            row.attempts = (row.attempts or 0) + 1
            repo.add_event(session, "failed", raw_message_id=raw_id, error=error[:4000],
                           permanent=permanent)
    return Outcome(raw_id, "failed", error=error)


def _reference_of(session: Session, complaint_id: int | None) -> str | None:
    if complaint_id is None:
        return None
    return session.scalar(select(ComplaintRow.reference).where(ComplaintRow.id == complaint_id))
