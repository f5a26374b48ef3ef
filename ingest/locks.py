"""One poller per feed across machines: a Redis lock with an expiry, renewed while polling.

Several `intake run` instances may run side by side; a mailbox folder, the Telegram bot's
getUpdates (two pollers make Telegram answer 409) or the X mentions are polled by one at a
time. The lock's token names its holder, `host|pid|instance|nonce` (the host: the machine's
name, boot id and pid namespace, within which a pid means one process). A holder that died on
this machine (its pid is gone, or it is our own pid with another instance: a restart that got
the same pid) is taken over at once, so a restarted instance polls again within seconds; one
on another machine, or in another pid namespace (a restarted container), loses the lock when
it expires. A live holder is never displaced before it expires.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from typing import Any

log = logging.getLogger(__name__)

# Set the lock to ARGV[2] for ARGV[3] ms only while it still holds ARGV[1]: the dead holder's
# token, so two instances that both see it dead cannot both take it.
TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('set', KEYS[1], ARGV[2], 'px', ARGV[3]) and 1 or 0
end
return 0
"""
INSTANCE = secrets.token_hex(6)  # this process: a new one each start, even with the same pid


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as file:
            return file.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return ""


def host() -> str:
    """This machine as a token names it: pids are compared only between the same hosts."""
    parts = (socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), _pid_namespace())
    return "/".join(parts).replace("|", "_")


HOST = host()


def new_token() -> str:
    """A token naming this process; the nonce tells two locks of one process apart."""
    return f"{HOST}|{os.getpid()}|{INSTANCE}|{secrets.token_hex(4)}"


def dead_holder(token: str) -> str | None:
    """Why the holder named by `token` is known to be dead (None: alive, or cannot tell)."""
    parts = token.split("|")
    if len(parts) != 4 or parts[0] != HOST or not parts[1].isdigit():
        return None  # another machine, or a token of an older version: wait for the expiry
    pid, instance = int(parts[1]), parts[2]
    if pid == os.getpid():
        return None if instance == INSTANCE else f"pid {pid} was a previous run"
    if pid <= 1:  # 0 would signal our process group; 1 is this namespace's init
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"pid {pid} is gone"
    except OSError:  # PermissionError: a live process of another user
        return None
    return None


class FeedLock:
    """`hold()` before each cycle (takes or renews the lock); without Redis, always held."""

    def __init__(self, redis: Any, feed: str, ttl_seconds: int) -> None:
        self.feed = feed
        self.lock = self._take = None
        if redis is not None:
            self.lock = redis.lock(
                f"intake:feed-lock:{feed}", timeout=ttl_seconds, blocking=False, thread_local=False
            )
            self._take = redis.register_script(TAKE_OVER)

    def hold(self) -> bool:
        """True when this instance may poll the feed now."""
        if self.lock is None:
            return True
        try:
            if self.lock.owned():
                return bool(self.lock.reacquire())
            return bool(self.lock.acquire(token=new_token())) or self._take_over()
        except Exception as exc:  # lost it (expired and taken), or Redis is down
            log.warning("%s: polling lock not held (%s)", self.feed, exc)
            return False

    def _take_over(self) -> bool:
        """Take the lock from a holder that died on this machine; False while it may live."""
        assert self.lock is not None and self._take is not None
        held = self.lock.redis.get(self.lock.name)
        if held is None:
            return False  # expired just now: the next cycle takes it
        encoder = self.lock.redis.get_encoder()
        old = held.decode("utf-8", "replace") if isinstance(held, bytes) else str(held)
        why = dead_holder(old)
        if why is None:
            return False
        token = encoder.encode(new_token())
        if not self._take(keys=[self.lock.name], args=[held, token, int(self.lock.timeout * 1000)]):
            return False  # another instance saw it dead too and took it first
        self.lock.local.token = token
        log.info("%s: took the polling lock over from a dead holder (%s)", self.feed, why)
        return True

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
