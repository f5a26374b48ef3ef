"""The records of the e-mail normaliser: its limits and what it hands back.

Every channel's normaliser returns a `Normalized`: the `Complaint` of the schema plus
what the store needs beside it (attachment bytes by SHA-256, thread ids, the Date) and the
record of decisions made on the way (`auto_reason`, refused attachments, repair notes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from intake.schema import Complaint


@dataclass(frozen=True)
class EmailLimits:
    """Bounds on what one mail may bring in; beyond them content is cut or refused."""

    max_body_chars: int = 1_000_000  # body bounded (truncate, add a note)
    max_attachment_bytes: int = 25 * 2**20  # per attachment; over → refused, complaint kept
    max_attachments: int = 50
    max_total_attachment_bytes: int = 50 * 2**20


@dataclass(frozen=True)
class RefusedAttachment:
    """An attachment left out because of a limit; recorded so an operator can ask for it."""

    filename: str | None
    content_type: str
    size: int
    reason: str


@dataclass(frozen=True)
class Normalized:
    """The complaint plus what the store keeps beside it and the record of repairs made.

    `blobs` holds the bytes the complaint's attachments name by SHA-256: the store keeps
    them content-addressed, and only ids travel on the queues (STYLE.md 6).
    """

    complaint: Complaint  # product=None, kind=None (routing fills them)
    blobs: Mapping[str, bytes]  # sha256 hex -> bytes, one per complaint.attachments entry
    message_id: str | None  # without the angle brackets
    in_reply_to: tuple[str, ...]  # ids without brackets
    references: tuple[str, ...]
    date: datetime | None  # the Date header, tz-aware, None if absent/unparseable
    auto_reason: str | None  # why auto_submitted is true, e.g. "Auto-Submitted: auto-replied"
    refused_attachments: tuple[RefusedAttachment, ...]
    notes: tuple[str, ...]  # repairs done: "charset windows-1254 assumed", "body truncated"
    # Threading beyond e-mail: a conversation key (e.g. "telegram:chat:42") whose open
    # complaint a new message continues, and the source_id of a message this one edits.
    thread_key: str | None = None
    replaces: str | None = None
    # Our own server's word on the From (normalize.authresults); None when not asked.
    sender_authenticated: bool | None = None
