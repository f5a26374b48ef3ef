"""An operator's lifecycle commands as subprocesses on a SQLite store: `intake clocks`,
`intake ticket REF <action>`, `intake scheduler --once`.

Mail comes in with `intake inject --received-at`; mails go out to the outbox folder (the
settings of `write_config` have no relay), so `scheduler --once` can send what it owes. The
commands read the time from `intake.clock`, which a subprocess cannot share with the test:
each one is started through a one-line launcher that sets a standing `FakeClock` (the time
the test names) and then calls the same `main` as `python -m intake.cli`, so no result
depends on the wall clock.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import DATA, ROOT
from tests.system.test_run import write_config

IST = ZoneInfo("Europe/Istanbul")
RECEIVED = datetime(2026, 3, 10, 10, 0, tzinfo=IST)  # a Tuesday
LAUNCHER = (
    "import os, sys\n"
    "from datetime import datetime\n"
    "from intake import clock\n"
    "clock.use(clock.FakeClock(datetime.fromisoformat(os.environ['INTAKE_TEST_CLI_NOW'])))\n"
    "from intake.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")
REFERENCE = re.compile(r"CMP-\d{4}-\d{6}")
CLOCK_KEYS = {"reference", "name", "due_at", "state", "met_at", "breached_at"}

Intake = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def intake(tmp_path: Path) -> Intake:
    """`intake --config <this test's settings> ARGS…` as of `now` (default: an hour after
    receipt)."""
    config = write_config(tmp_path, None)
    env = {
        k: v for k, v in os.environ.items() if k not in ("INTAKE_BROKER_URL", "INTAKE_STORE_URL")
    }

    def run(
        *args: str, now: datetime = RECEIVED + timedelta(hours=1), stdin: bytes | None = None
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, "--config", str(config), *args],
            input=stdin,
            capture_output=True,
            timeout=120,
            cwd=tmp_path,
            env={**env, "INTAKE_TEST_CLI_NOW": now.isoformat()},
        )
        return subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode("utf-8"),
            done.stderr.decode("utf-8"),
        )

    return run


def inject(intake: Intake, name: str, mailbox: str | None = None) -> str:
    """One of tests/data/system, received at RECEIVED; its reference."""
    extra = ["--mailbox", mailbox] if mailbox else []
    done = intake(
        "inject",
        *extra,
        "--received-at",
        RECEIVED.isoformat(),
        str(DATA / "system" / name),
        now=RECEIVED,
    )
    assert done.returncode == 0, done.stderr
    [reference] = REFERENCE.findall(done.stdout)
    return reference


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def clocks_json(intake: Intake, *args: str, now: datetime) -> list[dict]:
    return json.loads(ok(intake("clocks", *args, "--json", now=now)))


def show(intake: Intake, reference: str, now: datetime) -> dict:
    return json.loads(ok(intake("ticket", reference, "show", "--json", now=now)))


def instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, f"{text} has no offset"
    return moment


def by_name(listed: list[dict], reference: str) -> dict[str, dict]:
    return {c["name"]: c for c in listed if c["reference"] == reference}


def message_lines(stderr: str) -> list[str]:
    """stderr without the log records (`intake` logs at INFO to stderr)."""
    return [line for line in stderr.splitlines() if line.strip() and not LOG_LINE.match(line)]


# --- intake clocks --------------------------------------------------------------------------


def test_clocks_json_lists_every_clock_with_its_deadline_and_state(intake):
    plain = inject(intake, "plain_tr.eml")
    ssl = inject(intake, "ssl_problem.eml", mailbox="ssl")

    listed = clocks_json(intake, now=RECEIVED + timedelta(hours=1))
    assert isinstance(listed, list) and all(CLOCK_KEYS <= set(item) for item in listed)
    assert {c["reference"] for c in listed} == {plain, ssl}
    dues = [instant(c["due_at"]) for c in listed]
    assert dues == sorted(dues)  # soonest deadline first
    plain_clocks, ssl_clocks = by_name(listed, plain), by_name(listed, ssl)
    assert set(plain_clocks) == {"eta_notice", "resolution"}
    assert set(ssl_clocks) == {"eta_notice", "resolution", "ssl_preliminary"}
    assert instant(ssl_clocks["ssl_preliminary"]["due_at"]) == RECEIVED + timedelta(hours=24)
    assert instant(plain_clocks["eta_notice"]["due_at"]) == RECEIVED + timedelta(days=1)
    for item in listed:
        assert (item["state"], item["met_at"], item["breached_at"]) == ("running", None, None)

    # A day and an hour later both 1-business-day and 24-hour deadlines have passed unmet.
    later = by_name(clocks_json(intake, ssl, now=RECEIVED + timedelta(hours=25)), ssl)
    assert set(later) == {"eta_notice", "resolution", "ssl_preliminary"}
    assert {name: c["state"] for name, c in later.items()} == {
        "eta_notice": "breached",
        "ssl_preliminary": "breached",
        "resolution": "running",
    }


# --- intake ticket --------------------------------------------------------------------------


def test_an_operator_takes_a_complaint_from_its_eta_through_a_wait_to_its_rating(intake):
    ref = inject(intake, "plain_tr.eml")
    tuesday_11 = RECEIVED + timedelta(hours=1)

    done = ok(intake("ticket", ref, "eta", "2026-03-13", "15:00", now=tuesday_11))
    assert done.strip() == f"{ref}: eta done; status investigating; 1 message(s) owed"
    shown = show(intake, ref, tuesday_11)
    assert shown["status"] == "investigating"
    assert instant(shown["eta_at"]) == datetime(2026, 3, 13, 15, 0, tzinfo=IST)
    clocks = {c["name"]: c for c in shown["clocks"]}
    assert clocks["eta_notice"]["state"] == "met"
    assert instant(clocks["eta_notice"]["met_at"]) == tuesday_11
    assert {"purpose": "eta", "audience": "complainant", "state": "pending", "sent_at": None} in (
        shown["notices"]
    )
    kinds = [e["kind"] for e in shown["events"]]
    assert "status_changed" in kinds and "eta_set" in kinds
    resolution_due = instant(clocks["resolution"]["due_at"])
    assert resolution_due == datetime(2026, 3, 17, 10, 0, tzinfo=IST)

    tuesday_12 = RECEIVED + timedelta(hours=2)
    ok(intake("ticket", ref, "status", "waiting", now=tuesday_12))
    shown = show(intake, ref, tuesday_12)
    clocks = {c["name"]: c for c in shown["clocks"]}
    assert shown["status"] == "waiting_on_complainant"
    assert (clocks["eta_notice"]["state"], clocks["resolution"]["state"]) == ("met", "paused")

    wednesday_12 = tuesday_12 + timedelta(days=1)
    ok(intake("ticket", ref, "status", "investigating", now=wednesday_12))
    shown = show(intake, ref, wednesday_12)
    clocks = {c["name"]: c for c in shown["clocks"]}
    assert shown["status"] == "investigating" and clocks["resolution"]["state"] == "running"
    # The wait held Tuesday 12:00–17:30 and Wednesday 08:30–12:00: 9 h of working time,
    # one business day, so the resolution target moves from Tuesday 17th to Wednesday 18th.
    assert instant(clocks["resolution"]["due_at"]) == datetime(2026, 3, 18, 10, 0, tzinfo=IST)

    ok(intake("ticket", ref, "resolve", "Karar", "metni", now=wednesday_12))
    shown = show(intake, ref, wednesday_12)
    assert (shown["status"], shown["decision"]) == ("resolved", "Karar metni")
    assert {c["name"]: c["state"] for c in shown["clocks"]}["resolution"] == "met"

    ok(intake("ticket", ref, "accept", now=wednesday_12))
    assert show(intake, ref, wednesday_12)["status"] == "closed"

    ok(intake("ticket", ref, "rate", "4", now=wednesday_12))
    shown = show(intake, ref, wednesday_12)
    assert shown["satisfaction"] == 4 and instant(shown["satisfaction_at"]) == wednesday_12
    assert [(n["purpose"], n["audience"]) for n in shown["notices"]] == [
        ("eta", "complainant"),
        ("decision", "complainant"),
        ("accepted", "unit"),
        ("survey", "complainant"),
    ]


def test_a_refused_action_exits_non_zero_with_one_line_and_no_traceback(intake):
    closed = inject(intake, "plain_tr.eml")
    now = RECEIVED + timedelta(hours=1)
    ok(intake("ticket", closed, "resolve", "Karar", "metni", now=now))
    ok(intake("ticket", closed, "accept", now=now))
    ok(intake("ticket", closed, "rate", "5", now=now))
    open_ = inject(intake, "ssl_problem.eml", mailbox="ssl")
    before = show(intake, open_, now)

    refusals = [
        (closed, ["resolve", "Yeni", "karar"], "closed"),
        (closed, ["rate", "4"], "rated already"),
        (open_, ["eta", "tomorrow"], "expected YYYY-MM-DD"),
        (open_, ["eta", "2026-03-09", "10:00"], "has passed"),
        (open_, ["reassign", "nosuchunit"], "nosuchunit"),
        (open_, ["reassign", "ssl_operations"], "already"),
        (open_, ["merge", "CMP-2026-999999"], "CMP-2026-999999"),
        (open_, ["merge", open_], "itself"),
        (open_, ["rate", "9"], "1 to 5"),
        (open_, ["accept"], "may not accept"),
        ("CMP-2026-999999", ["show"], "no such complaint"),
    ]
    for reference, words, reason in refusals:
        done = intake("ticket", reference, *words, now=now)
        assert done.returncode == 1, (words, done.stdout, done.stderr)
        assert done.stdout == "", words
        assert "Traceback" not in done.stderr, words
        [line] = message_lines(done.stderr)
        assert line.startswith(f"intake: {reference}: ") and reason in line, (words, line)

    after = show(intake, open_, now)
    assert {k: after[k] for k in ("status", "unit", "eta_at", "merged_into", "satisfaction")} == {
        k: before[k] for k in ("status", "unit", "eta_at", "merged_into", "satisfaction")
    }
    assert after["events"] == before["events"] and after["notices"] == before["notices"]
    assert show(intake, closed, now)["satisfaction"] == 5


# --- intake scheduler --once ----------------------------------------------------------------


def test_scheduler_once_sends_and_prints_each_owed_notice_once(intake, tmp_path):
    ssl = inject(intake, "ssl_problem.eml", mailbox="ssl")
    outbox = tmp_path / "outbox"
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    at = (RECEIVED + timedelta(hours=13)).isoformat()  # Tuesday 23:00: the desk is closed

    first = ok(intake("scheduler", "--once", "--at", at, now=RECEIVED + timedelta(hours=13)))
    [line] = first.splitlines()
    assert line.startswith(f"{ssl} ssl_preliminary warning 50% → unit"), line
    assert line.endswith(": sent"), line
    [written] = set(outbox.glob("*.eml")) - before
    message = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert message["To"] == "ssl.operasyon@example.org"
    assert ssl in message["Subject"]

    again = ok(intake("scheduler", "--once", "--at", at, now=RECEIVED + timedelta(hours=14)))
    assert again == ""
    assert set(outbox.glob("*.eml")) - before == {written}


def test_scheduler_once_with_an_unreadable_time_exits_65(intake):
    done = intake("scheduler", "--once", "--at", "junk")
    assert done.returncode == 65
    assert done.stdout == "" and "Traceback" not in done.stderr
    [line] = message_lines(done.stderr)
    assert "--at" in line and "junk" in line


def test_the_launcher_runs_the_same_cli_as_python_m_intake_cli():
    """The fixed-clock launcher adds nothing but the clock: `--help` is the module's."""
    module = subprocess.run(
        [sys.executable, "-m", "intake.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    launched = subprocess.run(
        [sys.executable, "-c", LAUNCHER, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "INTAKE_TEST_CLI_NOW": RECEIVED.isoformat()},
    )
    assert module.returncode == launched.returncode == 0
    assert launched.stdout == module.stdout and "ticket" in launched.stdout
