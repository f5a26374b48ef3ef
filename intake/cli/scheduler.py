"""The scheduler: the loop that keeps the clocks, and `intake scheduler --once [--at ISO]`.

The loop is a feed of the shared skeleton (`ingest.feed`) whose source is the clock table:
one instance at a time holds its lock, which a restarted instance takes over at once from
its dead self on the same machine (`ingest.locks`), and another machine after `LOCK_TTL`
seconds; each cycle is one pass of `handling.scheduler`, whose notices go through
the store and onto the queues like every other mail, then the KVKK retention run (daily) and
the report to management (monthly, `reports.mailing`). `--once` runs one pass as of `--at`
(now by default) and sends what it owes itself, printing each one: for tests, and to catch up
after an outage beside a live `intake run` (each notice is claimed on its own).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import datetime

from handling import privacy
from handling.scheduler import Owed, left_unsent, sweep_all
from ingest.feed import Feed, FeedId, PollReport
from intake import clock
from intake.cli.wiring import open_daemon_runtime, open_runtime
from intake.errors import ConfigError, PermanentError, TemporaryError
from intake.runtime import Runtime
from intake.settings import Settings
from normalize.desk import parse_received_at
from outbound import delivery, jobs
from outbound.jobs import Job
from reports import mailing

log = logging.getLogger(__name__)

INTERVAL = 5.0  # seconds between passes
LOCK_TTL = 20  # a holder dead on another machine frees the lock after this


class SchedulerFeed(Feed):
    """The clocks as a feed: a cycle is a pass; what it owes is enqueued after each batch."""

    def __init__(self, runtime: Runtime, **options: object) -> None:
        super().__init__(
            runtime,
            FeedId("scheduler", "scheduler", ("scheduler", "clocks"), ("scheduler", "clocks")),
            redis=getattr(runtime.broker, "client", None),
            lock_ttl=LOCK_TTL,
            interval=INTERVAL,
            backoff_max=60,
            **options,  # type: ignore[arg-type]
        )

        self.reports = ReportSender(runtime)

    def cycle(self, stop: threading.Event | None = None) -> PollReport:
        now = clock.now()
        owed = sweep_all(self.runtime.sessions, self.runtime.settings, now)
        jobs.dispatch(self.runtime, [item.work for item in owed])
        privacy.retain_daily(self.runtime.sessions, self.runtime.settings, now)  # KVKK, daily
        self.reports.kick(now)  # to management, beside the pass
        return PollReport(fetched=len(owed), created=len(owed))


class ReportSender:
    """The report to management, built and sent in a thread of its own beside the passes:
    a month of thousands of complaints takes seconds to render (`bench/report`), which the
    clocks must not wait for. A pass only starts it while a report is owed and not settled
    (sent, or refused for good); the claim in the store keeps it once across instances."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.thread: threading.Thread | None = None
        self.settled: set[str] = set()  # keys known to be done with

    def kick(self, at: datetime) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        keys = [item.key for item in mailing.owed(self.runtime.settings, at)]
        if not set(keys) - self.settled:
            return
        self.thread = threading.Thread(
            target=self._run, args=(at, keys), name="intake-report", daemon=True
        )
        self.thread.start()

    def _run(self, at: datetime, keys: list[str]) -> None:
        try:
            mailing.run_due(self.runtime.sessions, self.runtime.settings, at)
            self.settled |= mailing.settled(self.runtime.sessions, keys)
        except Exception:  # the store away, or a bug: logged, tried on a later pass
            log.exception("the report to management could not be sent; trying again later")


def feeds(runtime: Runtime) -> list[Feed]:
    return [SchedulerFeed(runtime)]


def run_pass(runtime: Runtime, at: datetime) -> list[tuple[Owed, str]]:
    """One pass as of `at`, its notices sent here, and those an earlier pass that was killed
    left unsent: each with what became of it."""
    previous = clock.use(clock.FakeClock(at))  # every stamp of the pass is `at`
    try:
        owed = sweep_all(runtime.sessions, runtime.settings, at)
        with runtime.sessions() as session:
            owed += left_unsent(session, {item.work.target_id for item in owed})
        done = []
        for item in owed:
            try:
                sent = delivery.perform(runtime, Job.NOTICE, item.work.target_id)
                done.append((item, "sent" if sent else "not sent (see the events)"))
            except PermanentError as exc:
                done.append((item, f"failed: {exc}"))
            except (TemporaryError, ConfigError, OSError) as exc:  # it waits in the store:
                done.append((item, f"waiting: {exc}"))  # the reconciler sends it later
        return done
    finally:
        clock.use(previous)


def send_reports(runtime: Runtime, at: datetime) -> list[str]:
    """The report to management, if one is due as of `at` (`reports.mailing`), stamped `at`."""
    previous = clock.use(clock.FakeClock(at))
    try:
        return mailing.run_due(runtime.sessions, runtime.settings, at)
    finally:
        clock.use(previous)


def command(args: argparse.Namespace, settings: Settings) -> int:
    """`intake scheduler [--once] [--at ISO]`."""
    try:
        at = parse_received_at(args.at, settings.clock.timezone) if args.at else None
    except ValueError:
        print(f"intake: --at: not an ISO 8601 time: {args.at}", file=sys.stderr)
        return 65
    rt = open_runtime(settings, with_broker=False) if args.once else open_daemon_runtime(settings)
    try:
        if not args.once:  # a daemon: SIGINT or SIGTERM ends it, with the lock released
            stop = threading.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
            loop = SchedulerFeed(rt)
            loop.run_forever(stop)
            return 78 if loop.stopped_by else 0  # EX_CONFIG: systemd does not restart it
        for item, result in run_pass(rt, at or clock.now()):
            print(f"{item.describe()}: {result}")
        for outcome in send_reports(rt, at or clock.now()):
            print(f"report {outcome}")
        return 0
    finally:
        rt.close()
