"""SQLAlchemy 2 models of the store; Alembic migrations in `store/migrations/` match them.

`(channel, source_id)` is unique on raw messages and on complaints: the dedupe key that makes
a second delivery of the same item a no-op. Events are append-only.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from intake.states import JobState, RawState

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class RawMessageRow(Base):
    """What a channel received, exactly; `status` is pending → processed | failed."""

    __tablename__ = "raw_messages"
    __table_args__ = (UniqueConstraint("channel", "source_id", name="uq_raw_channel_source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(512))
    mailbox: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    transport: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), index=True, default=RawState.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # No foreign key here: complaints already point at their raw message (no cycle).
    complaint_id: Mapped[int | None] = mapped_column(BigId, index=True)
    # A follow-up on an existing complaint is forwarded to its unit: pending → sent | failed.
    forward_state: Mapped[str | None] = mapped_column(String(16), index=True)
    forward_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ComplaintRow(Base):
    """The normalised complaint (docs/design.md schema) plus its lifecycle and delivery state."""

    __tablename__ = "complaints"
    __table_args__ = (UniqueConstraint("channel", "source_id", name="uq_complaint_channel_source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    raw_message_id: Mapped[int] = mapped_column(BigId, ForeignKey("raw_messages.id"))
    channel: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(512))
    mailbox: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    complainant_name: Mapped[str | None] = mapped_column(String(256))
    complainant_email: Mapped[str | None] = mapped_column(String(320))
    complainant_phone: Mapped[str | None] = mapped_column(String(64))
    complainant_handle: Mapped[str | None] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    message_id: Mapped[str | None] = mapped_column(String(998))
    ticket_ref: Mapped[str | None] = mapped_column(String(32))
    # A conversation a later message continues while the complaint is open ("telegram:chat:42").
    thread_key: Mapped[str | None] = mapped_column(String(128), index=True)
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    product: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(96))
    status: Mapped[str] = mapped_column(String(24), index=True)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivery_state: Mapped[str] = mapped_column(String(16), index=True, default=JobState.PENDING)
    delivery_enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivery_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ack_state: Mapped[str] = mapped_column(String(16), index=True, default=JobState.PENDING)
    ack_enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ack_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The lifecycle beyond intake (handling/): the unit's estimate and decision, a merge,
    # the complainant's answer to the survey.
    eta_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decision: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    merged_into: Mapped[str | None] = mapped_column(String(32))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    satisfaction_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # "kvkk" for a data subject's request under KVKK art. 11 (its own 30-day clock), else None
    category: Mapped[str | None] = mapped_column(String(16), index=True)


class ClockRow(Base):
    """One obligation of a complaint with its own deadline (docs/design.md, the clocks).

    `budget_seconds` is the time it allows, counted as its `measure` counts (wall clock,
    calendar days or Turkish working hours); `paused` holds the closed pauses as
    [start, end] pairs; `version` grows when the clock starts over (a reopened complaint),
    so the notices of the new deadline are sent again, once each.
    """

    __tablename__ = "clocks"
    __table_args__ = (UniqueConstraint("complaint_id", "name", name="uq_clock_complaint_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(BigId, ForeignKey("complaints.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    measure: Mapped[str] = mapped_column(String(16))
    pausable: Mapped[bool] = mapped_column(Boolean)
    budget_seconds: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    due_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    paused_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    paused: Mapped[list[Any]] = mapped_column(default=list)
    met_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    met_by: Mapped[str | None] = mapped_column(String(64))
    breached_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The furthest part of this version the scheduler has owed its notices for (1.0: the
    # deadline's): a pass skips what is done without asking the notices table again.
    notified: Mapped[float] = mapped_column(Float, default=0.0)
    # When the next threshold (or the deadline) comes: a pass looks only at clocks due a look.
    next_check_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class NoticeRow(Base):
    """A message the desk owes someone beyond the ticket and the acknowledgement: a unit's
    answer or decision told to the complainant, the survey, a reminder, an escalation.

    Written to the store before it is sent, like every mail: `key` makes each one unique
    (a clock's threshold of one deadline version, an action's message), so two scheduler
    passes, or a restart, never send one twice; `state` is a job's (pending → sent …).
    """

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(BigId, ForeignKey("complaints.id"), index=True)
    key: Mapped[str] = mapped_column(String(191), unique=True)
    purpose: Mapped[str] = mapped_column(String(32))
    audience: Mapped[str] = mapped_column(String(16))  # complainant | unit | escalation
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    queue: Mapped[str] = mapped_column(String(96))
    state: Mapped[str] = mapped_column(String(16), index=True, default=JobState.PENDING)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SendBudgetRow(Base):
    """Automatic mails sent per address, domain or the whole desk per local day: reserved
    by one conditional UPDATE before each send, so concurrent workers never exceed a cap."""

    __tablename__ = "send_budget"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # address | domain | desk
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, local
    used: Mapped[int] = mapped_column(Integer, default=0)


class BlobRow(Base):
    """Attachment bytes, content-addressed: the same file twice is stored once."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AttachmentRow(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(BigId, ForeignKey("complaints.id"), index=True)
    filename: Mapped[str | None] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), ForeignKey("blobs.sha256"))


class RoutingDecisionRow(Base):
    """Why a complaint went where it went: product, kind, unit, queue and the rules that hit."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(BigId, ForeignKey("complaints.id"), index=True)
    product: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(96))
    confidence: Mapped[float] = mapped_column(Float)
    decided_by: Mapped[str] = mapped_column(String(128))
    hits: Mapped[list[Any]] = mapped_column(default=list)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())


class EventRow(Base):
    """Append-only log: every transition with when, who and why (ISO 10002)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("complaints.id"), index=True)
    raw_message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("raw_messages.id"))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboundMessageRow(Base):
    """Every mail we sent, by Message-ID, so a reply to it finds its complaint."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(BigId, ForeignKey("complaints.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    recipient: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DeadLetterRow(Base):
    """A queue message that failed for good (retries exhausted, or a bug): kept and listed."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_actor_target", "actor", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(96))
    actor: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int | None] = mapped_column(BigId)  # the job's argument
    complaint_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("complaints.id"))
    error: Mapped[str] = mapped_column(Text)
    retries: Mapped[int] = mapped_column(Integer)
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    requeued_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WatermarkRow(Base):
    """How far a polling channel has read (IMAP UIDVALIDITY+UID, since_id, offset)."""

    __tablename__ = "watermarks"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PollStatusRow(Base):
    """The health of one polled mailbox folder, for `intake status` and its SSL warning."""

    __tablename__ = "poll_status"

    mailbox: Mapped[str] = mapped_column(String(64), primary_key=True)
    folder: Mapped[str] = mapped_column(String(255), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    messages_total: Mapped[int] = mapped_column(BigInteger, default=0)


class UserRow(Base):
    """An operator of the console: a name and an argon2 hash of the password, nothing else."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CorrectionRow(Base):
    """An operator's correction of a complaint's product or unit: kept as a labelled example
    for the categoriser (`bench/categorize --store URL` scores the model on them)."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(BigId, ForeignKey("complaints.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    product_was: Mapped[str] = mapped_column(String(32))
    product: Mapped[str] = mapped_column(String(32))
    unit_was: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReferenceCounterRow(Base):
    """The last complaint number given per prefix and year (CMP-2026-000042)."""

    __tablename__ = "reference_counters"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ReportRunRow(Base):
    """A report the scheduler owes management (`reports.mailing`): its key, such as
    "monthly:2026-10", is the claim, so a restart or a second instance never sends it twice.
    The files are built once and kept as blobs, so a retry sends the same bytes."""

    __tablename__ = "report_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    period: Mapped[str] = mapped_column(String(16))  # "2026-10" or "2026"
    recipient: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(16), index=True, default=JobState.PENDING)
    files: Mapped[list[Any]] = mapped_column(default=list)  # [{filename, content_type, sha256}]
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    message_id: Mapped[str | None] = mapped_column(String(998))
    error: Mapped[str | None] = mapped_column(Text)
