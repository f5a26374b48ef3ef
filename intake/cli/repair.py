"""The operators' repairs: `intake retry` and `intake dead-letters`.

Failed raw items are processed again; permanently failed jobs (a 5xx, fixed since) and jobs
parked by a bug (dead letters, the bug fixed since) are made pending again and enqueued.
"""

from __future__ import annotations

import argparse
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from ingest import pipeline
from ingest.reconciler import reconcile
from intake import clock
from intake.cli.wiring import open_runtime
from intake.runtime import Runtime
from intake.settings import Settings
from intake.states import JobState, RawState
from outbound.jobs import Job
from store.models import ComplaintRow, DeadLetterRow, RawMessageRow


def retry(args: argparse.Namespace, settings: Settings) -> int:
    rt = open_runtime(settings)
    if args.dead_letters:
        print(f"re-enqueued {requeue_dead_letters(rt)} dead letters")
    if args.deliveries:
        print(f"reopened {reopen(rt, JobState.FAILED)} failed deliveries/acknowledgements")
    if args.dead_letters or args.deliveries:
        return 0
    query = select(RawMessageRow.id).where(RawMessageRow.status == RawState.FAILED)
    if args.ids:
        query = query.where(RawMessageRow.id.in_(args.ids))
    with rt.sessions() as session:
        ids = list(session.scalars(query.order_by(RawMessageRow.id)))
    for raw_id in ids:
        outcome = pipeline.process(rt, [raw_id])[raw_id]
        print(f"raw {raw_id}: {outcome.status} {outcome.reference or outcome.error or ''}".rstrip())
    if not ids:
        print("no failed raw items")
    return 0


def requeue_dead_letters(rt: Runtime) -> int:
    """Mark the unresolved dead letters requeued, unpark their jobs, and enqueue them."""
    with rt.sessions.begin() as session:
        letters = list(
            session.scalars(select(DeadLetterRow).where(DeadLetterRow.requeued_at.is_(None)))
        )
        for letter in letters:
            letter.requeued_at = clock.now()
    reopen(rt, JobState.DEAD)
    return len(letters)


def reopen(rt: Runtime, state: JobState) -> int:
    """Make every job in `state` pending again and enqueue what is owed; how many."""
    count = 0
    with rt.sessions.begin() as session:
        for job in Job:
            table, column = job.columns.model, job.columns.state
            # An UPDATE's result is a CursorResult (with rowcount); Session.execute is typed
            # as returning the base Result for every statement.
            result = cast(
                CursorResult[Any],
                session.execute(
                    update(table).where(column == state).values({column: JobState.PENDING})
                ),
            )
            count += result.rowcount
    reconcile(rt, everything=True)
    return count


def dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    rt = open_runtime(settings, with_broker=False)
    with rt.sessions() as session:
        rows = session.execute(
            select(DeadLetterRow, ComplaintRow.reference)
            .outerjoin(ComplaintRow, ComplaintRow.id == DeadLetterRow.complaint_id)
            .order_by(DeadLetterRow.id)
        ).all()
    for letter, reference in rows:
        state = "requeued" if letter.requeued_at else "dead"
        print(
            f"{letter.id}\t{letter.failed_at:%Y-%m-%d %H:%M}\t{state}\t{letter.queue}\t"
            f"{letter.actor}\t{reference or '-'}\t{letter.error.splitlines()[-1][:120]}"
        )
    if not rows:
        print("no dead letters")
    return 0
