"""The `intake` command as operators use it: normalize, categorize, errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import DATA, ROOT

INTAKE = [sys.executable, "-m", "intake.cli", "--config", str(ROOT / "settings.toml")]
CONTRACT = {
    "channel",
    "source_id",
    "received_at",
    "complainant",
    "subject",
    "body",
    "language",
    "attachments",
    "ticket_ref",
    "auto_submitted",
    "product",
    "kind",
}


def intake(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*INTAKE, *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_normalize_prints_the_complaint_schema():
    result = intake("normalize", str(DATA / "system" / "legacy_1254.eml"))
    assert result.returncode == 0, result.stderr
    complaint = json.loads(result.stdout)
    assert set(complaint) == CONTRACT
    assert complaint["subject"] == "Kart okuyucu sürücüsü yüklenmiyor"
    assert complaint["complainant"]["name"] == "Şule Şahin"
    assert complaint["received_at"] == "2026-11-22T12:30:00+03:00"
    assert (complaint["product"], complaint["channel"]) == ("kart_okuyucu", "email")


def test_normalize_through_the_ssl_mailbox_yields_ssl():
    result = intake("normalize", "--mailbox", "ssl", str(DATA / "system" / "plain_tr.eml"))
    complaint = json.loads(result.stdout)
    assert (complaint["channel"], complaint["product"]) == ("email_ssl", "ssl")


def test_normalize_of_something_that_is_not_mail_is_one_line_and_an_exit_code(tmp_path):
    junk = tmp_path / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)))
    result = intake("normalize", str(junk))
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_normalize_of_a_missing_file_is_one_line():
    result = intake("normalize", "/nonexistent/mail.eml")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "No such file" in result.stderr


def test_categorize_answers_one_line_per_input_in_order():
    lines = [
        {"id": "a", "channel": "twitter", "subject": "", "text": "@OrnekSM mobil imzam çalışmıyor"},
        {"id": "b", "channel": "email", "subject": "SSL sertifikası", "text": "CSR onayı gelmedi"},
        {"id": "c", "channel": "webform", "subject": "", "text": "zaman damgasi kontor bitti"},
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    result = intake("categorize", stdin=stdin)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b", "c"]
    assert [o["product"] for o in out] == ["mobil_nes", "ssl", "zaman_damgasi"]
    assert out[1]["unit"] == "ssl_operations"
    assert {"kind", "confidence", "decided_by"} <= set(out[0])


def test_categorize_reports_a_malformed_line_and_goes_on():
    stdin = '{"id": "a", "text": "e-imza"}\nnot json\n{"id": "c", "text": "kart okuyucu"}\n'
    result = intake("categorize", stdin=stdin)
    assert result.returncode == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("id") for o in out] == ["a", None, "c"]
    assert out[1]["line"] == 2 and "error" in out[1]


def test_a_bad_settings_file_is_named_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[smtp]\nprot = 25\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "intake.cli", "--config", str(bad), "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert "smtp.prot: unknown key" in result.stderr and "Traceback" not in result.stderr


def test_injected_junk_is_kept_counted_and_retried(tmp_path):
    from tests.system.test_run import write_config

    config = write_config(tmp_path, None)
    run = [sys.executable, "-m", "intake.cli", "--config", str(config)]

    def call(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*run, *args], input=stdin, capture_output=True, timeout=60, cwd=tmp_path
        )

    junk = call("inject", "-", stdin=b"\x00\x01binary junk, not a mail")
    assert junk.returncode == 0  # stored: an MTA must not bounce or retry it
    assert b"failed raw=1" in junk.stdout
    good = call("inject", "-", stdin=(DATA / "system" / "plain_tr.eml").read_bytes())
    assert b"created raw=2 CMP-" in good.stdout
    status = json.loads(call("status", "--json").stdout)
    assert status["raw_messages"] == {"failed": 1, "processed": 1}
    assert status["complaints"] == {"assigned": 1}
    assert status["delivery"] == {"pending": 1}
    retried = call("retry")
    assert retried.returncode == 0 and b"raw 1: failed NotAnEmail" in retried.stdout


def test_injected_mail_keeps_the_time_of_receipt_it_is_given(tmp_path):
    from tests.system.test_run import write_config

    config = write_config(tmp_path, None)
    run = [sys.executable, "-m", "intake.cli", "--config", str(config)]
    mail = (DATA / "system" / "ssl_problem.eml").read_bytes()
    result = subprocess.run(
        [*run, "inject", "--mailbox", "ssl", "--received-at", "2026-10-28T18:40:00+03:00", "-"],
        input=mail,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    bad = subprocess.run(
        [*run, "inject", "--received-at", "yesterday", "-"],
        input=mail,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert bad.returncode == 65 and b"--received-at" in bad.stderr

    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path}/intake.db")
    with engine.connect() as connection:
        received, due = connection.execute(text("SELECT received_at, due_at FROM complaints")).one()
    engine.dispose()
    assert (str(received)[:19], str(due)[:19]) == ("2026-10-28 15:40:00", "2026-10-29 15:40:00")


def test_run_refuses_to_start_without_the_secrets_it_needs(tmp_path):
    from tests.system.test_run import write_config

    config = write_config(tmp_path, None)
    text = (
        config.read_text(encoding="utf-8")
        .replace(
            'password_env = "INTAKE_SMTP_PASSWORD"', 'password_env = "TEST_UNSET_SMTP_PASSWORD"'
        )
        .replace('host = ""\nport = 25', 'host = "relay.example.org"\nport = 25')
        .replace('security = "plain"\n# Login', 'security = "starttls"\n# Login')
        .replace('username = ""', 'username = "intake"')
    )
    config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TEST_UNSET_SMTP_PASSWORD"}
    result = subprocess.run(
        [sys.executable, "-m", "intake.cli", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 78, result.stderr
    assert "smtp.password_env (TEST_UNSET_SMTP_PASSWORD)" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "state" / "redis.sock").exists()
