"""The Telegram and X feeds when their APIs answer 5xx, 429 or garbage.

Given the fake Bot API (tests/ingest/telegram/fake_api.py) or the fake X API v2
(tests/ingest/twitter/fake_x.py) answering a server error, a rate limit (with and without the
time to wait) or garbage (invalid JSON, JSON of the wrong shape, an HTML error page, an empty
body) to getUpdates/getMe/sendMessage or to the mentions, DM and reply endpoints, when the feed
loops and a real Dramatiq worker (on a StubBroker with our retry policy) acknowledges, then the
feed backs off and resumes, never stops for good, stores every update or mention once, logs the
outage once, and each complainant is acknowledged exactly once.

Already covered elsewhere, not repeated here: getUpdates 429 (with and without retry_after),
500, a hang and 401, and getMe 401 (tests/ingest/telegram/test_polling.py); sendMessage 429,
500, 401, 400, 403 and a hang as error classes; mentions 429 with and without
x-rate-limit-reset, 401, 5xx, a hang (tests/ingest/twitter/test_backoff.py), truncated JSON
and `data` that is not a list (test_mentions.py), dm_events 403, and replies 429 and 401
(test_acknowledge.py).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from ingest.channels.telegram.poller import TelegramPoller
from ingest.channels.twitter.pollers import DirectMessagesPoller, MentionsPoller
from intake.clock import FakeClock
from outbound.broker import configure
from outbound.jobs import ACK_QUEUE
from store.models import ComplaintRow, DeadLetterRow, PollStatusRow, RawMessageRow
from tests.conftest import free_port, make_settings
from tests.ingest.telegram.conftest import TOKEN, update
from tests.ingest.telegram.fake_api import GARBAGE as TG_GARBAGE
from tests.ingest.telegram.fake_api import FakeBotAPI, ServerThread
from tests.ingest.twitter.conftest import SECRETS as X_SECRETS
from tests.ingest.twitter.conftest import load as load_x
from tests.ingest.twitter.fake_x import GARBAGE as X_GARBAGE
from tests.ingest.twitter.fake_x import FakeX, FakeXServer, Fault

# PTB's own RetryAfter.__init__ reads its deprecated int attribute
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
POLICY = {"min_backoff_ms": 10, "max_backoff_ms": 100, "max_retries": 8}
OUTAGE = "retrying with backoff"


def wait_for(condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def count(rt, model, *where) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def health(rt, feed: tuple[str, str]) -> PollStatusRow:
    with rt.sessions() as session:
        row = session.get(PollStatusRow, feed)
        assert row is not None, feed
        session.expunge(row)
        return row


def acknowledge_all(rt) -> None:
    """A real Dramatiq worker on the StubBroker until the unit queues and `ack` are empty."""
    worker = dramatiq.Worker(rt.broker, worker_timeout=100)
    worker.start()
    try:
        for queue in [u.queue for u in rt.settings.unit] + [ACK_QUEUE]:
            rt.broker.join(queue, timeout=30_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()


def outage_logged_once_as_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    """One line for the whole outage, and without a traceback: the API's fault, not a bug."""
    [outage] = [r for r in caplog.records if OUTAGE in r.getMessage()]
    assert not outage.exc_info, outage.getMessage()
    assert "Error: '" not in outage.getMessage()  # no Python error text for an API's answer


def stored_once(rt, count_: int) -> None:
    """N items in: N raw items, N complaints, all processed, every ack sent, no dead letter."""
    with rt.sessions() as session:
        raws = list(session.scalars(select(RawMessageRow)))
        complaints = list(session.scalars(select(ComplaintRow)))
    assert len(raws) == count_ and len({r.source_id for r in raws}) == count_
    assert {r.status for r in raws} == {"processed"}
    assert len(complaints) == count_
    assert {c.ack_state for c in complaints} == {"sent"}, [c.ack_state for c in complaints]
    assert count(rt, DeadLetterRow) == 0


@pytest.fixture
def runtime_with(tmp_path, make_runtime) -> Iterator:
    """A runtime (SQLite) with a StubBroker that has our actors and retry policy; tickets go
    to the outbox folder (no relay), acknowledgements to the fake API."""
    brokers: list[StubBroker] = []

    def build(**tables: dict):
        settings = make_settings(tmp_path, broker=POLICY, **tables)
        broker = configure(StubBroker(), settings)
        brokers.append(broker)
        return make_runtime(settings, broker=broker)

    yield build
    for broker in brokers:
        broker.flush_all()
        broker.close()


# --- Telegram -------------------------------------------------------------------------------


@pytest.fixture
def bot(monkeypatch) -> Iterator[FakeBotAPI]:
    fake = FakeBotAPI(TOKEN)
    port = free_port()
    server = ServerThread(fake.app(), port)
    server.start_serving()
    fake.base_url = f"http://127.0.0.1:{port}/bot"  # type: ignore[attr-defined]
    monkeypatch.setenv("TEST_TG_TOKEN", TOKEN)
    try:
        yield fake
    finally:
        server.stop()


@pytest.fixture
def telegram(bot, runtime_with):
    return runtime_with(
        telegram={
            "enabled": True,
            "mode": "polling",
            "token_env": "TEST_TG_TOKEN",
            "base_url": bot.base_url,
            "poll_timeout_seconds": 0,
            "timeout_seconds": 2.0,
        }
    )


def private(n: int) -> dict:
    """Update `n`: a private message in a chat of its own (a complaint, an ack, each)."""
    data = update("private_text", message_id=n, text=f"E-imza kartım çalışmıyor ({n}).")
    data["update_id"] = 300000 + n
    data["message"]["chat"] = {"id": 710000000 + n, "type": "private", "first_name": "Deniz"}
    data["message"]["from"] = {"id": 710000000 + n, "is_bot": False, "first_name": "Deniz"}
    return data


class Loop:
    """The getUpdates feed in its thread, as `intake run` starts it, with a short backoff."""

    def __init__(self, rt) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=TelegramPoller(rt, backoff_max=0.3).run_forever, args=(self.stop,)
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def acknowledged_once_each(bot: FakeBotAPI, chats: list[int]) -> None:
    per_chat = Counter(sent["chat_id"] for sent in bot.sent)
    assert per_chat == Counter(chats), per_chat


TELEGRAM_FEED_FAULTS = [
    *[("getUpdates", kind) for kind in TG_GARBAGE],
    *[("getMe", kind) for kind in TG_GARBAGE],
    ("getMe", 500),
    ("getMe", 502),
    ("getMe", (429, 1)),
    ("getMe", (429, None)),
]


def script(bot: FakeBotAPI, method: str, fault, times: int) -> None:
    if isinstance(fault, str):
        bot.garbage(method, fault, times=times)
    elif isinstance(fault, tuple):
        bot.fail(method, fault[0], retry_after=fault[1], times=times)
    else:
        bot.fail(method, fault, times=times)


@pytest.mark.parametrize("method, fault", TELEGRAM_FEED_FAULTS, ids=str)
def test_the_update_feed_rides_out_faults_and_stores_each_update_once(
    telegram, bot, caplog, method, fault
):
    rt = telegram
    bot.push(private(1), private(2))
    script(bot, method, fault, times=2)

    loop = Loop(rt)
    try:
        wait_for(lambda: count(rt, ComplaintRow) == 2, what="the updates after the fault")
        bot.push(private(3))
        wait_for(lambda: count(rt, ComplaintRow) == 3, what="the next update")
        assert loop.thread.is_alive()  # never stopped for good
    finally:
        loop.close()

    row = health(rt, ("telegram", "updates"))
    assert row.consecutive_failures == 0 and row.last_error  # the outage was recorded
    assert row.last_success_at > row.last_error_at
    outage_logged_once_as_an_outage(caplog)
    acknowledge_all(rt)
    stored_once(rt, 3)
    acknowledged_once_each(bot, [710000000 + n for n in (1, 2, 3)])


@pytest.mark.parametrize("fault", [*TG_GARBAGE, 500, 502, (429, 1), (429, None)], ids=str)
def test_a_failed_send_message_is_retried_and_acknowledges_once(telegram, bot, fault):
    rt = telegram
    bot.push(private(1), private(2))
    loop = Loop(rt)
    try:
        wait_for(lambda: count(rt, ComplaintRow) == 2, what="the updates")
    finally:
        loop.close()
    script(bot, "sendMessage", fault, times=3)

    acknowledge_all(rt)

    stored_once(rt, 2)
    acknowledged_once_each(bot, [710000001, 710000002])


# --- X ----------------------------------------------------------------------------------------

NOW = 1_800_000_000.0  # epoch seconds: what `x-rate-limit-reset` is counted against


@pytest.fixture
def x_api(monkeypatch) -> Iterator[FakeX]:
    fake = FakeX()
    for user in load_x("mentions.json")["users"]:
        fake.add_user(user)
    server = FakeXServer(fake, free_port())
    server.start()
    for name, value in X_SECRETS.items():
        monkeypatch.setenv(name, value)
    try:
        yield fake
    finally:
        server.stop()


@pytest.fixture
def x(x_api, runtime_with, clock: FakeClock):
    clock.set(datetime.fromtimestamp(NOW, timezone.utc))
    x_api.mentions = [dict(t) for t in load_x("mentions.json")["tweets"]]
    x_api.dm_events = [dict(e) for e in load_x("dm_events.json")["dm_events"]]
    return runtime_with(
        twitter={
            "enabled": True,
            "user_id": x_api.desk_id,
            "api_base": x_api.base,
            "timeout_seconds": 2.0,
            "poll_interval_seconds": 1,
            "direct_messages": True,
        }
    )


def x_fault(fault) -> Fault:
    if fault == "429-reset":
        return Fault(429, headers={"x-rate-limit-reset": str(int(NOW) + 30)})
    if isinstance(fault, str):
        return X_GARBAGE[fault]
    return Fault(fault)


class Sleeps:
    """The injected wait: records each and stops the loop after `limit` of them."""

    def __init__(self, stop: threading.Event, limit: int) -> None:
        self.stop, self.limit, self.waits = stop, limit, []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) >= self.limit:
            self.stop.set()


X_FEED_FAULTS = [
    *[("mentions", kind) for kind in ("wrong-shape", "html", "empty")],
    *[("dm_events", kind) for kind in X_GARBAGE],
    ("dm_events", 500),
    ("dm_events", 503),
    ("dm_events", "429-reset"),
    ("dm_events", 429),
]


@pytest.mark.parametrize("endpoint, fault", X_FEED_FAULTS, ids=str)
def test_the_x_feeds_ride_out_faults_and_store_each_item_once(x, x_api, caplog, endpoint, fault):
    rt = x
    x_api.fail(endpoint, x_fault(fault), x_fault(fault))
    kind = MentionsPoller if endpoint == "mentions" else DirectMessagesPoller
    stop = threading.Event()
    sleeps = Sleeps(stop, limit=4)  # two failures, then two good cycles
    kind(rt, wait=sleeps, rng=random.Random(7)).run_forever(stop)

    assert x_api.count(endpoint) == 4  # one request per wait: no busy loop
    if fault == "429-reset":
        assert sleeps.waits[:2] == [31.0, 31.0]  # until the reset, + 1 s
    else:
        assert all(0 < wait <= 4 for wait in sleeps.waits[:2]), sleeps.waits
    assert sleeps.waits[2:] == [1, 1]  # recovered: the poll interval
    row = health(rt, ("twitter", kind.feed))
    assert row.consecutive_failures == 0 and row.last_error
    outage_logged_once_as_an_outage(caplog)
    items = 6 if endpoint == "mentions" else 2
    assert count(rt, RawMessageRow) == items
    acknowledge_all(rt)
    stored_once(rt, items)
    if endpoint == "mentions":
        replied = Counter(p["reply"]["in_reply_to_tweet_id"] for p in x_api.posted)
        assert replied == Counter(t["id"] for t in x_api.mentions)
    else:
        assert Counter(p for p, _ in x_api.dms_sent) == Counter({"202": 1, "203": 1})


@pytest.mark.parametrize("fault", [*X_GARBAGE, 500, 503, 429], ids=str)
@pytest.mark.parametrize("endpoint", ["tweets", "dm_send"])
def test_a_failed_reply_or_dm_is_retried_and_acknowledges_once(x, x_api, endpoint, fault):
    rt = x
    kind = MentionsPoller if endpoint == "tweets" else DirectMessagesPoller
    kind(rt).run_once()
    x_api.fail(endpoint, *[x_fault(fault)] * 3)

    acknowledge_all(rt)

    if endpoint == "tweets":
        stored_once(rt, 6)
        replied = Counter(p["reply"]["in_reply_to_tweet_id"] for p in x_api.posted)
        assert replied == Counter(t["id"] for t in x_api.mentions)
    else:
        stored_once(rt, 2)
        assert Counter(p for p, _ in x_api.dms_sent) == Counter({"202": 1, "203": 1})
