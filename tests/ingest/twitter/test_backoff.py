"""Rate limits, a revoked token, outages and hangs: the poller waits as X asks, and survives.

Given the fake X API answering errors, when the mentions loop runs with an injected clock and
sleep, then it waits until `x-rate-limit-reset` (+1 s) or backs off exponentially with
jitter, makes exactly one request per wait (no busy loop), records its health for
`intake status`, logs an outage once with its end, and keeps personal data out of the logs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime, timezone

import pytest

from ingest.channels.twitter.client import Unavailable
from ingest.channels.twitter.pollers import AUTH_RETRY, MentionsPoller
from intake.cli import status
from intake.clock import FakeClock
from tests.ingest.twitter.conftest import TIMEOUT, load
from tests.ingest.twitter.fake_x import Fault

NOW = 1_800_000_000.0  # epoch seconds: what `x-rate-limit-reset` is counted against


@pytest.fixture
def seeded(fake_x):
    fake_x.mentions = [dict(t) for t in load("mentions.json")["tweets"]]
    return fake_x


class Sleeps:
    """The injected sleep: records each wait and stops the loop after `limit` of them."""

    def __init__(self, stop: threading.Event, limit: int, on_sleep=None) -> None:
        self.stop, self.limit, self.on_sleep, self.waits = stop, limit, on_sleep, []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.on_sleep:
            self.on_sleep()
        if len(self.waits) >= self.limit:
            self.stop.set()


def run_loop(rt, limit: int, on_sleep=None) -> Sleeps:
    stop = threading.Event()
    sleeps = Sleeps(stop, limit, on_sleep)
    MentionsPoller(rt, wait=sleeps, rng=random.Random(7)).run_forever(stop)
    return sleeps


@pytest.fixture(autouse=True)
def at_now(clock: FakeClock) -> FakeClock:
    clock.set(datetime.fromtimestamp(NOW, timezone.utc))
    return clock


def test_a_429_with_reset_waits_until_the_reset_then_polls_once(seeded, x_runtime):
    seeded.fail("mentions", Fault(429, headers={"x-rate-limit-reset": str(int(NOW) + 30)}))
    sleeps = run_loop(x_runtime(), limit=2)
    assert sleeps.waits == [31.0, 1]  # until the reset + 1 s, then the poll interval
    assert seeded.count("mentions") == 2  # one refused call, one good one: no busy loop


def test_a_429_without_reset_backs_off_exponentially_with_jitter(seeded, x_runtime):
    seeded.fail("mentions", *[Fault(429)] * 4)
    sleeps = run_loop(x_runtime(), limit=5)
    for n, wait in enumerate(sleeps.waits[:4], start=1):
        assert 0.5 * 2**n <= wait <= 2**n
    assert sleeps.waits[4] == 1  # recovered: the poll interval again
    assert seeded.count("mentions") == 5


def test_a_revoked_token_shows_in_status_and_the_loop_survives(seeded, x_runtime):
    rt = x_runtime()
    seeded.fail("mentions", Fault(401))
    seen = []
    sleeps = run_loop(rt, limit=2, on_sleep=lambda: seen.append(status.collect(rt)))
    assert sleeps.waits[0] == AUTH_RETRY
    feed = {f["feed"]: f for f in seen[0]["channels"]}["twitter/mentions"]
    assert feed["consecutive_failures"] == 1
    assert "401 Unauthorized" in feed["last_error"] and "revoked" in feed["last_error"]
    after = {f["feed"]: f for f in seen[1]["channels"]}["twitter/mentions"]
    assert after["consecutive_failures"] == 0 and after["last_error"] is None


def test_a_hang_past_the_timeout_is_an_outage_not_a_stuck_thread(seeded, x_runtime):
    seeded.fail("mentions", Fault(200, hang=TIMEOUT * 4))
    poller = MentionsPoller(x_runtime())
    started = time.monotonic()
    with pytest.raises(Unavailable, match="no answer within the timeout"):
        poller.run_once()
    assert time.monotonic() - started < TIMEOUT * 3


def test_an_outage_is_logged_once_with_its_end_and_no_handles(seeded, x_runtime, caplog):
    seeded.fail("mentions", Fault(500), Fault(503), Fault(502))
    caplog.set_level(logging.INFO)
    sleeps = run_loop(x_runtime(), limit=4)
    assert len(sleeps.waits) == 4
    ours = [r for r in caplog.records if r.name == "ingest.channels.twitter"]
    assert [r.levelname for r in ours] == ["ERROR", "WARNING"]
    assert "500" in ours[0].getMessage() and "after 3 failures" in ours[1].getMessage()
    text = "\n".join(r.getMessage() for r in caplog.records)
    for personal in ("ayse_k", "mehmet_y", "john_d", "Ayşe", "Mehmet", "John Doe"):
        assert personal not in text


def test_without_api_base_requests_go_to_x_itself_with_the_timeout():
    from ingest.channels.twitter.client import GatewayAdapter, make_client
    from intake.settings import TwitterSettings

    client = make_client(TwitterSettings(api_base="", timeout_seconds=7.0))
    adapter = client.session.get_adapter("https://api.twitter.com/2/tweets")
    assert isinstance(adapter, GatewayAdapter)
    assert (adapter.api_base, adapter.timeout) == ("", 7.0)
    assert client.session.trust_env and client.wait_on_rate_limit is False
