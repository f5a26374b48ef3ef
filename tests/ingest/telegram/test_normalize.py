"""The Telegram normaliser: a stored envelope (update + downloaded files) → the complaint.

Pure: table-driven from the updates in tests/data/telegram, no server involved.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone

import pytest

from intake.errors import PermanentError
from normalize.telegram import MalformedUpdate, bot_command, normalize_telegram
from tests.ingest.telegram.conftest import update


def envelope(data: dict, files: list | None = None) -> bytes:
    return json.dumps({"update": data, "files": files or []}, ensure_ascii=False).encode()


def test_a_private_message_is_a_complaint_of_its_sender():
    result = normalize_telegram(envelope(update("private_text")))
    complaint = result.complaint
    assert complaint.channel == "telegram"
    assert complaint.source_id == "512345678:11"
    assert complaint.received_at == datetime.fromtimestamp(1795000000, timezone.utc)
    assert complaint.complainant.name == "Ayşe Yılmaz"
    assert complaint.complainant.handle == "@ayse_yilmaz"
    assert complaint.subject == ""
    assert complaint.body.startswith("Merhaba, nitelikli elektronik")
    assert complaint.language == "tr"
    assert not complaint.auto_submitted
    assert result.thread_key == "telegram:512345678"
    assert (result.in_reply_to, result.replaces, result.message_id) == ((), None, None)


def test_a_sender_without_username_has_a_numeric_handle():
    complaint = normalize_telegram(envelope(update("photo"))).complaint
    assert complaint.complainant == type(complaint.complainant)(
        name="Zeynep", handle="tg:523456789"
    )


def test_an_edit_replaces_the_original_message():
    result = normalize_telegram(envelope(update("edited")))
    assert result.complaint.source_id == "512345678:11:edit:1795000300"
    assert result.replaces == "512345678:11"
    assert "tanınmıyor" in result.complaint.body


def test_a_reply_names_the_message_it_answers():
    data = update("reply", reply_to_message={"message_id": 9001, "date": 1, "chat": {"id": 5}})
    assert normalize_telegram(envelope(data)).in_reply_to == ("telegram:512345678:9001",)


def test_start_is_recorded_not_a_complaint():
    result = normalize_telegram(envelope(update("start")))
    assert result.complaint.auto_submitted
    assert result.auto_reason == "bot command /start"


def test_a_group_thread_belongs_to_one_member():
    assert normalize_telegram(envelope(update("group_mention"))).thread_key == (
        "telegram:-1001234567890:600000001"
    )


def test_entity_offsets_count_utf16_units():
    text = "😀 /help"  # not at offset 0: not a command; the emoji is two UTF-16 units
    message = {"text": text, "entities": [{"type": "bot_command", "offset": 3, "length": 5}]}
    assert bot_command(message) is None
    assert (
        bot_command(
            {
                "text": "/Start@kamusm_sikayet_bot x",
                "entities": [{"type": "bot_command", "offset": 0, "length": 25}],
            }
        )
        == "start"
    )


def test_downloaded_files_become_attachments_with_their_bytes():
    data = b"%PDF-1.4 hata raporu"
    files = [
        {
            "file_id": "doc-1",
            "file_path": "documents/file_1.pdf",
            "file_name": "fatura_hatasi.pdf",
            "mime_type": "application/pdf",
            "content_b64": base64.b64encode(data).decode(),
        },
        {
            "file_id": "big",
            "file_name": "video.mp4",
            "mime_type": "video/mp4",
            "file_size": 99_000_000,
            "refused": "over the attachment size limit",
        },
    ]
    result = normalize_telegram(envelope(update("document"), files))
    digest = hashlib.sha256(data).hexdigest()
    [attachment] = result.complaint.attachments
    assert (attachment.filename, attachment.content_type, attachment.size, attachment.sha256) == (
        "fatura_hatasi.pdf",
        "application/pdf",
        len(data),
        digest,
    )
    assert result.blobs == {digest: data}
    assert [r.reason for r in result.refused_attachments] == ["over the attachment size limit"]
    assert result.complaint.body.startswith("Mali mühür")


def test_the_body_is_nfc():
    decomposed = "S\u0327ikayet: kartım c\u0327alışmıyor"
    body = normalize_telegram(envelope(update("private_text", text=decomposed))).complaint.body
    assert body == "Şikayet: kartım çalışmıyor"


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[]",
        b'{"files": []}',
        envelope({"update_id": 1, "channel_post": {}}),
        envelope({"update_id": 1, "message": {"message_id": 1, "date": 1}}),
        envelope(update("document"), [{"file_name": "x", "content_b64": "***"}]),
    ],
)
def test_a_malformed_envelope_is_a_permanent_error(payload):
    with pytest.raises(MalformedUpdate) as caught:
        normalize_telegram(payload)
    assert isinstance(caught.value, PermanentError)
    assert "\n" not in str(caught.value)
