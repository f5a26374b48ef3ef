"""Hostile input through the real receivers (uvicorn on loopback, real stores, aiosmtpd):
malformed JSON and MIME, header injection, markup in the console, a stranger naming
somebody else's complaint (issue 11, hostile input).

Whatever arrives, the answer is a clear refusal (400/413/415/422) or a recorded rejection,
never a 500 or a crash, and the next good input is taken as usual.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import func, select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from ingest.webhooks import HttpServer
from intake.runtime import Runtime
from store.models import ComplaintRow, RawMessageRow
from tests.conftest import DATA, free_port, make_settings
from tests.ingest.telegram.fake_api import FakeBotAPI, ServerThread

FORM_TOKEN = "hostile-form-token"
API_TOKEN = "hostile-api-token"
TG_TOKEN = "123456:hostile-tests"
TG_SECRET = "hostile-telegram-secret"
GOOD_FORM = {
    **json.loads((DATA / "webform" / "good.json").read_text(encoding="utf-8")),
    "form_token": FORM_TOKEN,
}
GOOD_ENTRY = {
    "channel": "phone",
    "name": "Hasan Demir",
    "email": "hasan.demir@example.com",
    "subject": "E-imza yenileme",
    "text": "Nitelikli elektronik sertifikamın süresi doldu, yenileme başvurum ilerlemiyor.",
    "product": "nes",
}
GOOD_UPDATE = json.loads((DATA / "telegram" / "private_text.json").read_text(encoding="utf-8"))
GOOD_MAIL = (DATA / "system" / "plain_tr.eml").read_bytes()
DEEP = "[" * 100_000 + "]" * 100_000


# --- The receivers ----------------------------------------------------------------------------


class Receivers:
    """The web form, the desk API and Telegram's webhook on one loopback port."""

    def __init__(self, runtime: Runtime, url: str) -> None:
        self.runtime, self.url = runtime, url
        self.http = httpx.Client(base_url=url, timeout=30)
        self.update_id = 500_000

    def form(self, body: bytes, content_type: str = "application/json") -> httpx.Response:
        return self.http.post(
            "/webhooks/webform", content=body, headers={"Content-Type": content_type}
        )

    def entry(self, body: bytes, content_type: str = "application/json") -> httpx.Response:
        headers = {"Content-Type": content_type, "Authorization": f"Bearer {API_TOKEN}"}
        return self.http.post("/api/entries", content=body, headers=headers)

    def telegram(self, body: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        return self.http.post("/webhooks/telegram", content=body, headers=headers)

    def good_update(self, **message: Any) -> dict[str, Any]:
        """A private text update, each with its own update and message id."""
        self.update_id += 1
        data = copy.deepcopy(GOOD_UPDATE)
        data["update_id"] = self.update_id
        data["message"]["message_id"] = self.update_id
        data["message"].update(message)
        return data

    def complaints(self) -> int:
        with self.runtime.sessions() as session:
            return session.scalar(select(func.count()).select_from(ComplaintRow)) or 0

    def raws(self) -> list[RawMessageRow]:
        with self.runtime.sessions() as session:
            rows = list(session.scalars(select(RawMessageRow).order_by(RawMessageRow.id)))
            session.expunge_all()
            return rows


@pytest.fixture
def bot_api() -> Iterator[FakeBotAPI]:
    fake = FakeBotAPI(TG_TOKEN)
    port = free_port()
    server = ServerThread(fake.app(), port)
    server.start_serving()
    fake.base_url = f"http://127.0.0.1:{port}/bot"  # type: ignore[attr-defined]
    try:
        yield fake
    finally:
        server.stop()


@pytest.fixture
def receivers(
    tmp_path: Path, store_url: str, make_runtime, bot_api, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Receivers]:
    monkeypatch.setenv("HOSTILE_FORM_TOKEN", FORM_TOKEN)
    monkeypatch.setenv("INTAKE_API_TOKEN_CALL_CENTRE", API_TOKEN)
    monkeypatch.setenv("HOSTILE_TG_TOKEN", TG_TOKEN)
    monkeypatch.setenv("HOSTILE_TG_SECRET", TG_SECRET)
    port = free_port()
    settings = make_settings(
        tmp_path,
        store={"url": store_url},
        http={"listen": f"127.0.0.1:{port}"},
        webform={"form_token_env": "HOSTILE_FORM_TOKEN", "rate_limit_per_minute": 1000},
        telegram={
            "enabled": True,
            "mode": "webhook",
            "token_env": "HOSTILE_TG_TOKEN",
            "webhook_secret_env": "HOSTILE_TG_SECRET",
            "base_url": bot_api.base_url,
            "timeout_seconds": 2.0,
        },
    )
    runtime = make_runtime(settings)
    server = HttpServer(runtime)
    server.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and server.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    site = Receivers(runtime, f"http://127.0.0.1:{port}")
    try:
        yield site
    finally:
        site.http.close()
        server.stop()
        server.join(15)


def refused_cleanly(response: httpx.Response) -> None:
    assert response.status_code in (400, 413, 415, 422), (response.status_code, response.text)
    assert response.json()  # a JSON answer that says why, not a traceback page


# --- Malformed JSON and MIME ------------------------------------------------------------------

# Whole bodies that are no object, and values put in the text field of a good submission.
BROKEN_BODIES = {
    "truncated": b'{"message": "kart',
    "not utf-8": b"\xff\xfe{}",
    "a list": b'["message"]',
    "a string": b'"message"',
    "null": b"null",
    "empty": b"",
    "deep": DEEP.encode(),
    "bom": b"\xef\xbb\xbf{}",
}
BROKEN_VALUES = {
    "deep": DEEP.encode(),
    "nested object": b'{"a": {"b": 1}}',
    "huge number": b"1" + b"0" * 5000,
    "infinity": b"Infinity",
    "nan": b"NaN",
    "lone surrogate": b'"\\ud800 kart okuyucu"',
    "nul": b'"kart\\u0000okuyucu"',
    "invalid utf-8": b'"kart \xff\xfe okuyucu"',
    "control characters": b'"kart\\u001b[31m\\u0007\\u202e okuyucu"',
}
CASES = [("body", name) for name in BROKEN_BODIES] + [("value", name) for name in BROKEN_VALUES]


def hostile(good: dict[str, Any], text_field: str, case: tuple[str, str]) -> bytes:
    kind, name = case
    if kind == "body":
        return BROKEN_BODIES[name]
    body = json.dumps({**good, text_field: "__TEXT__"}, ensure_ascii=False).encode()
    return body.replace(b'"__TEXT__"', BROKEN_VALUES[name])


def answered(response: httpx.Response, accepted: int) -> None:
    """Either a clean refusal, or taken (the receiver carried the oddity safely)."""
    if response.status_code != accepted:
        refused_cleanly(response)


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_broken_json_on_the_web_form_is_refused_cleanly_and_the_next_form_is_taken(receivers, case):
    response = receivers.form(hostile(GOOD_FORM, "message", case))

    answered(response, 202)
    good = receivers.form(json.dumps({**GOOD_FORM, "subject": "next"}).encode())
    assert good.status_code == 202, good.text
    assert receivers.complaints() == (2 if response.status_code == 202 else 1)


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_broken_json_on_the_desk_api_is_refused_cleanly_and_the_next_entry_is_taken(
    receivers, case
):
    response = receivers.entry(hostile(GOOD_ENTRY, "text", case))

    answered(response, 201)
    good = receivers.entry(json.dumps(GOOD_ENTRY).encode())
    assert good.status_code == 201, good.text
    assert receivers.complaints() == (2 if response.status_code == 201 else 1)


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_broken_json_on_the_telegram_webhook_is_refused_cleanly_and_the_next_update_taken(
    receivers, case
):
    message = receivers.good_update()
    response = receivers.telegram(
        hostile(message, "__none__", case)
        if case[0] == "body"
        else (
            json.dumps({**message, "message": {**message["message"], "text": "__TEXT__"}})
            .encode()
            .replace(b'"__TEXT__"', BROKEN_VALUES[case[1]])
        )
    )

    answered(response, 200)
    good = receivers.telegram(json.dumps(receivers.good_update()).encode())
    assert good.status_code == 200, good.text
    assert good.json()["status"] in ("created", "followup"), good.text  # same chat: a follow-up


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_nul_in_a_form_encoded_field_is_refused_or_dropped(receivers):
    body = f"form_token={FORM_TOKEN}&email=a%40example.com&kvkk_consent=on&message=kart%00okuyucu"

    response = receivers.form(body.encode(), "application/x-www-form-urlencoded")

    assert response.status_code == 400 or response.json()["reference"], response.text


BROKEN_MIME = {
    "no closing boundary": (
        b"From: a@example.com\r\nSubject: kart\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nkart okuyucu"
    ),
    "no boundary at all": (
        b"From: a@example.com\r\nSubject: kart\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\nkart okuyucu\r\n"
    ),
    "bad base64": (
        b"From: a@example.com\r\nSubject: kart\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not*base64===\r\n"
    ),
    "unknown charset": (
        b"From: a@example.com\r\nSubject: =?x-unknown?q?kart?=\r\n"
        b"Content-Type: text/plain; charset=x-unknown-9\r\n\r\nkart okuyucu\r\n"
    ),
    "nul bytes": b"From: a@example.com\r\nSubject: ka\x00rt\r\n\r\nkart\x00okuyucu\r\n",
    "encoded nul and CRLF": (
        b"From: =?utf-8?b?QXnFn2UNCkJjYzogeEBldmlsLmV4YW1wbGU=?= <a@example.com>\r\n"
        b"Subject: =?utf-8?q?kart=00=0D=0ABcc=3A_x=40evil=2Eexample?=\r\n\r\nkart okuyucu\r\n"
    ),
    "surrogate escapes": b"From: a@example.com\r\nSubject: kart \xed\xa0\x80\r\n\r\n\xed\xa0\x80\r\n",
    "deeply nested parts": (
        b"From: a@example.com\r\nSubject: kart\r\nMIME-Version: 1.0\r\n"
        + b"".join(
            f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
            for i in range(200)
        )
        + b"Content-Type: text/plain\r\n\r\nkart\r\n"
    ),
    "header without a colon": b"From a@example.com\r\nthis is no header\r\n\r\nkart\r\n",
    "only headers": b"From: a@example.com\r\nSubject: kart\r\n",
}


@pytest.mark.parametrize("case", list(BROKEN_MIME))
def test_broken_mime_through_the_inject_door_is_stored_or_recorded_never_a_crash(
    tmp_path, store_url, make_runtime, case
):
    runtime = make_runtime(make_settings(tmp_path, store={"url": store_url}))

    outcome = pipeline.ingest(runtime, [raw_from_bytes(BROKEN_MIME[case])]).outcomes()[0]

    assert outcome.status in ("created", "failed", "rejected", "skipped"), outcome
    good = pipeline.ingest(runtime, [raw_from_bytes(GOOD_MAIL)]).outcomes()[0]
    assert good.status == "created", good


# --- Header injection (CR/LF) in every field that reaches an outgoing mail ---------------------

INJECTED = "Ayşe\r\nBcc: evil@attacker.example\r\nX-Injected: yes"
EVIL = "evil@attacker.example"
COMPLAINANT = "ayse@example.com"


class Mailroom(Receivers):
    """The receivers with the outbound stage: a StubBroker, a worker, aiosmtpd."""

    def __init__(self, runtime: Runtime, url: str, broker: Any, inbox: Any, rcpts: Any) -> None:
        super().__init__(runtime, url)
        self.broker, self.inbox, self.rcpts = broker, inbox, rcpts

    def drain(self) -> None:
        import dramatiq

        from outbound.broker import queues_of

        worker = dramatiq.Worker(self.broker, worker_timeout=100)
        worker.start()
        try:
            for queue in queues_of(self.runtime.settings):
                self.broker.join(queue, timeout=20_000, fail_fast=False)
            worker.join()
        finally:
            worker.stop()

    def complaint_rows(self) -> list[ComplaintRow]:
        with self.runtime.sessions() as session:
            rows = list(session.scalars(select(ComplaintRow).order_by(ComplaintRow.id)))
            session.expunge_all()
            return rows


@pytest.fixture
def mailroom(tmp_path, make_runtime, bot_api, smtp, monkeypatch) -> Iterator[Mailroom]:
    from dramatiq.brokers.stub import StubBroker

    from outbound.broker import configure
    from tests.test_workers import count_rcpts

    inbox, smtp_port = smtp
    monkeypatch.setenv("HOSTILE_FORM_TOKEN", FORM_TOKEN)
    monkeypatch.setenv("INTAKE_API_TOKEN_CALL_CENTRE", API_TOKEN)
    monkeypatch.setenv("HOSTILE_TG_TOKEN", TG_TOKEN)
    monkeypatch.setenv("HOSTILE_TG_SECRET", TG_SECRET)
    port = free_port()
    settings = make_settings(
        tmp_path,
        http={"listen": f"127.0.0.1:{port}"},
        smtp={"host": "127.0.0.1", "port": smtp_port},
        broker={"min_backoff_ms": 10, "max_backoff_ms": 50, "max_retries": 1},
        webform={"form_token_env": "HOSTILE_FORM_TOKEN", "rate_limit_per_minute": 1000},
        telegram={
            "enabled": True,
            "mode": "webhook",
            "token_env": "HOSTILE_TG_TOKEN",
            "webhook_secret_env": "HOSTILE_TG_SECRET",
            "base_url": bot_api.base_url,
            "timeout_seconds": 2.0,
        },
    )
    broker = configure(StubBroker(), settings)
    runtime = make_runtime(settings, broker=broker)
    rcpts = count_rcpts(inbox)
    server = HttpServer(runtime)
    server.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and server.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    room = Mailroom(runtime, f"http://127.0.0.1:{port}", broker, inbox, rcpts)
    try:
        yield room
    finally:
        room.http.close()
        server.stop()
        server.join(15)
        broker.flush_all()
        broker.close()


def no_injected_header(room: Mailroom, *, in_free_text: bool = False) -> None:
    """No mail aiosmtpd took carries an injected header or recipient: every header of every
    part is one we write, and the envelope named only the unit and the complainant. Unless the
    injection was the complaint's own text, it starts no line of the ticket's text either
    (where the unit would take it for one of our lines)."""
    assert room.inbox.messages, "no mail went out"
    for rcpts, message in room.inbox.messages:
        assert EVIL not in rcpts
        for part in message.walk():
            names = {name.lower() for name in part.keys()}
            assert not names & {"bcc", "cc", "x-injected"}, (names, message["Subject"])
        head = message.as_bytes().split(b"\n\n", 1)[0]
        assert b"\nBcc:" not in head and b"\nX-Injected:" not in head
        text = message.get_body(("plain",)).get_content()
        forged = [line for line in text.splitlines() if line.startswith(("Bcc:", "X-Injected:"))]
        assert in_free_text or not forged, forged
    assert EVIL not in room.rcpts
    assert sum(room.rcpts.values()) == sum(len(rcpts) for rcpts, _ in room.inbox.messages)


def ticket_delivered(room: Mailroom) -> ComplaintRow:
    """The one complaint's ticket reached its unit (no crash, no dead letter)."""
    [row] = room.complaint_rows()
    assert row.delivery_state == "sent", (row.delivery_state, row.reference)
    unit_email = room.runtime.settings.unit_named(row.unit).email
    assert room.inbox.to(unit_email), "the unit got no ticket"
    return row


def form_or_entry_case(room: Mailroom, receiver: str, field: str) -> None:
    good = dict(GOOD_FORM if receiver == "webform" else GOOD_ENTRY)
    good["email"] = COMPLAINANT
    text_field = "message" if receiver == "webform" else "text"
    good[text_field if field == "text" else field] = INJECTED
    body = json.dumps(good, ensure_ascii=False).encode()
    response = room.form(body) if receiver == "webform" else room.entry(body)
    if response.status_code in (400, 422):  # refused with a field error: nothing stored
        assert room.complaints() == 0
        return
    assert response.status_code in (201, 202), response.text
    room.drain()
    no_injected_header(room, in_free_text=field == "text")
    row = ticket_delivered(room)
    if row.complainant_email:
        assert row.ack_state == "sent"


@pytest.mark.parametrize("field", ["name", "subject", "email", "phone", "text", "product"])
@pytest.mark.parametrize("receiver", ["webform", "desk"])
def test_crlf_in_a_typed_field_never_becomes_a_mail_header(mailroom, receiver, field):
    form_or_entry_case(mailroom, receiver, field)


def test_crlf_in_an_uploaded_file_name_never_becomes_a_mail_header(mailroom):
    fields = {k: str(v) for k, v in GOOD_FORM.items()} | {"email": COMPLAINANT}
    response = mailroom.http.post(
        "/webhooks/webform",
        data=fields,
        files={"attachment": (f"fatura{INJECTED}.pdf", b"%PDF-1.4 fatura", "application/pdf")},
    )
    assert response.status_code == 202, response.text

    mailroom.drain()

    no_injected_header(mailroom)
    ticket_delivered(mailroom)


CRLF_MAIL = (
    "From: =?utf-8?b?{name}?= <ayse@example.com>\r\n"
    "To: destek@example.org\r\n"
    "Subject: =?utf-8?b?{subject}?=\r\n"
    "Message-ID: <crlf-1@example.com>\r\n"
    "Date: Tue, 10 Mar 2026 09:00:00 +0300\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Kart okuyucum tanınmıyor, e-imza atamıyorum.\r\n"
    "--b\r\nContent-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename*=utf-8''fatura%0D%0ABcc%3A%20evil%40attacker.example.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgZmF0dXJh\r\n--b--\r\n"
)


def test_crlf_in_a_mails_encoded_name_subject_and_file_name_never_becomes_a_header(mailroom):
    import base64

    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    mail = CRLF_MAIL.format(name=encoded(INJECTED), subject=encoded("Kart " + INJECTED))
    outcome = pipeline.ingest(mailroom.runtime, [raw_from_bytes(mail.encode())]).outcomes()[0]
    assert outcome.status == "created", outcome

    mailroom.drain()

    no_injected_header(mailroom)
    row = ticket_delivered(mailroom)
    assert row.ack_state == "sent"


@pytest.mark.parametrize("field", ["first_name", "last_name", "username"])
def test_crlf_in_a_telegram_name_never_becomes_a_mail_header(mailroom, field):
    update = mailroom.good_update()
    for who in ("from", "chat"):
        update["message"][who][field] = INJECTED
    response = mailroom.telegram(json.dumps(update).encode())
    assert response.status_code == 200 and response.json()["status"] == "created", response.text

    mailroom.drain()

    no_injected_header(mailroom)
    ticket_delivered(mailroom)


def test_crlf_in_an_x_display_name_never_becomes_a_mail_header(mailroom):
    from ingest.channels.twitter.payloads import tweet_raw

    mention = json.loads((DATA / "twitter" / "mention.json").read_text(encoding="utf-8"))
    author = {**mention["author"], "name": INJECTED, "username": "ayse\r\nBcc: x"}
    raw = tweet_raw(mention["tweet"], {author["id"]: author})
    outcome = pipeline.ingest(mailroom.runtime, [raw]).outcomes()[0]
    assert outcome.status == "created", outcome

    mailroom.drain()

    no_injected_header(mailroom)
    ticket_delivered(mailroom)


# --- Markup in every field the console shows ---------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(document.cookie)"
MARKUP = f"{SCRIPT} {BREAKOUT} {JS_URL}"
PASSWORD = "doğru-parola-123"
CERT_UNIT = "sertifika.operasyon@example.org"


def csrf_of(html: str) -> str:
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


def markup_free(html: str, where: str) -> None:
    """None of the markup is live: the tags appear only escaped, and no link, image or form
    of the page points at a javascript: URL (every one is a path of ours)."""
    import re

    assert SCRIPT not in html and "<img src=x" not in html and '"><img' not in html, where
    assert "&lt;script&gt;" in html or where in ("/queues", "/"), where
    for attribute, value in re.findall(r'\b(href|src|action|formaction)\s*=\s*"([^"]*)"', html):
        assert value.startswith(("/", "?", "#")), (where, attribute, value)
    assert not re.search(r"(?i)(href|src|action)\s*=\s*['\"]?\s*javascript:", html), where


def hostile_mail(sender: str, subject: str, body: str, filename: str) -> bytes:
    from email.message import EmailMessage
    from email.utils import make_msgid

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "sikayet@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="mail.example.net")
    msg.set_content(body)
    msg.add_attachment(
        b"%PDF-1.4 hostile", maintype="application", subtype="pdf", filename=filename
    )
    return msg.as_bytes()


def test_markup_in_every_field_is_shown_as_text_on_every_page(tmp_path, store_url, make_runtime):
    from starlette.testclient import TestClient

    from console import auth, pages
    from ingest.webhooks import make_app
    from intake import clock as clock_module
    from intake.schema import RawMessage
    from store.models import DeadLetterRow

    runtime = make_runtime(make_settings(tmp_path, store={"url": store_url}))
    with runtime.sessions.begin() as session:
        auth.add_user(session, "ayse", PASSWORD)
    sender = f'"{BREAKOUT}" <ali.yilmaz@example.com>'
    created = pipeline.ingest(
        runtime,
        [
            raw_from_bytes(
                hostile_mail(sender, f"e-imza {MARKUP}", f"kartım {MARKUP}", f"{BREAKOUT}.pdf")
            )
        ],
    ).outcomes()[0]
    assert created.status == "created", created
    reference = created.reference
    form = json.dumps(
        {
            "name": BREAKOUT,
            "email": "web@example.com",
            "subject": SCRIPT,
            "message": MARKUP,
            "product": "kart_okuyucu",
            "kvkk_consent": True,
        }
    ).encode()
    web = RawMessage(
        channel="webform",
        source_id="hostile:markup",
        received_at=clock_module.now(),
        payload=form,
        transport={"content_type": "application/json", "client": "127.0.0.1"},
    )
    update = copy.deepcopy(GOOD_UPDATE)
    update["message"].update(text=MARKUP)
    update["message"]["from"].update(first_name=SCRIPT, last_name=BREAKOUT, username="x")
    from ingest.channels.telegram.receive import raw_from_update

    telegram = raw_from_update(update, "message", update["message"], [])
    unit_reply = raw_from_bytes(
        hostile_mail(
            CERT_UNIT, f"Re: [#{reference}] {SCRIPT}", f"#note {MARKUP}\n\n{MARKUP}", "a.pdf"
        )
    )
    junk = raw_from_bytes(f"{SCRIPT}\x00\x01 {BREAKOUT}".encode())
    for outcome in pipeline.ingest(runtime, [web, telegram, unit_reply, junk]).outcomes():
        assert outcome.status in ("created", "followup", "unit_reply", "failed", "applied"), outcome
    with runtime.sessions.begin() as session:
        row = session.scalars(select(ComplaintRow).where(ComplaintRow.reference == reference)).one()
        session.add(
            DeadLetterRow(
                message_id="m-hostile",
                queue=row.queue,
                actor="ticket",
                complaint_id=row.id,
                error=f"KeyError: '{MARKUP}'",
                retries=0,
                failed_at=row.created_at,
            )
        )

    app = make_app(runtime, extra=pages.routes(runtime), middleware=pages.middleware(runtime))
    with TestClient(app, base_url="http://desk.example") as client:
        login = client.get("/login")
        client.post(
            "/login",
            data={"username": "ayse", "password": PASSWORD, "csrf": csrf_of(login.text)},
        )
        page = client.get(f"/complaints/{reference}").text
        for action in ("note", "reply"):
            client.post(
                f"/complaints/{reference}/act",
                data={"action": action, "text": MARKUP, "csrf": csrf_of(page)},
            )
        client.post(
            f"/complaints/{reference}/act",
            data={"action": "merge", "text": SCRIPT, "csrf": csrf_of(page)},
        )  # refused: the refusal names what was typed
        pages_seen = {
            path: client.get(path).text
            for path in (
                "/",
                "/complaints",
                f"/complaints/{reference}",
                "/queues",
                f"/complaints?q={SCRIPT}",
            )
        }
        refused = client.post(
            f"/complaints/{reference}/act",
            data={"action": "eta", "text": BREAKOUT, "csrf": csrf_of(page)},
        ).text
        others = [
            client.get(f"/complaints/{c}").text for c in _references(runtime) if c != reference
        ]
        after_login = client.post(
            "/login?next=/\\evil.example",
            data={
                "username": "ayse",
                "password": PASSWORD,
                "csrf": csrf_of(client.get("/login").text),
            },
            follow_redirects=False,
        )

    for path, html in pages_seen.items():
        markup_free(html, path)
    markup_free(refused, "refused action")
    for html in others:
        markup_free(html, "another complaint")
    shown = pages_seen[f"/complaints/{reference}"]
    assert str(escape(BREAKOUT)) in shown and str(escape(SCRIPT)) in shown  # as text
    location = after_login.headers.get("location", "")
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location


def _references(runtime: Runtime) -> list[str]:
    with runtime.sessions() as session:
        return list(session.scalars(select(ComplaintRow.reference).order_by(ComplaintRow.id)))


# --- A stranger who names somebody else's complaint --------------------------------------------
# The mail case (a subject tag, a reply to our ack's Message-ID, X) is in
# tests/handling/test_who_may_speak.py; here the web form, the desk and Telegram, and what the
# stranger is told when that complaint has a unit, a status and an ETA.

ALI = "ali.yilmaz@example.com"
STRANGER = "stranger@evil.example"
ALI_SECRETS = (
    "Ali",
    "Yılmaz",
    ALI,
    "e-imza kartım",
    "4455-7788",
    "12345678901",
    "certificate_operations",
    "Sertifika Operasyonları",
    "investigating",
    "20.03.2026",
    "2026-03-20",
)


def ali_complains_and_gets_an_eta(room: Mailroom) -> ComplaintRow:
    from tests.mails import mail

    ali = mail(
        f"Ali Yılmaz <{ALI}>",
        "e-imza kartım çalışmıyor",
        "Nitelikli e-imza kartım okunmuyor. Kart seri no 4455-7788, TC 12345678901.",
    )
    created = pipeline.ingest(room.runtime, [raw_from_bytes(ali)]).outcomes()[0]
    assert created.status == "created", created
    eta = mail(CERT_UNIT, f"Re: [#{created.reference}]", "#eta 2026-03-20 15:00")
    applied = pipeline.ingest(room.runtime, [raw_from_bytes(eta)]).outcomes()[0]
    assert applied.status != "created", applied  # the unit's command, on Ali's complaint
    room.drain()
    [row] = room.complaint_rows()
    assert row.eta_at is not None and row.unit == "certificate_operations", row.eta_at
    return row


def told_nothing_of(text: str, ali: ComplaintRow) -> None:
    for secret in (ali.reference, *ALI_SECRETS):
        assert secret not in text, secret


def test_a_stranger_naming_a_reference_on_the_web_form_and_the_desk_learns_nothing(mailroom):
    ali = ali_complains_and_gets_an_eta(mailroom)
    told_ali = len(mailroom.inbox.to(ALI))
    tag = f"[#{ali.reference}]"
    form = {
        **GOOD_FORM,
        "email": STRANGER,
        "subject": f"{tag} durum?",
        "message": f"{tag} ne oldu?",
    }
    entry = {**GOOD_ENTRY, "email": STRANGER, "subject": tag, "text": f"{tag} arayan sordu."}

    by_form = mailroom.form(json.dumps(form).encode())
    by_desk = mailroom.entry(json.dumps(entry).encode())
    mailroom.drain()

    assert by_form.status_code == 202 and by_desk.status_code == 201
    references = {by_form.json()["reference"], by_desk.json()["reference"]}
    assert ali.reference not in references and None not in references
    rows = {row.reference: row for row in mailroom.complaint_rows()}
    assert len(rows) == 3 and rows[ali.reference].eta_at == ali.eta_at  # Ali's left alone
    acks = mailroom.inbox.to(STRANGER)
    assert len(acks) == 2
    for ack in acks:
        told_nothing_of(ack.get_body(("plain",)).get_content() + str(ack["Subject"]), ali)
    assert len(mailroom.inbox.to(ALI)) == told_ali  # Ali is told nothing of the stranger


def test_a_stranger_naming_a_reference_in_telegram_learns_nothing(mailroom, bot_api):
    ali = ali_complains_and_gets_an_eta(mailroom)
    told_ali = len(mailroom.inbox.to(ALI))
    update = mailroom.good_update(text=f"[#{ali.reference}] bu başvurunun durumu nedir?")

    response = mailroom.telegram(json.dumps(update).encode())
    mailroom.drain()

    assert response.status_code == 200 and response.json()["status"] == "created", response.text
    stranger = [row for row in mailroom.complaint_rows() if row.reference != ali.reference]
    assert len(stranger) == 1
    assert bot_api.sent, "the stranger got no acknowledgement in the chat"
    for message in bot_api.sent:
        told_nothing_of(json.dumps(message, ensure_ascii=False), ali)
    assert len(mailroom.inbox.to(ALI)) == told_ali


def test_a_reference_named_on_the_web_form_the_desk_or_in_telegram_is_only_mentioned(mailroom):
    """The unit learns which complaint a stranger names; the complaint itself is not
    continued (a form's or a desk entry's address proves nothing, and another chat is
    another person)."""
    ali = ali_complains_and_gets_an_eta(mailroom)
    tag = f"[#{ali.reference}]"
    mailroom.form(json.dumps({**GOOD_FORM, "subject": tag, "message": f"{tag} ne oldu?"}).encode())
    mailroom.telegram(json.dumps(mailroom.good_update(text=f"{tag} durum?")).encode())
    mailroom.entry(json.dumps({**GOOD_ENTRY, "text": f"Arayan {ali.reference} soruyor."}).encode())

    strangers = [row for row in mailroom.complaint_rows() if row.reference != ali.reference]

    assert len(strangers) == 3
    assert all(row.ticket_ref == ali.reference for row in strangers)
