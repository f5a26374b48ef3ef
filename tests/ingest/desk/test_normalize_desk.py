"""The pure half of the desk: an entry's field rules and the complaint it makes."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from ingest.channels.desk import InvalidEntry, build_raw, token_owner
from intake.errors import PermanentError
from intake.settings import ApiTokenSettings, Settings
from normalize.desk import normalize_desk

WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


def entry(**fields: object) -> bytes:
    return json.dumps({"channel": "phone", "text": "Kartım çalışmıyor", **fields}).encode()


def test_the_operator_is_noted_and_the_channel_taken_from_the_entry():
    result = normalize_desk(
        entry(channel="face_to_face", name="Ali", product="kart_okuyucu"),
        operator="front_desk",
        received_at=WHEN,
    )

    assert result.complaint.channel == "face_to_face"
    assert result.complaint.complainant.name == "Ali"
    assert result.complaint.product == "kart_okuyucu"
    assert result.notes == ("entered by front_desk",)


@pytest.mark.parametrize("payload", [b"{", entry(channel="fax"), entry(text="  ")])
def test_a_stored_entry_that_cannot_be_read_is_a_permanent_error(payload):
    with pytest.raises(PermanentError):
        normalize_desk(payload, operator="x", received_at=WHEN)


def test_petition_number_is_the_dedupe_key_and_other_entries_get_their_own():
    settings = Settings()
    petition = build_raw(entry(channel="cimer", petition_number="123"), "op", settings)
    call = build_raw(entry(), "op", settings)
    keyed = build_raw(entry(), "op", settings, idempotency_key="k1")

    assert (petition.channel, petition.source_id) == ("cimer", "123")
    assert call.source_id.startswith("entry:") and len(call.source_id) > 10
    assert keyed.source_id == "entry:op:k1"  # the operator's key: another's is another
    assert build_raw(entry(), "o:p", settings, idempotency_key="k1").source_id == "entry:o%3Ap:k1"


def test_field_rules_name_every_field_at_fault():
    with pytest.raises(InvalidEntry) as caught:
        build_raw(entry(channel="tubimer", text="", email="x"), "op", Settings())
    assert set(caught.value.errors) == {"petition_number", "text", "email"}


def test_bearer_token_names_its_operator(monkeypatch):
    monkeypatch.setenv("TOKEN_A", "alpha")
    monkeypatch.setenv("TOKEN_B", "bravo")
    settings = Settings(
        api_token=(
            ApiTokenSettings("call_centre", "TOKEN_A"),
            ApiTokenSettings("cimer_desk", "TOKEN_B"),
            ApiTokenSettings("unset", "TOKEN_UNSET"),
        )
    )

    assert token_owner("Bearer bravo", settings) == "cimer_desk"
    assert token_owner("bearer alpha", settings) == "call_centre"
    assert token_owner("Bearer charlie", settings) is None
    assert token_owner("Basic alpha", settings) is None
    assert token_owner("Bearer ", settings) is None
    assert token_owner(None, settings) is None
