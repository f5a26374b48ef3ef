"""Polling mentions and DMs from the fake X API v2: each post once, oldest first.

Given posts mentioning the desk on the fake API, when the pollers run, then each post is one
stored, routed complaint (reposts are recorded only), the watermark is the newest id, and
reruns, crashes, malformed answers and a tier without DMs change none of that.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from ingest.channels.twitter.client import BadResponse, Unavailable
from ingest.channels.twitter.pollers import DirectMessagesPoller, MentionsPoller, feeds
from ingest.feed import start
from intake.cli import status
from store import repo
from store.models import ComplaintRow, EventRow, PollStatusRow, RawMessageRow
from tests.ingest.twitter.conftest import load
from tests.ingest.twitter.fake_x import MALFORMED, Fault

SEEDED = load("mentions.json")["tweets"]
NEWEST = SEEDED[-1]["id"]


def complaints(rt) -> list[ComplaintRow]:
    with rt.sessions() as session:
        return list(session.scalars(select(ComplaintRow).order_by(ComplaintRow.id)))


def raw_count(rt, **where) -> int:
    with rt.sessions() as session:
        query = select(func.count()).select_from(RawMessageRow).filter_by(**where)
        return session.scalar(query)


def watermark(rt, feed: str) -> dict | None:
    with rt.sessions() as session:
        return repo.get_watermark(session, "twitter", feed)


def health(rt, feed: str) -> PollStatusRow:
    with rt.sessions() as session:
        return session.get(PollStatusRow, ("twitter", feed))


@pytest.fixture
def seeded(fake_x):
    fake_x.page_size = 2  # six mentions: three pages
    fake_x.mentions = [dict(t) for t in SEEDED]
    return fake_x


def test_three_pages_give_one_complaint_each_oldest_first(seeded, x_runtime):
    rt = x_runtime()
    report = MentionsPoller(rt).run_once()
    assert seeded.count("mentions") == 3
    assert (report.fetched, report.created) == (6, 6)
    made = complaints(rt)
    assert [c.source_id for c in made] == [t["id"] for t in SEEDED]  # oldest first
    assert [c.reference for c in made] == sorted(c.reference for c in made)
    assert made[0].complainant_handle == "@ayse_k" and made[0].complainant_name == "Ayşe Kaya"
    assert made[0].body.startswith("e-imza kartımın PIN kodu")
    assert made[0].thread_key == f"x:conversation:{SEEDED[0]['id']}:{SEEDED[0]['author_id']}"
    assert watermark(rt, "mentions") == {"since_id": NEWEST}
    assert health(rt, "mentions").consecutive_failures == 0


def test_the_next_run_asks_since_the_watermark_and_stores_nothing_twice(seeded, x_runtime):
    rt = x_runtime()
    MentionsPoller(rt).run_once()
    newer = {**SEEDED[0], "id": "1860000000000000010", "conversation_id": "1860000000000000010"}
    seeded.mentions.append(newer)
    report = MentionsPoller(rt).run_once()
    assert seeded.calls[-1][1]["since_id"] == NEWEST
    assert (report.fetched, report.created) == (1, 1)
    assert len(complaints(rt)) == 7 and raw_count(rt) == 7
    assert watermark(rt, "mentions") == {"since_id": "1860000000000000010"}


def test_an_error_on_page_two_stores_each_post_once_on_the_rerun(seeded, x_runtime):
    rt = x_runtime()
    seeded.fail("mentions", Fault(503), after=1)
    with pytest.raises(Unavailable):
        MentionsPoller(rt).run_once()
    assert watermark(rt, "mentions") is None
    MentionsPoller(rt).run_once()
    assert len(complaints(rt)) == 6 and raw_count(rt) == 6


def test_a_crash_before_the_watermark_is_saved_refetches_without_duplicates(
    seeded, x_runtime, monkeypatch
):
    rt = x_runtime()
    crashing = MentionsPoller(rt)
    monkeypatch.setattr(crashing, "save_watermark", lambda mark: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        crashing.run_once()
    assert len(complaints(rt)) == 6 and watermark(rt, "mentions") is None
    report = MentionsPoller(rt).run_once()
    assert (report.fetched, report.duplicates) == (6, 6)
    assert len(complaints(rt)) == 6 and raw_count(rt) == 6
    assert watermark(rt, "mentions") == {"since_id": NEWEST}


def test_a_repost_is_recorded_and_is_no_complaint(fake_x, x_runtime):
    fake_x.mentions = [load("retweet.json")["tweet"]]
    rt = x_runtime()
    MentionsPoller(rt).run_once()
    assert complaints(rt) == []
    assert raw_count(rt, status="processed") == 1
    with rt.sessions() as session:
        event = session.scalars(select(EventRow).where(EventRow.kind == "not_a_complaint")).one()
    assert event.detail["reason"] == "repost (retweet)"


def test_malformed_json_is_a_recorded_error_and_the_next_cycle_works(seeded, x_runtime):
    rt = x_runtime()
    poller = MentionsPoller(rt)
    seeded.fail("mentions", MALFORMED)
    with pytest.raises(BadResponse, match="malformed JSON"):
        poller.run_once()
    row = health(rt, "mentions")
    assert row.consecutive_failures == 1 and "malformed JSON" in row.last_error
    assert complaints(rt) == []
    poller.run_once()
    assert len(complaints(rt)) == 6 and health(rt, "mentions").consecutive_failures == 0


def test_unreadable_items_are_recorded_rejections_the_others_complaints(seeded, x_runtime):
    seeded.page_size = 100
    seeded.mentions += [
        {"text": "no id at all", "author_id": "201"},
        {"id": "1860000000000000050", "author_id": "201", "created_at": "2026-11-22T07:50:00Z"},
    ]
    seeded.fail("mentions", Fault(200, body=b'{"data": {"not": "a list"}}'))
    rt = x_runtime()
    with pytest.raises(BadResponse, match="documented data/includes/meta shape"):
        MentionsPoller(rt).run_once()
    report = MentionsPoller(rt).run_once()
    assert (report.created, report.failed) == (6, 2)
    with rt.sessions() as session:
        errors = session.scalars(
            select(RawMessageRow.error).where(RawMessageRow.status == "failed")
        ).all()
    assert sorted(e.split(":")[0] for e in errors) == [
        "MalformedPayload",
        "mention without a usable id in the X API answer",
    ]


def test_dms_are_complaints_keyed_by_sender_and_our_own_are_skipped(fake_x, x_runtime):
    data = load("dm_events.json")
    fake_x.dm_events = [
        *data["dm_events"],
        {
            "id": "1870000000000000003",
            "event_type": "MessageCreate",
            "sender_id": "100",
            "dm_conversation_id": "100-202",
            "created_at": "2026-11-22T07:40:00.000Z",
            "text": "Başvurunuz CMP-2026-000001 numarasıyla kayda alındı.",
        },
    ]
    rt = x_runtime()
    report = DirectMessagesPoller(rt).run_once()
    assert report.created == 2
    made = complaints(rt)
    assert [c.source_id for c in made] == ["dm:1870000000000000001", "dm:1870000000000000002"]
    assert made[0].thread_key == "x:dm:202" and made[0].complainant_handle == "@mehmet_y"
    assert watermark(rt, "dms") == {"last_event_id": "1870000000000000003"}
    assert DirectMessagesPoller(rt).run_once().fetched == 0
    assert raw_count(rt) == 2


def test_dms_on_a_tier_without_them_leave_mentions_working(seeded, x_runtime):
    rt = x_runtime()
    seeded.fail("dm_events", Fault(403))
    stop = threading.Event()
    threads = start(feeds(rt), stop)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            dms = health(rt, "dms")
            if len(complaints(rt)) == 6 and dms is not None and dms.consecutive_failures:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert [t.name for t in threads] == ["x/mentions", "x/dms"]
    assert not any(t.is_alive() for t in threads)
    assert len(complaints(rt)) == 6
    assert seeded.count("dm_events") == 1  # retried hourly, not in a loop
    shown = {f["feed"]: f for f in status.collect(rt)["channels"]}
    assert "DMs not available on this access tier" in shown["twitter/dms"]["last_error"]
    assert shown["twitter/mentions"]["last_error"] is None
    assert "DMs not available" in status.render(status.collect(rt))


def test_no_pollers_when_the_channel_is_disabled(fake_x, x_runtime):
    assert feeds(x_runtime(enabled=False)) == []
