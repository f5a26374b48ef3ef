"""The feed skeleton every polled channel shares (`ingest.feed`), with a scripted feed.

Given a feed whose cycles succeed or fail as a test says, when `run_once` or `run_forever`
runs it with an injected wait, then its health is recorded for `intake status`, an outage is
logged once with its end, each wait is the one the feed asks for, a missing setting ends the
loop, and a feed whose lock another instance holds is skipped without running a cycle.
"""

from __future__ import annotations

import logging
import random
import threading

import pytest
import redis

from ingest.feed import Feed, FeedId, PollReport, Tally
from ingest.locks import FeedLock
from ingest.records import Outcome, OutcomeStatus
from intake.errors import ConfigError, TemporaryError
from store.models import PollStatusRow
from tests.conftest import make_settings


class Scripted(Feed):
    """Each cycle takes the next item of `script`: a PollReport to return or an error."""

    def __init__(self, runtime, script, *, redis_client=None, stop_after=None) -> None:
        super().__init__(
            runtime,
            FeedId("test:feed", "email", ("test", "feed"), ("email", "t")),
            redis=redis_client,
            lock_ttl=30,
            interval=7,
            backoff_max=60,
            wait=self.record_wait,
            rng=random.Random(3),
        )
        self.script, self.cycles, self.waits = list(script), 0, []
        self.disconnects = 0
        self.stop = threading.Event()
        self.stop_after = stop_after

    def cycle(self, stop):
        self.cycles += 1
        step = self.script.pop(0) if self.script else PollReport()
        if isinstance(step, Exception):
            raise step
        return step

    def delay_after(self, exc):
        return 99.0 if isinstance(exc, TemporaryError) else super().delay_after(exc)

    def disconnect(self):
        self.disconnects += 1

    def record_wait(self, seconds):
        self.waits.append(seconds)
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            self.stop.set()


@pytest.fixture
def runtime(tmp_path, make_runtime):
    return make_runtime(make_settings(tmp_path))


def health(runtime) -> PollStatusRow:
    with runtime.sessions() as session:
        row = session.get(PollStatusRow, ("test", "feed"))
        session.expunge(row)
        return row


def test_a_cycle_records_its_health_and_a_failure_says_why(runtime):
    feed = Scripted(
        runtime,
        [
            PollReport(fetched=4),
            TemporaryError("server said 451"),
            TemporaryError("server said 451"),
            PollReport(fetched=1),
        ],
    )
    assert feed.run_once().fetched == 4
    for _ in range(2):
        with pytest.raises(TemporaryError):
            feed.run_once()
    failing = health(runtime)
    assert failing.consecutive_failures == 2 and "451" in failing.last_error
    assert feed.disconnects == 2  # the connection is dropped after each failure
    feed.run_once()
    healthy = health(runtime)
    assert healthy.consecutive_failures == 0 and healthy.messages_total == 5
    assert healthy.last_success_at >= failing.last_error_at


def test_an_outage_is_logged_once_with_its_end(runtime, caplog):
    caplog.set_level(logging.INFO)
    feed = Scripted(
        runtime,
        [TemporaryError("down"), OSError("refused"), TemporaryError("down"), PollReport()],
        stop_after=4,
    )
    feed.run_forever(feed.stop)
    lines = [r for r in caplog.records if r.name == "ingest.feed"]
    assert [r.levelname for r in lines] == ["ERROR", "WARNING"]
    assert "test:feed: TemporaryError: down; retrying with backoff" in lines[0].getMessage()
    assert "reachable again after 3 failures" in lines[1].getMessage()
    assert not lines[0].exc_info  # an expected fault: one line, no traceback


def test_a_bug_in_a_cycle_is_logged_with_its_traceback_and_the_loop_goes_on(runtime, caplog):
    feed = Scripted(runtime, [KeyError("surprise"), PollReport()], stop_after=2)
    feed.run_forever(feed.stop)
    [line] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert line.exc_info is not None and feed.cycles == 2


def test_the_loop_waits_as_the_feed_asks(runtime):
    feed = Scripted(
        runtime, [TemporaryError("later"), PollReport(), RuntimeError("bug")], stop_after=3
    )
    feed.run_forever(feed.stop)
    assert feed.waits[0] == 99.0  # the feed's own delay after a temporary fault
    assert feed.waits[1] == 7  # after a good cycle: the poll interval (default wait_for_more)
    assert 0.5 * 2 <= feed.waits[2] <= 2  # the default: exponential backoff with jitter


def test_the_default_backoff_grows_with_full_jitter_up_to_its_cap(runtime):
    feed = Scripted(runtime, [])
    for failures, ceiling in ((1, 2), (3, 8), (5, 32), (9, 60), (40, 60)):
        feed.failures = failures
        delays = [feed.delay_after(RuntimeError()) for _ in range(50)]
        assert all(0.5 * ceiling <= d <= ceiling for d in delays)


def test_a_missing_setting_ends_the_loop_and_is_shown(runtime, caplog):
    feed = Scripted(runtime, [ConfigError("telegram.token_env: TEST_TG is not set")], stop_after=5)
    feed.run_forever(feed.stop)  # returns on its own: nothing can change until a restart
    assert feed.cycles == 1 and feed.waits == []
    assert isinstance(feed.stopped_by, ConfigError)  # its daemon exits 78 (EX_CONFIG)
    assert "TEST_TG is not set" in health(runtime).last_error
    assert any("stopped" in r.getMessage() for r in caplog.records)


def test_a_feed_another_instance_holds_is_skipped(runtime, redis_url):
    client = redis.Redis.from_url(redis_url)
    other = FeedLock(client, "test:feed", 30)
    assert other.hold()
    feed = Scripted(runtime, [PollReport(fetched=1)], redis_client=client, stop_after=2)
    report = feed.run_once()
    assert report.skipped and feed.cycles == 0 and feed.disconnects == 1
    other.release()
    assert feed.run_once().fetched == 1
    feed.close()


def test_a_tally_counts_what_became_of_each_item():
    tally = Tally(fetched=6, failed=1)
    tally.add(
        [
            Outcome(1, status)
            for status in (
                OutcomeStatus.CREATED,
                OutcomeStatus.FOLLOWUP,
                OutcomeStatus.AUTO_SUBMITTED,
                OutcomeStatus.DUPLICATE,
                OutcomeStatus.FAILED,
            )
        ]
    )
    assert tally.report(resynced=True) == PollReport(
        fetched=6, created=3, duplicates=1, failed=2, resynced=True
    )
