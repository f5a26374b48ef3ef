"""Mail bytes as a raw item, keyed by their Message-ID (or, without one, their SHA-256).

Both ways mail comes in use it: the MTA hand-off (`intake inject`) and the IMAP feed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from intake import clock
from intake.schema import RawMessage


def raw_from_bytes(
    payload: bytes,
    *,
    channel: str = "email",
    mailbox: str | None = None,
    received_at: datetime | None = None,
    transport: dict[str, Any] | None = None,
) -> RawMessage:
    """Wrap mail bytes as a `RawMessage` keyed by Message-ID (or a hash of the bytes)."""
    return RawMessage(
        channel=channel,
        source_id=source_id_of(payload),
        payload=payload,
        mailbox=mailbox,
        received_at=received_at or clock.now(),
        transport=transport or {},
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
