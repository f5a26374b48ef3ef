"""One poller per feed across machines: a Redis lock with an expiry, renewed while polling.

Several `intake run` instances may run side by side; a mailbox folder, the Telegram bot's
getUpdates (two pollers make Telegram answer 409) or the X mentions are polled by one at a
time. A holder that dies loses the lock when it expires, and another instance takes over.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class FeedLock:
    """`hold()` before each cycle (takes or renews the lock); without Redis, always held."""

    def __init__(self, redis: Any, feed: str, ttl_seconds: int) -> None:
        self.feed = feed
        self.lock = None
        if redis is not None:
            self.lock = redis.lock(
                f"intake:feed-lock:{feed}", timeout=ttl_seconds, blocking=False, thread_local=False
            )

    def hold(self) -> bool:
        """True when this instance may poll the feed now."""
        if self.lock is None:
            return True
        try:
            if self.lock.owned():
                return bool(self.lock.reacquire())
            return bool(self.lock.acquire())
        except Exception as exc:  # lost it (expired and taken), or Redis is down
            log.warning("%s: polling lock not held (%s)", self.feed, exc)
            return False

    def renew(self) -> None:
        """Keep the lock through a long cycle; raises when it was lost meanwhile."""
        if self.lock is not None:
            self.lock.reacquire()

    def release(self) -> None:
        if self.lock is not None and self.lock.owned():
            try:
                self.lock.release()
            except Exception:
                log.debug("%s: lock already gone", self.feed)
