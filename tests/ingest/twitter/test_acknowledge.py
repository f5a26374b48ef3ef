"""Acknowledging on X: a public reply with only the reference and the way to DM.

Given a complaint made from a mention (or a DM), when the worker's acknowledgement runs, then
the fake X API receives a reply to that post (or a DM to its sender) carrying the reference,
no name, e-mail or phone; a reply to our acknowledgement continues the same complaint; rate
limits are retried and a revoked token fails for good.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ingest.channels.twitter.pollers import DirectMessagesPoller, MentionsPoller
from intake.errors import PermanentError, TemporaryError
from intake.privacy import mask_email, mask_phone
from outbound import delivery
from outbound.jobs import Job
from store.models import ComplaintRow, OutboundMessageRow, RawMessageRow
from tests.ingest.twitter.conftest import load
from tests.ingest.twitter.fake_x import Fault

FIRST = load("mentions.json")["tweets"][0]  # by @ayse_k (Ayşe Kaya)


@pytest.fixture
def complaint(fake_x, x_runtime):
    """The runtime and the complaint made from one mention."""
    fake_x.mentions = [dict(FIRST)]
    rt = x_runtime()
    MentionsPoller(rt).run_once()
    with rt.sessions() as session:
        return rt, session.scalars(select(ComplaintRow)).one()


def outbound(rt, complaint_id: int) -> list[OutboundMessageRow]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(OutboundMessageRow).where(OutboundMessageRow.complaint_id == complaint_id)
            )
        )


def test_the_ack_is_a_public_reply_with_the_reference_and_nothing_personal(fake_x, complaint):
    rt, row = complaint
    assert delivery.perform(rt, Job.ACK, row.id)
    [reply] = fake_x.posted
    assert reply["reply"]["in_reply_to_tweet_id"] == FIRST["id"]
    text = reply["text"]
    assert text.startswith("@ayse_k ") and row.reference in text and "DM" in text
    assert "Ayşe" not in text and "Kaya" not in text
    assert mask_phone(mask_email(text)) == text  # no e-mail address, no phone number
    assert len(text) <= 280
    [sent] = outbound(rt, row.id)
    assert sent.message_id == f"x:{reply['id']}"
    with rt.sessions() as session:
        assert session.get(ComplaintRow, row.id).ack_state == "sent"


def test_a_reply_to_our_ack_continues_the_same_complaint(fake_x, complaint):
    rt, row = complaint
    delivery.perform(rt, Job.ACK, row.id)
    ack_id = fake_x.posted[0]["id"]
    fake_x.mentions.append(
        {
            **FIRST,
            "id": "1860000000000000400",
            "created_at": "2026-11-22T09:00:00.000Z",
            "text": "@kamusm_destek DM gönderdim, kart hâlâ kilitli.",
            "referenced_tweets": [{"type": "replied_to", "id": ack_id}],
        }
    )
    report = MentionsPoller(rt).run_once()
    assert (report.fetched, report.created) == (1, 1)  # a follow-up, counted as taken in
    with rt.sessions() as session:
        assert session.scalar(select(ComplaintRow.id).where(ComplaintRow.id != row.id)) is None
        raw = session.scalars(
            select(RawMessageRow).where(RawMessageRow.source_id == "1860000000000000400")
        ).one()
        assert raw.complaint_id == row.id


def test_a_dm_is_acknowledged_by_dm_to_its_sender(fake_x, x_runtime):
    fake_x.dm_events = load("dm_events.json")["dm_events"][:1]
    rt = x_runtime()
    DirectMessagesPoller(rt).run_once()
    with rt.sessions() as session:
        row = session.scalars(select(ComplaintRow)).one()
    delivery.perform(rt, Job.ACK, row.id)
    [(participant, body)] = fake_x.dms_sent
    assert participant == "202" and row.reference in body["text"]
    assert fake_x.posted == []
    assert outbound(rt, row.id)[0].message_id.startswith("x:dm:")


def test_a_rate_limited_ack_is_retried_later(fake_x, complaint):
    rt, row = complaint
    fake_x.fail("tweets", Fault(429))
    with pytest.raises(TemporaryError):
        delivery.perform(rt, Job.ACK, row.id)
    assert outbound(rt, row.id) == []
    assert delivery.perform(rt, Job.ACK, row.id)  # the claim was released: the retry sends
    assert len(fake_x.posted) == 1


def test_a_revoked_token_fails_the_ack_for_good(fake_x, complaint):
    rt, row = complaint
    fake_x.fail("tweets", Fault(401))
    with pytest.raises(PermanentError):
        delivery.perform(rt, Job.ACK, row.id)
    with rt.sessions() as session:
        assert session.get(ComplaintRow, row.id).ack_state == "failed"
    assert fake_x.posted == []
