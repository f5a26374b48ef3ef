"""KVKK (Law 6698): what the desk holds about one person, its erasure, and the retention job.

A person is found by an e-mail address (case and `+tag` ignored, as `outbound.budget`
counts addresses), a phone number (by its digits: `0532 …`, `+90 532 …`, `(0532) …` are
one number) or a handle (`@name` as X and Telegram show it, `tg:<id>`, or the account behind a
conversation key: `telegram:<chat>`, `x:…:<account>`).

`export` lists everything held: the complaints, their raw items (payloads decoded), the
attachments (name, type, size, sha256; never the bytes), events, notices and the mail sent.
`erase` anonymises what the law does not require us to keep: the complainant's name,
address, phone and handle (on the complaint and wherever the text repeats them: subject,
body, notices, events, routing hits, corrections, dead letters), the conversation key, the
raw payloads and the attachment bytes (their sizes and hashes stay). Products, units, kinds,
statuses, clocks and events stay, so every count still adds up; each complaint gets one
`kvkk_erased` event that says what went, and who asked, without the data itself.

`retain` is the periodic destruction the KVKK regulation asks for (Kişisel Verilerin
Silinmesi, Yok Edilmesi veya Anonim Hale Getirilmesi Hakkında Yönetmelik, art. 11: at
intervals of at most 6 months; the records of it are kept, here as events): the raw payloads and attachment bytes of complaints closed more than
`[privacy] retention_days` ago are dropped, with a `retention_dropped` event each. The
scheduler runs it once a local day (`retain_daily`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from handling.speakers import x_account
from intake.settings import Settings
from intake.states import ComplaintStatus
from outbound.budget import normal_address
from store import repo
from store.models import (
    AttachmentRow,
    BlobRow,
    ComplaintRow,
    CorrectionRow,
    DeadLetterRow,
    EventRow,
    NoticeRow,
    OutboundMessageRow,
    RawMessageRow,
    RoutingDecisionRow,
)

ERASED = "[kvkk-silindi]"
ERASED_EVENT = "kvkk_erased"
RETENTION_EVENT = "retention_dropped"
RETENTION_MARK = ("privacy", "retention")
BATCH = 200

# A number as people write it: digits with spaces, dots, dashes, slashes or brackets between.
_NUMBERISH = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().\-/]{7,}\d(?!\w)")
_ADDRESSISH = re.compile(r"[\w.%+-]+@[\w-][\w.-]*\.[^\W\d_]{2,}")


# --- who -----------------------------------------------------------------------------------------


def national_phone(value: str) -> str | None:
    """The ten national digits of a Turkish number (`0532…`, `+90 532…`, `0090…`), or None."""
    digits = re.sub(r"\D", "", value)
    for prefix in ("0090", "90", "0"):
        if len(digits) == 10 + len(prefix) and digits.startswith(prefix):
            return digits[len(prefix) :]
    return digits if len(digits) == 10 else None


def normal_handle(value: str) -> str:
    return value.strip().lower().removeprefix("@")


@dataclass(frozen=True)
class Person:
    """The data subject, as the request names them: exactly one of the three."""

    email: str | None = None
    phone: str | None = None
    handle: str | None = None

    def __post_init__(self) -> None:
        if sum(v is not None for v in (self.email, self.phone, self.handle)) != 1:
            raise ValueError("name the person by one of email, phone, handle")
        if self.phone is not None and national_phone(self.phone) is None:
            raise ValueError("not a Turkish phone number (ten digits after 0 or +90)")

    @property
    def by(self) -> str:
        return "email" if self.email else "phone" if self.phone else "handle"

    def where(self) -> ColumnElement[bool]:
        """A superset of this person's complaints, in SQL; `holds` decides."""
        if self.email is not None:
            domain = normal_address(self.email).rpartition("@")[2]
            return func.lower(ComplaintRow.complainant_email).like(f"%@{_like(domain)}", "\\")
        if self.phone is not None:
            national = national_phone(self.phone) or ""
            return ComplaintRow.complainant_phone.like(f"%{_like(national[-4:])}", "\\")
        handle = normal_handle(self.handle or "")
        keys = [ComplaintRow.complainant_handle.is_not(None)]
        if handle.startswith("tg:"):
            keys.append(ComplaintRow.thread_key.like(f"telegram:{_like(handle[3:])}%", "\\"))
        keys.append(ComplaintRow.thread_key.like(f"x:%:{_like(handle)}", "\\"))
        return or_(*keys)

    def holds(self, row: ComplaintRow) -> bool:
        if self.email is not None:
            return bool(row.complainant_email) and normal_address(
                row.complainant_email or ""
            ) == normal_address(self.email)
        if self.phone is not None:
            return bool(row.complainant_phone) and national_phone(
                row.complainant_phone or ""
            ) == national_phone(self.phone)
        handle = normal_handle(self.handle or "")
        if row.complainant_handle and normal_handle(row.complainant_handle) == handle:
            return True
        if handle.startswith("tg:") and row.thread_key:
            return row.thread_key.split(":")[:2] == ["telegram", handle[3:]]
        return x_account(row.thread_key) == handle


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def complaints_of(session: Session, person: Person, *, lock: bool = False) -> list[ComplaintRow]:
    query = select(ComplaintRow).where(person.where()).order_by(ComplaintRow.id)
    if lock:
        query = query.with_for_update()
    return [row for row in session.scalars(query) if person.holds(row)]


def raws_of(session: Session, complaint: ComplaintRow) -> list[RawMessageRow]:
    return list(
        session.scalars(
            select(RawMessageRow)
            .where(
                or_(
                    RawMessageRow.complaint_id == complaint.id,
                    RawMessageRow.id == complaint.raw_message_id,
                )
            )
            .order_by(RawMessageRow.id)
        )
    )


# --- export ------------------------------------------------------------------------------------


def export(session: Session, person: Person, settings: Settings) -> dict[str, Any]:
    """Everything held about `person`, as JSON-ready data."""
    unit_addresses = {
        normal_address(a) for unit in settings.unit for a in (unit.email, *unit.members) if a
    }
    complaints = []
    for row in complaints_of(session, person):
        raws = raws_of(session, row)
        raw_ids = [raw.id for raw in raws]
        attachments = session.execute(
            select(AttachmentRow, func.length(BlobRow.data))
            .join(BlobRow, BlobRow.sha256 == AttachmentRow.sha256)
            .where(AttachmentRow.complaint_id == row.id)
            .order_by(AttachmentRow.id)
        ).all()
        events = session.scalars(
            select(EventRow)
            .where(or_(EventRow.complaint_id == row.id, EventRow.raw_message_id.in_(raw_ids)))
            .order_by(EventRow.id)
        )
        notices = session.scalars(
            select(NoticeRow)
            .where(NoticeRow.complaint_id == row.id, NoticeRow.audience == "complainant")
            .order_by(NoticeRow.id)
        )
        sent = session.scalars(
            select(OutboundMessageRow)
            .where(OutboundMessageRow.complaint_id == row.id)
            .order_by(OutboundMessageRow.id)
        )
        complaints.append(
            {
                "reference": row.reference,
                "channel": row.channel,
                "received_at": _iso(row.received_at),
                "status": row.status,
                "product": row.product,
                "kind": row.kind,
                "unit": row.unit,
                "complainant": {
                    "name": row.complainant_name,
                    "email": row.complainant_email,
                    "phone": row.complainant_phone,
                    "handle": row.complainant_handle,
                },
                "conversation": row.thread_key,
                "subject": row.subject,
                "body": row.body,
                "decision": row.decision,
                "satisfaction": row.satisfaction,
                "closed_at": _iso(row.closed_at),
                "messages": [
                    {
                        "channel": raw.channel,
                        "source_id": raw.source_id,
                        "received_at": _iso(raw.received_at),
                        "size": raw.size,
                        "transport": raw.transport,
                        "payload": raw.payload.decode("utf-8", "replace") if raw.payload else None,
                    }
                    for raw in raws
                ],
                "attachments": [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                        "sha256": a.sha256,
                        "bytes_held": bool(held),
                    }
                    for a, held in attachments
                ],
                "events": [
                    {"kind": e.kind, "at": _iso(e.at), "actor": e.actor, "detail": e.detail}
                    for e in events
                ],
                "notices": [
                    {
                        "purpose": n.purpose,
                        "subject": n.subject,
                        "body": n.body,
                        "state": n.state,
                        "created_at": _iso(n.created_at),
                        "sent_at": _iso(n.sent_at),
                    }
                    for n in notices
                ],
                "outbound_messages": [
                    {
                        "purpose": m.purpose,
                        "message_id": m.message_id,
                        "recipient": m.recipient,
                        "sent_at": _iso(m.sent_at),
                    }
                    for m in sent
                    if normal_address(m.recipient) not in unit_addresses
                ],
            }
        )
    return {"person": {person.by: getattr(person, person.by)}, "complaints": complaints}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- erase -------------------------------------------------------------------------------------


@dataclass
class Erased:
    """What an erasure took (or, dry, would take), per complaint reference."""

    complaints: list[str] = field(default_factory=list)
    fields: dict[str, list[str]] = field(default_factory=dict)
    raw_payloads: int = 0
    blobs: int = 0
    texts: int = 0  # subjects, bodies, notices, events … where the person's data was replaced


class Scrubber:
    """Replaces one person's identifiers in free text (and in JSON, recursively)."""

    def __init__(self, rows: Iterable[ComplaintRow]) -> None:
        self.addresses: set[str] = set()
        self.phones: set[str] = set()
        literal: set[str] = set()
        names: set[str] = set()  # the words of the name, wherever they stand alone
        for row in rows:
            if row.complainant_email:
                self.addresses.add(normal_address(row.complainant_email))
                literal.add(row.complainant_email)
            if row.complainant_phone and (national := national_phone(row.complainant_phone)):
                self.phones.add(national)
            if row.complainant_name:
                literal.add(row.complainant_name.strip())
                names.update(w for w in re.split(r"\W+", row.complainant_name) if len(w) >= 3)
            if row.complainant_handle:
                handle = row.complainant_handle.strip()
                literal.add(handle)
                literal.add(handle.removeprefix("@").removeprefix("tg:"))
            for account in _accounts(row.thread_key):
                literal.add(account)
        words = sorted((w for w in literal if len(w) >= 3), key=len, reverse=True)
        patterns = [re.escape(w) for w in words]
        patterns += [rf"(?<!\w){re.escape(w)}(?!\w)" for w in sorted(names, key=len, reverse=True)]
        self.literal = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        value = _ADDRESSISH.sub(
            lambda m: ERASED if normal_address(m.group()) in self.addresses else m.group(), value
        )
        value = _NUMBERISH.sub(
            lambda m: ERASED if national_phone(m.group()) in self.phones else m.group(), value
        )
        if self.literal is not None:
            value = self.literal.sub(ERASED, value)
        return value

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and self.literal is not None:
            return ERASED if self.literal.fullmatch(str(value)) else value
        return value


def _accounts(thread_key: str | None) -> list[str]:
    """The ids of a person in a conversation key (`telegram:<chat>[:<user>]`, X's account)."""
    if not thread_key:
        return []
    parts = thread_key.split(":")
    if parts[0] == "telegram":
        return [p for p in parts[1:] if p.lstrip("-").isdigit() and len(p) >= 5]
    account = x_account(thread_key)
    return [account] if account else []


def erase(
    session: Session, person: Person, *, by: str, at: datetime, dry_run: bool = False
) -> Erased:
    """Anonymise `person` everywhere (in the caller's transaction); `dry_run` changes nothing."""
    rows = complaints_of(session, person, lock=not dry_run)
    done = Erased(complaints=[row.reference for row in rows])
    if not rows:
        return done
    scrub = Scrubber(rows)
    ids = [row.id for row in rows]

    def put(obj: Any, name: str, value: Any) -> None:
        if getattr(obj, name) != value:
            done.texts += 1
            if not dry_run:
                setattr(obj, name, value)

    raw_ids: list[int] = []
    for row in rows:
        gone = [
            name
            for name in ("name", "email", "phone", "handle")
            if getattr(row, f"complainant_{name}") is not None
        ]
        if row.thread_key:
            gone.append("conversation")
        raws = raws_of(session, row)
        raw_ids += [raw.id for raw in raws]
        payloads = sum(1 for raw in raws if raw.payload)
        blobs = _drop_blobs(session, [row.id], ids, None, dry_run)
        done.fields[row.reference] = gone
        done.raw_payloads += payloads
        done.blobs += blobs
        for name in ("subject", "body", "decision"):
            put(row, name, scrub.text(getattr(row, name)))
        put(row, "source_id", _keyed(scrub, row.source_id))
        put(row, "message_id", row.message_id and _keyed(scrub, row.message_id))
        for raw in raws:
            put(raw, "source_id", _keyed(scrub, raw.source_id))
            put(raw, "error", scrub.text(raw.error))
        if not dry_run:
            row.complainant_name = row.complainant_email = None
            row.complainant_phone = row.complainant_handle = row.thread_key = None
            for raw in raws:
                raw.payload, raw.transport = b"", {}
    for model, columns, link in _TEXTS:
        for obj in session.scalars(select(model).where(link(ids, raw_ids))):
            for name in columns:
                value = getattr(obj, name)
                put(
                    obj,
                    name,
                    scrub.json(value) if isinstance(value, (dict, list)) else (scrub.text(value)),
                )
    for sent in session.scalars(
        select(OutboundMessageRow).where(OutboundMessageRow.complaint_id.in_(ids))
    ):
        if normal_address(sent.recipient) in scrub.addresses or scrub.text(sent.recipient) != (
            sent.recipient
        ):
            put(sent, "recipient", ERASED)
    if not dry_run:
        session.flush()  # the scrubbed events first: the new ones below say nothing personal
        for row in rows:
            repo.add_event(
                session,
                ERASED_EVENT,
                complaint_id=row.id,
                actor=by,
                request_by=person.by,
                fields=done.fields[row.reference],
                at=at.isoformat(),
            )
    return done


def _keyed(scrub: Scrubber, key: str) -> str:
    """A dedupe key that names the person (`message:<chat id>:<n>`) as a hash of itself:
    still unique, no longer personal."""
    if scrub.text(key) == key:
        return key
    return "kvkk:" + hashlib.sha256(key.encode()).hexdigest()[:40]


# (model, text or JSON columns to scrub, which rows: of these complaints / raw items)
_TEXTS: list[tuple[Any, tuple[str, ...], Callable[[list[int], list[int]], Any]]] = [
    (NoticeRow, ("subject", "body"), lambda c, r: NoticeRow.complaint_id.in_(c)),
    (
        EventRow,
        ("detail",),
        lambda c, r: or_(EventRow.complaint_id.in_(c), EventRow.raw_message_id.in_(r)),
    ),
    (AttachmentRow, ("filename",), lambda c, r: AttachmentRow.complaint_id.in_(c)),
    (RoutingDecisionRow, ("hits",), lambda c, r: RoutingDecisionRow.complaint_id.in_(c)),
    (CorrectionRow, ("subject", "text"), lambda c, r: CorrectionRow.complaint_id.in_(c)),
    (DeadLetterRow, ("error",), lambda c, r: DeadLetterRow.complaint_id.in_(c)),
]


def _drop_blobs(
    session: Session,
    complaint_ids: list[int],
    going: list[int],
    cutoff: datetime | None,
    dry_run: bool,
) -> int:
    """Empty the attachment bytes of `complaint_ids` that no other complaint still needs
    (one outside `going`, or, with a cutoff, not closed before it); the number emptied."""
    shas = set(
        session.scalars(
            select(AttachmentRow.sha256)
            .join(BlobRow, BlobRow.sha256 == AttachmentRow.sha256)
            .where(AttachmentRow.complaint_id.in_(complaint_ids), func.length(BlobRow.data) > 0)
        )
    )
    dropped = 0
    for sha in sorted(shas):
        kept: ColumnElement[bool] = ~ComplaintRow.id.in_(going)
        if cutoff is not None:
            kept = and_(
                kept,
                or_(
                    ComplaintRow.status != ComplaintStatus.CLOSED,
                    ComplaintRow.closed_at.is_(None),
                    ComplaintRow.closed_at > cutoff,
                ),
            )
        needed = session.scalar(
            select(
                exists()
                .where(AttachmentRow.sha256 == sha, AttachmentRow.complaint_id == ComplaintRow.id)
                .where(kept)
            )
        )
        if needed:
            continue
        dropped += 1
        if not dry_run:
            blob = session.get(BlobRow, sha)
            if blob is not None:
                blob.data = b""  # the size and the hash stay
    return dropped


# --- retention -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dropped:
    reference: str
    raw_payloads: int
    blobs: int


def _expired(cutoff: datetime) -> ColumnElement[bool]:
    return and_(ComplaintRow.status == ComplaintStatus.CLOSED, ComplaintRow.closed_at <= cutoff)


def retain(sessions: sessionmaker[Session], settings: Settings, at: datetime) -> list[Dropped]:
    """Drop the raw payloads and attachment bytes of complaints closed more than
    `retention_days` before `at`, once per closing (a transaction per batch); what went."""
    days = settings.privacy.retention_days
    if days <= 0:
        return []
    cutoff = at - timedelta(days=days)
    done_since_closed = exists().where(
        EventRow.complaint_id == ComplaintRow.id,
        EventRow.kind == RETENTION_EVENT,
        EventRow.at >= ComplaintRow.closed_at,
    )
    dropped: list[Dropped] = []
    after = 0  # by id, so that a pass ends even if a clock gone wrong stamps events early
    while True:
        with sessions.begin() as session:
            rows = list(
                session.scalars(
                    select(ComplaintRow)
                    .where(_expired(cutoff), ~done_since_closed, ComplaintRow.id > after)
                    .order_by(ComplaintRow.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            if not rows:
                return dropped
            ids = [row.id for row in rows]
            after = ids[-1]
            for row in rows:
                payloads = 0
                for raw in raws_of(session, row):
                    if raw.payload:
                        raw.payload, payloads = b"", payloads + 1
                blobs = _drop_blobs(session, [row.id], ids, cutoff, dry_run=False)
                repo.add_event(
                    session,
                    RETENTION_EVENT,
                    complaint_id=row.id,
                    actor="system:retention",
                    retention_days=days,
                    closed_at=row.closed_at,
                    raw_payloads=payloads,
                    blobs=blobs,
                )
                dropped.append(Dropped(row.reference, payloads, blobs))


def retain_daily(
    sessions: sessionmaker[Session], settings: Settings, at: datetime
) -> list[Dropped] | None:
    """`retain` at most once per local day (the scheduler calls this every pass); None when
    today's run is already done."""
    day = at.astimezone(ZoneInfo(settings.clock.timezone)).date().isoformat()
    with sessions() as session:
        mark = repo.get_watermark(session, *RETENTION_MARK)
    if mark and mark.get("day") == day:
        return None
    dropped = retain(sessions, settings, at)
    with sessions.begin() as session:
        repo.set_watermark(session, repo.Watermark(*RETENTION_MARK, {"day": day}))
    return dropped
