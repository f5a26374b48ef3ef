"""Every channel at once on real servers: e-mail, Telegram, X, the web form and the desk API.

Given one message on each channel, when the pipeline and real Dramatiq workers on a real Redis
have run, then each message is one complaint, its unit's SMTP inbox holds its ticket, and the
complainant is acknowledged with the reference on the channel they used.
"""

from __future__ import annotations

import json
import time

import dramatiq
import httpx
import pytest
from sqlalchemy import select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from ingest.channels.twitter.pollers import MentionsPoller
from ingest.webhooks import HttpServer
from outbound.broker import make_broker
from outbound.jobs import ACK_QUEUE
from store.models import ComplaintRow
from tests.conftest import DATA, free_port, make_settings
from tests.ingest.telegram.conftest import TOKEN, poll, update
from tests.ingest.telegram.fake_api import FakeBotAPI, ServerThread
from tests.ingest.twitter.conftest import SECRETS as X_SECRETS
from tests.ingest.twitter.conftest import load as load_x
from tests.ingest.twitter.fake_x import FakeX, FakeXServer
from tests.ingest.webform.site import API_TOKEN, ENVIRONMENT, signed_headers

pytestmark = pytest.mark.system


@pytest.fixture
def fakes():
    bot = FakeBotAPI(TOKEN)
    bot_port = free_port()
    bot_server = ServerThread(bot.app(), bot_port)
    bot_server.start_serving()
    bot.base_url = f"http://127.0.0.1:{bot_port}/bot"
    x = FakeX()
    for user in load_x("mentions.json")["users"]:
        x.add_user(user)
    x_server = FakeXServer(x, free_port())
    x_server.start()
    yield bot, x
    bot_server.stop()
    x_server.stop()


@pytest.fixture
def everything(tmp_path, store_url, redis_url, smtp, fakes, make_runtime, monkeypatch):
    inbox, port = smtp
    bot, x = fakes
    for name, value in {**ENVIRONMENT, **X_SECRETS, "TEST_TG_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(
        tmp_path,
        store={"url": store_url},
        smtp={"host": "127.0.0.1", "port": port},
        http={"listen": f"127.0.0.1:{free_port()}"},
        telegram={
            "enabled": True,
            "token_env": "TEST_TG_TOKEN",
            "base_url": bot.base_url,
            "poll_timeout_seconds": 0,
            "timeout_seconds": 5.0,
        },
        twitter={"enabled": True, "user_id": x.desk_id, "api_base": x.base, "timeout_seconds": 5.0},
    )
    broker = make_broker(settings, redis_url)
    runtime = make_runtime(settings, broker=broker)
    server = HttpServer(runtime)
    server.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and server.is_alive()
        time.sleep(0.02)
    yield runtime, inbox, bot, x
    server.stop()
    server.join(15)
    broker.close()


def run_workers_until_idle(runtime) -> None:
    worker = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        for queue in [u.queue for u in runtime.settings.unit] + [ACK_QUEUE]:
            runtime.broker.join(queue, timeout=60_000)
        worker.join()
    finally:
        worker.stop()


def test_one_message_on_every_channel_reaches_its_unit_and_is_acknowledged_there(everything):
    runtime, inbox, bot, x = everything
    base = f"http://{runtime.settings.http.listen}"

    # e-mail (as an MTA hands it over)
    mail = pipeline.ingest(
        runtime, [raw_from_bytes((DATA / "system" / "legacy_1254.eml").read_bytes())]
    ).outcomes()[0]
    # Telegram (polled)
    bot.push(update("private_text"))
    assert poll(runtime) == 1
    # X (a mention, polled)
    x.mentions.append(load_x("mention.json")["tweet"])
    assert MentionsPoller(runtime).run_once().created == 1
    # the web form (signed JSON)
    form = json.dumps(
        {
            "name": "Deniz Ak",
            "email": "deniz@example.com",
            "subject": "SSL",
            "message": "SSL sertifikamın doğrulama e-postası gelmedi.",
            "kvkk_consent": True,
        }
    ).encode()
    answer = httpx.post(
        f"{base}/webhooks/webform",
        content=form,
        headers={"Content-Type": "application/json", **signed_headers(form)},
    )
    assert answer.status_code == 202, answer.text
    # the desk API (a call-centre entry)
    entry = httpx.post(
        f"{base}/api/entries",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        json={
            "channel": "phone",
            "name": "Murat Er",
            "email": "murat@example.com",
            "text": "Zaman damgası kontörü yanlış düşülmüş, fatura istiyor.",
        },
    )
    assert entry.status_code == 201, entry.text

    run_workers_until_idle(runtime)

    with runtime.sessions() as session:
        rows = {row.channel: row for row in session.scalars(select(ComplaintRow))}
    assert set(rows) == {"email", "telegram", "twitter", "webform", "phone"}
    assert rows["email"].reference == mail.reference
    assert answer.json()["reference"] == rows["webform"].reference
    assert entry.json()["reference"] == rows["phone"].reference
    units = {u.code: u.email for u in runtime.settings.unit}
    for row in rows.values():
        tickets = [
            m
            for m in inbox.to(units[row.unit])
            if m["X-Intake-Ref"] == row.reference and "ticket" in m["Message-ID"]
        ]
        assert len(tickets) == 1, row.channel
        assert (row.delivery_state, row.ack_state) == ("sent", "sent"), row.channel
    # acknowledged on the channel each complainant used
    assert [m["Subject"] for m in inbox.to("sule.sahin@example.com.tr")][0].startswith(
        f"[#{rows['email'].reference}]"
    )
    assert len(inbox.to("deniz@example.com")) == 1 and len(inbox.to("murat@example.com")) == 1
    assert [s for s in bot.sent if rows["telegram"].reference in s["text"]]
    replies = [p for p in x.posted if rows["twitter"].reference in p["text"]]
    assert (
        len(replies) == 1 and "@" in replies[0]["text"] and "example.com" not in replies[0]["text"]
    )
