"""`intake new` as call-centre staff run it: a subprocess with a settings file, the same path
as the desk API without HTTP; it prints the reference of the stored complaint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from store.models import ComplaintRow, EventRow
from tests.conftest import ROOT

INTAKE = [sys.executable, "-m", "intake.cli"]
REFERENCE = re.compile(r"CMP-\d{4}-\d{6}")


def write_config(tmp_path: Path) -> Path:
    """The shipped settings with this test's store and state folders."""
    text = (ROOT / "settings.toml").read_text(encoding="utf-8")
    text = text.replace(
        'url = "sqlite:///var/intake.db"', f'url = "sqlite:///{tmp_path}/intake.db"'
    )
    text = text.replace('state_dir = "var"', f'state_dir = "{tmp_path}/state"')
    text = text.replace('outbox_dir = "var/outbox"', f'outbox_dir = "{tmp_path}/outbox"')
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def intake_new(tmp_path: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "INTAKE_BROKER_URL": redis_url}
    return subprocess.run(
        [*INTAKE, "--config", str(write_config(tmp_path)), "new", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def complaints(tmp_path: Path) -> list[ComplaintRow]:
    engine = create_engine(f"sqlite:///{tmp_path}/intake.db")
    with Session(engine) as session:
        rows = list(session.scalars(select(ComplaintRow)))
        session.expunge_all()
    engine.dispose()
    return rows


def test_phone_entry_prints_its_reference_and_is_stored(tmp_path, redis_url):
    done = intake_new(
        tmp_path,
        redis_url,
        "--channel",
        "phone",
        "--name",
        "Zeynep Arslan",
        "--email",
        "zeynep@example.com",
        "--phone",
        "0505 111 22 33",
        "--subject",
        "SSL sertifikası",
        "--product",
        "ssl",
        "--operator",
        "agent7",
        "--text",
        "SSL sertifikamın kurulumunda ara sertifika hatası alıyorum.",
    )

    assert done.returncode == 0, done.stderr
    reference = done.stdout.strip()
    assert REFERENCE.fullmatch(reference)
    [complaint] = complaints(tmp_path)
    assert (complaint.reference, complaint.channel, complaint.unit) == (
        reference,
        "phone",
        "ssl_operations",
    )
    assert complaint.ack_state == "pending"
    engine = create_engine(f"sqlite:///{tmp_path}/intake.db")
    with Session(engine) as session:
        notes = session.scalars(select(EventRow.detail).where(EventRow.kind == "received")).one()
    engine.dispose()
    assert "entered by agent7" in notes["notes"]


def test_the_same_petition_twice_prints_the_same_reference(tmp_path, redis_url):
    args = (
        "--channel",
        "cimer",
        "--petition",
        "CMR-55",
        "--name",
        "Ali Veli",
        "--text",
        "Kart okuyucu teslim edilmedi.",
    )
    first = intake_new(tmp_path, redis_url, *args)
    again = intake_new(tmp_path, redis_url, *args)

    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert again.stdout == first.stdout
    assert "already entered" in again.stderr
    assert len(complaints(tmp_path)) == 1


def test_a_petition_without_its_number_is_refused_with_the_reason(tmp_path, redis_url):
    done = intake_new(tmp_path, redis_url, "--channel", "cimer", "--text", "Dilekçe")

    assert done.returncode == 65
    assert "petition_number: required for cimer" in done.stderr
    assert done.stdout == ""
