"""Long polling: the getUpdates loop, one of the threads `intake run` starts.

Each update goes through a `Receiver` and the offset (the channel's watermark, in `store/`)
advances only after the raw item is committed; failures back off, an outage is logged once
and recorded on the channel's `PollStatusRow`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from telegram.error import RetryAfter

from ingest.channels.telegram.api import open_bot, retry_seconds
from ingest.channels.telegram.receive import Receiver
from ingest.locks import FeedLock
from intake.errors import ConfigError
from intake.runtime import Runtime
from normalize import telegram as tg
from store import health, repo

log = logging.getLogger(__name__)

STATUS_KEY = ("telegram", "updates")  # PollStatusRow (mailbox, folder); the watermark's key
BACKOFF_MAX_SECONDS = 300.0
STOP_SLICE = 0.25  # seconds: how often a wait looks at the stop event

T = TypeVar("T")


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

    def _record_success(self, fetched: int) -> None:
        if self.outage_since is not None:
            log.warning("telegram: reachable again after %s failures (%.0f s)", self.failures,
                        time.monotonic() - self.outage_since)
        self.failures, self.outage_since = 0, None
        health.record_success(self.runtime.sessions, *STATUS_KEY, tg.CHANNEL, fetched)

    def _record_failure(self, exc: Exception) -> None:
        self.failures += 1
        error = f"{type(exc).__name__}: {exc}"
        if self.outage_since is None:  # an outage is logged once, with its end
            self.outage_since = time.monotonic()
            log.error("telegram: %s; retrying with backoff", error)
        health.record_failure(self.runtime.sessions, *STATUS_KEY, tg.CHANNEL, error,
                              self.failures)


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

