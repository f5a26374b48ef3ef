"""`intake user add|list|remove` as subprocesses on a SQLite store: the password from the
environment (never an argument), stored as an argon2 hash that logs in."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from console import auth
from tests.system.test_run import write_config


def test_a_user_added_from_the_environment_can_log_in_and_is_listed_and_removed(tmp_path):
    config = write_config(tmp_path, None)

    def intake(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "intake.cli", "--config", str(config), "user", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, **env},
        )

    added = intake("add", "Ayse", "--password-env", "PW", PW="doğru-parola-123")
    assert added.returncode == 0, added.stderr
    short = intake("add", "veli", "--password-env", "PW", PW="kısa")
    assert short.returncode == 1 and "at least 10" in short.stderr
    unset = intake("add", "veli", "--password-env", "NOT_SET_ANYWHERE")
    assert unset.returncode == 1 and "NOT_SET_ANYWHERE" in unset.stderr
    assert intake("list").stdout.split()[0] == "ayse"

    engine = create_engine(f"sqlite:///{tmp_path}/intake.db")
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$") and "doğru" not in stored
    with sessionmaker(engine).begin() as session:
        assert auth.verify(session, "ayse", "doğru-parola-123") is not None
        assert auth.verify(session, "ayse", "yanlış-parola-123") is None
    engine.dispose()

    assert intake("remove", "ayse").returncode == 0
    assert intake("remove", "ayse").returncode == 1
    assert intake("list").stdout == ""
