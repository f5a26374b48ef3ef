"""Telegram as a channel: the desk's bot, by long polling (getUpdates) or by webhook.

An update the bot should read (a private message; a group message that mentions or answers
the bot) becomes one `RawMessage`: the update as received plus its photos and documents,
fetched with getFile first so that `normalize.telegram` stays pure. The poller keeps
getUpdates' offset as the channel's watermark and advances it only after the raw is committed;
the webhook checks Telegram's secret header. Acknowledgements go back with sendMessage.

The package's modules, in the order an update travels: `api` (the Bot API client), `receive`
(one update in), `poller` (getUpdates) and `webhook` (setWebhook pushes); this module
registers the channel and answers on it (`normalize.telegram` reads what comes in).
"""

from __future__ import annotations

import asyncio

from telegram import Message, ReplyParameters
from telegram.error import TelegramError

from ingest.channels import ChannelSpec, register
from ingest.channels.telegram.api import as_intake_error, open_bot
from ingest.channels.telegram.poller import feeds
from ingest.channels.telegram.webhook import routes
from intake.errors import ConfigError, PermanentError, TemporaryError
from intake.runtime import Runtime
from intake.settings import TelegramSettings, secret
from normalize import telegram as tg
from outbound.channels import AckRequest

MAX_TEXT = 4096  # Bot API sendMessage
ACK = (
    "Başvurunuz {reference} referans numarasıyla kayda alındı. Bu sohbete yazdıklarınız "
    "başvurunuza eklenir.\n\nYour complaint has been recorded under reference {reference}. "
    "Anything you write in this chat is added to it."
)


def acknowledge(runtime: Runtime, request: AckRequest) -> str:
    """sendMessage with the reference, as a reply to the complaint; returns
    `telegram:<chat>:<message>`, the id a reply to it carries back (normalize.telegram)."""
    chat_id = request.transport.get("chat_id")
    if chat_id is None:
        raise PermanentError("no Telegram chat to answer in")
    try:
        sent = asyncio.run(
            _send(
                runtime.settings.telegram,
                chat_id,
                _text(request),
                request.transport.get("message_id"),
            )
        )
    except TelegramError as exc:
        raise as_intake_error(exc) from None
    return f"telegram:{chat_id}:{sent.message_id}"


def _text(request: AckRequest) -> str:
    """The acknowledgement, or a notice under its reference (Telegram takes 4096 chars)."""
    if not request.text:
        return ACK.format(reference=request.reference)
    text = f"[{request.reference}]\n{request.text}"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


async def _send(config: TelegramSettings, chat_id: int, text: str, reply_to: int | None) -> Message:
    # allow_sending_without_reply: a complaint message deleted meanwhile must not stop the ack
    reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    async with open_bot(config) as bot:
        try:
            return await bot.send_message(chat_id, text, reply_parameters=reply)
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            # JSON that is not the Bot API's {"ok", "result": Message}: PTB fails reading it.
            # The API's fault, not ours: retried like a 5xx, not parked as a bug.
            raise TemporaryError(
                f"sendMessage: the Bot API answered no Message ({type(exc).__name__})"
            ) from None


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
            await bot.set_webhook(
                url, secret_token=secret_token, allowed_updates=["message", "edited_message"]
            )

    try:
        asyncio.run(call())
    except TelegramError as exc:
        raise as_intake_error(exc) from exc


register(ChannelSpec(tg.CHANNEL, acknowledge=acknowledge, routes=routes, feeds=feeds))
