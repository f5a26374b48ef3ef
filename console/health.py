"""`/healthz` and `/readyz`: is this process alive, and can the desk do its work now.

`/healthz` answers 200 whenever the process serves HTTP (a liveness probe restarts it
otherwise). `/readyz` answers 200 only when every check passes, 503 otherwise, and names
each check with what it found:

- `database`: a `SELECT 1` on the store;
- `broker`: a PING of the Redis broker (not ok when the runtime has none: the work would
  only wait in the store for the reconciler);
- `poll:<feed>/<folder>`, one per poller the settings enable (every folder of an enabled
  `[[mailbox]]`, Telegram's getUpdates, X's mentions and DMs): its last good poll in
  `poll_status`, by any instance, is within max(3 × its interval, 300 s); an IMAP box that
  IDLEs records a poll only when its IDLE ends, so it gets `idle_renew_seconds` more. A
  poller is judged only once a whole window has passed since this process started: a first
  import of a large mailbox, or a restart after an outage, is not a failure before then;
- `scheduler`: the scheduler's lock is held in Redis by some instance (its key exists);
  without a broker there is no lock to see and the check is skipped (ok, said so).

Every check runs in a thread of its own, all at once, and is given `TIMEOUT` seconds: a
database or Redis that hangs makes the probe answer 503 in time, not hang it (`Bounded`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Generic, TypeVar

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from intake import clock
from intake.runtime import Runtime
from intake.settings import Settings
from store.models import PollStatusRow

TIMEOUT = 2.0  # seconds each check may take
MIN_WINDOW = 300.0  # seconds: the least a poller may go without a good poll
SCHEDULER_LOCK = "intake:feed-lock:scheduler"  # ingest.locks.FeedLock of the "scheduler" feed

T = TypeVar("T")


# --- calls that cannot hang their caller -------------------------------------------------------


class NoAnswer(TimeoutError):
    """A bounded call that had not ended when its time was up."""


class _Call(Generic[T]):
    """One call of `fn` in a daemon thread (one that hangs never blocks the exit)."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._run, name="console-check", daemon=True).start()

    def _run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # handed to whoever waits for it
            self.error = exc
        finally:
            self.done.set()

    def result(self, timeout: float) -> T:
        """The value, or the call's exception; `NoAnswer` when it has not ended in time."""
        if not self.done.wait(max(0.0, timeout)):
            raise NoAnswer()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class Bounded:
    """Start calls by name, each waited for a bounded time. One call per name at a time: a
    probe that comes while the last call is still stuck waits on that one rather than start
    another thread, so a database that hangs does not pile up threads."""

    def __init__(self) -> None:
        self._calls: dict[str, _Call[Any]] = {}
        self._guard = threading.Lock()

    def start(self, name: str, fn: Callable[[], T]) -> _Call[T]:
        with self._guard:
            call: _Call[T] | None = self._calls.get(name)
            if call is None or call.done.is_set():
                call = _Call(fn)
                self._calls[name] = call
            return call


def describe(exc: BaseException, limit: float = TIMEOUT) -> str:
    """A failure in one short line (the first line of its message)."""
    if isinstance(exc, NoAnswer):
        return f"no answer within {limit:g} s"
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")


# --- the checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


@dataclass(frozen=True)
class Poller:
    """A poller the settings enable, and how long it may go without a good poll."""

    feed: str  # poll_status.mailbox: the mailbox's name, "telegram", "twitter"
    folder: str  # poll_status.folder: "INBOX", "updates", "mentions", "dms"
    window: float  # seconds

    @property
    def name(self) -> str:
        return f"poll:{self.feed}/{self.folder}"


def window(interval: float, extra: float = 0.0) -> float:
    return max(3 * interval, MIN_WINDOW) + extra


def enabled_pollers(settings: Settings) -> list[Poller]:
    """The feeds `intake run` polls with these settings (as the channels' `feeds` choose)."""
    pollers = []
    renew = settings.imap.idle_renew_seconds
    for box in settings.mailbox:
        if box.enabled:
            span = window(box.poll_interval_seconds, renew if box.idle else 0.0)
            pollers += [Poller(box.name, folder, span) for folder in box.all_folders]
    telegram = settings.telegram
    if telegram.enabled and telegram.mode == "polling":
        pollers.append(Poller("telegram", "updates", window(telegram.poll_timeout_seconds or 5)))
    twitter = settings.twitter
    if twitter.enabled:
        kinds = ("mentions", "dms") if twitter.direct_messages else ("mentions",)
        pollers += [
            Poller("twitter", kind, window(twitter.poll_interval_seconds)) for kind in kinds
        ]
    return pollers


def database(runtime: Runtime) -> Check:
    """`SELECT 1` on a pooled connection (checked out with its pre-ping on PostgreSQL);
    on the DB-API connection, so no transaction (SQLite's BEGIN IMMEDIATE) is opened."""
    connection = runtime.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchone()
        cursor.close()
    finally:
        connection.close()
    return Check(True, f"{runtime.engine.dialect.name} answers")


def broker(runtime: Runtime) -> Check:
    client = _redis(runtime)
    if client is None:
        return Check(False, "no broker: the work waits in the store for the reconciler")
    client.ping()
    return Check(True, "Redis answers PING")


def scheduler(runtime: Runtime) -> Check:
    client = _redis(runtime)
    if client is None:
        return Check(True, "not checked: no broker, so no scheduler lock to see")
    if client.exists(SCHEDULER_LOCK):
        return Check(True, "the scheduler's lock is held")
    return Check(False, "no instance holds the scheduler's lock: the clocks are not kept")


def last_polls(runtime: Runtime) -> dict[tuple[str, str], datetime | None]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(PollStatusRow.mailbox, PollStatusRow.folder, PollStatusRow.last_success_at)
        ).all()
    return {(feed, folder): last for feed, folder, last in rows}


def freshness(poller: Poller, last: datetime | None, now: datetime, started: datetime) -> Check:
    """Whether `poller`'s last good poll is recent enough (see the module's note)."""
    limit = f"limit {poller.window:g} s"
    if last is not None and (now - last).total_seconds() <= poller.window:
        return Check(True, f"last good poll {(now - last).total_seconds():.0f} s ago ({limit})")
    seen = "never polled" if last is None else f"last good poll {last.isoformat()}"
    if (now - started).total_seconds() < poller.window:
        return Check(True, f"{seen}; starting, judged from {poller.window:g} s after start")
    return Check(False, f"{seen}: stale ({limit})")


def _redis(runtime: Runtime) -> Any:
    """The broker's Redis client; None without a (Redis) broker."""
    broker = runtime.broker
    return broker.client if isinstance(broker, RedisBroker) else None


# --- readiness ---------------------------------------------------------------------------------


class Readiness:
    """The checks of one runtime, each in its own bounded thread."""

    def __init__(self, runtime: Runtime, started: datetime | None = None) -> None:
        self.runtime = runtime
        self.started = started or clock.now()
        self.pollers = enabled_pollers(runtime.settings)
        self.bounded = Bounded()

    def checks(self) -> dict[str, Check]:
        rt = self.runtime
        deadline = time.monotonic() + TIMEOUT
        calls = {
            name: self.bounded.start(name, partial(fn, rt))
            for name, fn in (("database", database), ("broker", broker), ("scheduler", scheduler))
        }
        polls = self.bounded.start("poll_status", lambda: last_polls(rt)) if self.pollers else None
        results = {name: _outcome(call, deadline) for name, call in calls.items()}
        if polls is not None:
            results.update(self._poller_checks(polls, deadline))
        return results

    def _poller_checks(
        self, polls: _Call[dict[tuple[str, str], datetime | None]], deadline: float
    ) -> dict[str, Check]:
        try:
            last = polls.result(deadline - time.monotonic())
        except Exception as exc:
            unread = Check(False, f"poll status not readable: {describe(exc)}")
            return {poller.name: unread for poller in self.pollers}
        now = clock.now()
        return {
            p.name: freshness(p, last.get((p.feed, p.folder)), now, self.started)
            for p in self.pollers
        }


def _outcome(call: _Call[Check], deadline: float) -> Check:
    try:
        return call.result(deadline - time.monotonic())
    except Exception as exc:
        return Check(False, describe(exc))


def routes(runtime: Runtime) -> list[Route]:
    """GET `/healthz` and `/readyz` (sync handlers: Starlette runs them in its thread pool)."""
    readiness = Readiness(runtime)

    def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def readyz(request: Request) -> JSONResponse:
        checks = readiness.checks()
        ready = all(check.ok for check in checks.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
