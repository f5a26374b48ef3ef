"""The feed lock on a real Redis: one poller per feed across `intake run` instances."""

from __future__ import annotations

import time

import redis

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
