"""The store failing under `intake inject`: an MTA understands 75 (EX_TEMPFAIL) as "try
again later", so a store that is locked or gone after the start must give 75, never a
traceback and 1 (a bounce), and what was not taken must come in whole when handed again."""

from __future__ import annotations

import email
import os
import sqlite3
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from tests.conftest import ROOT
from tests.system.test_run import inject

INTAKE = [sys.executable, "-m", "intake.cli"]


def config(tmp_path: Path) -> Path:
    text = (ROOT / "settings.toml").read_text(encoding="utf-8")
    text = text.replace(
        'url = "sqlite:///var/intake.db"', f'url = "sqlite:///{tmp_path}/intake.db"'
    )
    text = text.replace("busy_timeout_seconds = 30.0", "busy_timeout_seconds = 0.5")
    text = text.replace('state_dir = "var"', f'state_dir = "{tmp_path}/state"')
    text = text.replace('outbox_dir = "var/outbox"', f'outbox_dir = "{tmp_path}/outbox"')
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def mails(tmp_path: Path, count: int) -> list[str]:
    names = []
    for n in range(count):
        message = EmailMessage()
        message["From"] = f"vatandas{n}@example.com"
        message["To"] = "sikayet@example.org"
        message["Subject"] = f"e-imza kartım açılmıyor {n}"
        message["Message-ID"] = email.utils.make_msgid(domain="example.com")
        message.set_content("Kartımı takınca şifre soruyor, sonra hata veriyor.")
        path = tmp_path / f"mail{n}.eml"
        path.write_bytes(bytes(message))
        names.append(str(path))
    return names


def complaints(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "intake.db") as db:
        return db.execute("select count(*) from complaints").fetchone()[0]


def test_inject_with_the_store_locked_after_start_exits_75_and_the_retry_takes_all(tmp_path):
    settings = config(tmp_path)
    first, second, third = mails(tmp_path, 3)
    fifo = tmp_path / "second.fifo"  # inject reads it after storing the first mail
    os.mkfifo(fifo)
    running = subprocess.Popen(
        [*INTAKE, "--config", str(settings), "inject", first, str(fifo), third],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    with open(fifo, "wb") as pipe:  # opens once inject has taken the first mail
        holder = sqlite3.connect(tmp_path / "intake.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the timeout
        pipe.write(Path(second).read_bytes())
    try:
        out, err = running.communicate(timeout=120)
    finally:
        holder.rollback()
        holder.close()

    assert running.returncode == 75, err
    assert "Traceback" not in err
    assert "not taken" in err and "database is locked" in err
    assert out.startswith(f"{first}: created")
    assert complaints(tmp_path) == 1

    again = inject(settings, tmp_path, first, second, third)  # the MTA hands them over again
    assert again.returncode == 0, again.stderr
    assert [line.split()[1] for line in again.stdout.splitlines()] == [
        "duplicate",
        "created",
        "created",
    ]
    assert complaints(tmp_path) == 3
