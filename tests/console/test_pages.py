"""The console's pages over HTTP (Starlette's TestClient on the real app and a real store):
the login, what an anonymous request gets, CSRF, the throttle, the overview's numbers, search,
a complaint page, a product correction, and escaping."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from console import auth, pages
from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from ingest.webhooks import make_app
from outbound.broker import make_broker
from store.models import (
    ComplaintRow,
    CorrectionRow,
    DeadLetterRow,
    EventRow,
    NoticeRow,
    RawMessageRow,
)
from tests.conftest import DATA, make_settings
from tests.mails import mail

PASSWORD = "doğru-parola-123"
MAILS = {
    "plain_tr.eml": None,
    "html_only.eml": None,
    "legacy_1254.eml": None,
    "with_attachment.eml": None,
    "ssl_problem.eml": "ssl",
}


@pytest.fixture
def console(tmp_path: Path, store_url: str, make_runtime):
    settings = make_settings(tmp_path, store={"url": store_url})
    rt = make_runtime(settings)
    with rt.sessions.begin() as session:
        auth.add_user(session, "ayse", PASSWORD)
    app = make_app(rt, extra=pages.routes(rt), middleware=pages.middleware(rt))
    with TestClient(app, base_url="http://desk.example") as client:
        yield rt, client


def arrive(rt, payload: bytes, mailbox: str | None = None):
    channel = rt.settings.mailbox_named(mailbox).channel if mailbox else "email"
    return pipeline.ingest(
        rt, [raw_from_bytes(payload, channel=channel, mailbox=mailbox)]
    ).outcomes()[0]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


def log_in(client: TestClient, password: str = PASSWORD, name: str = "ayse"):
    form = client.get("/login")
    return client.post(
        "/login",
        data={"username": name, "password": password, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )


def test_without_a_login_every_page_sends_to_the_login_and_shows_nothing(console):
    rt, client = console
    ref = arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes()).reference
    for path in (
        "/",
        "/complaints",
        f"/complaints/{ref}",
        "/queues",
        f"/complaints/{ref}/attachments/1",
    ):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login")
        assert ref not in answer.text and "@" not in answer.text
    assert (
        client.post(
            f"/complaints/{ref}/act", data={"action": "note"}, follow_redirects=False
        ).status_code
        == 303
    )


def test_a_wrong_password_is_refused_and_the_right_one_logs_in_with_a_safe_cookie(console):
    _rt, client = console
    assert log_in(client, "yanlış-parola").status_code == 401
    answer = log_in(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP here; over TLS it is marked Secure
    assert client.get("/").status_code == 200


def test_the_session_cookie_is_secure_behind_tls(console):
    rt, _client = console
    app = make_app(rt, extra=pages.routes(rt), middleware=pages.middleware(rt))
    with TestClient(app, base_url="https://desk.example") as client:
        answer = log_in(client)
    assert "secure" in answer.headers["set-cookie"].lower()


def test_the_one_list_of_proxies_decides_forwarded_tls_and_the_user_header(tmp_path, make_runtime):
    """`[http] trusted_proxies` is the only list (issue 11): from a proxy on it, the cookie
    is Secure when X-Forwarded-Proto says https and its user header names the operator,
    whatever client X-Forwarded-For names; from any other peer both headers are ignored."""
    settings = make_settings(
        tmp_path,
        console={"trusted_user_header": "X-Remote-User"},
        http={"trusted_proxies": ["testclient"]},
    )
    rt = make_runtime(settings)
    with rt.sessions.begin() as session:
        auth.add_user(session, "ayse", PASSWORD)
    app = make_app(rt, extra=pages.routes(rt), middleware=pages.middleware(rt))
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with TestClient(app, base_url="http://desk.example", headers=forwarded) as client:
        assert "secure" in log_in(client).headers["set-cookie"].lower()
        named = client.get("/", headers={"X-Remote-User": "ayse"}, follow_redirects=False)
        assert named.status_code == 200

    untrusted = dataclasses.replace(
        settings, http=dataclasses.replace(settings.http, trusted_proxies=("192.0.2.1",))
    )
    rt = make_runtime(untrusted)
    with rt.sessions.begin() as session:
        auth.add_user(session, "ayse", PASSWORD)
    app = make_app(rt, extra=pages.routes(rt), middleware=pages.middleware(rt))
    with TestClient(app, base_url="http://desk.example", headers=forwarded) as client:
        assert "secure" not in log_in(client).headers["set-cookie"].lower()
        client.cookies.clear()
        claimed = client.get("/", headers={"X-Remote-User": "ayse"}, follow_redirects=False)
        assert claimed.status_code == 303


def test_repeated_failed_logins_are_throttled_even_with_the_right_password_then(console):
    rt, client = console
    for _ in range(rt.settings.console.login_failures_per_minute):
        assert log_in(client, "yanlış-parola").status_code == 401
    assert log_in(client).status_code == 429


def test_a_form_without_its_csrf_token_is_refused(console):
    rt, client = console
    ref = arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes()).reference
    log_in(client)
    answer = client.post(f"/complaints/{ref}/act", data={"action": "note", "text": "x"})
    assert answer.status_code == 403
    with rt.sessions() as session:
        assert not session.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.kind == "note")
        )


def test_the_overview_counts_match_the_store(console):
    rt, client = console
    for name, mailbox in MAILS.items():
        arrive(rt, (DATA / "system" / name).read_bytes(), mailbox)
    log_in(client)
    html = client.get("/").text
    with rt.sessions() as session:
        open_by_unit = dict(
            session.execute(
                select(ComplaintRow.unit, func.count()).group_by(ComplaintRow.unit)
            ).all()
        )
    assert sum(open_by_unit.values()) == 5
    for unit in rt.settings.unit:
        row = re.search(rf'data-unit="{unit.code}".*?data-field="open">(\d+)<', html, re.S)
        assert row and int(row.group(1)) == open_by_unit.get(unit.code, 0), unit.code
    assert 'id="failed-raw" class="ok">0<' in html
    assert "ssl_preliminary" in html  # the SSL report's clock leads the closest clocks


def test_search_finds_by_product_and_the_complaint_page_shows_its_thread(console):
    rt, client = console
    ssl = arrive(rt, (DATA / "system" / "ssl_problem.eml").read_bytes(), "ssl").reference
    arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes())
    log_in(client)
    found = client.get("/complaints", params={"product": "ssl"}).text
    assert re.search(r'id="total">1 ', found) and ssl in found
    page = client.get(f"/complaints/{ssl}").text
    assert 'id="status">assigned<' in page and "ssl_preliminary" in page


def test_correcting_the_product_moves_the_ticket_to_the_new_unit_and_keeps_the_example(console):
    rt, client = console
    ref = arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes()).reference
    log_in(client)
    page = client.get(f"/complaints/{ref}").text
    answer = client.post(
        f"/complaints/{ref}/act",
        data={"action": "correct", "product": "kart_okuyucu", "csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and "done=correct" in answer.headers["location"]
    with rt.sessions() as session:
        row = session.scalars(select(ComplaintRow).where(ComplaintRow.reference == ref)).one()
        assert (row.product, row.unit, row.delivery_state) == (
            "kart_okuyucu",
            "hardware",
            "pending",
        )
        correction = session.scalars(select(CorrectionRow)).one()
        assert (correction.product_was, correction.product) == ("nes", "kart_okuyucu")
        assert correction.by == "operator:ayse"
        kinds = [
            e.kind for e in session.scalars(select(EventRow).where(EventRow.complaint_id == row.id))
        ]
    assert "corrected" in kinds and "reassigned" in kinds


def test_a_refused_action_says_why_and_changes_nothing(console):
    rt, client = console
    ref = arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes()).reference
    log_in(client)
    page = client.get(f"/complaints/{ref}").text
    answer = client.post(
        f"/complaints/{ref}/act", data={"action": "eta", "text": "yarın", "csrf": csrf_of(page)}
    )
    assert 'id="refused"' in answer.text


def test_a_subject_with_a_script_tag_is_shown_as_text(console):
    rt, client = console
    ref = arrive(
        rt, mail("ali@example.com", "<script>alert('x')</script>", "<img src=x onerror=alert(1)>")
    ).reference
    log_in(client)
    for path in (f"/complaints/{ref}", "/complaints"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
    assert "default-src 'self'" in client.get("/").headers["content-security-policy"]


def test_a_proxy_header_names_the_user_only_from_a_trusted_proxy(tmp_path, make_runtime):
    """The peer, not what X-Forwarded-For claims: a client behind the trusted proxy (or one
    that forges the header) never names the user itself; the one list is [http]'s."""
    for proxies, expected in ((["127.0.0.1"], 303), (["testclient"], 200)):
        settings = make_settings(
            tmp_path,
            console={"trusted_user_header": "X-Remote-User"},
            http={"trusted_proxies": proxies},
        )
        rt = make_runtime(settings)
        app = make_app(rt, extra=pages.routes(rt), middleware=pages.middleware(rt))
        with TestClient(app) as client:
            answer = client.get("/", headers={"X-Remote-User": "ayse"}, follow_redirects=False)
        assert answer.status_code == expected, proxies


def test_labels_are_turkish_by_default_english_when_asked_or_when_the_browser_prefers(console):
    _rt, client = console
    log_in(client)
    assert "Genel bakış" in client.get("/").text
    assert "Overview" in client.get("/?lang=en").text
    assert "Overview" in client.get("/").text  # remembered for the session
    client.get("/?lang=tr")
    assert "Genel bakış" in client.get("/").text
    client.cookies.clear()
    log_in(client)
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert "Overview" in english


def test_an_attachment_downloads_behind_the_login_and_is_never_rendered(console):
    rt, client = console
    ref = arrive(rt, (DATA / "system" / "with_attachment.eml").read_bytes()).reference
    log_in(client)
    page = client.get(f"/complaints/{ref}").text
    link = re.search(rf'href="(/complaints/{ref}/attachments/\d+)"', page)
    assert link, "no attachment link"
    answer = client.get(link.group(1))
    assert answer.status_code == 200 and answer.content
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"].startswith("attachment;")
    client.cookies.clear()
    assert client.get(link.group(1), follow_redirects=False).status_code == 303


def test_the_session_key_is_made_once_in_the_state_folder_unless_the_environment_has_one(
    tmp_path, monkeypatch
):
    settings = make_settings(tmp_path)
    monkeypatch.delenv(settings.console.session_key_env, raising=False)
    first = auth.session_key(settings)
    key_file = Path(settings.broker.state_dir) / "session.key"
    assert key_file.read_text().strip() == first and len(first) >= 40
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert auth.session_key(settings) == first  # a restart keeps every session
    monkeypatch.setenv(settings.console.session_key_env, "from-the-environment")
    assert auth.session_key(settings) == "from-the-environment"


def test_retrying_a_failed_raw_item_from_the_queue_page_processes_it_again(console):
    rt, client = console
    junk = pipeline.ingest(
        rt, [raw_from_bytes(b"\x00\x01 not a mail", channel="email", mailbox=None)]
    ).outcomes()[0]
    assert junk.status == "failed"
    log_in(client)
    page = client.get("/queues").text
    assert f"raw {junk.raw_id}" in page
    client.post(f"/raw/{junk.raw_id}/retry", data={"csrf": csrf_of(page)})
    with rt.sessions() as session:
        raw = session.get(RawMessageRow, junk.raw_id)
        assert raw.attempts == 2 and raw.status == "failed"
        retried = session.scalars(select(EventRow).where(EventRow.kind == "retried")).one()
    assert retried.actor == "operator:ayse"


def test_retrying_a_dead_letter_unparks_its_job_and_marks_it_requeued(console):
    rt, client = console
    ref = arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes())
    with rt.sessions.begin() as session:
        row = session.get(ComplaintRow, ref.complaint_id)
        row.delivery_state = "dead"
        session.add(
            DeadLetterRow(
                message_id="m1",
                queue=row.queue,
                actor="ticket",
                complaint_id=row.id,
                error="KeyError: 'x'",
                retries=0,
                failed_at=row.created_at,
            )
        )
    log_in(client)
    page = client.get("/queues").text
    assert "KeyError" in page
    letter = re.search(r'action="/dead-letters/(\d+)/retry"', page).group(1)
    client.post(f"/dead-letters/{letter}/retry", data={"csrf": csrf_of(page)})
    with rt.sessions() as session:
        assert session.get(ComplaintRow, ref.complaint_id).delivery_state == "pending"
        assert session.get(DeadLetterRow, int(letter)).requeued_at is not None
    assert "KeyError" not in client.get("/queues").text


def test_the_queue_page_shows_what_waits_on_each_queue(tmp_path, redis_url, make_runtime):
    settings = make_settings(tmp_path)
    rt = make_runtime(settings, broker=make_broker(settings, redis_url))
    with rt.sessions.begin() as session:
        auth.add_user(session, "ayse", PASSWORD)
    arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes())  # ticket and ack enqueued
    app = make_app(rt, extra=pages.routes(rt), middleware=pages.middleware(rt))
    with TestClient(app) as client:
        log_in(client)
        page = client.get("/queues").text
    for queue in ("unit.certificate_operations", "ack"):
        waiting = re.search(rf'data-queue="{queue}"><td>[^<]+</td><td class="num">(\d+)<', page)
        assert waiting and waiting.group(1) == "1", queue
    rt.broker.close()


def test_an_operators_reply_from_the_page_is_owed_to_the_complainant_in_their_name(console):
    rt, client = console
    ref = arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes())
    log_in(client)
    page = client.get(f"/complaints/{ref.reference}").text
    client.post(
        f"/complaints/{ref.reference}/act",
        data={"action": "reply", "text": "Kartınızı yeniledik.", "csrf": csrf_of(page)},
    )
    with rt.sessions() as session:
        notice = session.scalars(
            select(NoticeRow).where(NoticeRow.complaint_id == ref.complaint_id)
        ).one()
        replied = session.scalars(select(EventRow).where(EventRow.kind == "replied")).one()
        status = session.get(ComplaintRow, ref.complaint_id).status
    assert (notice.purpose, notice.audience, notice.body) == (
        "reply",
        "complainant",
        "Kartınızı yeniledik.",
    )
    assert replied.actor == "operator:ayse" and status == "investigating"


def test_search_pages_through_many_results(console):
    rt, client = console
    for n in range(55):
        arrive(rt, mail(f"kisi{n}@example.com", f"e-imza kartı {n}", "Kartım okunmuyor."))
    log_in(client)
    first = client.get("/complaints").text
    assert re.search(r'id="total">55 ', first)
    assert first.count('href="/complaints/CMP-') == 50 and "page=2" in first
    second = client.get("/complaints", params={"page": 2}).text
    assert second.count('href="/complaints/CMP-') == 5
    by_person = client.get("/complaints", params={"complainant": "kisi7@"}).text
    assert re.search(r'id="total">1 ', by_person)


def test_a_csrf_token_with_non_ascii_characters_is_refused_not_a_crash(console):
    rt, client = console
    ref = arrive(rt, (DATA / "system" / "plain_tr.eml").read_bytes()).reference
    log_in(client)
    answer = client.post(f"/complaints/{ref}/act", data={"action": "note", "csrf": "şğü"})
    assert answer.status_code == 403
