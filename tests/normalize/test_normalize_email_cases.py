"""Table-driven: every fixture of tests/data/email/cases.toml gives its expected record."""

from __future__ import annotations

import dataclasses
import hashlib
import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from normalize_support import EMAIL_DATA, load_cases

from intake.errors import NotAnEmail
from normalize import EmailLimits, Normalized, normalize_email

CASES = load_cases()


def run_case(case: dict) -> Normalized:
    limits = EmailLimits(**case.get("limits", {}))
    return normalize_email((EMAIL_DATA / case["file"]).read_bytes(), limits=limits)


def check_text(case: dict, result: Normalized) -> None:
    complaint = result.complaint
    if "subject" in case:
        assert complaint.subject == case["subject"]
    if "body" in case:
        assert complaint.body == case["body"]
    assert complaint.body.startswith(case.get("body_startswith", ""))
    for fragment in case.get("body_contains", []):
        assert fragment in complaint.body
    for fragment in case.get("body_excludes", []):
        assert fragment not in complaint.body
    if "language" in case:
        assert complaint.language == case["language"]


def check_record(case: dict, result: Normalized) -> None:
    complaint = result.complaint
    if "auto" in case:
        assert complaint.auto_submitted is case["auto"]
        assert (result.auto_reason is not None) is case["auto"]
    assert case.get("auto_reason", "") in (result.auto_reason or "")
    if "ticket_ref" in case:
        assert complaint.ticket_ref == case["ticket_ref"]
    for key in ("name", "email", "phone"):
        if key in case:
            assert (getattr(complaint.complainant, key) or "") == case[key]
    if "attachments" in case:
        assert [a.filename or "" for a in complaint.attachments] == case["attachments"]
    if "refused" in case:
        assert [r.filename or "" for r in result.refused_attachments] == case["refused"]
    if "note" in case:
        assert any(case["note"] in note for note in result.notes), result.notes
    assert complaint.source_id.startswith(case.get("source_id", ""))
    if case.get("no_date"):
        assert result.date is None


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['file']}" for i, c in enumerate(CASES)])
def test_fixture_gives_expected_record(case):
    # Given a fixture, When it is normalised, Then the record matches its row of cases.toml.
    result = run_case(case)
    check_text(case, result)
    check_record(case, result)


def test_every_fixture_has_a_case():
    listed = {case["file"] for case in CASES}
    on_disk = {path.name for path in EMAIL_DATA.glob("*.eml")}
    assert on_disk <= listed, sorted(on_disk - listed)


def test_fixtures_are_reproducible(tmp_path, make_fixtures_module):
    # The committed bytes are exactly what make_fixtures.py writes.
    for path in make_fixtures_module.write_fixtures(tmp_path):
        assert path.read_bytes() == (EMAIL_DATA / path.name).read_bytes(), path.name


@pytest.mark.parametrize("case", CASES[:3] + CASES[-20:], ids=lambda c: c["file"])
def test_record_invariants(case):
    result = run_case(case)
    complaint = result.complaint
    assert complaint.channel == "email" and complaint.product is None and complaint.kind is None
    assert complaint.received_at.tzinfo is not None
    assert "\n" not in complaint.subject and "\r" not in complaint.subject
    assert complaint.body == unicodedata.normalize("NFC", complaint.body)
    assert set(result.blobs) == {a.sha256 for a in complaint.attachments}
    for attachment in complaint.attachments:
        blob = result.blobs[attachment.sha256]
        assert hashlib.sha256(blob).hexdigest() == attachment.sha256
        assert len(blob) == attachment.size


def test_attachment_bytes_are_the_decoded_content():
    result = normalize_email((EMAIL_DATA / "attachment-rfc2231.eml").read_bytes())
    assert result.blobs[result.complaint.attachments[0].sha256] == b"%PDF-1.4 dilekce"


def test_refused_attachment_keeps_complaint_and_records_size():
    result = normalize_email(
        (EMAIL_DATA / "attachment-over-limit.eml").read_bytes(),
        limits=EmailLimits(max_attachment_bytes=1000),
    )
    refused = result.refused_attachments[0]
    assert (refused.content_type, refused.size) == ("application/pdf", 3000)
    assert "larger than 1000 bytes" in refused.reason
    assert result.complaint.body


def test_received_at_prefers_argument_then_date_then_now(clock):
    payload = (EMAIL_DATA / "tr-cp1254-declared.eml").read_bytes()
    given = datetime(2026, 2, 4, 8, 0, tzinfo=timezone.utc)
    assert normalize_email(payload, received_at=given).complaint.received_at == given
    from_date = normalize_email(payload).complaint.received_at
    assert from_date == datetime(2026, 2, 3, 10, 15, tzinfo=timezone(timedelta(hours=3)))
    undated = normalize_email((EMAIL_DATA / "no-date-no-id.eml").read_bytes())
    assert undated.date is None
    assert undated.complaint.received_at == clock()


def test_naive_received_at_is_taken_as_utc():
    payload = (EMAIL_DATA / "tr-cp1254-declared.eml").read_bytes()
    result = normalize_email(payload, received_at=datetime(2026, 2, 4, 8, 0))
    assert result.complaint.received_at.tzinfo is not None


def test_source_id_without_message_id_is_the_payload_hash():
    payload = (EMAIL_DATA / "no-date-no-id.eml").read_bytes()
    expected = "sha256:" + hashlib.sha256(payload).hexdigest()
    assert normalize_email(payload).complaint.source_id == expected


def test_thread_ids_are_without_brackets():
    result = normalize_email((EMAIL_DATA / "ticket-ref-in-reply-to.eml").read_bytes())
    assert result.message_id == "x@mail.example.com.tr"
    assert result.in_reply_to == ("CMP-2026-000042.ack.9f3c@kamusm.example",)
    assert result.references == ("a@b.example", "CMP-2026-000042.ack.9f3c@kamusm.example")


def test_channel_and_reference_prefix_are_honoured():
    payload = (EMAIL_DATA / "ticket-ref-subject.eml").read_bytes()
    result = normalize_email(payload, channel="email_ssl", reference_prefix="SSL")
    assert result.complaint.channel == "email_ssl"
    assert result.complaint.ticket_ref is None
    custom = payload.replace(b"[#CMP-2026-000042]", b"[#SSL-2026-000001]")
    assert normalize_email(custom, reference_prefix="SSL").complaint.ticket_ref == "SSL-2026-000001"


def test_complaint_serialises_to_contract_json():
    data = normalize_email((EMAIL_DATA / "attachment-rfc2231.eml").read_bytes()).complaint.to_json()
    assert set(data) == {f.name for f in dataclasses.fields(type(run_case(CASES[0]).complaint))}
    assert data["attachments"][0]["filename"] == "Şikâyet dilekçesi.pdf"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"   \r\n\r\n",
        b'{"from": "ayse@example.com", "subject": "json"}',
        b"[1, 2, 3]",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00\x00 Outlook .msg",
        bytes(range(256)) * 4,
        b"Merhaba, bu bir e-posta degil.\nSadece metin.\n",
        b"One: Here's what I've got.\n\nnot headers",
    ],
    ids=["empty", "blank", "json", "json-array", "cdfv2", "binary", "plain-text", "fake-field"],
)
def test_not_an_email_is_refused(payload):
    with pytest.raises(NotAnEmail) as raised:
        normalize_email(payload)
    assert "\n" not in str(raised.value)
