"""A Telegram complaint's life in its chat, against the fake Bot API: the unit's decision is
sent to the chat with sendMessage, asking for KABUL or RET, and the complainant's RET in the
same chat (polled with getUpdates, through the normal receive path and pipeline) reopens it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handling import actions
from handling.actions import Act
from intake.lifecycle import Actor
from outbound import delivery
from outbound.jobs import Job
from store.models import ComplaintRow, NoticeRow
from tests.ingest.telegram.conftest import complaints, poll, update

CHAT = 512345678  # the chat of tests/data/telegram/private_text.json
DECISION = "PIN kodunuz sıfırlandı; yeni PIN zarfınız kargoya verildi."


@pytest.fixture
def runtime(telegram_runtime, store_url):
    return telegram_runtime(store_url=store_url)


def resolve(runtime, complaint_id: int, decision: str) -> list[int]:
    """The unit's decision, taken as a unit mail would take it; the ids of the notices."""
    with runtime.sessions.begin() as session:
        complaint = session.get(ComplaintRow, complaint_id)
        act = Act(
            session,
            runtime.settings,
            complaint,
            Actor.UNIT,
            f"unit:{complaint.unit}",
            source="test:decision",
        )
        actions.resolve(act, decision)
        return [work.target_id for work in act.work if work.job is Job.NOTICE]


def owed(runtime, complaint_id: int) -> list[tuple[int, str, str]]:
    with runtime.sessions() as session:
        return [
            (n.id, n.purpose, n.audience)
            for n in session.scalars(
                select(NoticeRow)
                .where(NoticeRow.complaint_id == complaint_id)
                .order_by(NoticeRow.id)
            )
        ]


def test_the_decision_reaches_the_chat_and_a_ret_there_reopens_the_complaint(runtime, bot_api):
    bot_api.push(update("private_text"))
    assert poll(runtime) == 1
    [complaint] = complaints(runtime)
    assert complaint.status == "assigned" and complaint.thread_key == f"telegram:{CHAT}"

    [notice_id] = resolve(runtime, complaint.id, DECISION)
    assert complaints(runtime)[0].status == "resolved"
    assert delivery.perform(runtime, Job.NOTICE, notice_id)

    [sent] = bot_api.sent
    assert sent["chat_id"] == CHAT
    assert DECISION in sent["text"] and "KABUL" in sent["text"] and "RET" in sent["text"]
    with runtime.sessions() as session:
        assert session.get(NoticeRow, notice_id).state == "sent"

    answer = update("private_text", message_id=40, date=1795003600, text="RET")
    answer["update_id"] = 100040
    bot_api.push(answer)
    assert poll(runtime) == 1

    [reopened] = complaints(runtime)  # the answer continues it; no new complaint
    assert reopened.status == "reopened" and reopened.resolved_at is None
    notices = owed(runtime, complaint.id)
    assert [(purpose, audience) for _, purpose, audience in notices] == [
        ("decision", "complainant"),
        ("reopened", "unit"),
        ("other_ways", "complainant"),
    ]
    other_ways = notices[-1][0]
    assert delivery.perform(runtime, Job.NOTICE, other_ways)
    assert bot_api.sent[-1]["chat_id"] == CHAT and "BTK" in bot_api.sent[-1]["text"]
