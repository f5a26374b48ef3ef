"""The desk API over real HTTP: entries typed by call-centre staff and petitions forwarded by
CİMER/TÜBİMER become complaints; a petition entered twice is one complaint."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from store.models import EventRow, RawMessageRow
from tests.conftest import TEST_NOW
from tests.ingest.webform.site import API_TOKEN

PATH = "/api/entries"
CALL = {
    "channel": "phone",
    "name": "Hasan Demir",
    "email": "hasan.demir@example.com",
    "phone": "0312 555 12 34",
    "subject": "E-imza yenileme",
    "text": "Nitelikli elektronik sertifikamın süresi doldu, yenileme başvurum ilerlemiyor.",
    "product": "nes",
}
PETITION = {
    "channel": "cimer",
    "petition_number": "2026-104857",
    "name": "Elif Şahin",
    "email": "elif.sahin@example.com",
    "text": "Mali mühür başvurum iki haftadır sonuçlanmadı.",
    "received_at": "2026-03-02T10:15:00+03:00",
}


def post(site, entry: dict, token: str | None = API_TOKEN, **headers: str):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return site.http.post(PATH, json=entry, headers=headers)


def test_phone_entry_is_a_routed_complaint_owed_an_email_acknowledgement(start_site, store_url):
    site = start_site(store_url)
    response = post(site, CALL)

    assert response.status_code == 201, response.text
    complaint = site.complaint(response.json()["reference"])
    assert (complaint.channel, complaint.product, complaint.unit) == (
        "phone",
        "nes",
        "certificate_operations",
    )
    assert complaint.complainant_email == "hasan.demir@example.com"
    assert complaint.ack_state == "pending" and complaint.ack_enqueued_at is not None
    [raw] = site.raws()
    assert raw.transport == {"operator": "call_centre"}
    assert raw.source_id.startswith("entry:")
    with site.runtime.sessions() as session:
        received = session.scalars(
            select(EventRow).where(
                EventRow.complaint_id == complaint.id, EventRow.kind == "received"
            )
        ).one()
    assert "entered by call_centre" in received.detail["notes"]


def test_entry_without_an_address_owes_no_acknowledgement(site):
    response = post(site, {k: v for k, v in CALL.items() if k != "email"})

    assert response.status_code == 201
    assert site.complaint(response.json()["reference"]).ack_state == "no_address"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-token", "Bearer", f"Basic {API_TOKEN}"]
)
def test_without_the_right_token_it_is_401_and_nothing_is_stored(site, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = post(site, CALL, token=None, **headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert site.count(RawMessageRow) == 0


def test_cimer_petition_runs_on_the_30_day_clock_and_is_entered_once(start_site, store_url):
    site = start_site(store_url)
    first = post(site, PETITION)
    again = post(site, dict(PETITION, text="Aynı dilekçe, ikinci kez girildi."))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["reference"] == first.json()["reference"]
    complaint = site.complaint(first.json()["reference"])
    received = datetime(2026, 3, 2, 7, 15, tzinfo=timezone.utc)
    assert complaint.received_at == received
    assert complaint.due_at == received + timedelta(days=30)
    assert complaint.source_id == "2026-104857"
    assert site.count() == 1


def test_tubimer_petition_with_the_same_number_is_another_complaint(site):
    cimer = post(site, PETITION)
    tubimer = post(site, dict(PETITION, channel="tubimer"))

    assert (cimer.status_code, tubimer.status_code) == (201, 201)
    assert cimer.json()["reference"] != tubimer.json()["reference"]
    assert site.complaint(tubimer.json()["reference"]).channel == "tubimer"


def test_phone_entry_sent_twice_with_its_idempotency_key_is_one_complaint(site):
    first = post(site, CALL, **{"Idempotency-Key": "call-7781"})
    again = post(site, CALL, **{"Idempotency-Key": "call-7781"})
    respaced = site.http.post(
        PATH,
        content=json.dumps(dict(reversed(list(CALL.items()))), indent=2).encode(),
        headers={"Authorization": f"Bearer {API_TOKEN}", "Idempotency-Key": "call-7781"},
    )

    assert (first.status_code, again.status_code, respaced.status_code) == (201, 200, 200)
    assert again.json()["reference"] == first.json()["reference"]
    assert respaced.json()["reference"] == first.json()["reference"]
    assert [raw.source_id for raw in site.raws()] == ["entry:call_centre:call-7781"]


@pytest.mark.parametrize(
    "change",
    [{"text": "Başka bir arama: kart okuyucum tanınmıyor."}, {"channel": "face_to_face"}],
)
def test_an_idempotency_key_sent_again_with_another_entry_is_409_and_nothing_is_stored(
    site, change
):
    first = post(site, CALL, **{"Idempotency-Key": "call-7781"})
    stored_events = site.count(EventRow)
    again = post(site, {**CALL, **change}, **{"Idempotency-Key": "call-7781"})

    assert first.status_code == 201
    assert again.status_code == 409
    assert "Idempotency-Key" in again.json()["error"] and "reference" not in again.json()
    assert site.count() == 1
    [raw] = site.raws()
    assert json.loads(raw.payload) == CALL
    assert site.count(EventRow) == stored_events


def test_one_operators_key_sent_by_another_does_not_get_its_reference(start_site, monkeypatch):
    """Keys were global: an operator (or system) that sent another's key got that one's
    reference back, and its own entry was dropped. Now a key counts per API token."""
    monkeypatch.setenv("INTAKE_API_TOKEN_FRONT_DESK", "front-desk-test-token")
    site = start_site(
        api_tokens={
            "call_centre": "INTAKE_API_TOKEN_CALL_CENTRE",
            "front_desk": "INTAKE_API_TOKEN_FRONT_DESK",
        }
    )
    front_desk = "front-desk-test-token"
    mine = post(site, CALL, **{"Idempotency-Key": "42"})
    same_key_and_body = post(site, CALL, token=front_desk, **{"Idempotency-Key": "42"})
    again = post(site, CALL, token=front_desk, **{"Idempotency-Key": "42"})

    assert (mine.status_code, same_key_and_body.status_code, again.status_code) == (201, 201, 200)
    assert same_key_and_body.json()["reference"] != mine.json()["reference"]
    assert again.json()["reference"] == same_key_and_body.json()["reference"]
    assert site.count() == 2
    assert {raw.transport["operator"] for raw in site.raws()} == {"call_centre", "front_desk"}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"channel": "fax"}, "channel"),
        ({"text": ""}, "text"),
        ({"email": "hasan@"}, "email"),
        ({"product": "uydu"}, "product"),
        ({"channel": "cimer"}, "petition_number"),
        ({"received_at": "dün öğleden sonra"}, "received_at"),
        ({"received_at": (TEST_NOW + timedelta(days=1)).isoformat()}, "received_at"),
        ({"received_at": "0001-01-01T00:00:00+03:00"}, "received_at"),  # was a 500
        ({"received_at": "1900-03-02T10:15:00+03:00"}, "received_at"),  # was CMP-1900-…
    ],
)
def test_invalid_entries_are_422_with_the_field_errors(site, change, field):
    response = post(site, {**CALL, **change})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]
    assert site.count(RawMessageRow) == 0


def test_a_body_that_is_not_json_is_400(site):
    response = site.http.post(
        PATH,
        content=b"text=merhaba",
        headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_a_local_time_without_a_zone_is_istanbul_time(site):
    response = post(site, dict(PETITION, received_at="2026-03-02T10:15:00"))

    complaint = site.complaint(response.json()["reference"])
    assert complaint.received_at == datetime(2026, 3, 2, 7, 15, tzinfo=timezone.utc)


def test_guessing_tokens_is_throttled_per_client_and_the_right_token_still_passes(site):
    """Ten wrong tokens lock their address out of guessing, not the operator whose token is
    right (issue 11, defect 9): a valid token is never refused for what others sent."""
    from ingest.channels.desk import AUTH_FAILURES_PER_MINUTE
    from tests.ingest.webform.site import away_from_minute_edge

    away_from_minute_edge()
    for _ in range(AUTH_FAILURES_PER_MINUTE):
        assert post(site, CALL, token="guess").status_code == 401
    locked = post(site, CALL, token="guess")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert post(site, CALL).status_code == 201
    assert site.count(RawMessageRow) == 1


def test_each_token_has_a_limit_of_its_own_wherever_it_comes_from(start_site, monkeypatch):
    from tests.ingest.webform.site import away_from_minute_edge

    monkeypatch.setenv("INTAKE_API_TOKEN_FRONT_DESK", "front-desk-test-token")
    site = start_site(
        api_tokens={
            "call_centre": ("INTAKE_API_TOKEN_CALL_CENTRE", 2),
            "front_desk": ("INTAKE_API_TOKEN_FRONT_DESK", 600),
        }
    )
    away_from_minute_edge()
    calls = [post(site, {**CALL, "text": f"{CALL['text']} ({n})"}) for n in range(3)]
    other = post(site, CALL, token="front-desk-test-token")

    assert [r.status_code for r in calls] == [201, 201, 429]
    assert int(calls[-1].headers["Retry-After"]) >= 1
    assert other.status_code == 201
