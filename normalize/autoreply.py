"""Is this mail automatic? Out-of-office, bounces, list traffic and our own mail looping back.

`mail` records the first reason found as `auto_reason` and sets `auto_submitted`; such mail is
stored but never acknowledged and never a new complaint (docs/design.md). Header evidence comes
first (RFC 3834 and the de-facto headers), then the sender, then the subject wording.
"""

from __future__ import annotations

import re

from normalize.headers import HeaderMap, first, parse_address
from normalize.reference import ref_from_message_id

NEGATIVE_VALUES = frozenset({"", "no", "false", "0"})
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
REPORT_TYPES = frozenset(
    {"multipart/report", "message/delivery-status", "message/disposition-notification"}
)
SYSTEM_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
AUTO_SUBJECT = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|ynt|ilt|İlt|sv|tr|wg)\s*:\s*)*"
    r"(out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response)|"
    r"otomatik yan[ıi]t|ofis d[ıi]ş[ıi]nda|undeliverable|undelivered mail|"
    r"delivery status notification|mail delivery failed|delivery failure|returned mail|"
    r"[iİ]letilemedi|abwesenheitsnotiz|r[ée]ponse automatique)",
    re.IGNORECASE,
)


def header_reason(headers: HeaderMap) -> str | None:
    """RFC 3834 Auto-Submitted, the X-Auto* family, Precedence and list headers."""
    auto = (first(headers, "auto-submitted") or "").strip()
    if auto.split(";")[0].strip().lower() not in NEGATIVE_VALUES:
        return f"Auto-Submitted: {auto}"
    for name in ("x-autoreply", "x-autorespond", "x-auto-response-suppress"):
        value = (first(headers, name) or "").strip()
        if name in headers and value.lower() not in ("no", "false"):
            return f"{canonical_name(name)}: {value}"
    precedence = (first(headers, "precedence") or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe"):
        if name in headers:
            return f"{canonical_name(name)} present"
    return None


def canonical_name(name: str) -> str:
    """'x-auto-response-suppress' → 'X-Auto-Response-Suppress'."""
    return "-".join(word.capitalize() for word in name.split("-"))


def sender_reason(headers: HeaderMap, content_type: str) -> str | None:
    """Reports (RFC 6522: DSN, MDN), system senders and the null reverse-path (RFC 5321)."""
    if content_type in REPORT_TYPES:
        return f"Content-Type: {content_type}"
    address = parse_address(first(headers, "from"))[1] or ""
    if address.split("@")[0].lower() in SYSTEM_SENDERS:
        return f"From: {address.split('@')[0]}"
    return_path = first(headers, "return-path")
    if return_path is not None and return_path.strip() in ("<>", ""):
        return "Return-Path: <>"
    return None


def own_mail_reason(headers: HeaderMap, message_id: str | None, prefix: str) -> str | None:
    """Our own outgoing mail, looped back: our Message-ID form or our X-Intake-Ref header."""
    if "x-intake-ref" in headers:
        return "X-Intake-Ref present (our own mail)"
    if ref_from_message_id(message_id, prefix):
        return "Message-ID is ours (our own mail)"
    return None


def detect_auto_reason(
    headers: HeaderMap, content_type: str, subject: str, message_id: str | None, prefix: str
) -> str | None:
    """Why this mail is automatic, or None when a person wrote it."""
    reason = (
        own_mail_reason(headers, message_id, prefix)
        or header_reason(headers)
        or sender_reason(headers, content_type)
    )
    if reason:
        return reason
    match = AUTO_SUBJECT.match(subject)
    return f"Subject: {match.group(1)}" if match else None
