"""`intake recurring` through the real store: mails ingested by the pipeline, grouped by the
command's own query, its JSON and text output; complaints outside the period left out."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from intake.cli import recurring
from store.models import ComplaintRow
from tests.conftest import make_settings
from tests.mails import mail

IST = ZoneInfo("Europe/Istanbul")
DAY = datetime(2026, 10, 5, 10, 0, tzinfo=IST)
PIN = (
    ("PIN bloke oldu", "E-imzamın PIN kodunu üç kez yanlış girdim, e-imza kartım bloke oldu."),
    ("ŞİFREM KİLİTLENDİ", "ELEKTRONİK İMZA PİN KODUM BLOKE OLMUŞ, YANLIŞ GİRİNCE KİLİTLENDİ."),
    ("pin blokesi", "e-imza pin kodumu yanlis girdigim icin bloke oldu, pin blokesi kaldirin"),
)
OTHER = ("Kargo gelmedi", "E-imza başvurumu yaptım, kargo hâlâ elime ulaşmadı.")


def ingest(rt, n: int, subject: str, body: str, when: datetime) -> str:
    raw = raw_from_bytes(mail(f"kisi{n}@example.net", subject, body), received_at=when)
    outcome = pipeline.ingest(rt, [raw]).outcomes()[0]
    with rt.sessions() as session:
        return session.get(ComplaintRow, outcome.complaint_id).reference


def run(settings, capsys, *, json_out: bool, since="2026-10-01", until="2026-10-31"):
    args = argparse.Namespace(since=since, until=until, json=json_out)
    assert recurring.command(args, settings) == 0
    return capsys.readouterr().out


def test_recurring_groups_the_stored_complaints_of_the_period(tmp_path, make_runtime, capsys):
    settings = make_settings(tmp_path)
    rt = make_runtime(settings)
    refs = [ingest(rt, n, s, b, DAY + timedelta(days=3 * n)) for n, (s, b) in enumerate(PIN)]
    other = ingest(rt, 7, *OTHER, DAY + timedelta(days=1))
    before = ingest(rt, 8, *PIN[0], datetime(2026, 9, 30, 23, 30, tzinfo=IST))  # not in October
    with rt.sessions() as session:
        products = set(session.scalars(select(ComplaintRow.product)))
    assert len(products) == 1  # the categoriser put them all under one product

    report = json.loads(run(settings, capsys, json_out=True))
    [group] = report["groups"]
    assert group["references"] == refs
    assert group["size"] == 3 and group["product"] in products
    assert group["label"].split()[:2] == ["bloke", "pin"]
    assert group["first"].startswith("2026-10-05") and group["last"].startswith("2026-10-11")
    assert report["one_off"] == 1 and report["recurring"] == 3
    assert before not in json.dumps(report)

    text = run(settings, capsys, json_out=False)
    assert "bloke pin" in text and " ".join(refs) in text
    assert "1 recurring group(s) with 3 complaint(s); 1 one-off complaint(s)" in text
    assert other not in text

    # With September's last evening in the period, the earlier one joins the group.
    widened = json.loads(run(settings, capsys, json_out=True, since="2026-09-30"))
    assert widened["groups"][0]["references"] == [before, *refs]


def test_a_reversed_period_is_a_usage_error(tmp_path, capsys):
    args = argparse.Namespace(since="2026-10-31", until="2026-10-01", json=False)
    assert recurring.command(args, make_settings(tmp_path)) == recurring.EX_USAGE
    assert "after" in capsys.readouterr().err
