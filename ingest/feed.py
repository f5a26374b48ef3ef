"""The loop every polled feed shares: a lock, a cycle, its health, backoff, an outage logged once.

A channel subclasses `Feed` and fills in `cycle()`: fetch what is new after the watermark and
store it through `pipeline.ingest`. Where its source says how long to wait, it also fills in
`delay_after` (after a failed cycle) and `wait_for_more` (after a good one). `run_once()` is
one cycle, skipped while another `intake run` holds the feed's lock; `run_forever(stop)` is
the loop around it, which `intake run` gives a thread per feed (`start`) and tests run with
an injected wait. A missing setting or secret ends the loop: nothing in it can change until
an operator restarts with it set.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ingest.locks import FeedLock
from ingest.records import Outcome, OutcomeStatus
from intake.errors import ConfigError, IntakeError
from intake.privacy import mask
from intake.runtime import Runtime
from store import health, repo
from store.repo import Watermark

log = logging.getLogger(__name__)


class Stopped(Exception):
    """The stop event was set while a cycle waited on its source."""


@dataclass(frozen=True)
class FeedId:
    """Who a feed is: its lock and log name, its channel, its rows in the store."""

    name: str  # the lock's and the log's name: "imap:general/INBOX", "x/mentions"
    channel: str  # what its items come in as (email_ssl, telegram, twitter)
    health: tuple[str, str]  # its `poll_status` row (feed, folder), for `intake status`
    watermark: tuple[str, str]  # its `watermarks` row (channel, key)


@dataclass(frozen=True)
class PollReport:
    """What one cycle did."""

    fetched: int = 0
    created: int = 0
    duplicates: int = 0
    failed: int = 0
    resynced: bool = False
    skipped: str | None = None  # why nothing was done (the lock is held elsewhere)


class Tally:
    """The counts of a cycle, from the outcomes of what it stored."""

    def __init__(self, fetched: int = 0, failed: int = 0) -> None:
        self.fetched, self.created, self.duplicates, self.failed = fetched, 0, 0, failed

    def add(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.status is OutcomeStatus.DUPLICATE:
                self.duplicates += 1
            elif outcome.status is OutcomeStatus.FAILED:
                self.failed += 1
            else:  # a new complaint, a follow-up, an auto-reply recorded
                self.created += 1

    def report(self, *, resynced: bool = False) -> PollReport:
        return PollReport(
            fetched=self.fetched,
            created=self.created,
            duplicates=self.duplicates,
            failed=self.failed,
            resynced=resynced,
        )


class Feed:
    """One polled source; subclasses fill in `cycle` and, where their source asks, the waits."""

    log = log  # subclasses log their outages under their own channel's name
    expected: tuple[type[BaseException], ...] = (IntakeError, OSError)  # logged without a trace

    def __init__(
        self,
        runtime: Runtime,
        ident: FeedId,
        *,
        redis: Any = None,
        lock_ttl: int,
        interval: float,
        backoff_max: float,
        wait: Callable[[float], Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.runtime, self.ident = runtime, ident
        self.interval, self.backoff_max = interval, backoff_max
        self.lock = FeedLock(redis, ident.name, lock_ttl)
        self._wait, self.rng = wait, rng or random.Random()
        self.failures = 0
        self.outage_since: float | None = None
        self.stopped_by: ConfigError | None = None  # a missing setting ended the loop

    # --- what a channel fills in ---------------------------------------------------------------

    def cycle(self, stop: threading.Event | None) -> PollReport:
        """Fetch and store everything new; raise on failure (`Stopped` when told to stop)."""
        raise NotImplementedError

    def delay_after(self, exc: Exception) -> float:
        """Seconds to wait after a failed cycle: exponential backoff with full jitter, capped."""
        return self.rng.uniform(0.5, 1.0) * min(self.backoff_max, 2.0 ** min(self.failures, 16))

    def wait_for_more(self, stop: threading.Event) -> None:
        """After a good cycle: until there may be more (the poll interval by default)."""
        self.wait(stop, self.interval)

    def describe(self, exc: Exception) -> str:
        """The failure as `intake status` and the log show it (no personal data)."""
        return mask(f"{type(exc).__name__}: {exc}")

    def disconnect(self) -> None:
        """Drop the connection to the source (after a failure, or when another holds the lock)."""

    # --- the skeleton ----------------------------------------------------------------------------

    def run_once(self, stop: threading.Event | None = None) -> PollReport:
        """One cycle, its health recorded; raises the error of a failed one."""
        if not self.lock.hold():
            self.disconnect()
            return PollReport(skipped="another instance holds the lock")
        try:
            report = self.cycle(stop)
        except Stopped:
            raise
        except Exception as exc:
            self.disconnect()
            self._record_failure(exc)
            raise
        self._record_success(report)
        return report

    def run_forever(self, stop: threading.Event) -> None:
        """Cycles until `stop`, waiting as the source asks; never ends on a passing fault."""
        try:
            while not stop.is_set():
                try:
                    report = self.run_once(stop)
                except Stopped:
                    break
                except ConfigError as exc:
                    self.log.error(
                        "%s: stopped: %s (set it and restart intake)", self.ident.name, exc
                    )
                    self.stopped_by = exc
                    break
                except Exception as exc:
                    self.wait(stop, self.delay_after(exc))
                    continue
                if report.skipped:
                    self.wait(stop, self.interval)
                else:
                    self.wait_for_more(stop)
        finally:
            self.close()

    def wait(self, stop: threading.Event, seconds: float) -> None:
        """Wait `seconds`, or less when `stop` is set (tests inject their own wait)."""
        if self._wait is not None:
            self._wait(seconds)
        else:
            stop.wait(seconds)

    def close(self) -> None:
        self.disconnect()
        self.lock.release()

    def renew_lock(self) -> None:
        """Keep the lock through a long cycle; raises when it was lost meanwhile."""
        try:
            self.lock.renew()
        except Exception:  # lost it (expired and taken): stop polling this round
            self.log.warning("%s: lost the polling lock", self.ident.name)
            raise

    # --- watermark and health ------------------------------------------------------------------

    def load_watermark(self) -> dict[str, Any] | None:
        with self.runtime.sessions() as session:
            return repo.get_watermark(session, *self.ident.watermark)

    def watermark(self, value: dict[str, Any]) -> Watermark:
        """`value` as this feed's watermark, to store with what it covers (`pipeline.ingest`)."""
        return Watermark(*self.ident.watermark, value)

    def save_watermark(self, value: dict[str, Any]) -> None:
        with self.runtime.sessions.begin() as session:
            repo.set_watermark(session, self.watermark(value))

    def _record_success(self, report: PollReport) -> None:
        if self.outage_since is not None:
            self.log.warning(
                "%s: reachable again after %s failures (%.0f s)",
                self.ident.name,
                self.failures,
                time.monotonic() - self.outage_since,
            )
        self.failures, self.outage_since = 0, None
        health.record_success(
            self.runtime.sessions, *self.ident.health, self.ident.channel, report.fetched
        )

    def _record_failure(self, exc: Exception) -> None:
        """Counted and recorded (for `intake status`) each time; logged once per outage."""
        self.failures += 1
        problem = self.describe(exc)
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            self.log.error(
                "%s: %s; retrying with backoff",
                self.ident.name,
                problem,
                exc_info=not isinstance(exc, self.expected),
            )
        health.record_failure(
            self.runtime.sessions, *self.ident.health, self.ident.channel, problem, self.failures
        )


def start(feeds: Iterable[Feed], stop: threading.Event) -> list[threading.Thread]:
    """A thread per feed: one broken feed never stops the others."""
    threads = []
    for feed in feeds:
        thread = threading.Thread(
            target=feed.run_forever, args=(stop,), name=feed.ident.name, daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads
