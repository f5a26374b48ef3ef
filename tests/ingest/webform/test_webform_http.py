"""The web form over real HTTP (uvicorn on loopback, real Redis, real store): good, forged,
oversized, malformed, replayed and rate-limited submissions. Refusals store nothing; whatever
passes the edge is stored raw before anything else."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re

import httpx
import pytest
from sqlalchemy import select

from store.models import AttachmentRow, BlobRow, EventRow, RawMessageRow
from tests.conftest import DATA
from tests.ingest.webform.site import FORM_TOKEN, SECRET, now_stamp, sign, signed_headers

FORMS = DATA / "webform"
PATH = "/webhooks/webform"
URLENCODED = "application/x-www-form-urlencoded"
REFERENCE = re.compile(r"CMP-\d{4}-\d{6}")
GOOD = json.loads((FORMS / "good.json").read_text(encoding="utf-8"))


def post_signed(
    site, body: bytes, content_type: str = URLENCODED, timestamp: int | None = None, **headers: str
):
    """Signed as the website signs: the timestamp (now, unless given) and the Idempotency-Key
    (when one is among `headers`) with the body."""
    signed = signed_headers(body, headers.pop("Idempotency-Key", None), timestamp=timestamp)
    return site.http.post(
        PATH, content=body, headers={"Content-Type": content_type, **signed, **headers}
    )


def post_json(site, data: dict, timestamp: int | None = None, **headers: str):
    return post_signed(site, json.dumps(data).encode(), "application/json", timestamp, **headers)


def send(site, body: bytes, headers: dict[str, str], content_type: str = "application/json"):
    """Send `body` with exactly these headers (a captured request, sent again)."""
    return site.http.post(PATH, content=body, headers={"Content-Type": content_type, **headers})


def events(site) -> int:
    return site.count(EventRow)


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
    request.headers.update(signed_headers(body))

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
        headers={"Content-Type": URLENCODED, **signed_headers(body, key="not-the-secret")},
    )

    assert response.status_code == 403
    assert "signature" in response.json()["error"]
    assert site.count(RawMessageRow) == 0


def test_signature_over_another_body_is_403(site):
    body = (FORMS / "form.txt").read_bytes()
    response = site.http.post(
        PATH,
        content=body + b"&x=1",
        headers={"Content-Type": URLENCODED, **signed_headers(body)},
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
            "X-Intake-Timestamp": now_stamp(),
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
        headers={"Content-Type": URLENCODED, **signed_headers(body)},
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
        headers={"Content-Type": URLENCODED, **signed_headers(b"".join(chunks))},
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


def test_the_same_key_and_body_again_is_the_same_reference_and_one_complaint(site):
    """The site's retry, signed anew or sent again as it was: its key makes it the same."""
    body = json.dumps(GOOD).encode()
    first_headers = signed_headers(body, "form-42", timestamp=int(now_stamp()) - 5)
    first = send(site, body, first_headers)
    resigned = send(site, body, signed_headers(body, "form-42"))
    as_it_was = send(site, body, first_headers)

    assert [a.status_code for a in (first, resigned, as_it_was)] == [202, 202, 202]
    assert first.json()["reference"] == resigned.json()["reference"]
    assert first.json()["reference"] == as_it_was.json()["reference"]
    assert site.count() == 1
    assert [raw.source_id for raw in site.raws()] == ["idem:site:form-42"]


def test_the_same_key_with_another_body_is_409_and_nothing_new_is_stored(site):
    """Before, the old reference came back and the new text was dropped without a word."""
    first = post_json(site, GOOD, **{"Idempotency-Key": "form-42"})
    stored_events = events(site)
    changed = dict(GOOD, message=GOOD["message"] + " (tekrar, başka bir şikâyet)")
    again = post_json(site, changed, **{"Idempotency-Key": "form-42"})

    assert first.status_code == 202
    assert again.status_code == 409
    assert "Idempotency-Key" in again.json()["error"] and "reference" not in again.json()
    assert site.count() == 1
    [raw] = site.raws()
    assert json.loads(raw.payload) == GOOD
    assert events(site) == stored_events  # not even a "received again"


def test_the_same_submission_encoded_anew_under_its_key_is_not_a_conflict(site):
    """A retry whose JSON is spaced and ordered differently is still the same submission."""
    first = post_json(site, GOOD, **{"Idempotency-Key": "form-7"})
    respaced = json.dumps(dict(reversed(list(GOOD.items()))), indent=2).encode()
    again = post_signed(site, respaced, "application/json", **{"Idempotency-Key": "form-7"})

    assert again.status_code == 202, again.text
    assert again.json()["reference"] == first.json()["reference"]
    assert site.count() == 1


def test_a_captured_signed_request_sent_again_under_a_new_key_is_refused(site):
    """The replay of issue 11, defect 6: the same signed body with a fresh Idempotency-Key
    made a new complaint each time. The key is signed now: another key breaks the signature."""
    body = json.dumps(GOOD).encode()
    captured = signed_headers(body, "form-1")
    assert send(site, body, captured).status_code == 202

    for key in ("form-2", "form-3"):
        replayed = send(site, body, {**captured, "Idempotency-Key": key})
        assert replayed.status_code == 403
        assert "signature does not match" in replayed.json()["error"]
    without_key = {k: v for k, v in captured.items() if k != "Idempotency-Key"}
    assert send(site, body, without_key).status_code == 403

    assert site.count() == 1
    assert len(site.raws()) == 1


def test_an_exact_replay_without_a_key_is_refused_within_its_window(site):
    body = json.dumps(GOOD).encode()
    captured = signed_headers(body)
    assert send(site, body, captured).status_code == 202

    replayed = send(site, body, captured)

    assert replayed.status_code == 403
    assert "received before" in replayed.json()["error"]
    assert len(site.raws()) == 1
    assert site.runtime.broker.client.keys("intake:seen:webform-signature:*"), "kept in Redis"


def test_a_signed_request_that_was_not_stored_may_be_sent_again(site):
    """A 422 stores nothing, so its signature is not used up (the sender may send it again)."""
    body = json.dumps(dict(GOOD, message="  ")).encode()
    headers = signed_headers(body)

    assert send(site, body, headers).status_code == 422
    assert send(site, body, headers).status_code == 422


@pytest.mark.parametrize("offset, status", [(-301, 403), (301, 403), (-300, 202), (300, 202)])
def test_a_timestamp_beyond_the_window_is_refused(site, clock, offset, status):
    """`[webform] signature_max_age_seconds` (300) either side of our clock (the test clock
    stands still here); a request captured and sent ten minutes later is refused too."""
    now = int(clock().timestamp())
    response = post_json(site, GOOD, timestamp=now + offset)

    assert response.status_code == status, response.text
    if status == 403:
        assert "X-Intake-Timestamp" in response.json()["error"]
        assert "300 s" in response.json()["error"]
        assert site.count(RawMessageRow) == 0


def test_a_request_captured_and_sent_later_is_refused(site, clock):
    from datetime import timedelta

    body = json.dumps(GOOD).encode()
    captured = signed_headers(body, "form-9")
    clock.set(clock() + timedelta(minutes=10))

    late = send(site, body, captured)

    assert late.status_code == 403 and "old" in late.json()["error"]
    assert site.count(RawMessageRow) == 0


def test_a_body_only_signature_is_refused_once_the_site_signs_the_timestamp(start_site):
    """With `accept_body_only_signature = false`, the HMAC of the body alone is refused, with
    or without a timestamp."""
    site = start_site(accept_body_only_signature=False)
    body = json.dumps(GOOD).encode()
    old = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    untimed = send(site, body, {"X-Intake-Signature": old})
    timed = send(site, body, {"X-Intake-Signature": old, "X-Intake-Timestamp": now_stamp()})

    assert untimed.status_code == 401
    assert "missing X-Intake-Timestamp" in untimed.json()["error"]
    assert timed.status_code == 403
    assert site.count(RawMessageRow) == 0


def test_a_body_only_signature_is_taken_and_its_replay_under_new_keys_is_one_complaint(site):
    """The design's contract (the HMAC of the raw body) holds by default. It covers no key,
    so a captured body sent again with new Idempotency-Keys is the same complaint: the
    body's hash is its identity, the unsigned keys are ignored."""
    body = json.dumps(GOOD).encode()
    old = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    first = send(site, body, {"X-Intake-Signature": old})
    replays = [
        send(site, body, {"X-Intake-Signature": old, "Idempotency-Key": f"new-{n}"})
        for n in range(3)
    ]
    wrong = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    forged = send(site, body, {"X-Intake-Signature": wrong})
    other = dict(GOOD, message="Başka bir şikâyet, aynı imzayla değil.")
    other_body = json.dumps(other).encode()
    second = send(
        site,
        other_body,
        {
            "X-Intake-Signature": "sha256="
            + hmac.new(SECRET.encode(), other_body, hashlib.sha256).hexdigest()
        },
    )

    assert first.status_code == 202 and {r.status_code for r in replays} == {202}
    assert {r.json()["reference"] for r in replays} == {first.json()["reference"]}
    assert forged.status_code == 403
    assert second.status_code == 202 and second.json()["reference"] != first.json()["reference"]
    assert site.count() == 2


@pytest.mark.parametrize("stamp", ["soon", "-5", "1e9", "17000000000000"])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(site, stamp):
    body = json.dumps(GOOD).encode()
    response = send(
        site, body, {"X-Intake-Timestamp": stamp, "X-Intake-Signature": sign(body, timestamp=stamp)}
    )

    assert response.status_code == 403
    assert "unix seconds" in response.json()["error"]
    assert site.count(RawMessageRow) == 0


def test_the_same_body_twice_without_a_key_is_one_complaint(site):
    body = (FORMS / "form.txt").read_bytes()
    earlier = int(now_stamp()) - 1
    first, again = post_signed(site, body, timestamp=earlier), post_signed(site, body)

    assert first.status_code == again.status_code == 202
    assert again.json()["reference"] == first.json()["reference"]
    assert site.count() == 1


def plain_form(site, body: bytes, key: str, address: str = "127.0.0.1"):
    """A plain HTML form's post (its token, no signature) from the client `address`."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=site.url, transport=transport, timeout=30) as client:
        return client.post(
            PATH,
            content=body + f"&form_token={FORM_TOKEN}".encode(),
            headers={"Content-Type": URLENCODED, "Idempotency-Key": key},
        )


def test_one_clients_key_sent_by_another_client_does_not_get_its_reference(site):
    """Keys were global: a client that sent another's key got that client's reference back.
    Now a key counts within its client: the signed site, or a plain form's address."""
    body = (FORMS / "form.txt").read_bytes()
    signed = post_signed(site, body, **{"Idempotency-Key": "k-1"})
    from_a = plain_form(site, body, "k-1", "127.0.0.1")
    from_b = plain_form(site, body, "k-1", "127.0.0.2")
    from_b_again = plain_form(site, body, "k-1", "127.0.0.2")

    assert [r.status_code for r in (signed, from_a, from_b, from_b_again)] == [202] * 4
    references = [r.json()["reference"] for r in (signed, from_a, from_b)]
    assert len(set(references)) == 3, references
    assert from_b_again.json()["reference"] == from_b.json()["reference"]
    assert site.count() == 3
    assert site.raws()[2].transport["client"] == "127.0.0.2"


def plain_forms(site, count: int, **headers: str) -> list[httpx.Response]:
    """`count` different plain-form submissions from 127.0.0.1."""
    body = (FORMS / "form.txt").read_bytes() + f"&form_token={FORM_TOKEN}".encode()
    return [
        site.http.post(
            PATH,
            content=body.replace(b"message=", f"message={n}+".encode(), 1),
            headers={"Content-Type": URLENCODED, **headers},
        )
        for n in range(count)
    ]


def test_the_plain_form_after_the_limit_gets_429_with_retry_after(start_site):
    from tests.ingest.webform.site import away_from_minute_edge

    site = start_site(rate_limit_per_minute=3)
    away_from_minute_edge()
    answers = plain_forms(site, 4)

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
    body = (FORMS / "form.txt").read_bytes() + f"&form_token={FORM_TOKEN}".encode()
    answers = [
        site.http.post(
            PATH,
            content=body.replace(b"message=", f"message={n}+".encode(), 1),
            headers={"Content-Type": URLENCODED, "X-Forwarded-For": f"203.0.113.{n + 1}"},
        )
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]


def test_the_signed_site_is_one_credential_with_its_own_limit(start_site):
    """All of the site's traffic comes from its backend's one address: it is limited as the
    site, not as that address (issue 11, defect 9): past the per-address 3, up to its own 5."""
    from tests.ingest.webform.site import away_from_minute_edge

    site = start_site(rate_limit_per_minute=3, signed_rate_limit_per_minute=5)
    away_from_minute_edge()
    answers = [post_json(site, dict(GOOD, message=f"Şikâyet {n}")) for n in range(6)]

    assert [a.status_code for a in answers] == [202] * 5 + [429]
    assert site.count() == 5


def test_failed_signatures_are_throttled_per_address_and_a_valid_one_still_passes(start_site):
    from tests.ingest.webform.site import away_from_minute_edge

    site = start_site(rate_limit_per_minute=3)
    away_from_minute_edge()
    body = json.dumps(GOOD).encode()
    forged = [send(site, body, signed_headers(body, key="guessed")) for _ in range(4)]
    valid = post_json(site, GOOD)

    assert [r.status_code for r in forged] == [403, 403, 403, 429]
    assert valid.status_code == 202 and site.count() == 1


def test_personal_data_is_not_logged(site, caplog):
    caplog.set_level(logging.DEBUG)
    post_json(site, GOOD, **{"Idempotency-Key": "mehmet.kaya@example.com"})

    assert site.count() == 1
    assert "mehmet.kaya@example.com" not in caplog.text
    assert "0532 123 45 67" not in caplog.text
