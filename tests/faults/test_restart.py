"""`intake run` killed outright (kill -9) and started again, with Redis running elsewhere as in
production: the restarted instance takes its feeds' locks back from its dead self at once, so
a mail that reached the SSL box while intake was down is acknowledged within seconds of the
restart, not after the old lock's expiry (`[imap] lock_ttl_seconds`, 120 s; issue 11, defect 1).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import missing
from tests.ingest.dovecot import DovecotServer
from tests.system.test_run import INTAKE, family, gone, write_config

pytestmark = pytest.mark.system
REDIS = ("127.0.0.1", 6379)
CLAIM = "intake-test:claimed-by"
MAILBOX_LOCK = "intake:feed-lock:imap:ssl/INBOX"
SCHEDULER_LOCK = "intake:feed-lock:scheduler"
TTL = 120  # the shipped [imap] lock_ttl_seconds: a restart must not wait for it


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    """A database of the Redis on 127.0.0.1:6379 that was empty and is ours for this test."""
    me = secrets.token_hex(8)
    try:
        redis.Redis(*REDIS, socket_timeout=5).ping()
    except redis.RedisError as exc:
        missing(f"Redis on {REDIS[0]}:{REDIS[1]} ({exc})")
    for db in range(15, 0, -1):
        client = redis.Redis(*REDIS, db=db, socket_timeout=5)
        if not client.set(CLAIM, me, nx=True, ex=900):
            continue
        if client.dbsize() != 1:  # in use without a claim: leave it as it was
            client.delete(CLAIM)
            continue
        try:
            yield client
        finally:
            for key in [*client.scan_iter("intake:*"), *client.scan_iter("dramatiq:*")]:
                client.delete(key)
            client.delete(CLAIM)
        return
    missing(f"an empty database on Redis {REDIS[0]}:{REDIS[1]}")


def configure(tmp_path: Path, smtp_port: int, dovecot: DovecotServer) -> Path:
    """The shipped settings with the SSL box on Dovecot (IDLE, as in production)."""
    path = write_config(tmp_path, smtp_port)
    text = path.read_text(encoding="utf-8")
    boxes = text[text.index("[[mailbox]]") : text.index("[telegram]")]
    text = text.replace(boxes, "") + (
        f'\n[[mailbox]]\nname = "ssl"\nchannel = "email_ssl"\nhost = "{dovecot.host}"\n'
        f'port = {dovecot.imap_port}\nsecurity = "plain"\nusername = "ssl"\n'
        'password_env = "TEST_IMAP_SSL"\nfolder = "INBOX"\nafter_ingest = "move"\n'
        "poll_interval_seconds = 30\n"
    )
    assert f"lock_ttl_seconds = {TTL}" in text
    path.write_text(text, encoding="utf-8")
    return path


def start(config: Path, tmp_path: Path, env: dict[str, str]) -> subprocess.Popen:
    log = open(tmp_path / "run.log", "ab")
    process = subprocess.Popen(
        [*INTAKE, "--config", str(config), "run"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        env=env,
    )
    log.close()
    return process


def holder_pid(client: redis.Redis, key: str) -> int | None:
    """The pid the lock's token names (`host|pid|instance|nonce`, ingest.locks)."""
    token = client.get(key)
    return int(token.decode().split("|")[1]) if token and token.count(b"|") == 3 else None


def retaken(client: redis.Redis, key: str, old: bytes | None) -> bool:
    """The lock is held again, by another token than the dead run's."""
    token = client.get(key)
    return token is not None and token != old


def until(what, seconds: float, process: subprocess.Popen, tmp_path: Path) -> float:
    """Wait for `what()`; the seconds it took. Fails with the run log when it did not come."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if what():
            return time.monotonic() - began
        assert process.poll() is None, (tmp_path / "run.log").read_text(errors="replace")
        time.sleep(0.2)
    raise AssertionError((tmp_path / "run.log").read_text(errors="replace"))


def mail() -> bytes:
    return (
        "From: Security Researcher <researcher@example.net>\r\nTo: sslproblem@example.org\r\n"
        "Subject: Certificate problem report: private key published\r\n"
        f"Message-ID: <restart-{secrets.token_hex(6)}@mail.example.net>\r\n"
        "Date: Sun, 22 Nov 2026 15:20:00 +0000\r\nContent-Type: text/plain; charset=us-ascii\r\n"
        "\r\nThe private key of the certificate for www.example.com was published. Revoke it.\r\n"
    ).encode()


def test_a_killed_run_takes_its_locks_back_at_restart_and_the_ssl_box_is_polled(
    tmp_path, smtp, redis_db, dovecot
):
    inbox, port = smtp
    config = configure(tmp_path, port, dovecot)
    db = redis_db.connection_pool.connection_kwargs["db"]
    env = {
        **os.environ,
        "INTAKE_BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{db}",
        "TEST_IMAP_SSL": dovecot.users["ssl"],
    }
    first, children = start(config, tmp_path, env), []
    try:
        for key in (MAILBOX_LOCK, SCHEDULER_LOCK):
            until(lambda k=key: redis_db.exists(k), 60, first, tmp_path)
        children = family(first)
    finally:
        os.kill(first.pid, signal.SIGKILL)  # a crash: nothing is released
        first.wait(10)
    assert gone(children) == []
    dead = {key: redis_db.get(key) for key in (MAILBOX_LOCK, SCHEDULER_LOCK)}
    assert redis_db.pttl(MAILBOX_LOCK) > (TTL - 30) * 1000  # the dead run's, for ~2 minutes
    dovecot.append("ssl", "INBOX", mail())  # arrives while intake is down

    second = start(config, tmp_path, env)
    try:
        took = until(
            lambda: retaken(redis_db, MAILBOX_LOCK, dead[MAILBOX_LOCK]), 45, second, tmp_path
        )
        assert took < TTL / 4
        until(lambda: retaken(redis_db, SCHEDULER_LOCK, dead[SCHEDULER_LOCK]), 15, second, tmp_path)
        assert holder_pid(redis_db, MAILBOX_LOCK) == holder_pid(redis_db, SCHEDULER_LOCK)
        assert holder_pid(redis_db, MAILBOX_LOCK) == second.pid
        acknowledged = until(lambda: inbox.to("researcher@example.net"), 30, second, tmp_path)
        assert took + acknowledged < TTL / 2
        assert len(inbox.to("researcher@example.net")) == 1
        text = (tmp_path / "run.log").read_text(errors="replace")
        assert "imap:ssl/INBOX: took the polling lock over from a dead holder" in text
        assert "scheduler: took the polling lock over from a dead holder" in text
        assert dovecot.uids("ssl") == []  # moved to Processed once stored
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            code = second.wait(60)
        except subprocess.TimeoutExpired:
            second.kill()
            raise
    assert code == 0
    assert redis_db.get(MAILBOX_LOCK) is None  # a clean stop releases it
