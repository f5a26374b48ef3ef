"""`intake report`: the ISO 10002 report to management, from a month of complaints seeded
through the real pipeline (real Dramatiq workers on the bundled Redis, aiosmtpd as the relay,
the store on SQLite and PostgreSQL): units acting by mail, complainants answering KABUL/RET
and the survey, on the test's clock.

Every expected figure is computed here from the test's own inputs (the times it sets and the
working hours between them), never read back from the store.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
import shutil
import subprocess
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import median
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from handling import privacy
from intake.cli.main import build_parser
from outbound.broker import make_broker
from reports.figures import percentile
from reports.monthly import Period, build_files
from store.models import ComplaintRow
from tests.conftest import make_settings
from tests.console.test_browser import browser  # noqa: F401  (the fixture)
from tests.mails import mail
from tests.system.test_lifecycle import arrive

pytestmark = pytest.mark.system

IST = ZoneInfo("Europe/Istanbul")
CERT_UNIT = "sertifika.operasyon@example.org"
SSL_UNIT = "ssl.operasyon@example.org"
GENERAL_UNIT = "musteri.iliskileri@example.org"
CARD = ("e-imza kartım okunmuyor", "Nitelikli e-imza kartım okunmuyor, kart okuyucu hata veriyor.")
KEY = ("Private key compromise", "The private key of our SSL certificate leaked on a server.")
AT = datetime(2026, 11, 2, 10, 0, tzinfo=IST)  # Monday: the report of October 2026


def ist(day: int, hour: int, minute: int = 0, month: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=IST)


# Who, their mail, the mailbox, when, and what happens after (when, sender, text).
# Working hours are 08:30–17:30 (9 h a day); the hours noted are working hours.
A = ("Ali Yılmaz <ali@example.net>", CARD, None, ist(6, 10))  # Tuesday
B = ("Berk Şahin <berk@example.net>", CARD, None, ist(6, 11))
C = ("Cem İnce <cem@example.net>", CARD, None, ist(7, 9))
D = ("Deniz Işık <deniz@example.net>", KEY, "ssl", ist(8, 10))  # Thursday
E = ("Emre Kılıç <emre@example.net>", KEY, "ssl", ist(12, 10))  # Monday
F = (
    "Fatma Öz <fatma@example.net>",
    ("Genel soru", "Başvurum hakkında bilgi istiyorum."),
    None,
    ist(13, 10),
)
SEPTEMBER = [
    ("Gül Ak <gul@example.net>", CARD, None, ist(15, 10, month=9)),
    ("Hakan Er <hakan@example.net>", KEY, "ssl", ist(16, 10, month=9)),
]
LAST_YEAR = (
    "İpek Ay <ipek@example.net>",
    ("Genel soru", "Bilgi istiyorum."),
    None,
    ist(14, 10, year=2025),
)
NOVEMBER = ("Jale Uz <jale@example.net>", CARD, None, ist(2, 9, month=11))
PEOPLE = [A, B, C, D, E, F, *SEPTEMBER, LAST_YEAR, NOVEMBER]


@pytest.fixture
def seeded(tmp_path: Path, store_url: str, redis_url: str, smtp, make_runtime, clock):
    inbox, port = smtp
    settings = make_settings(
        tmp_path,
        store={"url": store_url},
        smtp={"host": "127.0.0.1", "port": port},
        broker={"min_backoff_ms": 100, "max_backoff_ms": 500, "max_retries": 3},
        report={"longest_open": 4},
    )
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    refs: dict[tuple, str] = {}

    def ref(who: tuple) -> str:
        return refs[who]

    steps = [(when, "arrive", who) for who in PEOPLE for when in [who[3]]]
    steps += [
        (ist(6, 12), CERT_UNIT, (A, "#eta 2026-10-09 15:00")),  # 2 h: on time
        (ist(7, 10), CERT_UNIT, (A, "#resolved Kartınız değiştirildi.")),  # 9 h
        (ist(7, 11), "complainant", (A, "KABUL")),
        (ist(7, 12), "complainant", (A, "5")),
        (ist(7, 14), CERT_UNIT, (B, "#eta 2026-10-12 15:00")),  # 6.5 + 5.5 = 12 h: late by 3
        (ist(8, 10), CERT_UNIT, (B, "#resolved Kart yenilendi.")),
        (ist(8, 11), "complainant", (B, "RET")),  # reopened: the resolution clock starts over
        (ist(8, 15), CERT_UNIT, (B, "#resolved Yeni kart gönderildi.")),  # 4 h from the RET
        (ist(8, 16), "complainant", (B, "Kabul")),
        (ist(8, 17), "complainant", (B, "2")),
        (ist(8, 13), SSL_UNIT, (D, "#reply We are revoking it; preliminary report attached.")),
        (ist(9, 9), SSL_UNIT, (D, "#resolved Revoked.")),  # 7.5 + 0.5 = 8 h
        (ist(9, 11), "complainant", (D, "KABUL")),  # surveyed, never rates
        (ist(13, 12), SSL_UNIT, (E, "#reply We are looking into it.")),  # 26 h: late by 2
        (ist(13, 11), GENERAL_UNIT, (F, "#merge {A}")),
    ]
    for when, what, arg in sorted(steps, key=lambda s: s[0]):
        clock.set(when)
        if what == "arrive":
            sender, (subject, body), box, _ = arg
            refs[arg] = arrive(rt, mail(sender, subject, body), box).reference
            continue
        who, text = arg
        sender = who[0] if what == "complainant" else what
        arrive(rt, mail(sender, f"Re: [#{ref(who)}]", text.format(A=ref(A))))
    with rt.sessions.begin() as session:  # C is a KVKK data subject's request
        session.execute(
            update(ComplaintRow).where(ComplaintRow.reference == ref(C)).values(category="kvkk")
        )
    clock.set(AT)
    yield rt, ref
    broker.close()


BREACH_ROW = (
    r'<tr data-reference="([^"]+)" data-clock="([^"]+)">.*?<td class="n">([\d.]+)</td></tr>'
)


def files_of(rt) -> dict[str, bytes]:
    with rt.sessions() as session:
        return build_files(session, rt.settings, Period.parse("2026-10"), AT)


def rows_of(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_every_count_of_the_month_is_what_the_test_made_happen(seeded):
    rt, ref = seeded
    files = files_of(rt)

    summary = {(r["dimension"], r["value"]): r for r in rows_of(files["summary.csv"])}
    counts = {key: (r["count"], r["previous"], r["year_before"]) for key, r in summary.items()}
    assert counts[("total", "received")] == ("6", "2", "1")  # A–F; September's two; 2025's one
    assert counts[("total", "merged")] == ("1", "0", "0")  # F, into A
    assert counts[("total", "counted")] == ("5", "2", "1")
    assert counts[("channel", "email")] == ("3", "1", "1")
    assert counts[("channel", "email_ssl")] == ("2", "1", "0")
    assert counts[("product", "nes")] == ("3", "1", "0")
    assert counts[("product", "ssl")] == ("2", "1", "0")
    assert counts[("product", "genel")] == ("0", "0", "1")  # F is merged: not in the tally
    assert summary[("product", "nes")]["name"] == "Nitelikli Elektronik Sertifika (e-imza)"
    assert counts[("unit", "certificate_operations")] == ("3", "1", "0")
    assert counts[("unit", "ssl_operations")] == ("2", "1", "0")
    assert counts[("category", "kvkk")] == ("1", "0", "0")
    assert counts[("category", "none")] == ("4", "2", "1")
    assert sum(int(r["count"]) for (d, _), r in summary.items() if d == "kind") == 5

    lines = {r["reference"]: r for r in rows_of(files["complaints.csv"])}
    assert list(lines) == [ref(who) for who in (A, B, C, D, E, F)]  # October's, by receipt
    assert lines[ref(F)]["status"] == "merged" and lines[ref(F)]["merged_into"] == ref(A)
    assert lines[ref(F)]["counted"] == "no"
    expected = {  # clock → {complaint: (verdict, working or wall hours to meet it)}
        "eta_notice": {A: ("on_time", 2), B: ("late", 12), C: ("breached", None),
                       D: ("on_time", 8), E: ("breached", None)},
        "resolution": {A: ("on_time", 9), B: ("on_time", 4), C: ("breached", None),
                       D: ("on_time", 8), E: ("breached", None)},
        "ssl_preliminary": {D: ("on_time", 3), E: ("late", 26)},
    }  # fmt: skip
    for name, outcomes in expected.items():
        for who, (verdict, hours) in outcomes.items():
            assert lines[ref(who)][name] == verdict, (name, who[0])
            if hours is not None:
                assert lines[ref(who)][f"{name}_hours"] == f"{hours:.2f}", (name, who[0])
    assert lines[ref(A)]["cimer_answer"] == lines[ref(A)]["kvkk_answer"] == ""
    assert [lines[ref(w)]["reopened"] for w in (A, B, C, D, E)] == ["0", "1", "0", "0", "0"]
    assert [lines[ref(w)]["satisfaction"] for w in (A, B, C, D, E)] == ["5", "2", "", "", ""]
    assert [lines[ref(w)]["survey_sent"] for w in (A, B, C, D, E)] == [
        "yes",
        "yes",
        "no",
        "yes",
        "no",
    ]
    assert [lines[ref(w)]["recurring_group"] for w in (A, B, C, D, E)] == ["1", "1", "1", "", ""]

    groups = rows_of(files["recurring.csv"])
    assert [(g["product"], g["size"], g["members"]) for g in groups] == [
        ("nes", "3", f"{ref(A)} {ref(B)} {ref(C)}")  # D and E: two, under min_group 3
    ]

    page = files["report.html"].decode()
    for name, outcomes in expected.items():
        taken = sorted(h for v, h in outcomes.values() if h is not None)
        cells = table_row(page, f'data-clock="{name}"')
        for verdict in ("on_time", "late", "breached", "running"):
            wanted = sum(v == verdict for v, _ in outcomes.values())
            assert cells[f'data-verdict="{verdict}"'] == str(wanted), (name, verdict)
        assert cells['data-figure="median"'] == f"{median(taken):.1f}"
        nearest_rank = taken[math.ceil(0.95 * len(taken)) - 1]
        assert cells['data-figure="p95"'] == f"{nearest_rank:.1f}"
    breaches = re.findall(r'<tr data-reference="([^"]+)" data-clock="([^"]+)">', page)
    assert sorted(breaches) == sorted(
        [(ref(B), "eta_notice"), (ref(C), "eta_notice"), (ref(C), "resolution"),
         (ref(E), "ssl_preliminary"), (ref(E), "eta_notice"), (ref(E), "resolution")]
    )  # fmt: skip
    satisfaction = table_row(page, 'data-score="1"')
    assert [satisfaction[f'data-score="{s}"'] for s in range(1, 6)] == ["0", "1", "0", "0", "1"]
    assert satisfaction['data-figure="mean"'] == "3.50"
    assert satisfaction['data-figure="surveys"'] == "3"  # A, B, D accepted
    assert satisfaction['data-figure="ratings"'] == "2"
    assert satisfaction['data-figure="rate"'] == "67%"
    assert re.search(r'id="reopened">.*?' + ref(B), page, re.S)
    assert 'data-figure="groups">1<' in page and 'data-figure="one_off">2<' in page
    # the longest open, oldest first, whenever received: 2025's, September's two, then C
    opened = re.search(r'id="longest-open">(.*?)</table>', page, re.S)
    assert opened is not None
    found = re.findall(r"<tr><td>([A-Z]+-\d{4}-\d{6})</td>", opened[1])
    assert found == [ref(LAST_YEAR), ref(SEPTEMBER[0]), ref(SEPTEMBER[1]), ref(C)]

    # A month of thousands: the document lists the `list_limit` largest overruns, and says
    # how many more complaints.csv holds.
    every = re.findall(BREACH_ROW, page, re.S)
    settings = dataclasses.replace(
        rt.settings, report=dataclasses.replace(rt.settings.report, list_limit=2)
    )
    with rt.sessions() as session:
        short = build_files(session, settings, Period.parse("2026-10"), AT)["report.html"].decode()
    worst = sorted(every, key=lambda row: -float(row[2]))[:2]
    assert sorted(re.findall(BREACH_ROW, short, re.S)) == sorted(worst)
    assert "4 more in complaints.csv" in short


def table_row(page: str, marker: str) -> dict[str, str]:
    """The cells of the table row holding `marker`, by their data attribute."""
    start = page.index(marker)
    row = page[page.rindex("<tr", 0, start) : page.index("</tr>", start)]
    return dict(re.findall(r'<td class="n" (data-[a-z]+="[^"]+")>([^<]*)</td>', row))


def test_the_files_render_alone_name_nobody_and_an_erasure_changes_no_figure(
    seeded,
    browser,  # noqa: F811
    tmp_path,
    capsys,
):
    """One seeding for all of it (it is the slow part): the HTML in a browser, the PDF,
    the command's files, no personal data, then a KVKK erasure."""
    rt, ref = seeded
    files = files_of(rt)
    check_the_command(rt, tmp_path, files, capsys)
    check_nobody_is_named(files)
    with rt.sessions.begin() as session:
        privacy.erase(session, privacy.Person(email="berk@example.net"), by="dpo", at=AT)
    after = files_of(rt)
    for name in ("report.html", "complaints.csv", "summary.csv", "recurring.csv"):
        assert after[name] == files[name], name
    path = tmp_path / "report.html"
    path.write_bytes(files["report.html"])
    page = browser.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(path.as_uri())
    assert page.locator("h1").inner_text().startswith("Yönetim raporu / Management report")
    headings = page.locator("h2").all_inner_texts()
    assert "Kanallara göre başvurular / Intake by channel" in headings
    assert "Süre aşımları / Breaches" in headings and len(headings) >= 10
    assert page.locator("table").count() >= 10
    assert page.locator("svg").count() == 4  # channel, product, clocks, satisfaction
    assert page.locator("#by-product").inner_text().count("Nitelikli Elektronik Sertifika") == 1
    assert asked == [path.as_uri()]  # nothing but the file itself
    page.close()

    pdf = files["report.pdf"]
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert re.search(rb"/Type\s*/Page\b", b"".join(pdf_objects(pdf)))
    if shutil.which("pdftotext"):  # poppler-utils, where installed
        (tmp_path / "report.pdf").write_bytes(pdf)
        text = subprocess.run(
            ["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, check=True
        ).stdout.decode()
        assert "Kanallara göre başvurular" in text and ref(A) in text


def pdf_objects(pdf: bytes) -> list[bytes]:
    """The PDF's bytes with its streams inflated (WeasyPrint packs objects in streams)."""
    found = [pdf]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            found.append(zlib.decompress(stream))
        except zlib.error:
            pass  # not deflated
    return found


def check_nobody_is_named(files: dict[str, bytes]) -> None:
    for name, content in files.items():
        if name.endswith(".pdf"):
            continue
        text = content.decode("utf-8-sig")
        for sender, *_ in PEOPLE:
            person, address = sender.split(" <")
            assert address.rstrip(">") not in text and person not in text, (name, person)
        assert "example.net" not in text


def check_the_command(rt, tmp_path: Path, files: dict[str, bytes], capsys) -> None:
    """`intake report --month` writes the five files and prints their paths; `--year`."""
    out = tmp_path / "out"
    args = build_parser().parse_args(["report", "--month", "2026-10", "--out", str(out)])
    capsys.readouterr()
    assert args.handler(args, rt.settings) == 0
    names = ["report.html", "report.pdf", "complaints.csv", "summary.csv", "recurring.csv"]
    assert capsys.readouterr().out.split() == [str(out / n) for n in names]
    for name in ("report.html", "complaints.csv", "summary.csv", "recurring.csv"):
        assert (out / name).read_bytes() == files[name], name
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")

    args = build_parser().parse_args(["report", "--year", "2026", "--out", str(out / "y")])
    assert args.handler(args, rt.settings) == 0
    summary = {
        (r["dimension"], r["value"]): r for r in rows_of((out / "y/summary.csv").read_bytes())
    }
    # the year to now: September's two, October's six, November's one; beside it 2025's one
    assert (
        summary[("total", "received")]["count"],
        summary[("total", "received")]["previous"],
    ) == ("9", "1")


# --- without servers ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-10", "2026-10-01", "", "1999"])
def test_a_period_is_a_month_or_a_year(bad):
    assert Period.parse("2026-10") == Period(2026, 10)
    assert Period.parse("2026") == Period(2026)
    with pytest.raises(ValueError):
        Period.parse(bad)


def test_a_period_knows_its_neighbours_and_local_bounds():
    october = Period(2026, 10)
    assert (october.label, Period(2026).label) == ("2026-10", "2026")
    assert october.previous() == Period(2026, 9) and october.year_before() == Period(2025, 10)
    assert Period(2026, 1).previous() == Period(2025, 12)
    assert Period(2026).previous() == Period(2026).year_before() == Period(2025)
    start, end = Period(2026, 12).bounds("Europe/Istanbul")
    assert start == datetime(2026, 11, 30, 21, 0, tzinfo=timezone.utc)
    assert end == datetime(2026, 12, 31, 21, 0, tzinfo=timezone.utc)
    start, end = Period(2026).bounds("Europe/Istanbul")
    assert (start.date().isoformat(), (end - timedelta(seconds=1)).date().isoformat()) == (
        "2026-01-01",
        "2026-12-31",
    )


def test_the_p95_is_a_value_that_occurred():
    assert percentile([1.0, 2.0, 3.0], 0.95) == 3.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    assert percentile([4.0], 0.95) == 4.0


@pytest.mark.parametrize(
    "argv", [["--month", "2026-13"], ["--year", "2026-10"], ["--month", "2026"]]
)
def test_a_bad_period_is_a_usage_error(argv, tmp_path, capsys):
    args = build_parser().parse_args(["report", *argv])
    assert args.handler(args, make_settings(tmp_path)) == 64
    assert "intake: report:" in capsys.readouterr().err
