"""The X normaliser: stored mention/DM JSON → the one complaint schema (pure, from files).

Given a payload from tests/data/twitter, when it is normalised, then the complaint carries the
handle and name only, the desk's leading @mention is gone, the thread and reply ids continue
complaints, and noise (reposts, bare quotes) is recorded but never a complaint.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from intake.errors import PermanentError
from normalize.twitter import MalformedPayload, normalize_twitter
from tests.ingest.twitter.conftest import X_DATA

DESK = "100"


def normalized(name: str, **kwargs):
    return normalize_twitter((X_DATA / name).read_bytes(), desk_user_id=DESK, **kwargs)


def test_a_mention_becomes_a_complaint_of_its_author():
    result = normalized("mention.json")
    complaint = result.complaint
    assert complaint.channel == "twitter"
    assert complaint.source_id == "1860000000000000003"
    assert complaint.received_at == datetime(2026, 11, 22, 7, 3, tzinfo=timezone.utc)
    assert complaint.complainant.name == "John Doe"
    assert complaint.complainant.handle == "@john_d"
    assert (complaint.complainant.email, complaint.complainant.phone) == (None, None)
    assert complaint.subject == ""
    assert complaint.body.startswith("@btk My SSL certificate")  # others' mentions stay
    assert complaint.language == "en"
    assert not complaint.auto_submitted
    assert result.thread_key == "x:conversation:1860000000000000003:203"
    assert result.in_reply_to == ()
    assert (result.message_id, result.references, result.date, dict(result.blobs)) == (
        None,
        (),
        None,
        {},
    )


def test_a_reply_names_the_post_it_answers_and_its_conversation():
    result = normalized("reply.json")
    assert result.in_reply_to == ("x:1860000000000000150",)
    assert result.thread_key == "x:conversation:1860000000000000001:201"  # per author
    assert result.complaint.body.startswith("@ayse_k Teşekkürler")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("retweet.json", "repost (retweet)"),
        ("quote_only.json", "quote without comment"),
    ],
)
def test_noise_is_recorded_not_a_complaint(name, reason):
    result = normalized(name)
    assert result.complaint.auto_submitted
    assert result.auto_reason == reason


def test_a_long_post_uses_its_full_text_and_finds_a_reference():
    complaint = normalized("long_post.json").complaint
    assert complaint.body.endswith("hâlâ dönüş alamadım.")
    assert complaint.ticket_ref == "CMP-2026-000042"


def test_a_dm_is_keyed_by_its_sender_and_nfc():
    result = normalized("dm.json")
    assert result.complaint.source_id == "dm:1870000000000000001"
    assert result.thread_key == "x:dm:202"
    assert result.complaint.complainant.handle == "@mehmet_y"
    assert "Café" in result.complaint.body  # NFC: e + combining acute → é
    assert result.complaint.language == "tr"


def test_our_own_dm_is_not_a_complaint():
    data = json.loads((X_DATA / "dm.json").read_bytes())
    data["dm_event"]["sender_id"] = DESK
    result = normalize_twitter(json.dumps(data).encode(), desk_user_id=DESK)
    assert result.complaint.auto_submitted and result.auto_reason == "our own direct message"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"something": {}}',
        b'{"tweet": "text"}',
        b'{"tweet": {"text": "no id"}}',
        b'{"tweet": {"id": "1", "created_at": "2026-11-22T07:00:00Z"}}',
        b'{"tweet": {"id": "1", "text": "x", "created_at": "yesterday"}}',
        b'{"dm_event": {"id": "1", "text": "x"}}',
    ],
)
def test_a_malformed_payload_is_a_permanent_one_line_error(payload):
    with pytest.raises(MalformedPayload) as caught:
        normalize_twitter(payload)
    assert isinstance(caught.value, PermanentError)
    assert "\n" not in str(caught.value)
