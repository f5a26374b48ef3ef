"""Normalise one Telegram update (as the channel stored it) into the complaint schema.

The Telegram channel (`ingest.channels.telegram`) stores an envelope: the Bot API update as
received plus the bytes of its photos and documents, fetched with getFile beforehand, so this
step is pure. A Telegram message has no subject: `subject` is "" and the text (or a media
caption) is the body. A bot command (/start) is recorded, never a complaint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from intake.errors import PermanentError
from intake.schema import Attachment, Complainant, Complaint
from normalize.attachments import clean_attachment
from normalize.body import CONTROL_CHARS, bound_text
from normalize.language import detect_language
from normalize.records import Normalized, RefusedAttachment

CHANNEL = "telegram"
KINDS = ("message", "edited_message")  # the update fields we ask for (allowed_updates)
GROUPS = ("group", "supergroup")
COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?$")


class MalformedUpdate(PermanentError):
    """The stored envelope is not a Telegram update we can read."""


def normalize_telegram(
    payload: bytes,
    *,
    received_at: datetime | None = None,
    max_body_chars: int = 1_000_000,
) -> Normalized:
    """The complaint of one stored update; `MalformedUpdate` when the envelope is broken."""
    envelope = parse_envelope(payload)
    kind, message = update_message(envelope["update"])
    chat_id, message_id = message_key(message)
    text = CONTROL_CHARS.sub("", unicodedata.normalize("NFC", message_text(message)))
    body, notes = bound_text(text.strip(), max_body_chars)
    attachments, blobs, refused, attachment_notes = attachments_of(envelope["files"])
    command = bot_command(message)
    complaint = Complaint(
        channel=CHANNEL,
        source_id=source_id_of(kind, message),
        received_at=received_at or message_time(kind, message),
        complainant=complainant_of(message.get("from")),
        subject="",
        body=body,
        language=detect_language(body),
        attachments=attachments,
        auto_submitted=command is not None,
    )
    return Normalized(
        complaint=complaint,
        blobs=blobs,
        message_id=None,
        in_reply_to=in_reply_to_of(chat_id, message),
        references=(),
        date=None,
        auto_reason=f"bot command /{command}" if command else None,
        refused_attachments=refused,
        notes=notes + attachment_notes,
        thread_key=thread_key_of(message),
        replaces=f"{chat_id}:{message_id}" if kind == "edited_message" else None,
    )


# --- the envelope and the update ----------------------------------------------------------------


def parse_envelope(payload: bytes) -> dict[str, Any]:
    """`{"update": {...}, "files": [...]}` from the stored JSON bytes."""
    try:
        envelope = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # too deep
        raise MalformedUpdate(f"not JSON: {exc}") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("update"), dict):
        raise MalformedUpdate("no update object in the envelope")
    if not isinstance(envelope.setdefault("files", []), list):
        raise MalformedUpdate("files is not a list")
    return envelope


def update_message(update: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(kind, message) of an update: a new message or an edited one (Bot API `Update`)."""
    for kind in KINDS:
        message = update.get(kind)
        if isinstance(message, dict):
            message_key(message)
            return kind, message
    raise MalformedUpdate("the update carries neither message nor edited_message")


def message_key(message: Mapping[str, Any]) -> tuple[int, int]:
    """(chat id, message id): a message id is unique only within its chat (Bot API)."""
    chat, message_id = message.get("chat"), message.get("message_id")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise MalformedUpdate("message without a chat id")
    if not isinstance(message_id, int) or not isinstance(message.get("date"), int):
        raise MalformedUpdate("message without message_id or date")
    return chat["id"], message_id


def source_id_of(kind: str, message: Mapping[str, Any]) -> str:
    """`chat:message`; an edit is its own item, `chat:message:edit:<edit_date>`."""
    chat_id, message_id = message_key(message)
    if kind == "edited_message":
        return f"{chat_id}:{message_id}:edit:{message.get('edit_date') or message['date']}"
    return f"{chat_id}:{message_id}"


def message_time(kind: str, message: Mapping[str, Any]) -> datetime:
    """When Telegram received it: `date` (Unix time), or `edit_date` for an edit."""
    stamp = (message.get("edit_date") if kind == "edited_message" else None) or message["date"]
    return datetime.fromtimestamp(stamp, timezone.utc)


def thread_key_of(message: Mapping[str, Any]) -> str:
    """The conversation a new message continues: the private chat; in a group, one member's
    messages in it (two members of a group must not share a complaint)."""
    chat_id, _ = message_key(message)
    if message["chat"].get("type") in GROUPS:
        return f"telegram:{chat_id}:{(message.get('from') or {}).get('id')}"
    return f"telegram:{chat_id}"


def in_reply_to_of(chat_id: int, message: Mapping[str, Any]) -> tuple[str, ...]:
    """The message this one answers, named as the acknowledger names what it sends
    (`telegram:<chat>:<message>`), so a reply to our acknowledgement finds its complaint."""
    reply = message.get("reply_to_message")
    if isinstance(reply, dict) and isinstance(reply.get("message_id"), int):
        return (f"telegram:{chat_id}:{reply['message_id']}",)
    return ()


# --- the person, the text, the command ----------------------------------------------------------


def complainant_of(sender: Mapping[str, Any] | None) -> Complainant:
    """Name from first/last name; handle `@username`, else `tg:<user id>` (Bot API `User`)."""
    sender = sender or {}
    name = " ".join(str(sender[k]).strip() for k in ("first_name", "last_name") if sender.get(k))
    handle = (
        f"@{sender['username']}"
        if sender.get("username")
        else (f"tg:{sender['id']}" if sender.get("id") is not None else None)
    )
    return Complainant(name=unicodedata.normalize("NFC", name) or None, handle=handle)


def message_text(message: Mapping[str, Any]) -> str:
    """The text, or the caption of a photo or document."""
    value = message.get("text") or message.get("caption") or ""
    return value if isinstance(value, str) else ""


def entity_text(text: str, entity: Mapping[str, Any]) -> str:
    """The text an entity covers; offsets and lengths count UTF-16 code units (Bot API
    `MessageEntity`), so emoji before it shift Python's indices."""
    units = text.encode("utf-16-le")
    start, length = int(entity.get("offset", 0)), int(entity.get("length", 0))
    return units[2 * start : 2 * (start + length)].decode("utf-16-le", errors="replace")


def entities_of(message: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str]]:
    """(entity, covered text) of the text's or the caption's entities."""
    text = message_text(message)
    found = message.get("entities") or message.get("caption_entities") or []
    return [(e, entity_text(text, e)) for e in found if isinstance(e, dict)]


def bot_command(message: Mapping[str, Any]) -> str | None:
    """`start` for a message that begins with /start (or /start@our_bot), else None."""
    for entity, covered in entities_of(message):
        if entity.get("type") == "bot_command" and entity.get("offset") == 0:
            match = COMMAND.match(covered)
            return match.group(1).lower() if match else None
    return None


# --- attachments ---------------------------------------------------------------------------------


def attachments_of(
    files: list[Any],
) -> tuple[
    tuple[Attachment, ...], dict[str, bytes], tuple[RefusedAttachment, ...], tuple[str, ...]
]:
    """The downloaded files as attachments (bytes by SHA-256), the ones left out, and the
    notes of names and types cleaned (`attachments.clean_attachment`)."""
    attachments, blobs, refused = [], {}, []
    notes: list[str] = []
    for item in files:
        if not isinstance(item, dict):
            raise MalformedUpdate("a file entry is not an object")
        filename, content_type, cleaned = clean_attachment(
            item.get("file_name"), item.get("mime_type")
        )
        notes += cleaned
        if item.get("refused"):
            refused.append(
                RefusedAttachment(
                    filename,
                    content_type,
                    int(item.get("file_size") or 0),
                    item["refused"],
                )
            )
            continue
        data = _decode(item.get("content_b64"))
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        attachments.append(Attachment(filename, content_type, len(data), digest))
    return tuple(attachments), blobs, tuple(refused), tuple(dict.fromkeys(notes))


def _decode(value: Any) -> bytes:
    if not isinstance(value, str):
        raise MalformedUpdate("a file entry without content_b64")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise MalformedUpdate(f"a file's content_b64 is not base64: {exc}") from None
