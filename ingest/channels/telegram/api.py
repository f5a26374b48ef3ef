"""The Bot API client the channel shares: the desk's bot and its HTTP settings.

The poller, the webhook's receiver and the acknowledger all talk to Telegram through a
`DeskBot` from `open_bot`/`new_bot`; a failed sendMessage becomes an `IntakeError` here
(`as_intake_error`), and a 429's wait is read by `retry_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from intake.errors import ConfigError, IntakeError, PermanentError, TemporaryError
from intake.settings import TelegramSettings, secret
from normalize import telegram as tg

PUBLIC_API = "https://api.telegram.org/bot"


class DeskBot(Bot):
    """PTB's `Bot`, with getUpdates answered as the JSON Telegram sent: PTB's objects add
    defaults on the way back to JSON, and the raw item must be what arrived."""

    async def get_raw_updates(
        self, offset: int | None, timeout: int, read_timeout: float
    ) -> list[dict[str, Any]]:
        # Bot API getUpdates: an update is confirmed once it is asked for with a higher offset.
        return await self._post(
            "getUpdates",
            {
                "offset": offset,
                "timeout": timeout,
                "allowed_updates": list(tg.KINDS),
            },
            read_timeout=read_timeout,
        )


def file_url(base_url: str) -> str:
    """Downloads live beside the methods: `…/bot<token>/getFile` → `…/file/bot<token>/<path>`."""
    return base_url.removesuffix("/bot") + "/file/bot"


def http(config: TelegramSettings) -> HTTPXRequest:
    """A connection pool whose every request has a timeout (`[telegram] timeout_seconds`)."""
    quiet_transport_logs()
    t = config.timeout_seconds
    return HTTPXRequest(
        connection_pool_size=4,
        read_timeout=t,
        write_timeout=t,
        connect_timeout=t,
        pool_timeout=t,
        media_write_timeout=t,
    )


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
    return DeskBot(
        token,
        base_url=base,
        base_file_url=file_url(base),
        request=request,
        get_updates_request=updates_request,
    )


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


def as_intake_error(exc: TelegramError) -> IntakeError:
    """400 (chat not found), 403 (the user blocked the bot), a migrated group: permanent;
    429, 5xx, timeouts and a rejected token (fixed by an operator): temporary."""
    if isinstance(exc, (BadRequest, Forbidden, ChatMigrated)):
        return PermanentError(f"sendMessage: {exc.message}")
    return TemporaryError(f"sendMessage: {type(exc).__name__}: {exc.message}")
