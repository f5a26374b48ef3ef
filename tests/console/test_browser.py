"""The console in a real browser: Debian's headless Chromium, driven by Playwright, against
the real HTTP server (uvicorn) of a desk whose mail went through real Dramatiq workers, Redis
and an aiosmtpd relay.

Nothing is downloaded: Playwright drives `/usr/bin/chromium` (Debian's `chromium` package,
which `scripts/test` installs). With `INTAKE_SCREENSHOT=path.png` the overview is saved
there too (the README's picture).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from console import auth, pages
from ingest.webhooks import HttpServer, make_app
from outbound.broker import make_broker
from store.models import ComplaintRow
from tests.conftest import DATA, free_port, make_settings, missing
from tests.console.test_pages import MAILS, PASSWORD, arrive
from tests.mails import mail
from tests.system.test_spine import run_workers_until_idle

pytestmark = pytest.mark.system

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        missing("Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def desk(tmp_path: Path, store_url: str, redis_url: str, smtp, make_runtime):
    inbox, port = smtp
    listen = f"127.0.0.1:{free_port()}"
    settings = make_settings(
        tmp_path,
        store={"url": store_url},
        smtp={"host": "127.0.0.1", "port": port},
        http={"listen": listen},
    )
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    with rt.sessions.begin() as session:
        auth.add_user(session, "ayse", PASSWORD)
    server = HttpServer(
        rt, app=make_app(rt, extra=pages.routes(rt), middleware=pages.middleware(rt))
    )
    server.start()
    while not server.started:
        server.join(0.05)
    try:
        yield rt, inbox, f"http://{listen}"
    finally:
        server.stop()
        server.join(10)
        broker.close()


def test_an_operator_logs_in_reads_the_overview_and_corrects_a_product(desk, browser, tmp_path):
    rt, inbox, base = desk
    refs = {
        name: arrive(rt, (DATA / "system" / name).read_bytes(), box).reference
        for name, box in MAILS.items()
    }
    run_workers_until_idle(rt)
    page = browser.new_page(locale="tr-TR")

    # No login: the login page, and nothing of any complaint (but the address asked for).
    page.goto(f"{base}/complaints/{refs['plain_tr.eml']}")
    assert page.url.startswith(f"{base}/login")
    with rt.sessions() as session:
        stored = session.scalars(select(ComplaintRow)).all()
        private = [v for row in stored for v in (row.subject, row.complainant_email) if v]
    assert private and not any(value in page.content() for value in private)
    page.goto(f"{base}/queues")
    assert page.url.startswith(f"{base}/login")

    page.fill("input[name=username]", "ayse")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queues")
    assert page.locator("#depths").is_visible()

    page.goto(f"{base}/")
    with rt.sessions() as session:
        by_unit = dict(
            session.execute(
                select(ComplaintRow.unit, func.count()).group_by(ComplaintRow.unit)
            ).all()
        )
    for unit in rt.settings.unit:
        shown = page.locator(f'tr[data-unit="{unit.code}"] td[data-field="open"]').inner_text()
        assert int(shown) == by_unit.get(unit.code, 0), unit.code
    assert page.locator("#failed-raw").inner_text() == "0"
    picture = tmp_path / "overview.png"
    page.screenshot(path=str(picture), full_page=True)
    if os.environ.get("INTAKE_SCREENSHOT"):
        shutil.copy(picture, os.environ["INTAKE_SCREENSHOT"])

    # Search, open, correct: the ticket goes to the new unit.
    reference = refs["plain_tr.eml"]
    page.goto(f"{base}/complaints")
    page.fill("#search input[name=reference]", reference)
    page.click("#search button[type=submit]")
    assert page.locator("#total").inner_text().startswith("1 ")
    page.click(f"#results a:text('{reference}')")
    page.wait_for_url(f"{base}/complaints/{reference}")
    page.select_option("#correct select[name=product]", "kart_okuyucu")
    page.click("#correct button")
    page.wait_for_url(re.compile(r".*done=correct"))
    assert page.locator("#unit").inner_text() == "hardware"
    run_workers_until_idle(rt)
    tickets = [m for m in inbox.to("donanim@example.org") if m["X-Intake-Ref"] == reference]
    assert len(tickets) == 1


def test_a_subject_that_is_a_script_shows_as_text_and_never_runs(desk, browser):
    rt, _inbox, base = desk
    ref = arrive(
        rt,
        mail("ali@example.com", "<script>window.hacked = 1</script>", "<b onmouseover=x>kalın</b>"),
    ).reference
    page = browser.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "ayse")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/complaints/{ref}")
    assert page.evaluate("window.hacked") is None
    assert (
        "<script>window.hacked = 1</script>" in page.locator("#thread .subject").first.inner_text()
    )
    assert page.locator("#thread b").count() == 0
