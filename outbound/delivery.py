"""What the workers do: e-mail tickets and follow-ups to units, acknowledge complainants.

Each job first claims its row in the store (so a re-enqueued duplicate is a no-op; one that
finds the job in another worker's hands tries again later), sends while a heartbeat renews
the claim (so a killed worker's claim lapses within `[broker] claim_lease_seconds`, not
minutes), then records the
result: sent (with the Message-ID, so replies thread), permanently failed
(recorded, not retried), suppressed (the daily cap of automatic mails to one address), or
not sent for now (claim released; the queue retries a temporary fault, see `broker`).
A mail to a unit with attachments is a `Draft` until they are screened (`scan`): after the
claim's transaction, as clamd may take its time; those held back are events of the complaint.
"""

from __future__ import annotations

import dataclasses
import email.errors
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import clock
from intake.errors import PermanentError, TemporaryError
from intake.privacy import mask
from intake.runtime import Runtime
from intake.schema import Complainant, RawMessage
from intake.settings import CONTACT_FIELDS, Settings
from intake.states import JobState
from normalize.attachments import Withheld
from normalize.channels import normalize_raw
from outbound import budget, compose, scan, smtp
from outbound.channels import AckRequest, sender_for
from outbound.jobs import Job
from store import repo
from store.models import (
    AttachmentRow,
    Base,
    ComplaintRow,
    NoticeRow,
    OutboundMessageRow,
    RawMessageRow,
    RoutingDecisionRow,
)

log = logging.getLogger(__name__)

HEARTBEATS_PER_LEASE = 4  # a sending worker renews its claim this often within the lease

_Row = TypeVar("_Row", bound=Base)


class Suppressed(PermanentError):
    """Not sent on purpose (e.g. the daily cap of automatic mails to one address)."""


# What composing a mail raises for data it cannot carry (a header with a control
# character, a name no charset encodes): recorded failed at once, never retried.
UNCOMPOSABLE = (ValueError, UnicodeError, email.errors.MessageError)


class InHand(TemporaryError):
    """Another worker holds the job's claim: this message tries again after a backoff (if
    that worker died, its claim has lapsed by then; if it sent, the retry is a no-op)."""


class Heartbeat(threading.Thread):
    """Renews a job's claim every `every` seconds while the job sends."""

    def __init__(
        self, runtime: Runtime, job: Job, target_id: int, every: float | None = None
    ) -> None:
        super().__init__(name=f"heartbeat-{job}-{target_id}", daemon=True)
        self.runtime, self.job, self.target_id = runtime, job, target_id
        self.every = every or lease_of(runtime).total_seconds() / HEARTBEATS_PER_LEASE
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.every):
            try:
                with self.runtime.sessions.begin() as session:
                    repo.renew(session, self.job.columns, self.target_id)
            except Exception as exc:  # the store is down: the send goes on, the claim may lapse
                log.warning("%s %s: claim not renewed: %s", self.job, self.target_id, exc)

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()


def lease_of(runtime: Runtime) -> timedelta:
    """How long a claim not renewed stands: after it, the claim is a dead worker's."""
    return timedelta(seconds=runtime.settings.broker.claim_lease_seconds)


class Unreachable(PermanentError):
    """No way to reach the person on their channel (a phone entry without an address)."""


@dataclass(frozen=True)
class Draft:
    """A mail to a unit, composed from the attachments that pass `scan.screen`."""

    attachments: tuple[scan.Stored, ...]
    compose: Callable[[list[tuple[str | None, str, bytes]], tuple[Withheld, ...]], EmailMessage]


@dataclass(frozen=True)
class Outgoing:
    """One thing to send: an e-mail, or (`send`) a message on the complainant's channel."""

    job: Job
    recipient: str
    complaint_id: int
    reference: str
    message: EmailMessage | None = None
    send: Callable[[], str] | None = None  # sends on the complainant's channel, returns its id
    reservation: budget.Reservation | None = None  # what it took of the daily caps
    draft: Draft | None = None  # composed by `_complete`, outside the claim's transaction
    withheld: tuple[Withheld, ...] = ()  # attachments kept from the unit, and why


def perform(runtime: Runtime, job: Job, target_id: int) -> bool:
    """Do `job` for complaint (a follow-up: raw message) `target_id`; False when there was
    nothing to do. A `PermanentError` is recorded and raised; other errors release the claim
    and propagate, for the broker's policy to retry or dead-letter."""
    problem: PermanentError | None = None
    with runtime.sessions.begin() as session:
        if not repo.claim(session, job.columns, target_id, lease_of(runtime)):
            if repo.job_state(session, job.columns, target_id) == JobState.PENDING:
                raise InHand(f"{job} {target_id}: in another worker's hands")
            log.info("%s %s: already done", job, target_id)
            return False
        try:
            out = BUILDERS[job](session, runtime, target_id)
        except PermanentError as exc:
            problem = exc
        except UNCOMPOSABLE as exc:  # the same data fails the same way on every retry
            problem = PermanentError(f"the {job} could not be composed: {exc!r}"[:1000])
    if problem is not None:
        _finish(runtime, job, target_id, None, problem)
        if isinstance(problem, (Suppressed, Unreachable)):
            return False
        raise problem
    try:
        with Heartbeat(runtime, job, target_id):
            out = _complete(runtime, out)
            sent_id = _send(runtime, out)
    except PermanentError as exc:
        _give_back(runtime, out)
        _finish(runtime, job, target_id, out, exc)
        log.warning("%s: %s failed for good: %s", out.reference, job, exc)
        raise
    except BaseException:  # temporary, or a bug: the broker's policy decides
        with runtime.sessions.begin() as session:
            repo.release(session, job.columns, target_id)
            if out.reservation is not None:
                budget.give_back(session, out.reservation)
        raise
    _finish(runtime, job, target_id, out, None, sent_id)
    log.info("%s: %s sent to %s", out.reference, job, mask(out.recipient))
    return True


def _complete(runtime: Runtime, out: Outgoing) -> Outgoing:
    """A draft screened (clamd's I/O, outside any transaction) and composed; else `out`.
    clamd unreachable raises `scan.ClamdUnavailable`: a temporary fault, the claim goes back."""
    if out.draft is None:
        return out
    screened = scan.screen(runtime.settings.attachments, out.draft.attachments)
    try:
        message = out.draft.compose(screened.forwarded, screened.withheld)
    except UNCOMPOSABLE as exc:  # the same data fails the same way on every retry
        raise PermanentError(f"the {out.job} could not be composed: {exc!r}"[:1000]) from None
    return dataclasses.replace(out, message=message, draft=None, withheld=screened.withheld)


def _give_back(runtime: Runtime, out: Outgoing) -> None:
    if out.reservation is not None:
        with runtime.sessions.begin() as session:
            budget.give_back(session, out.reservation)


def _send(runtime: Runtime, out: Outgoing) -> str:
    """Send by e-mail, or on the complainant's channel; the id of what was sent."""
    if out.send is not None:
        return out.send()
    if out.message is None:
        raise ValueError(f"{out.reference}: {out.job} has neither a message nor a sender")
    smtp.send(runtime.settings.smtp, out.message, [out.recipient])
    return str(out.message["Message-ID"])


def _finish(
    runtime: Runtime,
    job: Job,
    target_id: int,
    out: Outgoing | None,
    problem: PermanentError | None,
    sent_id: str = "",
) -> None:
    """Record the outcome on the row and in the complaint's event log."""
    state = _state_after(problem)
    with runtime.sessions.begin() as session:
        row = _get(session, job.columns.model, target_id)
        setattr(row, job.columns.state.key, state)
        complaint_id = row.id if isinstance(row, ComplaintRow) else row.complaint_id
        if problem is not None:
            repo.add_event(
                session,
                f"{job}_{state}",
                complaint_id=complaint_id,
                actor="worker",
                error=str(problem),
            )
            return
        if out is None:
            raise ValueError(f"{job} {target_id}: sent, but nothing to record as sent")
        now = clock.now()
        if isinstance(row, ComplaintRow) and job is Job.TICKET:
            row.delivered_at = now
        elif isinstance(row, ComplaintRow) and job is Job.ACK:
            row.acknowledged_at = now
        elif isinstance(row, NoticeRow):
            row.sent_at = now
        session.add(
            OutboundMessageRow(
                complaint_id=complaint_id,
                purpose=job.value,
                message_id=sent_id.strip("<>"),
                recipient=out.recipient,
                sent_at=now,
            )
        )
        repo.add_event(
            session,
            job.sent_event,
            complaint_id=complaint_id,
            actor="worker",
            message_id=sent_id,
            to=mask(out.recipient),
            notice=row.purpose if isinstance(row, NoticeRow) else None,
        )
        _record_withheld(session, out, complaint_id)


def _record_withheld(session: Session, out: Outgoing, complaint_id: int | None) -> None:
    """One event per attachment kept from the unit: the operators see it and its blob."""
    for item in out.withheld:
        log.warning(
            "%s: attachment %s withheld from the %s: %s",
            out.reference,
            item.sha256[:12],
            out.job,
            item.reason,
        )
        repo.add_event(
            session,
            "attachment_withheld",
            complaint_id=complaint_id,
            actor="worker",
            job=out.job.value,
            filename=item.filename,
            content_type=item.content_type,
            size=item.size,
            sha256=item.sha256,
            reason=item.reason,
        )


def _state_after(problem: PermanentError | None) -> JobState:
    if problem is None:
        return JobState.SENT
    if isinstance(problem, Suppressed):
        return JobState.SUPPRESSED
    return JobState.NO_ADDRESS if isinstance(problem, Unreachable) else JobState.FAILED


def _get(session: Session, model: type[_Row], row_id: int) -> _Row:
    """The row `row_id` of `model`; a `LookupError` when it does not exist."""
    row = session.get(model, row_id)
    if row is None:
        raise LookupError(f"{model.__tablename__} row {row_id} does not exist")
    return row


def _ticket(session: Session, runtime: Runtime, complaint_id: int) -> Outgoing:
    row = _get(session, ComplaintRow, complaint_id)
    unit = runtime.settings.unit_named(row.unit)
    stored = tuple(
        scan.Stored(
            item.filename,
            item.content_type,
            repo.get_blob(session, item.sha256) or b"",
            item.sha256,
        )
        for item in session.scalars(
            select(AttachmentRow).where(AttachmentRow.complaint_id == row.id)
        )
    )
    view = _unit_view(session, row, runtime.settings)
    draft = Draft(
        stored, functools.partial(compose.ticket_mail, view, unit.email, runtime.settings)
    )
    return Outgoing(Job.TICKET, unit.email, row.id, row.reference, draft=draft)


def _ack(session: Session, runtime: Runtime, complaint_id: int) -> Outgoing:
    row = _get(session, ComplaintRow, complaint_id)
    if row.auto_submitted:
        raise PermanentError("auto-submitted mail is never acknowledged")
    answer = sender_for(row.channel)
    if answer is not None:  # on the complainant's own channel
        request = _ack_request(session, row)
        recipient = row.complainant_handle or row.complainant_email or row.source_id
        return Outgoing(
            Job.ACK, recipient, row.id, row.reference, send=lambda: answer(runtime, request)
        )
    if not row.complainant_email:
        raise PermanentError("nothing to acknowledge to: no address")
    settings = runtime.settings
    try:
        reservation = budget.reserve(
            session,
            row.complainant_email,
            settings.acknowledge,
            clock.now(),
            settings.clock.timezone,
        )
    except budget.OverBudget as exc:
        raise Suppressed(str(exc)) from None
    message = compose.ack_mail(_view(session, row, row.unit), settings)
    return Outgoing(
        Job.ACK,
        row.complainant_email,
        row.id,
        row.reference,
        message=message,
        reservation=reservation,
    )


def _notice(session: Session, runtime: Runtime, notice_id: int) -> Outgoing:
    """A notice, to its audience: the complainant on their own channel (by e-mail when it
    has no sender of its own), the unit that now holds the complaint, or the supervisor."""
    notice = _get(session, NoticeRow, notice_id)
    row = _get(session, ComplaintRow, notice.complaint_id)
    settings = runtime.settings
    if notice.audience == "complainant":
        answer = sender_for(row.channel)
        if answer is not None:
            request = dataclasses.replace(_ack_request(session, row), text=notice.body)
            recipient = row.complainant_handle or row.source_id
            return Outgoing(
                Job.NOTICE, recipient, row.id, row.reference, send=lambda: answer(runtime, request)
            )
        if not row.complainant_email:
            raise Unreachable(f"no way to reach the complainant of a {row.channel} entry")
        to = row.complainant_email
    elif notice.audience == "escalation":
        to = settings.clock.escalation_email
        if not to:
            raise Unreachable("no [clock] escalation_email is set")
    else:
        to = settings.unit_named(row.unit).email
    if notice.audience == "complainant":
        view = _view(session, row, settings.unit_named(row.unit).name)
    else:  # the unit's, or the supervisor's: no more of the complainant than the unit sees
        view = _unit_view(session, row, settings)
    message = compose.notice_mail(view, to, notice.subject, notice.body, notice.purpose, settings)
    return Outgoing(Job.NOTICE, to, row.id, row.reference, message=message)


def _ack_request(session: Session, row: ComplaintRow) -> AckRequest:
    raw = _get(session, RawMessageRow, row.raw_message_id)
    return AckRequest(
        reference=row.reference,
        channel=row.channel,
        source_id=row.source_id,
        complainant=Complainant(
            row.complainant_name,
            row.complainant_email,
            row.complainant_phone,
            row.complainant_handle,
        ),
        subject=row.subject,
        language=row.language,
        transport=dict(raw.transport or {}),
    )


def _followup(session: Session, runtime: Runtime, raw_id: int) -> Outgoing:
    raw_row = _get(session, RawMessageRow, raw_id)
    if raw_row.complaint_id is None:
        raise LookupError(f"raw message {raw_id} is not a follow-up of any complaint")
    row = _get(session, ComplaintRow, raw_row.complaint_id)
    unit = runtime.settings.unit_named(row.unit)
    raw = RawMessage(
        channel=raw_row.channel,
        source_id=raw_row.source_id,
        received_at=raw_row.received_at,
        payload=raw_row.payload,
        mailbox=raw_row.mailbox,
        transport=raw_row.transport,
    )
    normalized = normalize_raw(raw, runtime.settings)
    stored = tuple(
        scan.Stored(a.filename, a.content_type, normalized.blobs[a.sha256], a.sha256)
        for a in normalized.complaint.attachments
        if a.sha256 in normalized.blobs
    )
    compose_followup = functools.partial(
        compose.followup_mail,
        _unit_view(session, row, runtime.settings),
        normalized.complaint,
        unit.email,
        runtime.settings,
    )
    draft = Draft(stored, compose_followup)
    return Outgoing(Job.FOLLOWUP, unit.email, row.id, row.reference, draft=draft)


BUILDERS = {Job.TICKET: _ticket, Job.ACK: _ack, Job.FOLLOWUP: _followup, Job.NOTICE: _notice}


def _unit_view(session: Session, row: ComplaintRow, settings: Settings) -> compose.TicketView:
    """The view every mail to a unit is built from (ticket, follow-up, notice, escalation):
    the contact fields its `ticket_contact` does not list are not in it at all (KVKK data
    minimisation); the unit reaches the complainant by replying to the ticket."""
    unit = settings.unit_named(row.unit)
    shown = settings.contact_shown(unit)
    kept = tuple(name for name in CONTACT_FIELDS if name not in shown)
    view = _view(session, row, unit.name)
    return dataclasses.replace(
        view,
        name=None if "name" in kept else view.name,
        email=None if "email" in kept else view.email,
        phone=None if "phone" in kept else view.phone,
        handle=None if "handle" in kept else view.handle,
        kept_by_desk=kept,
    )


def _view(session: Session, row: ComplaintRow, unit_name: str) -> compose.TicketView:
    decision = session.scalars(
        select(RoutingDecisionRow)
        .where(RoutingDecisionRow.complaint_id == row.id)
        .order_by(RoutingDecisionRow.id.desc())
    ).first()
    return compose.TicketView(
        reference=row.reference,
        channel=row.channel,
        mailbox=row.mailbox,
        received_at=row.received_at,
        due_at=row.due_at,
        name=row.complainant_name,
        email=row.complainant_email,
        phone=row.complainant_phone,
        handle=row.complainant_handle,
        subject=row.subject,
        body=row.body,
        language=row.language,
        product=row.product,
        kind=row.kind,
        unit_name=unit_name,
        decided_by=decision.decided_by if decision else "-",
        confidence=decision.confidence if decision else 0.0,
        message_id=row.message_id,
        mentions=row.ticket_ref,
        category=row.category,
    )
