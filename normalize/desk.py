"""normalize_desk: an entry typed at the complaint desk to a `Normalized` holding the Complaint.

The desk's stage of `normalize/` (store → normalize → Complaint) for phone calls, visits and
petitions forwarded by CİMER or TÜBİMER. Pure: the stored JSON body the desk API or
`intake new` built, and the operator who typed it (recorded in the notes). Its field rules are
checked at the edge before anything is stored; a CİMER/TÜBİMER petition number is its dedupe key.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from intake.errors import PermanentError
from normalize.mail import DEFAULT_LIMITS
from normalize.records import EmailLimits, Normalized
from normalize.webform import contact_errors, parse_json, typed_complaint

DESK_CHANNELS = ("phone", "face_to_face", "cimer", "tubimer")
PETITION_CHANNELS = ("cimer", "tubimer")  # their petition number is the dedupe key
PETITION = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,63}")
TEXT_FIELD = "text"


class MalformedEntry(PermanentError):
    """The stored entry is not what the desk API builds (a JSON object with a channel)."""


def parse_entry(payload: bytes) -> dict[str, str]:
    """The entry's fields as text (`MalformedForm` when the body is not a JSON object)."""
    return parse_json(payload).fields


OLDEST_YEAR = 2000  # nothing the desk takes in was received before; year 1 would overflow


def parse_received_at(value: str, tz: str) -> datetime:
    """ISO 8601; a time without a zone is the desk's local time (`tz`). ValueError if bad,
    or before `OLDEST_YEAR` (a complaint is numbered in the year it was received)."""
    moment = datetime.fromisoformat(value.strip())
    if moment.year < OLDEST_YEAR:
        raise ValueError(f"received before {OLDEST_YEAR}: {value.strip()}")
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(tz))


def entry_errors(values: dict[str, str]) -> dict[str, str]:
    """What the operator must fix before the entry is taken (answered 422)."""
    errors = contact_errors(values, text_field=TEXT_FIELD)
    channel = values.get("channel", "").strip()
    if channel not in DESK_CHANNELS:
        errors["channel"] = f"one of {', '.join(DESK_CHANNELS)}"
    petition = values.get("petition_number", "").strip()
    if channel in PETITION_CHANNELS and not petition:
        errors["petition_number"] = f"required for {channel}"
    elif petition and not PETITION.fullmatch(petition):
        errors["petition_number"] = "letters, digits and . / - only, at most 64"
    received_at = values.get("received_at", "").strip()
    if received_at:
        try:
            parse_received_at(received_at, "UTC")
        except ValueError:
            errors["received_at"] = (
                f"an ISO 8601 time from {OLDEST_YEAR} on, e.g. 2026-03-02T10:15:00+03:00"
            )
    return errors


def normalize_desk(
    payload: bytes,
    *,
    operator: str,
    received_at: datetime,
    limits: EmailLimits = DEFAULT_LIMITS,
) -> Normalized:
    """The complaint of one stored desk entry, the operator noted."""
    values = parse_entry(payload)
    channel = values.get("channel", "").strip()
    if channel not in DESK_CHANNELS:
        raise MalformedEntry(f"not a desk channel: {channel!r}")
    if not values.get(TEXT_FIELD, "").strip():
        raise MalformedEntry("desk entry without a text")
    complaint, notes = typed_complaint(
        channel=channel,
        received_at=received_at,
        values=values,
        text_field=TEXT_FIELD,
        max_body_chars=limits.max_body_chars,
    )
    return Normalized(
        complaint=complaint,
        blobs={},
        message_id=None,
        in_reply_to=(),
        references=(),
        date=None,
        auto_reason=None,
        refused_attachments=(),
        notes=(f"entered by {operator or 'unknown operator'}", *notes),
    )
