"""`intake run` as a user starts it: bundled Redis, workers, reconciler; mail in, mail out;
then SIGTERM (or the supervisor killed outright) leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import DATA, ROOT, free_port

pytestmark = pytest.mark.system
INTAKE = [sys.executable, "-m", "intake.cli"]


def write_config(tmp_path: Path, smtp_port: int | None) -> Path:
    text = (ROOT / "settings.toml").read_text(encoding="utf-8")
    text = text.replace(
        'url = "sqlite:///var/intake.db"', f'url = "sqlite:///{tmp_path}/intake.db"'
    )
    text = text.replace('state_dir = "var"', f'state_dir = "{tmp_path}/state"')
    text = text.replace('outbox_dir = "var/outbox"', f'outbox_dir = "{tmp_path}/outbox"')
    text = text.replace("reconcile_every_seconds = 60", "reconcile_every_seconds = 2")
    text = text.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{free_port()}"')
    if smtp_port:
        text = text.replace('host = ""\nport = 25', f'host = "127.0.0.1"\nport = {smtp_port}')
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def inject(config: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`intake inject ARGS…` beside a running `intake run`, as an MTA would call it."""
    return subprocess.run(
        [*INTAKE, "--config", str(config), "inject", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def start(config: Path, tmp_path: Path) -> subprocess.Popen:
    log = open(tmp_path / "run.log", "wb")
    process = subprocess.Popen(
        [*INTAKE, "--config", str(config), "run"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = (tmp_path / "run.log").read_text(errors="replace")
        if "intake is running" in text and _workers_ready(process):
            return process
        assert process.poll() is None, text
        time.sleep(0.2)
    process.kill()
    raise AssertionError((tmp_path / "run.log").read_text(errors="replace"))


def _workers_ready(process: subprocess.Popen) -> bool:
    names = [" ".join(p.cmdline()) for p in psutil.Process(process.pid).children(recursive=True)]
    return any("redis-server" in n for n in names) and sum("dramatiq" in n for n in names) >= 2


def family(process: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def gone(processes: list[psutil.Process], timeout: float = 30) -> list[psutil.Process]:
    _gone, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def test_run_delivers_injected_mail_and_stops_cleanly_on_sigterm(tmp_path, smtp):
    inbox, port = smtp
    config = write_config(tmp_path, port)
    process = start(config, tmp_path)
    children = family(process)
    try:
        injected = inject(config, tmp_path, str(DATA / "system" / "plain_tr.eml"))
        assert injected.returncode == 0, injected.stderr
        assert "created" in injected.stdout
        deadline = time.monotonic() + 60
        while len(inbox.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(inbox.to("sertifika.operasyon@example.org")) == 1
        assert len(inbox.to("ayse.yilmaz@example.com")) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0, (tmp_path / "run.log").read_text(errors="replace")
    assert gone(children) == []
    assert not (tmp_path / "state" / "redis.sock").exists()


def test_run_keeps_the_clocks_an_old_ssl_report_is_past_its_deadline(tmp_path, smtp):
    """The scheduler runs inside `intake run`: an SSL report received long ago (imported
    with its time of receipt) is past its 24 hours at any hour of any later day, so the
    breach reaches the SSL unit without anyone running `intake scheduler`. (Its business-time
    clocks notify only in working hours, so what else arrives depends on the hour.)"""
    inbox, port = smtp
    config = write_config(tmp_path, port)
    process = start(config, tmp_path)
    try:
        injected = inject(
            config,
            tmp_path,
            "--mailbox",
            "ssl",
            "--received-at",
            "2026-01-05T10:00:00+03:00",
            str(DATA / "system" / "ssl_problem.eml"),
        )
        assert injected.returncode == 0, injected.stderr
        deadline = time.monotonic() + 60

        def breaches() -> list:
            return [
                m
                for m in inbox.to("ssl.operasyon@example.org")
                if "Süre aşıldı" in m["Subject"]
                and "BR 4.9.5" in m.get_body(("plain",)).get_content()
            ]

        while not breaches() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(breaches()) == 1, (tmp_path / "run.log").read_text(errors="replace")
        time.sleep(6)  # another pass of the loop: nothing is sent twice
        assert len(breaches()) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def test_run_serves_the_console_its_probes_and_metrics(tmp_path):
    """`intake run` on a fresh install: /readyz is 200 once the scheduler holds its lock (no
    poller is enabled), the console asks for a login, /metrics counts what came in."""
    import httpx

    config = write_config(tmp_path, None)
    listen = next(
        line.split('"')[1]
        for line in config.read_text().splitlines()
        if line.startswith("listen = ")
    )
    process = start(config, tmp_path)
    try:
        injected = inject(config, tmp_path, str(DATA / "system" / "plain_tr.eml"))
        assert injected.returncode == 0, injected.stderr
        base = f"http://{listen}"
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline:
            ready = httpx.get(f"{base}/readyz", timeout=5)
            if ready.status_code == 200:
                break
            time.sleep(0.5)
        assert ready is not None and ready.status_code == 200, ready.text if ready else ""
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        overview = httpx.get(f"{base}/", timeout=5)
        assert overview.status_code == 303 and overview.headers["location"].startswith("/login")
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert 'intake_messages_received_total{channel="email"} 1.0' in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def test_run_exits_with_a_failure_when_its_bundled_redis_dies(tmp_path):
    """So that a supervisor restarts it (systemd's Restart=on-failure): the web form and the
    webhooks must not stay down behind an exit code of 0 (issue 11, defect 8)."""
    config = write_config(tmp_path, None)
    process = start(config, tmp_path)
    redis = next(p for p in family(process) if "redis-server" in " ".join(p.cmdline()))
    redis.kill()
    assert process.wait(60) == 75, (tmp_path / "run.log").read_text(errors="replace")


def test_children_die_with_a_killed_supervisor(tmp_path):
    config = write_config(tmp_path, None)
    process = start(config, tmp_path)
    children = family(process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    assert gone(children) == []


def test_a_second_run_on_the_same_state_folder_is_refused(tmp_path):
    config = write_config(tmp_path, None)
    process = start(config, tmp_path)
    try:
        second = subprocess.run(
            [*INTAKE, "--config", str(config), "run"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert second.returncode != 0
        assert "another process owns the bundled Redis" in second.stderr
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
