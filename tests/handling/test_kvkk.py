"""KVKK on a real store (SQLite and PostgreSQL): a person's data exported, erased (nothing of it
left anywhere in the database, every count the same) and the retention job dropping exactly
what has expired. Complaints come in through the pipeline: mail with an attachment, Telegram.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from handling import actions, privacy
from handling.actions import Act
from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from ingest.channels.telegram.receive import raw_from_update
from intake.cli import main as cli
from intake.cli.scheduler import SchedulerFeed
from intake.lifecycle import Actor
from intake.runtime import Runtime
from store import repo
from store.models import (
    AttachmentRow,
    Base,
    BlobRow,
    ComplaintRow,
    EventRow,
    RawMessageRow,
)
from tests.conftest import DATA, make_settings

IST = ZoneInfo("Europe/Istanbul")
TUESDAY = datetime(2026, 3, 10, 10, 0, tzinfo=IST)
NAME = "Zeynep Karaca"
ADDRESS = "Zeynep.Karaca@example.com"
PHONE = "0532 987 65 43"
PDF = b"%PDF-1.4\n1 0 obj << /Zeynep (fatura) >> endobj\ntrailer\n%%EOF\n"
SHARED = b"%PDF-1.4\n% the same form, sent by two people\n%%EOF\n"
# What must not be found anywhere once she is erased (the phone in every form it came in).
NEEDLES = ("zeynep", "karaca", "987 65 43", "9876543", "ayşe", "yılmaz", "ayse_yilmaz",
           "512345678")  # fmt: skip


@pytest.fixture
def desk(tmp_path: Path, store_url: str, make_runtime, clock) -> Runtime:
    clock.set(TUESDAY)
    return make_runtime(make_settings(tmp_path, store={"url": store_url}))


def mail_with_files(sender: str, body: str, files: dict[str, bytes]) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, "sikayet@example.org"
    msg["Subject"] = "e-imza kartım çalışmıyor"
    msg["Message-ID"] = make_msgid(domain="mail.example.net")
    msg.set_content(body)
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


def arrive(rt: Runtime, raw: Any) -> str:
    outcome = pipeline.ingest(rt, [raw]).outcomes()[0]
    assert outcome.reference, outcome
    return outcome.reference


def by_mail(rt: Runtime, sender: str, body: str, files: dict[str, bytes]) -> str:
    return arrive(rt, raw_from_bytes(mail_with_files(sender, body, files), channel="email"))


def by_telegram(rt: Runtime) -> str:
    update = json.loads((DATA / "telegram" / "private_text.json").read_text(encoding="utf-8"))
    return arrive(rt, raw_from_update(update, "message", update["message"], []))


def zeyneps(rt: Runtime) -> list[str]:
    """Two complaints of Zeynep (her address with a +tag and in other case on the second),
    one of Mehmet sharing one of her files."""
    first = by_mail(
        rt,
        f"{NAME} <{ADDRESS}>",
        f"Kartım okunmuyor.\n\nSaygılarımla,\n{NAME}\nTel: {PHONE}",
        {"zeynep-karaca-fatura.pdf": PDF, "form.pdf": SHARED},
    )
    second = by_mail(
        rt, f"{NAME} <zeynep.karaca+kart@EXAMPLE.com>", "PIN bloke oldu. +90 (532) 987-6543", {}
    )
    by_mail(rt, "Mehmet Demir <mehmet@example.org>", "Benim de kartım bozuk.", {"f.pdf": SHARED})
    return [first, second]


def dump(rt: Runtime) -> str:
    """Every text, JSON and binary value of every table, as one lower-case string."""
    parts = []
    with rt.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    elif isinstance(value, (dict, list)):
                        value = json.dumps(value, ensure_ascii=False)
                    parts.append(str(value))
    return "\n".join(parts).lower()


def counts(rt: Runtime) -> list[tuple[Any, ...]]:
    with rt.sessions() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(
                    ComplaintRow.channel,
                    ComplaintRow.product,
                    ComplaintRow.unit,
                    ComplaintRow.kind,
                    ComplaintRow.status,
                    func.count(),
                )
                .group_by(
                    ComplaintRow.channel,
                    ComplaintRow.product,
                    ComplaintRow.unit,
                    ComplaintRow.kind,
                    ComplaintRow.status,
                )
                .order_by(ComplaintRow.channel, ComplaintRow.product, ComplaintRow.unit)
            )
        ]


def export(rt: Runtime, **who: str) -> dict[str, Any]:
    with rt.sessions() as session:
        return privacy.export(session, privacy.Person(**who), rt.settings)


def erase(rt: Runtime, *, dry_run: bool = False, **who: str) -> privacy.Erased:
    with rt.sessions.begin() as session:
        return privacy.erase(
            session, privacy.Person(**who), by="operator:dpo", at=TUESDAY, dry_run=dry_run
        )


# --- export ------------------------------------------------------------------------------


def test_export_finds_every_complaint_of_an_address_whatever_its_case_and_tag(desk):
    refs = zeyneps(desk)

    found = export(desk, email="ZEYNEP.KARACA+talep@example.com")

    assert [c["reference"] for c in found["complaints"]] == refs
    first = found["complaints"][0]
    assert first["complainant"]["name"] == NAME
    assert first["complainant"]["phone"] == "+905329876543"
    assert {(a["filename"], a["size"], a["bytes_held"]) for a in first["attachments"]} == {
        ("zeynep-karaca-fatura.pdf", len(PDF), True),
        ("form.pdf", len(SHARED), True),
    }
    assert all(len(a["sha256"]) == 64 and "data" not in a for a in first["attachments"])
    assert "Kartım okunmuyor" in first["messages"][0]["payload"]
    assert "received" in [e["kind"] for e in first["events"]] or first["events"]
    assert json.dumps(found, ensure_ascii=False)  # all of it is JSON
    assert export(desk, email="someone.else@example.com")["complaints"] == []


def test_export_by_phone_matches_the_number_in_any_turkish_form(desk):
    refs = zeyneps(desk)
    for form in ("05329876543", "+90 532 987 65 43", "(0532) 987 65 43", "532-987-6543"):
        assert [c["reference"] for c in export(desk, phone=form)["complaints"]] == refs, form
    assert export(desk, phone="0532 987 65 44")["complaints"] == []


def test_export_by_handle_finds_the_telegram_complaint_by_username_or_id(desk):
    ref = by_telegram(desk)
    for handle in ("@ayse_yilmaz", "AYSE_YILMAZ", "tg:512345678"):
        found = export(desk, handle=handle)["complaints"]
        assert [c["reference"] for c in found] == [ref], handle
    assert found[0]["conversation"] == "telegram:512345678"
    assert export(desk, handle="@someone")["complaints"] == []


# --- erase -------------------------------------------------------------------------------


def test_erasure_leaves_nothing_personal_anywhere_and_every_count_as_it_was(desk):
    refs = zeyneps(desk)
    telegram = by_telegram(desk)
    assert all(needle in dump(desk) for needle in ("zeynep", "987 65 43", "ayse_yilmaz"))
    before = counts(desk)
    with desk.sessions() as session:
        events_before = session.scalar(select(func.count()).select_from(EventRow))

    done = erase(desk, email=ADDRESS)
    erase(desk, handle="@ayse_yilmaz")

    assert done.complaints == refs and done.raw_payloads == 2 and done.blobs == 1
    text = dump(desk)
    assert [n for n in NEEDLES if n in text] == []
    assert counts(desk) == before
    assert export(desk, email=ADDRESS)["complaints"] == []
    assert export(desk, phone=PHONE)["complaints"] == []
    with desk.sessions() as session:
        erased = session.scalars(
            select(EventRow).where(EventRow.kind == privacy.ERASED_EVENT).order_by(EventRow.id)
        ).all()
        assert len(erased) == 3
        assert erased[0].actor == "operator:dpo"
        assert erased[0].detail["fields"] == ["name", "email", "phone"]
        assert erased[2].detail["fields"] == ["name", "handle", "conversation"]
        assert session.scalar(select(func.count()).select_from(EventRow)) == events_before + 3
        rows = {
            r.reference: r
            for r in session.scalars(select(ComplaintRow).where(ComplaintRow.reference.in_(refs)))
        }
        assert rows[refs[0]].product and rows[refs[0]].body.startswith("Kartım okunmuyor")
        # Sizes and hashes stay; her own file's bytes go, the one Mehmet also sent stays.
        files = session.execute(
            select(AttachmentRow.size, BlobRow.size, func.length(BlobRow.data))
            .join(BlobRow, BlobRow.sha256 == AttachmentRow.sha256)
            .where(AttachmentRow.complaint_id == rows[refs[0]].id)
            .order_by(AttachmentRow.size)
        ).all()
        assert sorted(files) == sorted([(len(PDF), len(PDF), 0), (len(SHARED),) * 3])
        raws = session.scalars(
            select(RawMessageRow).where(RawMessageRow.complaint_id.in_(rows[r].id for r in refs))
        ).all()
        assert raws and all(r.payload == b"" and r.size > 0 for r in raws)
    assert telegram


def test_a_dry_run_says_what_would_go_and_changes_nothing(desk):
    zeyneps(desk)
    before = dump(desk)

    done = erase(desk, email=ADDRESS, dry_run=True)

    assert len(done.complaints) == 2 and done.raw_payloads == 2 and done.blobs == 1
    assert dump(desk) == before


def test_the_cli_exports_erases_only_with_yes_and_exports_nothing_after(desk, capsys, tmp_path):
    zeyneps(desk)
    config = tmp_path / "settings.toml"
    config.write_text(
        (Path(__file__).parents[2] / "settings.toml")
        .read_text(encoding="utf-8")
        .replace('url = "sqlite:///', f'url = "{desk.settings.store.url}" #', 1),
        encoding="utf-8",
    )
    if desk.settings.store.url not in config.read_text(encoding="utf-8"):
        pytest.fail("the test's settings did not take the store URL")

    assert cli.main(["--config", str(config), "privacy", "export", "--email", ADDRESS]) == 0
    assert len(json.loads(capsys.readouterr().out)["complaints"]) == 2
    assert cli.main(["--config", str(config), "privacy", "erase", "--email", ADDRESS]) == 2
    assert "zeynep" in dump(desk)
    assert cli.main(["--config", str(config), "privacy", "erase", "--email", ADDRESS, "--yes"]) == 0
    assert "2 complaint(s)" in capsys.readouterr().out
    assert cli.main(["--config", str(config), "privacy", "export", "--email", ADDRESS]) == 0
    assert json.loads(capsys.readouterr().out)["complaints"] == []
    assert "zeynep" not in dump(desk)


# --- retention ---------------------------------------------------------------------------


def close(rt: Runtime, reference: str, clock, at: datetime) -> None:
    clock.set(at)
    with rt.sessions.begin() as session:
        complaint = session.scalars(
            select(ComplaintRow).where(ComplaintRow.reference == reference)
        ).one()
        act = Act(session, rt.settings, complaint, Actor.UNIT, "unit:test", source=f"r{at}")
        actions.resolve(act, "Kartınız yenilendi.")
    with rt.sessions.begin() as session:
        complaint = session.scalars(
            select(ComplaintRow).where(ComplaintRow.reference == reference)
        ).one()
        act = Act(session, rt.settings, complaint, Actor.OPERATOR, "operator:t", source=f"c{at}")
        actions.close(act)


def held(rt: Runtime, reference: str) -> tuple[int, int]:
    """(raw payloads, attachment files) still holding bytes."""
    with rt.sessions() as session:
        complaint = session.scalars(
            select(ComplaintRow).where(ComplaintRow.reference == reference)
        ).one()
        raws = privacy.raws_of(session, complaint)
        files = session.scalar(
            select(func.count())
            .select_from(AttachmentRow)
            .join(BlobRow, BlobRow.sha256 == AttachmentRow.sha256)
            .where(AttachmentRow.complaint_id == complaint.id, func.length(BlobRow.data) > 0)
        )
        return sum(1 for r in raws if r.payload), files or 0


def test_retention_drops_exactly_what_expired_and_records_it_once(desk, clock):
    old, recent = zeyneps(desk)
    still_open = by_mail(desk, "Ali <ali@example.net>", "Bekliyorum.", {"a.pdf": PDF + b"x"})
    closed_at = TUESDAY + timedelta(days=1)
    close(desk, old, clock, closed_at)
    close(desk, recent, clock, closed_at + timedelta(days=10))
    days = desk.settings.privacy.retention_days
    expiry = closed_at + timedelta(days=days)

    assert privacy.retain(desk.sessions, desk.settings, expiry - timedelta(seconds=1)) == []
    assert held(desk, old) == (1, 2)

    dropped = privacy.retain(desk.sessions, desk.settings, expiry)

    assert dropped == [privacy.Dropped(old, 1, 1)]  # the file Mehmet sent too stays
    assert held(desk, old) == (0, 1)
    assert held(desk, recent) == (1, 0)
    assert held(desk, still_open) == (1, 1)
    assert privacy.retain(desk.sessions, desk.settings, expiry + timedelta(days=5)) == []
    with desk.sessions() as session:
        events = session.scalars(
            select(EventRow).where(EventRow.kind == privacy.RETENTION_EVENT)
        ).all()
        assert [(e.detail["raw_payloads"], e.detail["blobs"], e.actor) for e in events] == [
            (1, 1, "system:retention")
        ]
        # What stays: the complaint, its product, its text.
        assert session.scalars(
            select(ComplaintRow.complainant_email).where(ComplaintRow.reference == old)
        ).one()


def test_the_scheduler_runs_retention_once_a_local_day(desk, clock):
    old, _ = zeyneps(desk)
    close(desk, old, clock, TUESDAY)
    later = TUESDAY + timedelta(days=desk.settings.privacy.retention_days, hours=1)

    assert privacy.retain_daily(desk.sessions, desk.settings, later) == [privacy.Dropped(old, 1, 1)]
    assert privacy.retain_daily(desk.sessions, desk.settings, later + timedelta(hours=1)) is None
    assert privacy.retain_daily(desk.sessions, desk.settings, later + timedelta(days=1)) == []


def test_the_scheduler_loop_drops_what_expired_in_its_pass(desk, clock):
    old, _ = zeyneps(desk)
    close(desk, old, clock, TUESDAY)
    clock.set(TUESDAY + timedelta(days=desk.settings.privacy.retention_days, hours=1))

    SchedulerFeed(desk).cycle()

    assert held(desk, old) == (0, 1)


def test_a_file_sent_again_after_its_bytes_were_dropped_is_held_again(desk, clock):
    old, _ = zeyneps(desk)
    close(desk, old, clock, TUESDAY)
    privacy.retain(desk.sessions, desk.settings, TUESDAY + timedelta(days=731))
    assert held(desk, old) == (0, 1)

    again = by_mail(desk, "Ali <ali@example.net>", "Aynı fatura.", {"fatura.pdf": PDF})

    assert held(desk, again) == (1, 1)
    with desk.sessions() as session:
        assert repo.get_blob(session, hashlib.sha256(PDF).hexdigest()) == PDF
