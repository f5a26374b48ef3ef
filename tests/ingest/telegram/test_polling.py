"""The getUpdates loop through Telegram's failures, restarts and a stop request.

Given updates waiting and a Bot API that answers 429 (with and without retry_after), 5xx, a
hang past the client timeout or 401, when the loop runs in its thread, then it survives, every
update is stored exactly once, the outage is logged once and `PollStatusRow` shows it.
"""

from __future__ import annotations

import threading
import time

import pytest
from telegram.error import NetworkError

from ingest.channels.telegram.poller import TelegramPoller, feeds
from ingest.feed import start
from intake.errors import PermanentError, TemporaryError
from outbound import delivery
from outbound.jobs import Job
from store.models import PollStatusRow, RawMessageRow
from tests.ingest.telegram.conftest import complaints, count, poll, raws, update

# PTB's own RetryAfter.__init__ reads its deprecated int attribute
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def private(n: int) -> dict:
    """Update `n`: a private message from a chat of its own (so each is a new complaint)."""
    data = update("private_text", message_id=n, text=f"E-imza kartım çalışmıyor ({n}).")
    data["update_id"] = 200000 + n
    data["message"]["chat"] = {"id": 700000000 + n, "type": "private", "first_name": "Deniz"}
    data["message"]["from"] = {"id": 700000000 + n, "is_bot": False, "first_name": "Deniz"}
    return data


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def status(runtime) -> PollStatusRow | None:
    with runtime.sessions() as session:
        row = session.get(PollStatusRow, ("telegram", "updates"))
        if row is not None:
            session.expunge(row)
        return row


class Loop:
    """The poller in its thread, as `intake run` starts it, with a short backoff cap."""

    def __init__(self, runtime) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=TelegramPoller(runtime, backoff_max=0.3).run_forever, args=(self.stop,)
        )
        self.thread.start()

    def close(self) -> float:
        started = time.monotonic()
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        return time.monotonic() - started


def test_the_loop_survives_every_kind_of_failure(telegram_runtime, bot_api, caplog):
    runtime = telegram_runtime(timeout_seconds=1.0, poll_timeout_seconds=1)
    bot_api.push(private(1), private(2))
    bot_api.fail("getUpdates", 429, retry_after=1)
    bot_api.fail("getUpdates", 429)  # no retry_after: backoff
    bot_api.fail("getUpdates", 500)
    bot_api.hang("getUpdates", 4.0)  # past the 1 + 1 s read timeout
    bot_api.fail("getUpdates", 401)

    loop = Loop(runtime)
    try:
        wait_for(lambda: len(complaints(runtime)) == 2)
        bot_api.push(private(3))
        wait_for(lambda: len(complaints(runtime)) == 3)
    finally:
        assert loop.close() < 3  # stop ends a long poll within a couple of seconds

    assert sorted(r.source_id for r in raws(runtime)) == [f"{700000000 + n}:{n}" for n in (1, 2, 3)]
    row = status(runtime)
    assert row.consecutive_failures == 0 and "Unauthorized" in row.last_error
    assert row.last_success_at > row.last_error_at and row.messages_total == 3
    outage = [r for r in caplog.records if "retrying with backoff" in r.getMessage()]
    assert len(outage) == 1  # one outage, logged once…
    assert any("reachable again after 5 failures" in r.getMessage() for r in caplog.records)


def test_a_revoked_token_is_shown_until_it_works_again(telegram_runtime, bot_api):
    runtime = telegram_runtime()
    bot_api.fail("getMe", 401, times=1000)
    loop = Loop(runtime)
    try:
        wait_for(lambda: ((status(runtime) or PollStatusRow()).consecutive_failures or 0) >= 3)
        row = status(runtime)
        assert "Unauthorized" in row.last_error and row.last_success_at is None
        bot_api.clear_faults()
        bot_api.push(private(4))
        wait_for(lambda: len(complaints(runtime)) == 1)
        wait_for(lambda: status(runtime).consecutive_failures == 0)
    finally:
        loop.close()


def test_a_failed_download_stores_nothing_and_is_retried(telegram_runtime, bot_api):
    runtime = telegram_runtime()
    bot_api.add_file("doc-1", b"%PDF-1.4 rapor", "documents/file_8.pdf")
    document = update("document")
    document["update_id"] = 200006  # update ids only grow (Bot API Update)
    bot_api.push(private(5), document, private(7))
    bot_api.fail("getFile", 500)

    with pytest.raises(NetworkError):
        poll(runtime)
    assert [r.source_id for r in raws(runtime)] == [f"{700000005}:5"]  # before the failure
    poll(runtime)

    assert len(complaints(runtime)) == 3 and count(runtime, RawMessageRow) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"from": "not an object"},  # message_for_us cannot read it
        {"date": 10**20},  # past time_t: the raw item cannot be built
        {"photo": [{"file_size": 1}]},  # a photo without its file_id
    ],
)
def test_an_update_that_cannot_be_read_is_kept_as_failed_and_the_feed_goes_on(
    telegram_runtime, bot_api, change
):
    runtime = telegram_runtime()
    odd = private(2)
    odd["message"].update(change)
    bot_api.push(private(1), odd, private(3))

    poll(runtime)

    assert len(complaints(runtime)) == 2
    failed = [r for r in raws(runtime) if r.status == "failed"]
    assert [r.source_id for r in failed] == ["update:200002"]
    assert failed[0].error.startswith("unreadable update:")
    assert bot_api.offsets()[-1] == 200004  # the offset went past the odd one


def test_the_offset_survives_a_restart(telegram_runtime, bot_api):
    runtime = telegram_runtime()
    bot_api.push(private(1), private(2))
    poll(runtime)
    bot_api.push(private(1), private(3))  # Telegram sends again what it was not sure of

    poll(runtime, poller=TelegramPoller(runtime))

    assert bot_api.offsets()[-2:] == [200003, 200004]  # the new loop starts after update 2
    assert len(raws(runtime)) == 3


def test_pollers_start_only_in_polling_mode(telegram_runtime, bot_api):
    runtime = telegram_runtime(poll_timeout_seconds=30)
    stop = threading.Event()
    [thread] = start(feeds(runtime), stop)
    bot_api.push(private(7))
    wait_for(lambda: len(complaints(runtime)) == 1)
    started = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    "status_code, retry_after, error",
    [
        (429, 3, TemporaryError),
        (429, None, TemporaryError),
        (500, None, TemporaryError),
        (401, None, TemporaryError),
        (400, None, PermanentError),
        (403, None, PermanentError),
    ],
)
def test_acknowledgement_errors_say_what_to_do(
    telegram_runtime, bot_api, status_code, retry_after, error
):
    runtime = telegram_runtime()
    bot_api.push(private(8))
    poll(runtime)
    [complaint] = complaints(runtime)
    bot_api.fail("sendMessage", status_code, retry_after=retry_after)

    with pytest.raises(error):
        delivery.perform(runtime, Job.ACK, complaint.id)
    if error is TemporaryError:  # released for the queue's retry, which then succeeds
        assert delivery.perform(runtime, Job.ACK, complaint.id)


def test_an_acknowledgement_that_hangs_times_out(telegram_runtime, bot_api):
    runtime = telegram_runtime(timeout_seconds=0.5)
    bot_api.push(private(9))
    poll(runtime)
    bot_api.hang("sendMessage", 2.0)

    with pytest.raises(TemporaryError):
        delivery.perform(runtime, Job.ACK, complaints(runtime)[0].id)


def test_a_loop_without_a_token_records_why(telegram_runtime, bot_api, monkeypatch):
    runtime = telegram_runtime()
    monkeypatch.delenv("TEST_TG_TOKEN")
    stop = threading.Event()
    TelegramPoller(runtime).run_forever(stop)  # returns: nothing to poll with
    assert "TEST_TG_TOKEN" in status(runtime).last_error


def test_a_second_instance_does_not_poll_the_bot_while_the_first_holds_it(
    bot_api, telegram_runtime, redis_url
):
    import redis as redis_client

    from ingest.locks import FeedLock

    runtime = telegram_runtime()
    client = redis_client.Redis.from_url(redis_url)
    holder = FeedLock(client, "telegram:updates", 60)
    assert holder.hold()  # the other instance
    bot_api.push(update("private_text"))
    stop = threading.Event()
    second = TelegramPoller(runtime, backoff_max=0.1, redis=client)
    thread = threading.Thread(target=second.run_forever, args=(stop,))
    thread.start()
    time.sleep(1.0)
    assert count(runtime, RawMessageRow) == 0  # it waited (two getUpdates pollers → 409)
    holder.release()
    deadline = time.monotonic() + 15
    while count(runtime, RawMessageRow) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(10)
    assert count(runtime, RawMessageRow) == 1 and not thread.is_alive()
