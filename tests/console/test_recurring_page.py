"""The complaint page shows the complaint's recurring group (handling/recurring.py over the
pure grouping): its label, size and whether it recurs, with links to the other members; a
complaint alone among its product's says one-off. Starlette's TestClient on the real app and
a real store (SQLite and PostgreSQL), as in test_pages.py."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from console import auth, pages
from ingest.webhooks import make_app
from store.models import ComplaintRow
from tests.conftest import make_settings
from tests.console.test_pages import PASSWORD, arrive, log_in
from tests.mails import mail

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Istanbul"))

# Paraphrases of one problem (bench/recurring/labelled.toml, group nes-pin-bloke) and an
# unrelated complaint of the same product.
PIN_BLOCKED = (
    (
        "PIN bloke oldu",
        "E-imzamın PIN kodunu üç kez yanlış girdim, kart bloke oldu. PIN blokesini nasıl kaldırabilirim?",
    ),
    (
        "Şifrem kilitlendi",
        "ELEKTRONİK İMZA PİN KODUM BLOKE OLMUŞ, ÜÇ DEFA YANLIŞ GİRİNCE KİLİTLENDİ. PIN BLOKE ÇÖZME İÇİN NE YAPMALIYIM?",
    ),
    (
        "pin blokesi",
        "pin kodumu unuttum ve yanlis girdigim icin bloke oldu, pin blokesi kaldirma islemi icin yardim bekliyorum",
    ),
)
UNRELATED = (
    "Kargo gelmedi",
    "E-imza başvurumu on gün önce yaptım, kargo hâlâ elime ulaşmadı. Kargo takip numarası çalışmıyor.",
)


@pytest.fixture
def make_console(tmp_path: Path, store_url: str, make_runtime):
    """The console on settings tables overridden as `make_settings` takes them, logged in."""
    clients: list[TestClient] = []

    def build(**tables: dict):  # noqa: ANN202
        rt = make_runtime(make_settings(tmp_path, store={"url": store_url}, **tables))
        with rt.sessions.begin() as session:
            auth.add_user(session, "ayse", PASSWORD)
        app = make_app(rt, extra=pages.routes(rt), middleware=pages.middleware(rt))
        client = TestClient(app, base_url="http://desk.example").__enter__()
        clients.append(client)
        log_in(client)
        return rt, client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def complain(rt, clock, day: int, subject: str, body: str) -> str:  # noqa: ANN001
    """A complaint of product nes, by a sender of its own, received on `day` of the month."""
    clock.set(MONDAY.replace(day=day))
    outcome = arrive(rt, mail(f"kisi{day}@example.com", subject, body))
    assert outcome.status == "created", outcome
    with rt.sessions() as session:
        assert session.get(ComplaintRow, outcome.complaint_id).product == "nes"
    return outcome.reference


def group_section(html: str) -> str:
    found = re.search(r'<section id="recurring">(.*?)</section>', html, re.S)
    assert found, "no recurring section on the page"
    return found.group(1)


def test_a_complaint_page_lists_the_others_of_its_group_and_an_unrelated_one_is_one_off(
    make_console, clock
):
    rt, client = make_console()
    refs = [complain(rt, clock, 2 + n, *text) for n, text in enumerate(PIN_BLOCKED)]
    alone = complain(rt, clock, 9, *UNRELATED)

    section = group_section(client.get(f"/complaints/{refs[1]}").text)
    assert "bloke" in section and "pin" in section  # the label, the group's telling words
    assert "3 başvuru" in section and "yinelenen" in section and "sayılmaz" not in section
    for other, day in ((refs[0], "02.03.2026"), (refs[2], "04.03.2026")):
        link = f'<a href="/complaints/{other}">{other}</a></td><td>{day}</td><td>assigned</td>'
        assert link in section
    assert f'href="/complaints/{refs[1]}"' not in section and alone not in section
    assert "tek seferlik" not in section

    lonely = group_section(client.get(f"/complaints/{alone}").text)
    assert "tek seferlik" in lonely and not any(ref in lonely for ref in refs)
    english = group_section(client.get(f"/complaints/{alone}", params={"lang": "en"}).text)
    assert "one-off" in english


def test_only_the_complaints_within_the_window_around_it_count_for_its_page(make_console, clock):
    """Days 2, 6 and 10 with a 5-day window: the day-10 page reads days 5 to 15 only, so the
    day-2 complaint (joined to day 6, not to day 10) is not in its group: two, not recurring."""
    rt, client = make_console(recurring={"window_days": 5})
    refs = [complain(rt, clock, 2 + 4 * n, *text) for n, text in enumerate(PIN_BLOCKED)]

    section = group_section(client.get(f"/complaints/{refs[2]}").text)
    assert "2 başvuru" in section and "yinelenen sayılmaz" in section
    assert f'href="/complaints/{refs[1]}"' in section and refs[0] not in section
