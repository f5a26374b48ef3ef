"""Telegram's webhook: POST /webhooks/telegram, served by the intake app under uvicorn.

Given `[telegram] mode = "webhook"`, when Telegram (or anyone) posts to the route, then only
a request with the secret token is read (403 otherwise), a malformed body is refused with
400/413 and stores nothing, and a valid update is stored like a polled one.
"""

from __future__ import annotations

import json

import httpx
import pytest

from ingest.channels.telegram.poller import feeds
from ingest.webhooks import make_app
from tests.conftest import free_port
from tests.ingest.telegram.conftest import SECRET, complaints, raws, update
from tests.ingest.telegram.fake_api import ServerThread

HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def webhook(telegram_runtime, bot_api):
    """(runtime, URL of the webhook) with the intake app served on loopback."""
    runtime = telegram_runtime(mode="webhook")
    port = free_port()
    server = ServerThread(make_app(runtime), port)
    server.start_serving()
    try:
        yield runtime, f"http://127.0.0.1:{port}/webhooks/telegram"
    finally:
        server.stop()


def post(url: str, body: bytes, secret: str | bytes | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    return httpx.post(url, content=body, headers=headers, timeout=10)


def body_of(name: str) -> bytes:
    return json.dumps(update(name), ensure_ascii=False).encode()


def test_an_update_with_the_secret_is_a_complaint(webhook, bot_api):
    runtime, url = webhook
    response = post(url, body_of("private_text"))

    assert response.status_code == 200 and response.json()["status"] == "created"
    [complaint] = complaints(runtime)
    assert complaint.source_id == "512345678:11"
    assert post(url, body_of("private_text")).json()["status"] == "duplicate"


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x", "şifre".encode()])
def test_a_forged_update_is_refused(webhook, secret):
    runtime, url = webhook
    response = post(url, body_of("private_text"), secret=secret)

    assert response.status_code == 403
    assert "Secret-Token" in response.json()["error"]
    assert raws(runtime) == []


DEEP = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"message": {}}', DEEP])
def test_a_malformed_body_is_refused_and_nothing_stored(webhook, body):
    runtime, url = webhook
    response = post(url, body)

    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert raws(runtime) == []


def test_a_body_over_one_megabyte_is_refused(webhook):
    runtime, url = webhook
    data = update("private_text", text="x" * (2**20))
    assert post(url, json.dumps(data).encode()).status_code == 413
    assert raws(runtime) == []


def test_group_talk_is_acknowledged_to_telegram_but_not_stored(webhook):
    runtime, url = webhook
    response = post(url, body_of("group_no_mention"))
    assert response.status_code == 200 and response.json()["status"] == "skipped"
    assert raws(runtime) == []


def test_when_telegram_fails_the_update_is_asked_for_again(webhook, bot_api):
    runtime, url = webhook
    bot_api.add_file("doc-1", b"%PDF-1.4", "documents/file_8.pdf")
    bot_api.fail("getFile", 502)

    assert post(url, body_of("document")).status_code == 503  # Telegram delivers it again
    assert raws(runtime) == []
    assert post(url, body_of("document")).status_code == 200
    assert len(complaints(runtime)) == 1


def test_webhook_mode_runs_no_poller(webhook):
    runtime, _ = webhook
    assert feeds(runtime) == []


def test_intake_registers_the_webhook_with_its_secret_and_removes_it(bot_api, telegram_runtime):
    from ingest.channels.telegram import set_webhook
    from tests.ingest.telegram.conftest import SECRET

    runtime = telegram_runtime(mode="webhook")
    set_webhook(runtime.settings.telegram, "https://desk.example.org/webhooks/telegram")
    assert bot_api.webhook["url"] == "https://desk.example.org/webhooks/telegram"
    assert bot_api.webhook["secret_token"] == SECRET
    set_webhook(runtime.settings.telegram, None)
    assert bot_api.webhook is None
