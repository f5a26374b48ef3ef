"""The states the store keeps, as types: of a raw item, of a job, of a complaint.

Their values are what the database holds (and what `intake status` shows), so they are
strings: a `StrEnum` compares equal to its value.
"""

from __future__ import annotations

from enum import StrEnum


class RawState(StrEnum):
    """A raw item: stored and waiting, made into (or attached to) a complaint, or failed."""

    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"


class JobState(StrEnum):
    """One outbound job of a complaint (its ticket, its acknowledgement, a follow-up)."""

    PENDING = "pending"  # owed: the reconciler enqueues it until it is done
    SENT = "sent"
    FAILED = "failed"  # permanently (a 5xx, no address): recorded, `intake retry --deliveries`
    SUPPRESSED = "suppressed"  # not sent on purpose (the daily cap of automatic mails)
    NO_ADDRESS = "no_address"  # nothing to acknowledge to
    NOT_NEEDED = "not_needed"  # a follow-up the unit wrote itself
    DEAD = "dead"  # a bug stopped it: kept as a dead letter, `intake retry --dead-letters`


class ComplaintStatus(StrEnum):
    """The ISO 10002 lifecycle (docs/design.md); the names are a contract."""

    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    INVESTIGATING = "investigating"
    WAITING_ON_COMPLAINANT = "waiting_on_complainant"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    MERGED = "merged"
    NOT_A_COMPLAINT = "not_a_complaint"


# A new message in the conversation of a complaint in one of these states continues it.
OPEN = frozenset(
    {
        ComplaintStatus.RECEIVED,
        ComplaintStatus.ACKNOWLEDGED,
        ComplaintStatus.ASSIGNED,
        ComplaintStatus.INVESTIGATING,
        ComplaintStatus.WAITING_ON_COMPLAINANT,
        ComplaintStatus.REOPENED,
    }
)
