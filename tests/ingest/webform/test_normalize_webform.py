"""The pure half of the web form: parsing bodies by content type, the field rules, the complaint
they make, and the rate limiter's window (no server, no store)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest

from ingest.channels.webform import (
    RateLimiter,
    SeenOnce,
    form_client,
    idempotency_source_id,
    signature_valid,
    signed_bytes,
)
from normalize.records import EmailLimits
from normalize.webform import MalformedForm, form_errors, normalize_webform, parse_form
from tests.conftest import DATA
from tests.ingest.webform.site import sign

FORMS = DATA / "webform"
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
URLENCODED = "application/x-www-form-urlencoded"


def multipart(
    fields: dict[str, str], files: dict[str, tuple[str, bytes, str]], boundary: str = "b0undary"
) -> tuple[bytes, str]:
    out = b""
    for name, value in fields.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    for name, (filename, data, ctype) in files.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
        ).encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_urlencoded_form_becomes_the_complaint():
    result = normalize_webform((FORMS / "form.txt").read_bytes(), URLENCODED, received_at=WHEN)

    complaint = result.complaint
    assert (complaint.channel, complaint.received_at, complaint.language) == ("webform", WHEN, "tr")
    assert complaint.complainant.name == "Ayşe Yılmaz"
    assert complaint.complainant.email == "ayse@example.com"
    assert complaint.complainant.phone is None
    assert complaint.body.startswith("Zaman damgası sunucusu")
    assert (complaint.product, complaint.kind, complaint.auto_submitted) == (
        "zaman_damgasi",
        None,
        False,
    )
    assert (result.message_id, result.in_reply_to, result.date, result.notes) == (
        None,
        (),
        None,
        (),
    )


def test_subject_is_one_line_and_the_body_nfc():
    body = json.dumps(
        {
            "subject": "Fatura\r\nhatası",
            "message": "Mu\u0308hu\u0308r\r\nçalışmıyor",
            "email": "a@example.com",
            "kvkk_consent": True,
        }
    ).encode()
    complaint = normalize_webform(body, "application/json", received_at=WHEN).complaint

    assert complaint.subject == "Fatura hatası"
    assert complaint.body == "Mühür\nçalışmıyor"


def test_an_unknown_product_hint_is_left_to_the_categoriser():
    body = json.dumps({"message": "merhaba", "product": "uydu"}).encode()
    assert normalize_webform(body, "application/json", received_at=WHEN).complaint.product is None


def test_multipart_files_become_attachments_with_their_bytes():
    pdf = (FORMS / "fatura.pdf").read_bytes()
    body, ctype = multipart(
        {"message": "Ekteki fatura", "email": "a@example.com"},
        {"ek": ("fatura.pdf", pdf, "application/pdf")},
    )

    result = normalize_webform(body, ctype, received_at=WHEN)

    digest = hashlib.sha256(pdf).hexdigest()
    [attachment] = result.complaint.attachments
    assert (attachment.filename, attachment.content_type, attachment.size, attachment.sha256) == (
        "fatura.pdf",
        "application/pdf",
        len(pdf),
        digest,
    )
    assert result.blobs == {digest: pdf}


def test_attachments_over_the_limits_are_refused_and_recorded():
    body, ctype = multipart(
        {"message": "iki ek"},
        {"a": ("small.txt", b"ok", "text/plain"), "b": ("big.bin", b"x" * 100, "application/zip")},
    )

    result = normalize_webform(
        body, ctype, received_at=WHEN, limits=EmailLimits(max_attachment_bytes=50)
    )

    assert [a.filename for a in result.complaint.attachments] == ["small.txt"]
    [refused] = result.refused_attachments
    assert (refused.filename, refused.size) == ("big.bin", 100)
    assert "larger than 50 bytes" in refused.reason


def test_an_empty_file_input_is_no_attachment():
    body, ctype = multipart({"message": "eksiz"}, {"ek": ("", b"", "application/octet-stream")})
    assert normalize_webform(body, ctype, received_at=WHEN).complaint.attachments == ()


def test_a_filled_honeypot_is_a_recorded_rejection():
    body = json.dumps({"website": "http://spam.example", "message": ""}).encode()
    result = normalize_webform(body, "application/json", received_at=WHEN)

    assert result.complaint.auto_submitted is True
    assert result.auto_reason == "honeypot filled"


@pytest.mark.parametrize(
    "body, ctype",
    [
        (b"{", "application/json"),
        (b"[]", "application/json"),
        (b"message=x", "text/plain"),
        (b"--b\r\n\r\nx", "multipart/form-data; boundary=b"),
        (b"--b--", "multipart/form-data"),
        (b"{}", "application/json"),  # stored without a message: nothing to make a complaint of
    ],
)
def test_unreadable_bodies_are_a_permanent_error(body, ctype):
    with pytest.raises(MalformedForm):
        normalize_webform(body, ctype, received_at=WHEN)


@pytest.mark.parametrize(
    "fields, errors",
    [
        ({"message": "x", "email": "a@example.com", "kvkk_consent": "on"}, set()),
        ({"message": "x", "phone": "+90 (532) 123-45-67", "kvkk_consent": "evet"}, set()),
        ({"email": "a@example.com", "kvkk_consent": "on"}, {"message"}),
        ({"message": "x", "email": "a@b", "kvkk_consent": "on"}, {"email"}),
        ({"message": "x", "kvkk_consent": "on"}, {"contact"}),
        ({"message": "x", "email": "a@example.com", "kvkk_consent": "false"}, {"kvkk_consent"}),
        ({"message": "x" * 50_001, "email": "a@example.com", "kvkk_consent": "on"}, {"message"}),
        (
            {"message": "x", "email": "a@example.com", "kvkk_consent": "on", "name": "n" * 201},
            {"name"},
        ),
    ],
)
def test_field_rules(fields, errors):
    form = parse_form(json.dumps(fields).encode(), "application/json")
    assert set(form_errors(form)) == errors


def test_signature_is_hmac_sha256_of_timestamp_key_and_raw_body():
    body, key = b"message=merhaba", "webform-test-secret"
    assert signed_bytes("1772443800", "k-1", body) == b"1772443800.k-1.message=merhaba"
    assert signed_bytes("1772443800", None, body) == b"1772443800..message=merhaba"
    good = sign(body, timestamp="1772443800", idempotency_key="k-1")
    assert signature_valid(good, signed_bytes("1772443800", "k-1", body), key)
    assert not signature_valid(good, signed_bytes("1772443801", "k-1", body), key)
    assert not signature_valid(good, signed_bytes("1772443800", "k-2", body), key)
    assert not signature_valid(good, signed_bytes("1772443800", None, body), key)
    assert not signature_valid(good, signed_bytes("1772443800", "k-1", body + b" "), key)
    assert not signature_valid(
        good.removeprefix("sha256="), signed_bytes("1772443800", "k-1", body), key
    )
    assert not signature_valid(good, signed_bytes("1772443800", "k-1", body), None)  # no secret


def test_dedupe_key_is_the_clients_idempotency_key_else_its_body_hash():
    digest = hashlib.sha256(b"x").hexdigest()
    assert idempotency_source_id("k-1", b"x", client="site") == "idem:site:k-1"
    assert idempotency_source_id(None, b"x", client="site") == f"sha256:site:{digest}"
    a, b = form_client("203.0.113.7"), form_client("198.51.100.1")
    assert a != b and "203.0.113.7" not in a
    assert idempotency_source_id("k-1", b"x", client=a) != idempotency_source_id(
        "k-1", b"x", client=b
    )


def test_a_signature_is_seen_once_in_its_window_without_redis(clock):
    from datetime import timedelta

    seen = SeenOnce()
    assert seen.first("abc", 601) and not seen.first("abc", 601)
    assert seen.first("def", 601)
    clock.set(clock() + timedelta(seconds=602))
    assert seen.first("abc", 601)  # its window is over
    seen.forget("abc")
    assert seen.first("abc", 601)


def test_seen_signatures_are_kept_in_the_process_when_redis_is_down():
    import redis

    from tests.conftest import free_port

    nobody = redis.Redis(port=free_port(), socket_connect_timeout=0.5)  # nothing listens
    seen = SeenOnce(redis=nobody)
    assert seen.first("abc", 601) and not seen.first("abc", 601)


def test_rate_limit_window_without_redis_counts_in_process():
    now = [120.0]
    limiter = RateLimiter(2, seconds=lambda: now[0])

    assert [limiter.hit("203.0.113.7") for _ in range(3)] == [0, 0, 60]
    assert limiter.hit("198.51.100.1") == 0  # per address
    now[0] = 179.5
    assert limiter.hit("203.0.113.7") == 1
    now[0] = 180.0  # a new window
    assert limiter.hit("203.0.113.7") == 0


class DownRedis:
    def pipeline(self):
        raise ConnectionError("redis is down")


def test_rate_limit_falls_back_to_the_process_when_redis_is_down():
    limiter = RateLimiter(1, redis=DownRedis(), seconds=lambda: 0.0)
    assert [limiter.hit("203.0.113.7") for _ in range(2)] == [0, 60]
