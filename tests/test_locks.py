"""The feed lock on a real Redis: one poller per feed across `intake run` instances."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time

import pytest
import redis

from ingest import locks
from ingest.locks import FeedLock


def test_one_holder_at_a_time_and_a_dead_holder_times_out(redis_url):
    client = redis.Redis.from_url(redis_url)
    first, second = FeedLock(client, "x/mentions", 1), FeedLock(client, "x/mentions", 1)
    assert first.hold() and first.hold()  # renewing its own lock
    assert not second.hold()
    time.sleep(1.2)  # the first instance died without releasing: the lock expires
    assert second.hold() and not first.hold()
    second.release()
    assert first.hold()
    first.release()


def test_without_redis_the_single_instance_always_holds():
    lock = FeedLock(None, "telegram:updates", 30)
    assert lock.hold()
    lock.renew()
    lock.release()


# --- a holder that died on this machine is taken over at once ---------------------------------

KEY = "intake:feed-lock:imap:ssl/INBOX"


def dead_pid() -> int:
    """The pid of a process of this machine that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def client(redis_url):
    return redis.Redis.from_url(redis_url)


HOLD = """
import sys, time, redis
from ingest.locks import FeedLock
lock = FeedLock(redis.Redis.from_url(sys.argv[1]), "imap:ssl/INBOX", 120)
print("held" if lock.hold() else "not held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(redis_url):
    """Another process of this machine that takes the feed's lock and keeps it (alive)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, redis_url], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def sleeper():
    """A live process of this machine that is not us."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_the_lock_of_a_killed_process_is_taken_over_at_once(client, holder):
    lock = FeedLock(client, "imap:ssl/INBOX", 120)
    assert not lock.hold()  # alive: it keeps its lock
    holder.kill()  # kill -9: no release
    holder.wait()
    assert lock.hold()  # at once, not 120 s later
    assert lock.lock.owned() and client.pttl(KEY) > 119_000


def test_a_lock_whose_holder_died_on_this_machine_is_taken_over_with_a_log_line(client, caplog):
    client.set(KEY, f"{locks.HOST}|{dead_pid()}|0123456789ab|cafe", px=120_000)
    lock = FeedLock(client, "imap:ssl/INBOX", 120)
    with caplog.at_level(logging.INFO, logger="ingest.locks"):
        assert lock.hold()
    assert client.get(KEY).decode().startswith(f"{locks.HOST}|{os.getpid()}|{locks.INSTANCE}|")
    [record] = [r for r in caplog.records if "took the polling lock over" in r.getMessage()]
    assert record.levelno == logging.INFO and "is gone" in record.getMessage()
    assert lock.hold() and lock.hold()  # renewed as its own from then on
    lock.release()
    assert client.get(KEY) is None


def test_a_previous_run_that_had_our_pid_is_taken_over(client):
    # a restart that got the same pid (pid 1 of a container): another instance, so a dead one
    client.set(KEY, f"{locks.HOST}|{os.getpid()}|0123456789ab|cafe", px=120_000)
    lock = FeedLock(client, "imap:ssl/INBOX", 120)
    assert lock.hold() and lock.lock.owned()


def test_a_live_holder_of_this_machine_keeps_the_lock(client, sleeper):
    token = f"{locks.HOST}|{sleeper.pid}|0123456789ab|cafe"
    client.set(KEY, token, px=120_000)
    assert not FeedLock(client, "imap:ssl/INBOX", 120).hold()
    assert client.get(KEY).decode() == token


@pytest.mark.parametrize(
    "token",
    [
        "other-host/0c4f/pid:[4026531836]|{pid}|0123456789ab|cafe",  # another machine
        "9f86d081884c7d659a2feaa0c55ad015",  # a token of an older version: no holder named
        "{host}|0|0123456789ab|cafe",  # pid 0 would signal our own process group
    ],
)
def test_a_holder_that_may_be_alive_keeps_the_lock_until_it_expires(client, token):
    token = token.format(pid=dead_pid(), host=locks.HOST)
    client.set(KEY, token, px=1_000)
    lock = FeedLock(client, "imap:ssl/INBOX", 120)
    assert not lock.hold()
    assert client.get(KEY).decode() == token
    time.sleep(1.2)  # its expiry, as before
    assert lock.hold()


def test_a_lock_of_this_very_process_is_not_taken_over(client):
    first, second = FeedLock(client, "imap:ssl/INBOX", 120), FeedLock(client, "imap:ssl/INBOX", 120)
    assert first.hold()
    assert not second.hold()  # our pid and our instance: alive
    assert first.hold()


def test_two_instances_that_see_the_same_dead_holder_take_it_once(client):
    dead = f"{locks.HOST}|{dead_pid()}|0123456789ab|cafe"
    client.set(KEY, dead, px=120_000)
    late = FeedLock(client, "imap:ssl/INBOX", 120)
    assert FeedLock(client, "imap:ssl/INBOX", 120).hold()
    # `late` read the dead token before the first one took it: the swap finds it changed
    assert not late._take(keys=[KEY], args=[dead, "late", 120_000])
    assert client.get(KEY).decode() != "late" and not late.hold()


def test_tokens_name_this_machine_and_process():
    host, pid, instance, nonce = locks.new_token().split("|")
    assert host == locks.HOST and socket.gethostname().replace("|", "_") in host
    assert (int(pid), instance) == (os.getpid(), locks.INSTANCE) and nonce
    assert locks.new_token() != locks.new_token()
    assert locks.dead_holder(locks.new_token()) is None
