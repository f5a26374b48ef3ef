"""The Telegram channel end to end against the fake Bot API: updates polled with getUpdates
become stored, routed complaints; acknowledgements go back with sendMessage as replies.

Given updates waiting at the (fake) Bot API, when the poller runs to empty, then each message
for the desk is one complaint, its edits and replies continue it, and nothing else is stored.
"""

from __future__ import annotations

import hashlib
import logging

import pytest
from sqlalchemy import select

from ingest import pipeline
from ingest.channels.telegram.receive import raw_from_update
from ingest.channels.telegram.webhook import routes
from outbound import delivery
from outbound.jobs import Job
from store import repo
from store.models import AttachmentRow, EventRow, OutboundMessageRow, RawMessageRow
from tests.ingest.telegram.conftest import TOKEN, complaints, count, poll, raws, update

CHAT = 512345678


@pytest.fixture
def runtime(telegram_runtime, store_url):
    """The flow on both stores (PostgreSQL skips outside CI when it is not there)."""
    return telegram_runtime(store_url=store_url)


def test_a_private_message_is_one_acknowledged_complaint(runtime, bot_api):
    bot_api.push(update("private_text"))

    assert poll(runtime) == 1

    [complaint] = complaints(runtime)
    assert (complaint.channel, complaint.source_id) == ("telegram", f"{CHAT}:11")
    assert complaint.complainant_handle == "@ayse_yilmaz"
    assert complaint.unit and complaint.queue and complaint.status == "assigned"
    assert complaint.thread_key == f"telegram:{CHAT}"
    [raw] = raws(runtime)
    assert raw.transport == {"chat_id": CHAT, "message_id": 11, "update_id": 100001}

    assert delivery.perform(runtime, Job.ACK, complaint.id)

    [sent] = bot_api.sent
    assert sent["chat_id"] == CHAT and sent["reply_to"] == 11
    assert complaint.reference in sent["text"] and "kayda alındı" in sent["text"]
    with runtime.sessions() as session:
        [outbound] = session.scalars(select(OutboundMessageRow)).all()
        assert outbound.message_id == f"telegram:{CHAT}:{sent['message_id']}"
    assert bot_api.offsets()[-1] == 100002  # the offset confirms what was stored


def test_the_same_update_twice_is_one_complaint(runtime, bot_api):
    bot_api.push(update("private_text"))
    poll(runtime)
    [outcome] = pipeline.ingest(
        runtime,
        [raw_from_update(update("private_text"), "message", update("private_text")["message"], [])],
    ).outcomes()

    assert outcome.status == "duplicate"
    assert len(complaints(runtime)) == 1 and len(raws(runtime)) == 1


def test_an_edit_updates_its_complaint(runtime, bot_api):
    bot_api.push(update("private_text"))
    poll(runtime)
    bot_api.push(update("edited"))
    poll(runtime)

    [complaint] = complaints(runtime)
    assert "Kart okuyucum da artık tanınmıyor" in complaint.body
    with runtime.sessions() as session:
        kinds = session.scalars(
            select(EventRow.kind).where(EventRow.complaint_id == complaint.id)
        ).all()
    assert "edited" in kinds


def test_a_reply_to_the_acknowledgement_and_a_new_message_continue_the_complaint(runtime, bot_api):
    bot_api.push(update("private_text"))
    poll(runtime)
    [complaint] = complaints(runtime)
    delivery.perform(runtime, Job.ACK, complaint.id)
    ack_id = bot_api.sent[0]["message_id"]
    reply = update("reply")
    reply["message"]["reply_to_message"]["message_id"] = ack_id

    bot_api.push(update("followup"), reply)
    poll(runtime)

    assert len(complaints(runtime)) == 1
    followups = [r for r in raws(runtime) if r.source_id != f"{CHAT}:11"]
    assert [r.complaint_id for r in followups] == [complaint.id, complaint.id]
    assert all(r.status == "processed" for r in followups)


def test_group_talk_without_a_mention_is_not_stored(runtime, bot_api):
    bot_api.push(update("group_no_mention"), update("channel_post"))

    assert poll(runtime) == 2

    assert raws(runtime) == []
    assert bot_api.offsets()[-1] == 100041  # skipped, but the offset moved past them


def test_a_group_message_that_mentions_the_bot_is_a_complaint(runtime, bot_api):
    bot_api.push(update("group_mention"))
    poll(runtime)

    [complaint] = complaints(runtime)
    assert complaint.complainant_name == "Mehmet Kaya"
    assert complaint.product == "ssl"


def test_photos_and_documents_are_stored_as_attachments(runtime, bot_api):
    photo, document = b"\x89PNG large photo bytes", b"%PDF-1.4 hata raporu"
    bot_api.add_file("ph-large", photo, "photos/file_7.jpg")
    bot_api.add_file("doc-1", document, "documents/file_8.pdf")
    bot_api.push(update("photo"), update("document"))

    poll(runtime)

    with runtime.sessions() as session:
        rows = session.scalars(select(AttachmentRow).order_by(AttachmentRow.id)).all()
        assert [(a.filename, a.content_type, a.size) for a in rows] == [
            ("photo_31.jpg", "image/jpeg", len(photo)),
            ("fatura_hatasi.pdf", "application/pdf", len(document)),
        ]
        for row, data in zip(rows, (photo, document)):
            assert row.sha256 == hashlib.sha256(data).hexdigest()
            assert repo.get_blob(session, row.sha256) == data
    assert [m for m, p in bot_api.calls if m == "getFile"] == ["getFile", "getFile"]
    assert all(TOKEN.encode() not in r.payload for r in raws(runtime))  # paths, not URLs


def test_start_answers_with_the_kvkk_notice_and_is_no_complaint(runtime, bot_api):
    bot_api.push(update("start"))
    poll(runtime)

    assert complaints(runtime) == []
    [raw] = raws(runtime)
    assert raw.status == "processed"
    [sent] = bot_api.sent
    assert sent["chat_id"] == 534567890
    assert runtime.settings.telegram.kvkk_notice in sent["text"]
    with runtime.sessions() as session:
        assert session.scalars(
            select(EventRow.kind).where(EventRow.raw_message_id == raw.id)
        ).all() == ["not_a_complaint"]


def test_a_greeting_telegram_answers_with_garbage_does_not_stop_the_feed(runtime, bot_api):
    """The /start answer is a courtesy: a reply of the wrong shape is logged, the update
    stays stored and the offset moves on (a later update is taken)."""
    bot_api.garbage("sendMessage", "wrong-shape")
    start = update("start")
    later = update("private_text", message_id=77, text="Kartım okunmuyor.")
    later["update_id"] = start["update_id"] + 1
    bot_api.push(start, later)

    poll(runtime)

    assert len(complaints(runtime)) == 1 and len(raws(runtime)) == 2
    assert bot_api.offsets()[-1] == later["update_id"] + 1


def test_personal_data_stays_out_of_the_logs(runtime, bot_api, caplog):
    caplog.set_level(logging.DEBUG)
    bot_api.push(update("private_text"), update("group_mention"))
    poll(runtime)
    delivery.perform(runtime, Job.ACK, complaints(runtime)[0].id)

    text = caplog.text
    for personal in ("Ayşe", "Yılmaz", "ayse_yilmaz", "Mehmet", str(CHAT), "1234567890", TOKEN):
        assert personal not in text


def test_polling_mode_serves_no_webhook(runtime):
    assert routes(runtime) == []
    assert count(runtime, RawMessageRow) == 0
