"""The web form over real HTTP (uvicorn on loopback, real Redis, real store): good, forged,
oversized, malformed, replayed and rate-limited submissions. Refusals store nothing; whatever
passes the edge is stored raw before anything else."""

from __future__ import annotations

import hashlib
import json
import logging
import re

import pytest
from sqlalchemy import select

from store.models import AttachmentRow, BlobRow, EventRow, RawMessageRow
from tests.conftest import DATA
from tests.ingest.webform.site import FORM_TOKEN, sign

FORMS = DATA / "webform"
PATH = "/webhooks/webform"
URLENCODED = "application/x-www-form-urlencoded"
REFERENCE = re.compile(r"CMP-\d{4}-\d{6}")
GOOD = json.loads((FORMS / "good.json").read_text(encoding="utf-8"))


def post_signed(site, body: bytes, content_type: str = URLENCODED, **headers: str):
    return site.http.post(
        PATH,
        content=body,
        headers={"Content-Type": content_type, "X-Intake-Signature": sign(body), **headers},
    )


def post_json(site, data: dict, **headers: str):
    return post_signed(site, json.dumps(data).encode(), "application/json", **headers)


# --- Good submissions --------------------------------------------------------------------------


def test_form_encoded_submission_is_one_complaint_routed_by_its_product_hint(start_site, store_url):
    site = start_site(store_url)
    response = post_signed(site, (FORMS / "form.txt").read_bytes())

    assert response.status_code == 202, response.text
    reference = response.json()["reference"]
    assert REFERENCE.fullmatch(reference) and response.json()["status"] == "received"
    complaint = site.complaint(reference)
    assert (complaint.channel, complaint.product, complaint.unit) == (
        "webform",
        "zaman_damgasi",
        "time_stamping",
    )
    assert complaint.complainant_name == "Ayşe Yılmaz"
    assert complaint.complainant_email == "ayse@example.com"
    assert complaint.subject == "Zaman damgası hatası"
    assert complaint.language == "tr"
    assert complaint.ack_state == "pending"  # the workers acknowledge by e-mail
    assert site.count() == 1


def test_json_submission_is_one_complaint(start_site, store_url):
    site = start_site(store_url)
    response = post_json(site, GOOD)

    assert response.status_code == 202, response.text
    complaint = site.complaint(response.json()["reference"])
    assert (complaint.product, complaint.unit) == ("kart_okuyucu", "hardware")
    assert complaint.complainant_phone == "0532 123 45 67"
    assert site.raws()[0].transport["client"] == "127.0.0.1"


def test_multipart_attachment_is_kept_byte_for_byte_as_a_blob(site):
    pdf = (FORMS / "fatura.pdf").read_bytes()
    request = site.http.build_request(
        "POST",
        PATH,
        data={**{k: str(v) for k, v in GOOD.items()}, "kvkk_consent": "on"},
        files={"attachment": ("fatura.pdf", pdf, "application/pdf")},
    )
    body = request.read()
    request.headers["X-Intake-Signature"] = sign(body)

    response = site.http.send(request)

    assert response.status_code == 202, response.text
    complaint = site.complaint(response.json()["reference"])
    digest = hashlib.sha256(pdf).hexdigest()
    with site.runtime.sessions() as session:
        attachment = session.scalars(select(AttachmentRow)).one()
        blob = session.get(BlobRow, digest)
        assert (
            attachment.complaint_id,
            attachment.filename,
            attachment.content_type,
            attachment.size,
            attachment.sha256,
        ) == (complaint.id, "fatura.pdf", "application/pdf", len(pdf), digest)
        assert blob is not None and bytes(blob.data) == pdf


def test_plain_html_form_with_its_token_needs_no_signature(site):
    body = (FORMS / "form.txt").read_bytes() + f"&form_token={FORM_TOKEN}".encode()
    response = site.http.post(PATH, content=body, headers={"Content-Type": URLENCODED})

    assert response.status_code == 202, response.text
    assert site.count() == 1


# --- Refused at the edge: nothing stored -------------------------------------------------------


def test_forged_signature_is_403_and_nothing_is_stored(site):
    body = (FORMS / "form.txt").read_bytes()
    response = site.http.post(
        PATH,
        content=body,
        headers={"Content-Type": URLENCODED, "X-Intake-Signature": sign(body, "not-the-secret")},
    )

    assert response.status_code == 403
    assert "signature" in response.json()["error"]
    assert site.count(RawMessageRow) == 0


def test_signature_over_another_body_is_403(site):
    body = (FORMS / "form.txt").read_bytes()
    response = site.http.post(
        PATH,
        content=body + b"&x=1",
        headers={"Content-Type": URLENCODED, "X-Intake-Signature": sign(body)},
    )

    assert response.status_code == 403
    assert site.count(RawMessageRow) == 0


def test_missing_signature_without_a_form_token_configured_is_401(start_site):
    site = start_site(form_token_env="")
    response = site.http.post(
        PATH, content=(FORMS / "form.txt").read_bytes(), headers={"Content-Type": URLENCODED}
    )

    assert response.status_code == 401
    assert "X-Intake-Signature" in response.json()["error"]
    assert site.count(RawMessageRow) == 0


@pytest.mark.parametrize("token, status", [(None, 401), ("wrong-token", 403)])
def test_plain_form_without_the_right_token_is_refused(site, token, status):
    body = (FORMS / "form.txt").read_bytes()
    if token:
        body += f"&form_token={token}".encode()
    response = site.http.post(PATH, content=body, headers={"Content-Type": URLENCODED})

    assert response.status_code == status
    assert site.count(RawMessageRow) == 0


def test_oversized_body_is_413_and_nothing_is_stored(start_site):
    site = start_site(max_body_bytes=2048)
    big = dict(GOOD, message="Kart okuyucu çalışmıyor. " * 200)

    response = post_json(site, big)

    assert response.status_code == 413
    assert site.count(RawMessageRow) == 0


def test_a_signature_with_non_ascii_characters_is_403_not_a_crash(site):
    body = json.dumps(GOOD).encode()
    response = site.http.post(
        PATH,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Intake-Signature": ("sha256=" + "ş" * 32).encode(),  # raw UTF-8 bytes
        },
    )
    assert response.status_code == 403
    assert site.count(RawMessageRow) == 0


def test_an_oversized_post_from_a_plain_client_reads_the_413_instead_of_a_reset(start_site):
    """urllib, as a browser would, sends all 5 MB before it reads: the server reads and drops
    the rest of the body, then answers, so the sender sees why (issue 11, defect 2)."""
    import urllib.error
    import urllib.request

    site = start_site(max_body_bytes=1 << 20)
    body = b"message=" + b"a" * (5 << 20)
    request = urllib.request.Request(
        site.url + PATH,
        data=body,
        headers={"Content-Type": URLENCODED, "X-Intake-Signature": sign(body)},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert b"body over" in refused.value.read()
    assert site.count(RawMessageRow) == 0


def test_oversized_body_without_content_length_is_counted_while_it_streams(start_site):
    site = start_site(max_body_bytes=2048)
    chunks = [b"message=" + b"a" * 1000 for _ in range(5)]

    response = site.http.post(
        PATH,
        content=iter(chunks),
        headers={"Content-Type": URLENCODED, "X-Intake-Signature": sign(b"".join(chunks))},
    )

    assert "content-length" not in response.request.headers  # sent chunked
    assert response.status_code == 413
    assert site.count(RawMessageRow) == 0


@pytest.mark.parametrize(
    "body, content_type, status, says",
    [
        (b'{"message": "kart', "application/json", 400, "not valid JSON"),
        (b'["a list"]', "application/json", 400, "JSON body must be an object"),
        (b'{"message": {"nested": 1}}', "application/json", 400, "must be a string"),
        (
            b'--xyz\r\nContent-Disposition: form-data; name="message"\r\n\r\nyar',
            "multipart/form-data; boundary=xyz",
            400,
            "closing boundary",
        ),
        (b"message=hi", "text/plain", 415, "multipart/form-data"),
    ],
)
def test_malformed_body_gets_a_clear_error(site, body, content_type, status, says):
    response = post_signed(site, body, content_type)

    assert response.status_code == status
    assert says in response.json()["error"]
    assert site.count(RawMessageRow) == 0


@pytest.mark.parametrize(
    "change, field",
    [
        ({"message": "  "}, "message"),
        ({"email": "ali@", "phone": ""}, "email"),
        ({"email": "", "phone": ""}, "contact"),
        ({"kvkk_consent": False}, "kvkk_consent"),
        ({"product": "uydu"}, "product"),
        ({"subject": "x" * 301}, "subject"),
        ({"phone": "bir iki üç"}, "phone"),
    ],
)
def test_invalid_fields_are_422_with_the_field_errors(site, change, field):
    response = post_json(site, {**GOOD, **change})

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert list(errors) == [field] and errors[field]
    assert site.count(RawMessageRow) == 0


def test_missing_consent_key_is_422(site):
    response = post_json(site, {k: v for k, v in GOOD.items() if k != "kvkk_consent"})

    assert response.status_code == 422
    assert "kvkk_consent" in response.json()["errors"]


# --- Honeypot, replays, rate limit -------------------------------------------------------------


def test_filled_honeypot_is_answered_like_a_success_but_only_recorded(site):
    response = post_json(site, {**GOOD, "website": "http://spam.example"})

    assert response.status_code == 202
    assert response.json()["status"] == "received"
    assert site.count() == 0
    [raw] = site.raws()
    assert raw.status == "processed"
    with site.runtime.sessions() as session:
        event = session.scalars(select(EventRow).where(EventRow.raw_message_id == raw.id)).one()
    assert (event.kind, event.detail["reason"]) == ("not_a_complaint", "honeypot filled")


def test_replay_with_the_same_idempotency_key_is_one_complaint(site):
    first = post_json(site, GOOD, **{"Idempotency-Key": "form-42"})
    again = post_json(
        site, dict(GOOD, message=GOOD["message"] + " (tekrar)"), **{"Idempotency-Key": "form-42"}
    )

    assert first.status_code == again.status_code == 202
    assert again.json()["reference"] == first.json()["reference"]
    assert site.count() == 1
    assert [raw.source_id for raw in site.raws()] == ["idem:form-42"]


def test_the_same_body_twice_without_a_key_is_one_complaint(site):
    body = (FORMS / "form.txt").read_bytes()
    first, again = post_signed(site, body), post_signed(site, body)

    assert again.json()["reference"] == first.json()["reference"]
    assert site.count() == 1


def test_the_submission_after_the_limit_gets_429_with_retry_after(start_site):
    from tests.ingest.webform.site import away_from_minute_edge

    site = start_site(rate_limit_per_minute=3)
    away_from_minute_edge()
    answers = [post_json(site, dict(GOOD, message=f"Şikâyet {n}")) for n in range(4)]

    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert site.count() == 3
    keys = site.runtime.broker.client.keys("intake:ratelimit:webform:127.0.0.1:*")
    assert keys, "counted in Redis, shared by every process"


def test_a_forged_x_forwarded_for_does_not_get_past_the_rate_limit(start_site):
    """The limit counts the peer's own address unless it is a proxy the settings name
    (issue 11, defect 9): a made-up X-Forwarded-For per request changes nothing."""
    from tests.ingest.webform.site import away_from_minute_edge

    site = start_site(rate_limit_per_minute=3)
    away_from_minute_edge()
    answers = []
    for n in range(4):
        body = json.dumps(dict(GOOD, message=f"Şikâyet {n}")).encode()
        answers.append(
            site.http.post(
                PATH,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Intake-Signature": sign(body),
                    "X-Forwarded-For": f"203.0.113.{n + 1}",
                },
            )
        )
    assert [a.status_code for a in answers] == [202, 202, 202, 429]


def test_personal_data_is_not_logged(site, caplog):
    caplog.set_level(logging.DEBUG)
    post_json(site, GOOD, **{"Idempotency-Key": "mehmet.kaya@example.com"})

    assert site.count() == 1
    assert "mehmet.kaya@example.com" not in caplog.text
    assert "0532 123 45 67" not in caplog.text
