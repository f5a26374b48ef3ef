"""Long polling: the getUpdates feed, one of the threads `intake run` starts.

Each update goes through a `Receiver`, and the offset (the channel's watermark, in `store/`)
advances only after the raw item is committed. The Bot API client is async (PTB): the feed
keeps one event loop and one bot for all its cycles. The loop, its lock, backoff and health
are the shared feed skeleton's (`ingest.feed`); a 429 waits as long as Telegram asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar

from telegram.error import RetryAfter, TelegramError

from ingest.channels.telegram.api import open_bot, retry_seconds
from ingest.channels.telegram.receive import Receiver
from ingest.feed import Feed, FeedId, PollReport, Stopped, Tally
from intake.errors import IntakeError, TemporaryError
from intake.runtime import Runtime
from normalize import telegram as tg

log = logging.getLogger(__name__)

STATUS_KEY = ("telegram", "updates")  # PollStatusRow (feed, folder); the watermark's key
BACKOFF_MAX_SECONDS = 300.0
STOP_SLICE = 0.25  # seconds: how often a long poll looks at the stop event

T = TypeVar("T")


async def until_stopped(stop: threading.Event | None, call: Awaitable[T]) -> T:
    """Await `call`, abandoning it when `stop` is set (a long poll lasts poll_timeout)."""
    task = asyncio.ensure_future(call)
    while stop is not None and not task.done():
        await asyncio.wait({task}, timeout=STOP_SLICE)
        if stop.is_set() and not task.done():
            task.cancel()
            raise Stopped
    return await task


class TelegramPoller(Feed):
    """getUpdates in a loop; the offset is the watermark, saved after each stored update."""

    log = log
    expected = (IntakeError, OSError, TelegramError)  # the API's answers: logged without a trace

    def __init__(
        self, runtime: Runtime, *, backoff_max: float = BACKOFF_MAX_SECONDS, redis: Any = None
    ) -> None:
        config = runtime.settings.telegram
        # Two getUpdates pollers of one bot make Telegram answer 409: one instance at a time.
        ttl = max(
            runtime.settings.imap.lock_ttl_seconds,
            2 * (config.poll_timeout_seconds + int(config.timeout_seconds)),
        )
        super().__init__(
            runtime,
            FeedId("telegram:updates", tg.CHANNEL, STATUS_KEY, STATUS_KEY),
            redis=redis,
            lock_ttl=ttl,
            interval=config.poll_timeout_seconds or 5,
            backoff_max=backoff_max,
        )
        self.config = config
        self._loop: asyncio.Runner | None = None
        self._bot: contextlib.AsyncExitStack | None = None
        self._receiver: Receiver | None = None

    def cycle(self, stop: threading.Event | None = None) -> PollReport:
        if self._loop is None:
            self._loop = asyncio.Runner()
        return self._loop.run(self._cycle(stop))

    async def _cycle(self, stop: threading.Event | None) -> PollReport:
        """One getUpdates round, each update stored before the offset moves past it."""
        receiver = await self._receiving()
        mark = self.load_watermark()
        offset = mark["offset"] + 1 if mark else None
        try:
            await receiver.identify()
            updates = await until_stopped(
                stop,
                receiver.bot.get_raw_updates(
                    offset,
                    self.config.poll_timeout_seconds,
                    read_timeout=self.config.timeout_seconds + self.config.poll_timeout_seconds,
                ),
            )
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            # JSON, but not the Bot API's {"ok", "result"}: PTB fails reading it. An outage of
            # the API (a broken proxy), not a bug of ours: backed off and logged as one.
            raise TemporaryError(f"the Bot API answered garbage ({type(exc).__name__})") from None
        if not isinstance(updates, list):
            raise TemporaryError(f"getUpdates answered a {type(updates).__name__}, not a list")
        tally = Tally(fetched=len(updates))
        for update in updates:
            outcome = await receiver.receive(update)
            tally.add([outcome] if outcome else [])
            self.save_watermark({"offset": update["update_id"]})  # after the raw is committed
        return tally.report()

    async def _receiving(self) -> Receiver:
        """The receiver and its bot, opened on the first cycle and kept for the next ones."""
        if self._receiver is None:
            stack = contextlib.AsyncExitStack()
            bot = await stack.enter_async_context(open_bot(self.config))
            self._bot, self._receiver = stack, Receiver(self.runtime, bot)
        return self._receiver

    def delay_after(self, exc: Exception) -> float:
        """429: what Telegram asks (`parameters.retry_after`); else exponential backoff with
        full jitter, capped (5xx, timeouts, a 429 without retry_after, a revoked token)."""
        if isinstance(exc, RetryAfter):
            return retry_seconds(exc)
        return super().delay_after(exc)

    def wait_for_more(self, stop: threading.Event) -> None:
        """Nothing: the next long poll waits on Telegram's side."""

    def close(self) -> None:
        super().close()
        if self._loop is not None:
            if self._bot is not None:
                self._loop.run(self._bot.aclose())
            self._loop.close()
        self._loop, self._bot, self._receiver = None, None, None


def feeds(runtime: Runtime) -> list[Feed]:
    """The getUpdates feed, when `[telegram] enabled` and `mode = "polling"`."""
    config = runtime.settings.telegram
    if not (config.enabled and config.mode == "polling"):
        return []
    return [TelegramPoller(runtime, redis=getattr(runtime.broker, "client", None))]
