"""Two `intake run` instances: the X mentions are polled by one of them at a time."""

from __future__ import annotations

import threading
import time

import redis

from ingest.locks import FeedLock


def test_a_second_x_poller_waits_while_the_first_holds_the_feed(redis_url, x_runtime, fake_x):
    from ingest.channels.twitter.pollers import MentionsPoller
    from tests.ingest.twitter.conftest import load

    runtime = x_runtime()
    client = redis.Redis.from_url(redis_url)
    for tweet in load("mentions.json")["tweets"][:2]:
        fake_x.mentions.append(tweet)
    holder = FeedLock(client, "x/mentions", 30)
    assert holder.hold()  # another instance polls the mentions
    stop = threading.Event()
    waiting = threading.Thread(
        target=MentionsPoller(runtime, redis=client).run_forever, args=(stop,)
    )
    waiting.start()
    time.sleep(1.5)
    assert fake_x.count("mentions") == 0  # it did not poll
    holder.release()
    deadline = time.monotonic() + 10
    while fake_x.count("mentions") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    waiting.join(10)
    assert fake_x.count("mentions") >= 1 and not waiting.is_alive()
