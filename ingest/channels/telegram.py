"""Telegram as a channel: the desk's bot, by long polling (getUpdates) or by webhook.

An update the bot should read (a private message; a group message that mentions or answers
the bot) becomes one `RawMessage`: the update as received plus its photos and documents,
fetched with getFile first so that `normalize.telegram` stays pure. The poller keeps
getUpdates' offset as the channel's watermark and advances it only after the raw is committed;
the webhook checks Telegram's secret header. Acknowledgements go back with sendMessage.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from telegram import Bot, Message, ReplyParameters, User
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from ingest import pipeline
from ingest.channels import AckRequest, ChannelSpec, register
from intake.errors import ConfigError, IntakeError, PermanentError, TemporaryError
from intake.locks import FeedLock
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.settings import LimitsSettings, Settings, TelegramSettings, secret
from normalize import telegram as tg
from store import repo
from store.models import PollStatusRow

log = logging.getLogger(__name__)

PUBLIC_API = "https://api.telegram.org/bot"
STATUS_KEY = ("telegram", "updates")  # PollStatusRow (mailbox, folder); the watermark's key
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # setWebhook secret_token (Bot API)
MAX_WEBHOOK_BYTES = 2**20
MAX_DOWNLOAD_BYTES = 20 * 2**20  # getFile serves files of up to 20 MB (Bot API getFile)
MEDIA = ("document", "audio", "video", "voice")  # file-bearing fields besides `photo`
ANSWERED_COMMANDS = ("start", "help")
BACKOFF_MAX_SECONDS = 300.0
STOP_SLICE = 0.25  # seconds: how often a wait looks at the stop event

WELCOME = (
    "Merhaba! Şikâyet, istek ve önerilerinizi bu sohbete yazarak iletebilirsiniz; fotoğraf ve "
    "belge de ekleyebilirsiniz. Başvurunuz kayda alınınca size bir referans numarası "
    "göndereceğiz.\n\nHello! Write your complaint, request or suggestion in this chat (photos "
    "and documents are welcome); you will receive a reference number once it is recorded."
)
ACK = (
    "Başvurunuz {reference} referans numarasıyla kayda alındı. Bu sohbete yazdıklarınız "
    "başvurunuza eklenir.\n\nYour complaint has been recorded under reference {reference}. "
    "Anything you write in this chat is added to it."
)

T = TypeVar("T")


# --- the Bot API client ----------------------------------------------------------------------

class DeskBot(Bot):
    """PTB's `Bot`, with getUpdates answered as the JSON Telegram sent: PTB's objects add
    defaults on the way back to JSON, and the raw item must be what arrived."""

    async def get_raw_updates(self, offset: int | None, timeout: int,
                              read_timeout: float) -> list[dict[str, Any]]:
        # Bot API getUpdates: an update is confirmed once it is asked for with a higher offset.
        return await self._post("getUpdates", {
            "offset": offset, "timeout": timeout, "allowed_updates": list(tg.KINDS),
        }, read_timeout=read_timeout)


def file_url(base_url: str) -> str:
    """Downloads live beside the methods: `…/bot<token>/getFile` → `…/file/bot<token>/<path>`."""
    return base_url.removesuffix("/bot") + "/file/bot"


def http(config: TelegramSettings) -> HTTPXRequest:
    """A connection pool whose every request has a timeout (`[telegram] timeout_seconds`)."""
    quiet_transport_logs()
    t = config.timeout_seconds
    return HTTPXRequest(connection_pool_size=4, read_timeout=t, write_timeout=t,
                        connect_timeout=t, pool_timeout=t, media_write_timeout=t)


def quiet_transport_logs() -> None:
    """httpx logs every URL at INFO, and the Bot API's URLs carry the token; PTB logs the
    parameters (chat ids, texts) at DEBUG. Both stay at WARNING unless an operator chose."""
    for name in ("httpx", "telegram"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def new_bot(config: TelegramSettings, *requests: HTTPXRequest) -> DeskBot:
    token = secret(config.token_env)
    if not token:
        raise ConfigError(f"telegram.token_env: the variable {config.token_env!r} is not set")
    base = (config.base_url or PUBLIC_API).rstrip("/")
    updates_request, request = requests
    return DeskBot(token, base_url=base, base_file_url=file_url(base), request=request,
                   get_updates_request=updates_request)


@asynccontextmanager
async def open_bot(config: TelegramSettings) -> AsyncIterator[DeskBot]:
    """A bot whose connections are closed on the way out (no getMe: callers ask when needed)."""
    requests = (http(config), http(config))
    try:
        yield new_bot(config, *requests)
    finally:
        await asyncio.gather(*(request.shutdown() for request in requests))


def retry_seconds(exc: RetryAfter) -> float:
    """`parameters.retry_after` of a 429; PTB 22.2 deprecates the int form of the attribute."""
    return exc._retry_after.total_seconds()  # the timedelta it keeps either way


def masked(chat_id: Any) -> str:
    """Chat ids identify people (a private chat's id is the user's): only the last digits."""
    return "***" + str(chat_id)[-2:]


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
    return bool(tg.message_text(message).strip() or message.get("photo")
                or any(isinstance(message.get(k), dict) for k in MEDIA))


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
        if (kind == "mention" and covered == name) or (
                kind == "bot_command" and covered.endswith(name)) or (
                kind == "text_mention" and (entity.get("user") or {}).get("id") == me.id):
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
        best = max(photos, key=lambda p: (p.get("file_size") or 0,
                                          (p.get("width") or 0) * (p.get("height") or 0)))
        refs.append(FileRef(best["file_id"], f"photo_{number}.jpg", "image/jpeg",
                            best.get("file_size") or 0))
    for kind in MEDIA:
        item = message.get(kind)
        if isinstance(item, dict):
            refs.append(FileRef(item["file_id"], item.get("file_name") or f"{kind}_{number}",
                                item.get("mime_type") or "application/octet-stream",
                                item.get("file_size") or 0))
    return refs


async def download_files(bot: DeskBot, message: dict[str, Any],
                         limits: LimitsSettings) -> list[dict[str, Any]]:
    """The envelope's `files`: each downloaded, or recorded as refused with the reason."""
    files: list[dict[str, Any]] = []
    total = 0
    for ref in file_refs(message)[:limits.max_attachments]:
        entry: dict[str, Any] = {"file_id": ref.file_id, "file_name": ref.file_name,
                                 "mime_type": ref.mime_type}
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

def raw_from_update(update: dict[str, Any], kind: str, message: dict[str, Any],
                    files: list[dict[str, Any]]) -> RawMessage:
    chat_id, message_id = tg.message_key(message)
    envelope = {"update": update, "files": files}
    return RawMessage(
        channel=tg.CHANNEL, source_id=tg.source_id_of(kind, message),
        received_at=tg.message_time(kind, message),
        payload=json.dumps(envelope, ensure_ascii=False).encode(),
        transport={"chat_id": chat_id, "message_id": message_id,
                   "update_id": update["update_id"]},
    )


def unreadable(update: dict[str, Any]) -> RawMessage:
    """An update that could not be turned into a raw item, kept as it came to be looked at."""
    return RawMessage(channel=tg.CHANNEL, source_id=f"update:{update.get('update_id')}",
                      received_at=repo.utcnow(), transport={"update_id": update.get("update_id")},
                      payload=json.dumps({"update": update, "files": []}).encode())


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

    async def receive(self, update: dict[str, Any]) -> pipeline.Outcome | None:
        """Store one update; None when it is not for the desk. Telegram errors propagate (the
        caller retries), anything else is recorded as a rejected item."""
        found = message_for_us(update, await self.identify())
        if found is None:
            log.info("update %s: not for the desk, skipped", update.get("update_id"))
            return None
        kind, message = found
        try:
            raw = raw_from_update(update, kind, message, await download_files(
                self.bot, message, self.runtime.settings.limits))
        except TelegramError:
            raise
        except Exception as exc:  # a shape we did not foresee: keep it, go on
            error = f"unreadable update: {type(exc).__name__}: {exc}"
            return await run_in_threadpool(pipeline.reject, self.runtime, unreadable(update), error)
        outcome = await run_in_threadpool(pipeline.ingest, self.runtime, raw)
        log.info("update %s: raw %s %s (chat %s)", update["update_id"], outcome.raw_id,
                 outcome.status, masked(raw.transport["chat_id"]))
        if outcome.status != "duplicate":
            await self.answer_command(message)
        return outcome

    async def answer_command(self, message: dict[str, Any]) -> None:
        """/start (and /help): how to complain and the KVKK notice (aydınlatma metni)."""
        if tg.bot_command(message) not in ANSWERED_COMMANDS:
            return
        notice = self.runtime.settings.telegram.kvkk_notice
        text = f"{WELCOME}\n\n{notice}" if notice else WELCOME
        try:
            await self.bot.send_message(message["chat"]["id"], text)
        except TelegramError as exc:  # the update is stored; the greeting is a courtesy
            log.warning("chat %s: /start answer not sent: %s", masked(message["chat"]["id"]), exc)


# --- polling ------------------------------------------------------------------------------------

class Stopped(Exception):
    """The stop event was set while waiting on Telegram."""


async def until_stopped(stop: threading.Event | None, call: Awaitable[T]) -> T:
    """Await `call`, abandoning it when `stop` is set (a long poll lasts poll_timeout)."""
    task = asyncio.ensure_future(call)
    while stop is not None and not task.done():
        await asyncio.wait({task}, timeout=STOP_SLICE)
        if stop.is_set() and not task.done():
            task.cancel()
            raise Stopped
    return await task


async def sleep_unless(stop: threading.Event, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(min(STOP_SLICE, deadline - time.monotonic()))


class TelegramPoller:
    """getUpdates in a loop; the offset is the watermark, saved after each stored update."""

    def __init__(self, runtime: Runtime, *, backoff_max: float = BACKOFF_MAX_SECONDS,
                 redis: Any = None) -> None:
        self.runtime, self.config = runtime, runtime.settings.telegram
        self.backoff_max = backoff_max
        # Two getUpdates pollers of one bot make Telegram answer 409: one instance at a time.
        ttl = max(runtime.settings.imap.lock_ttl_seconds,
                  2 * (self.config.poll_timeout_seconds + int(self.config.timeout_seconds)))
        self.lock = FeedLock(redis, "telegram:updates", ttl)
        self.failures = 0
        self.outage_since: float | None = None

    def run_forever(self, stop: threading.Event) -> None:
        asyncio.run(self.run(stop))

    async def run(self, stop: threading.Event) -> None:
        try:
            async with open_bot(self.config) as bot:
                receiver = Receiver(self.runtime, bot)
                while not stop.is_set():
                    if not self.lock.hold():  # another `intake run` polls the bot
                        await sleep_unless(stop, self.config.poll_timeout_seconds or 5)
                        continue
                    try:
                        await self.run_once(receiver, stop)
                    except Stopped:
                        break
                    except Exception as exc:
                        await sleep_unless(stop, self.delay_after(exc))
        except ConfigError as exc:
            self._record_failure(exc)
        finally:
            self.lock.release()

    async def run_once(self, receiver: Receiver, stop: threading.Event | None = None) -> int:
        """One getUpdates round, each update stored before the offset moves past it."""
        try:
            await receiver.identify()
            mark = self._load_watermark()
            offset = mark["offset"] + 1 if mark else None
            updates = await until_stopped(stop, receiver.bot.get_raw_updates(
                offset, self.config.poll_timeout_seconds,
                read_timeout=self.config.timeout_seconds + self.config.poll_timeout_seconds))
            for update in updates:
                await receiver.receive(update)
                self._save_watermark(update["update_id"])  # only after the raw is committed
        except Stopped:
            raise
        except Exception as exc:
            self._record_failure(exc)
            raise
        self._record_success(len(updates))
        return len(updates)

    def delay_after(self, exc: Exception) -> float:
        """429: what Telegram asks (`parameters.retry_after`); else exponential backoff with
        full jitter, capped (5xx, timeouts, a 429 without retry_after, a revoked token)."""
        if isinstance(exc, RetryAfter):
            return retry_seconds(exc)
        return random.uniform(0.5, 1.0) * min(self.backoff_max, 2 ** min(self.failures, 16))

    # --- watermark and health (as the IMAP poller keeps them) ---------------------------------

    def _load_watermark(self) -> dict[str, Any] | None:
        with self.runtime.sessions() as session:
            return repo.get_watermark(session, *STATUS_KEY)

    def _save_watermark(self, update_id: int) -> None:
        with self.runtime.sessions.begin() as session:
            repo.set_watermark(session, *STATUS_KEY, {"offset": update_id})

    def _status_row(self, session) -> PollStatusRow:  # type: ignore[no-untyped-def]
        row = session.get(PollStatusRow, STATUS_KEY)
        if row is None:
            row = PollStatusRow(mailbox=STATUS_KEY[0], folder=STATUS_KEY[1], channel=tg.CHANNEL,
                                consecutive_failures=0, messages_total=0)
            session.add(row)
        return row

    def _record_success(self, fetched: int) -> None:
        if self.outage_since is not None:
            log.warning("telegram: reachable again after %s failures (%.0f s)", self.failures,
                        time.monotonic() - self.outage_since)
        self.failures, self.outage_since = 0, None
        with self.runtime.sessions.begin() as session:
            row = self._status_row(session)
            row.last_attempt_at = row.last_success_at = repo.utcnow()
            row.consecutive_failures = 0
            row.messages_total += fetched

    def _record_failure(self, exc: Exception) -> None:
        self.failures += 1
        error = f"{type(exc).__name__}: {exc}"
        if self.outage_since is None:  # an outage is logged once, with its end
            self.outage_since = time.monotonic()
            log.error("telegram: %s; retrying with backoff", error)
        try:
            with self.runtime.sessions.begin() as session:
                row = self._status_row(session)
                row.last_attempt_at = row.last_error_at = repo.utcnow()
                row.last_error, row.consecutive_failures = error[:2000], self.failures
        except Exception:
            log.debug("telegram: could not record the failure", exc_info=True)


def pollers(runtime: Runtime, stop: threading.Event) -> list[threading.Thread]:
    """The getUpdates loop, when `[telegram] enabled` and `mode = "polling"`."""
    config = runtime.settings.telegram
    if not (config.enabled and config.mode == "polling"):
        return []
    poller = TelegramPoller(runtime, redis=getattr(runtime.broker, "client", None))
    thread = threading.Thread(target=poller.run_forever, args=(stop,),
                              name="telegram:updates", daemon=True)
    thread.start()
    return [thread]


# --- the webhook ----------------------------------------------------------------------------------

class Webhook:
    """POST /webhooks/telegram: Telegram pushes one update per request (Bot API setWebhook).

    Wrong secret → 403, body over 1 MB → 413, not an update → 400, stored or skipped → 200;
    when Telegram or the store fails → 503, and Telegram delivers the update again.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.config = runtime, runtime.settings.telegram
        self.receiver: Receiver | None = None  # made in the server's event loop, on first use

    async def handle(self, request: Request) -> JSONResponse:
        if not self.authentic(request.headers.get(SECRET_HEADER)):
            log.warning("telegram webhook: refused a request without the right secret token")
            return _error(403, f"wrong or missing {SECRET_HEADER}")
        body = await read_limited(request, MAX_WEBHOOK_BYTES)
        if body is None:
            return _error(413, f"body over {MAX_WEBHOOK_BYTES} bytes")
        update = parse_update(body)
        if isinstance(update, str):
            log.warning("telegram webhook: %s", update)
            return _error(400, update)
        try:
            outcome = await self._receiver().receive(update)
        except (TelegramError, IntakeError) as exc:
            log.warning("telegram webhook: update %s not stored yet: %s", update["update_id"], exc)
            return _error(503, "temporarily unavailable; deliver again")
        except Exception:
            log.exception("telegram webhook: update %s failed", update["update_id"])
            return _error(503, "temporarily unavailable; deliver again")
        return JSONResponse({"ok": True, "status": outcome.status if outcome else "skipped"})

    def authentic(self, given: str | None) -> bool:
        expected = secret(self.config.webhook_secret_env)
        if not expected or given is None:
            return False
        return hmac.compare_digest(given.encode(), expected.encode())

    def _receiver(self) -> Receiver:
        if self.receiver is None:
            self.receiver = Receiver(self.runtime, new_bot(self.config, http(self.config),
                                                           http(self.config)))
        return self.receiver


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is over `limit` bytes (checked while reading, not trusted
    from Content-Length alone)."""
    if int(request.headers.get("content-length") or 0) > limit:
        return None
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return None
    except ClientDisconnect:
        return b""
    return bytes(body)


def parse_update(body: bytes) -> dict[str, Any] | str:
    """The update object, or what is wrong with the body."""
    try:
        update = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"malformed JSON: {exc}"
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return "not a Telegram update (no update_id)"
    return update


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def routes(runtime: Runtime) -> list[Route]:
    config = runtime.settings.telegram
    if not (config.enabled and config.mode == "webhook"):
        return []
    return [Route("/webhooks/telegram", Webhook(runtime).handle, methods=["POST"])]


# --- acknowledging and normalising ----------------------------------------------------------

def acknowledge(runtime: Runtime, request: AckRequest) -> str:
    """sendMessage with the reference, as a reply to the complaint; returns
    `telegram:<chat>:<message>`, the id a reply to it carries back (normalize.telegram)."""
    chat_id = request.transport.get("chat_id")
    if chat_id is None:
        raise PermanentError("no Telegram chat to answer in")
    try:
        sent = asyncio.run(_send(runtime.settings.telegram, chat_id,
                                 ACK.format(reference=request.reference),
                                 request.transport.get("message_id")))
    except TelegramError as exc:
        raise as_intake_error(exc) from None
    return f"telegram:{chat_id}:{sent.message_id}"


async def _send(config: TelegramSettings, chat_id: int, text: str,
                reply_to: int | None) -> Message:
    # allow_sending_without_reply: a complaint message deleted meanwhile must not stop the ack
    reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    async with open_bot(config) as bot:
        return await bot.send_message(chat_id, text, reply_parameters=reply)


def as_intake_error(exc: TelegramError) -> IntakeError:
    """400 (chat not found), 403 (the user blocked the bot), a migrated group: permanent;
    429, 5xx, timeouts and a rejected token (fixed by an operator): temporary."""
    if isinstance(exc, (BadRequest, Forbidden, ChatMigrated)):
        return PermanentError(f"sendMessage: {exc.message}")
    return TemporaryError(f"sendMessage: {type(exc).__name__}: {exc.message}")


def normalizer(raw: RawMessage, settings: Settings) -> tg.Normalized:
    return tg.normalize_telegram(raw.payload, received_at=raw.received_at,
                                 max_body_chars=settings.limits.max_body_chars)


TELEGRAM = register(ChannelSpec(tg.CHANNEL, normalizer=normalizer, acknowledge=acknowledge,
                                routes=routes, pollers=pollers))
