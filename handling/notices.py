"""Notices: what the desk owes someone, written to the store before anything is sent.

Each notice has a unique `key` naming why it exists (an action's message, a clock's
threshold of one deadline version). Writing it is the claim: a second scheduler pass, a
restarted instance or a redelivered mail finds the key taken and owes nothing more. The
outbound stage sends it (`Job.NOTICE`) after the commit; the reconciler re-sends what waits.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handling.texts import Text
from intake import clock
from intake.states import JobState
from outbound.jobs import ACK_QUEUE, Job, Work
from store.models import ComplaintRow, NoticeRow


class Audience(StrEnum):
    COMPLAINANT = "complainant"  # on their own channel
    UNIT = "unit"  # the unit that holds the complaint
    ESCALATION = "escalation"  # `[clock] escalation_email`, the supervisor


def owe(
    session: Session,
    complaint: ComplaintRow,
    *,
    key: str,
    purpose: str,
    audience: Audience,
    text: Text,
) -> Work | None:
    """Record the notice `key` (once ever); the work that sends it, or None when it was
    already owed."""
    queue = ACK_QUEUE if audience is Audience.COMPLAINANT else complaint.queue
    try:
        with session.begin_nested():
            notice_id = session.execute(
                insert(NoticeRow)
                .values(
                    complaint_id=complaint.id,
                    key=key[:191],
                    purpose=purpose,
                    audience=audience.value,
                    subject=text.subject,
                    body=text.body,
                    queue=queue,
                    state=JobState.PENDING,
                    created_at=clock.now(),
                )
                .returning(NoticeRow.id)
            ).scalar_one()
    except IntegrityError:
        return None
    return Work(Job.NOTICE, notice_id, queue)
