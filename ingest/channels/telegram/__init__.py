"""Telegram as a channel: the desk's bot, by long polling (getUpdates) or by webhook.

An update the bot should read (a private message; a group message that mentions or answers
the bot) becomes one `RawMessage`: the update as received plus its photos and documents,
fetched with getFile first so that `normalize.telegram` stays pure. The poller keeps
getUpdates' offset as the channel's watermark and advances it only after the raw is committed;
the webhook checks Telegram's secret header. Acknowledgements go back with sendMessage.

The package's modules, in the order an update travels: `api` (the Bot API client), `receive`
(one update in), `poller` (getUpdates) and `webhook` (setWebhook pushes); this module
registers the channel, acknowledges and normalises.
"""

from __future__ import annotations

import asyncio

from telegram import Message, ReplyParameters
from telegram.error import TelegramError

from ingest.channels import AckRequest, ChannelSpec, register
from ingest.channels.telegram.api import (
    PUBLIC_API,
    DeskBot,
    as_intake_error,
    file_url,
    http,
    masked,
    new_bot,
    open_bot,
    quiet_transport_logs,
    retry_seconds,
)
from ingest.channels.telegram.poller import (
    BACKOFF_MAX_SECONDS,
    STATUS_KEY,
    STOP_SLICE,
    Stopped,
    TelegramPoller,
    pollers,
    sleep_unless,
    until_stopped,
)
from ingest.channels.telegram.receive import (
    ANSWERED_COMMANDS,
    MAX_DOWNLOAD_BYTES,
    MEDIA,
    WELCOME,
    FileRef,
    Receiver,
    addressed_to_us,
    download_files,
    fetch_file,
    file_refs,
    has_content,
    message_for_us,
    raw_from_update,
    unreadable,
)
from ingest.channels.telegram.webhook import (
    MAX_WEBHOOK_BYTES,
    SECRET_HEADER,
    Webhook,
    parse_update,
    read_limited,
    routes,
)
from intake.errors import ConfigError, PermanentError
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.settings import Settings, TelegramSettings, secret
from normalize import telegram as tg

__all__ = [
    "ACK", "ANSWERED_COMMANDS", "BACKOFF_MAX_SECONDS", "MAX_DOWNLOAD_BYTES", "MAX_WEBHOOK_BYTES",
    "MEDIA", "PUBLIC_API", "SECRET_HEADER", "STATUS_KEY", "STOP_SLICE", "TELEGRAM", "WELCOME",
    "DeskBot", "FileRef", "Receiver", "Stopped", "TelegramPoller", "Webhook",
    "acknowledge", "addressed_to_us", "as_intake_error", "download_files", "fetch_file",
    "file_refs", "file_url", "has_content", "http", "masked", "message_for_us", "new_bot",
    "normalizer", "open_bot", "parse_update", "pollers", "quiet_transport_logs",
    "raw_from_update", "read_limited", "retry_seconds", "routes", "sleep_unless",
    "unreadable", "until_stopped",
]

ACK = (
    "Başvurunuz {reference} referans numarasıyla kayda alındı. Bu sohbete yazdıklarınız "
    "başvurunuza eklenir.\n\nYour complaint has been recorded under reference {reference}. "
    "Anything you write in this chat is added to it."
)


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


def set_webhook(config: TelegramSettings, url: str | None) -> None:
    """Register our webhook URL with Telegram, with the secret it must send back (or, with
    no URL, remove it so that polling works: Telegram answers getUpdates with 409 otherwise)."""
    async def call() -> None:
        async with open_bot(config) as bot:
            if url is None:
                await bot.delete_webhook()
                return
            secret_token = secret(config.webhook_secret_env)
            if not secret_token:
                raise ConfigError(f"{config.webhook_secret_env or 'webhook_secret_env'} is not set")
            await bot.set_webhook(url, secret_token=secret_token,
                                  allowed_updates=["message", "edited_message"])

    try:
        asyncio.run(call())
    except TelegramError as exc:
        raise as_intake_error(exc) from exc


def normalizer(raw: RawMessage, settings: Settings) -> tg.Normalized:
    return tg.normalize_telegram(raw.payload, received_at=raw.received_at,
                                 max_body_chars=settings.limits.max_body_chars)


TELEGRAM = register(ChannelSpec(tg.CHANNEL, normalizer=normalizer, acknowledge=acknowledge,
                                routes=routes, pollers=pollers))
