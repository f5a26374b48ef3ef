"""One update in: shared by the poller and the webhook, between the Bot API and the pipeline.

Decides which updates are the desk's (private chats; group messages addressed to the bot),
downloads their photos and documents with getFile, builds the `RawMessage` envelope and
stores it through `ingest.pipeline`; /start and /help are answered here too.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from telegram import User
from telegram.error import BadRequest, TelegramError

from ingest import pipeline
from ingest.channels.telegram.api import DeskBot, masked
from ingest.records import Outcome, OutcomeStatus
from intake import clock
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.settings import LimitsSettings
from normalize import telegram as tg

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 20 * 2**20  # getFile serves files of up to 20 MB (Bot API getFile)
MEDIA = ("document", "audio", "video", "voice")  # file-bearing fields besides `photo`
ANSWERED_COMMANDS = ("start", "help")

WELCOME = (
    "Merhaba! Şikâyet, istek ve önerilerinizi bu sohbete yazarak iletebilirsiniz; fotoğraf ve "
    "belge de ekleyebilirsiniz. Başvurunuz kayda alınınca size bir referans numarası "
    "göndereceğiz.\n\nHello! Write your complaint, request or suggestion in this chat (photos "
    "and documents are welcome); you will receive a reference number once it is recorded."
)


# --- which updates are ours -------------------------------------------------------------------


def message_for_us(update: dict[str, Any], me: User) -> tuple[str, dict[str, Any]] | None:
    """(kind, message) of an update the desk should read; None for anything else (channel
    posts, service messages, stickers, group talk not addressed to the bot)."""
    try:
        kind, message = tg.update_message(update)
    except tg.MalformedUpdate:
        return None
    sender = message.get("from") or {}
    if sender.get("is_bot") or not has_content(message) or not addressed_to_us(message, me):
        return None
    return kind, message


def has_content(message: dict[str, Any]) -> bool:
    return bool(
        tg.message_text(message).strip()
        or message.get("photo")
        or any(isinstance(message.get(k), dict) for k in MEDIA)
    )


def addressed_to_us(message: dict[str, Any], me: User) -> bool:
    """Private chats always; in a group a mention (`@name` or a text_mention), a command for
    the bot (/start@name) or a reply to one of its messages (Bot API MessageEntity)."""
    chat_type = message["chat"].get("type")
    if chat_type == "private":
        return True
    if chat_type not in tg.GROUPS:
        return False
    replied = (message.get("reply_to_message") or {}).get("from") or {}
    if replied.get("id") == me.id:
        return True
    name = f"@{me.username}".lower()
    for entity, covered in tg.entities_of(message):
        kind, covered = entity.get("type"), covered.lower()
        if (
            (kind == "mention" and covered == name)
            or (kind == "bot_command" and covered.endswith(name))
            or (kind == "text_mention" and (entity.get("user") or {}).get("id") == me.id)
        ):
            return True
    return False


# --- files --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    file_id: str
    file_name: str
    mime_type: str
    file_size: int


def file_refs(message: dict[str, Any]) -> list[FileRef]:
    """The photo (largest of its PhotoSize array: the original) and any document or media."""
    refs, number = [], message["message_id"]
    photos = [p for p in message.get("photo") or [] if isinstance(p, dict)]
    if photos:
        best = max(
            photos,
            key=lambda p: (p.get("file_size") or 0, (p.get("width") or 0) * (p.get("height") or 0)),
        )
        refs.append(
            FileRef(
                best["file_id"], f"photo_{number}.jpg", "image/jpeg", best.get("file_size") or 0
            )
        )
    for kind in MEDIA:
        item = message.get(kind)
        if isinstance(item, dict):
            refs.append(
                FileRef(
                    item["file_id"],
                    item.get("file_name") or f"{kind}_{number}",
                    item.get("mime_type") or "application/octet-stream",
                    item.get("file_size") or 0,
                )
            )
    return refs


async def download_files(
    bot: DeskBot, message: dict[str, Any], limits: LimitsSettings
) -> list[dict[str, Any]]:
    """The envelope's `files`: each downloaded, or recorded as refused with the reason."""
    files: list[dict[str, Any]] = []
    total = 0
    for ref in file_refs(message)[: limits.max_attachments]:
        entry: dict[str, Any] = {
            "file_id": ref.file_id,
            "file_name": ref.file_name,
            "mime_type": ref.mime_type,
        }
        refusal = _refusal(ref.file_size, total, limits)
        if refusal is None:
            try:
                entry["file_path"], data = await fetch_file(bot, ref.file_id)
                refusal = _refusal(len(data), total, limits)
            except BadRequest as exc:  # "file is too big", an expired file_id
                refusal = f"getFile: {exc.message}"
        if refusal is None:
            entry["content_b64"] = base64.b64encode(data).decode("ascii")
            total += len(data)
        else:
            entry.update(file_size=ref.file_size, refused=refusal)
        files.append(entry)
    return files


def _refusal(size: int, total: int, limits: LimitsSettings) -> str | None:
    if size > min(limits.max_attachment_bytes, MAX_DOWNLOAD_BYTES):
        return "over the attachment size limit"
    if total + size > limits.max_total_attachment_bytes:
        return "over the total attachment size limit"
    return None


async def fetch_file(bot: DeskBot, file_id: str) -> tuple[str, bytes]:
    """getFile, then the download; the path is kept relative because the download URL
    carries the bot token, which is never stored."""
    found = await bot.get_file(file_id)
    data = bytes(await found.download_as_bytearray())
    return str(found.file_path or "").removeprefix(bot.base_file_url + "/"), data


# --- one update in ------------------------------------------------------------------------------


def raw_from_update(
    update: dict[str, Any], kind: str, message: dict[str, Any], files: list[dict[str, Any]]
) -> RawMessage:
    chat_id, message_id = tg.message_key(message)
    envelope = {"update": update, "files": files}
    return RawMessage(
        channel=tg.CHANNEL,
        source_id=tg.source_id_of(kind, message),
        received_at=tg.message_time(kind, message),
        payload=json.dumps(envelope, ensure_ascii=False).encode(),
        transport={"chat_id": chat_id, "message_id": message_id, "update_id": update["update_id"]},
    )


def unreadable(update: dict[str, Any]) -> RawMessage:
    """An update that could not be turned into a raw item, kept as it came to be looked at."""
    return RawMessage(
        channel=tg.CHANNEL,
        source_id=f"update:{update.get('update_id')}",
        received_at=clock.now(),
        transport={"update_id": update.get("update_id")},
        payload=json.dumps({"update": update, "files": []}).encode(),
    )


class Receiver:
    """What the poller and the webhook share: classify an update, fetch its files, store it
    through the pipeline, and answer /start."""

    def __init__(self, runtime: Runtime, bot: DeskBot) -> None:
        self.runtime, self.bot = runtime, bot
        self.me: User | None = None

    async def identify(self) -> User:
        """Who the bot is (getMe, once): groups address it by its username."""
        if self.me is None:
            self.me = await self.bot.get_me()
        return self.me

    async def receive(self, update: dict[str, Any]) -> Outcome | None:
        """Store one update; None when it is not for the desk. Telegram errors propagate (the
        caller retries), anything else is recorded as a rejected item, so that one update of a
        shape we did not foresee never holds the offset back."""
        me = await self.identify()
        try:
            found = message_for_us(update, me)
        except Exception as exc:  # e.g. `from` that is not an object: keep it, go on
            return await self._reject(update, exc)
        if found is None:
            log.info("update %s: not for the desk, skipped", update.get("update_id"))
            return None
        kind, message = found
        try:
            raw = raw_from_update(
                update,
                kind,
                message,
                await download_files(self.bot, message, self.runtime.settings.limits),
            )
        except TelegramError:
            raise
        except Exception as exc:  # a shape we did not foresee: keep it, go on
            return await self._reject(update, exc)
        ingested = await run_in_threadpool(pipeline.ingest, self.runtime, [raw])
        outcome = ingested.outcomes()[0]
        log.info(
            "update %s: raw %s %s (chat %s)",
            update["update_id"],
            outcome.raw_id,
            outcome.status,
            masked(raw.transport["chat_id"]),
        )
        if outcome.status != OutcomeStatus.DUPLICATE:
            await self.answer_command(message)
        return outcome

    async def _reject(self, update: dict[str, Any], exc: Exception) -> Outcome:
        error = f"unreadable update: {type(exc).__name__}: {exc}"
        return await run_in_threadpool(pipeline.reject, self.runtime, unreadable(update), error)

    async def answer_command(self, message: dict[str, Any]) -> None:
        """/start (and /help): how to complain and the KVKK notice (aydınlatma metni)."""
        if tg.bot_command(message) not in ANSWERED_COMMANDS:
            return
        notice = self.runtime.settings.telegram.kvkk_notice
        text = f"{WELCOME}\n\n{notice}" if notice else WELCOME
        try:
            await self.bot.send_message(message["chat"]["id"], text)
        except Exception as exc:  # the update is stored; the greeting is only a courtesy
            log.warning("chat %s: /start answer not sent: %s", masked(message["chat"]["id"]), exc)
