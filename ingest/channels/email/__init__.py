"""E-mail as a channel: raw RFC 5322 bytes from an MTA hand-off (`intake inject`) or IMAP.

The dedupe key is the Message-ID, or the SHA-256 of the bytes when a mail has none. Mail from
a mailbox with `channel = "email_ssl"` is the SSL certificate problem address (24 h clock).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from email.policy import compat32

from ingest.channels import ChannelSpec, register
from intake.schema import RawMessage
from intake.settings import Settings
from normalize import EmailLimits, NormalizedEmail, normalize_email


def raw_from_bytes(
    payload: bytes, *, channel: str = "email", mailbox: str | None = None,
    received_at: datetime | None = None, transport: dict | None = None,
) -> RawMessage:
    """Wrap mail bytes as a `RawMessage` keyed by Message-ID (or a hash of the bytes)."""
    return RawMessage(
        channel=channel, source_id=source_id_of(payload), payload=payload, mailbox=mailbox,
        received_at=received_at or datetime.now(timezone.utc), transport=transport or {},
    )


def source_id_of(payload: bytes) -> str:
    """Message-ID without brackets; `sha256:<hex>` when there is none (RFC 5322 3.6.4)."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(payload[:65536])
        value = str(headers.get("Message-ID") or "").strip()
    except Exception:  # headers this broken are the normaliser's to report
        value = ""
    value = " ".join(value.split()).strip("<>").strip()
    if value and len(value) <= 500:
        return value
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def normalize_raw(raw: RawMessage, settings: Settings) -> NormalizedEmail:
    limits = settings.limits
    return normalize_email(
        raw.payload, channel=raw.channel, received_at=raw.received_at,
        reference_prefix=settings.reference.prefix,
        limits=EmailLimits(
            max_body_chars=limits.max_body_chars,
            max_attachment_bytes=limits.max_attachment_bytes,
            max_attachments=limits.max_attachments,
            max_total_attachment_bytes=limits.max_total_attachment_bytes,
        ),
    )


EMAIL = register(ChannelSpec("email", normalize_raw))
EMAIL_SSL = register(ChannelSpec("email_ssl", normalize_raw))
