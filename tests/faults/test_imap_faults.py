"""The IMAP poller under faults: killed -9 at its worst moments, and Dovecot restarted in IDLE.

The kills are real: the poller runs in a process of its own (`tests/faults/poll_child.py`)
that ends with `os._exit(137)` at the chosen moment (between FETCH and the store's commit;
between the commit and processing; between processing and the \\Seen flag or the MOVE). It is
then run again, fresh, as a restarted desk runs it (the reconciler's pass at start, then the
feed). Each test ends with the invariant: N mails in, N complaints, no duplicate, each sender
acknowledged exactly once by the real aiosmtpd relay, nothing left unseen or unprocessed.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import dramatiq
import pytest
from sqlalchemy import func, select

from ingest.channels.email.poller import MailboxPoller
from intake import clock
from intake import settings as settings_module
from intake.cli.status import collect
from intake.privacy import make_handler
from outbound.broker import make_broker
from outbound.jobs import ACK_QUEUE
from store import repo
from store.models import ComplaintRow, EventRow, PollStatusRow, RawMessageRow
from tests.conftest import ROOT, Inbox
from tests.ingest.dovecot import DovecotServer
from tests.system.test_run import write_config

pytestmark = pytest.mark.system
KILLED = 137


def mail(n: int) -> bytes:
    """Mail `n`, from a sender of its own (so each is one complaint, one acknowledgement)."""
    return (
        f"From: Vatandas {n} <{sender(n)}>\r\nTo: sikayet@example.org\r\n"
        f"Subject: E-imza kartim kilitlendi ({n})\r\nMessage-ID: <fault-{n}@example.com>\r\n"
        "Date: Sun, 22 Nov 2026 10:00:00 +0300\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"\r\nNitelikli e-imza sertifikamin PIN kodu bloke oldu ({n}).\r\n"
    ).encode()


def sender(n: int) -> str:
    return f"vatandas{n}@example.com"


def configure(
    tmp_path: Path, smtp_port: int, dovecot: DovecotServer, store_url: str = "", **box: object
) -> Path:
    """The shipped settings, the relay on aiosmtpd, one mailbox `general` on Dovecot."""
    path = write_config(tmp_path, smtp_port)
    text = path.read_text(encoding="utf-8")
    text = text.replace("backoff_max_seconds = 300", "backoff_max_seconds = 1")
    if store_url:
        text = text.replace(f'url = "sqlite:///{tmp_path}/intake.db"', f'url = "{store_url}"')
    boxes = text[text.index("[[mailbox]]") : text.index("[telegram]")]
    values = {
        "after_ingest": "move",
        "fetch_batch": 200,
        "poll_interval_seconds": 1,
        "timeout_seconds": 10,
        **box,
    }
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
    text = text.replace(boxes, "") + (
        f'\n[[mailbox]]\nname = "general"\nchannel = "email"\nhost = "{dovecot.host}"\n'
        f'port = {dovecot.imap_port}\nsecurity = "plain"\nusername = "general"\n'
        f'password_env = "TEST_IMAP_GENERAL"\nfolder = "INBOX"\n{extra}'
    )
    path.write_text(text, encoding="utf-8")
    return path


class Desk:
    """The test's side: its own runtime on the same store and Redis, the workers, the checks."""

    def __init__(self, config: Path, redis_url: str, make_runtime, dovecot, inbox: Inbox) -> None:
        settings = settings_module.load(config)
        self.rt = make_runtime(settings, broker=make_broker(settings, redis_url))
        self.config, self.redis_url, self.dovecot, self.inbox = config, redis_url, dovecot, inbox
        self.env = {
            **os.environ,
            "TEST_IMAP_GENERAL": dovecot.users["general"],
            "INTAKE_BROKER_URL": redis_url,
        }
        self.env.pop("INTAKE_CONFIG", None)

    def poller(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One poller cycle in a fresh process (`poll_child`), at the test's time."""
        return subprocess.run(
            [sys.executable, "-m", "tests.faults.poll_child", str(self.config), "general"]
            + ["--now", clock.now().isoformat(), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def count(self, model, *where) -> int:
        with self.rt.sessions() as session:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    def run_workers_until_idle(self) -> None:
        worker = dramatiq.Worker(self.rt.broker, worker_threads=2, worker_timeout=100)
        worker.start()
        try:
            for queue in [u.queue for u in self.rt.settings.unit] + [ACK_QUEUE]:
                self.rt.broker.join(queue, timeout=60_000)
            worker.join()
        finally:
            worker.stop()

    def settle(self, count: int, after_ingest: str, *, received_again: int = 0) -> None:
        """Every job done, then the invariant."""
        self.run_workers_until_idle()
        senders = [sender(n) for n in range(count)]
        with self.rt.sessions() as session:
            raws = list(session.scalars(select(RawMessageRow)))
            complaints = list(session.scalars(select(ComplaintRow)))
        assert sorted(r.source_id for r in raws) == sorted({r.source_id for r in raws})
        assert len(raws) == count and {r.status for r in raws} == {"processed"}
        assert len(complaints) == count  # one each, none twice
        assert len({r.complaint_id for r in raws}) == count
        for row in complaints:
            assert (row.delivery_state, row.ack_state) == ("sent", "sent"), row.reference
        for address in senders:  # acknowledged exactly once each, through the real relay
            assert len(self.inbox.to(address)) == 1, address
        assert len(self.inbox.messages) == 2 * count  # and one ticket each, nothing more
        assert self.count(EventRow, EventRow.kind == "received_again") == received_again
        if after_ingest == "move":
            assert self.dovecot.uids("general") == []
            assert len(self.dovecot.uids("general", "Processed")) == count
        else:
            flags = self.dovecot.flags("general")
            assert len(flags) == count and all("\\Seen" in f for f in flags.values()), flags
        again = self.poller()
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout.splitlines()[-1])["fetched"] == 0


@pytest.fixture
def desk(tmp_path, smtp, redis_url, make_runtime, dovecot):
    inbox, port = smtp

    def build(store_url: str = "", **box: object) -> Desk:
        config = configure(tmp_path, port, dovecot, store_url, **box)
        return Desk(config, redis_url, make_runtime, dovecot, inbox)

    return build


def killed(desk: Desk, point: str) -> str:
    """The poller run until `point`, and killed there; its log."""
    done = desk.poller("--kill", point)
    assert done.returncode == KILLED, done.stdout + done.stderr
    assert "killed here (-9)" in done.stderr
    return done.stderr


def restarted(desk: Desk) -> dict:
    """The poller run again as a restarted desk runs it; its report."""
    done = desk.poller("--reconcile")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


# --- 1a. killed between FETCH and the store's commit ----------------------------------------


@pytest.mark.parametrize("point", ["fetched", "uncommitted"])
def test_killed_between_fetch_and_commit_the_mail_is_fetched_again_once(desk, dovecot, point):
    d = desk()
    for n in range(3):
        dovecot.append("general", "INBOX", mail(n))

    killed(d, point)
    assert d.count(RawMessageRow) == 0  # nothing committed
    assert len(dovecot.uids("general")) == 3
    assert all("\\Seen" not in f for f in dovecot.flags("general").values())

    report = restarted(d)
    assert (report["fetched"], report["created"], report["duplicates"]) == (3, 3, 0)
    d.settle(3, "move")


def test_killed_in_the_uncommitted_transaction_on_postgresql(desk, dovecot):
    from tests.conftest import _pg_database

    databases = _pg_database()
    url = next(databases)
    try:
        d = desk(url)
        for n in range(2):
            dovecot.append("general", "INBOX", mail(n))
        killed(d, "uncommitted")
        assert d.count(RawMessageRow) == 0
        assert restarted(d)["created"] == 2
        d.settle(2, "move")
        d.rt.engine.dispose()
    finally:
        databases.close()


def test_killed_mid_backlog_with_the_batch_before_still_being_processed(desk, dovecot):
    """Batch 1 is stored and processed in the background while batch 2 is fetched; the kill
    comes inside batch 2's transaction."""
    d = desk(fetch_batch=2)
    for n in range(5):
        dovecot.append("general", "INBOX", mail(n))

    killed(d, "uncommitted:2")
    assert d.count(RawMessageRow) == 2  # batch 1 only
    with d.rt.sessions() as session:
        mark = repo.get_watermark(session, "email", "general/INBOX")
    assert mark["uid"] == sorted(dovecot.uids("general") + dovecot.uids("general", "Processed"))[1]

    report = restarted(d)
    assert (report["fetched"], report["duplicates"]) == (3, 0)  # batch 1 not fetched again
    d.settle(5, "move")


# --- 1b. killed between the commit and the \Seen flag or the MOVE -----------------------------


@pytest.mark.parametrize("after_ingest", ["move", "seen"])
@pytest.mark.parametrize("point", ["committed", "processed"])
def test_killed_after_the_commit_before_the_server_action(desk, dovecot, point, after_ingest):
    d = desk(after_ingest=after_ingest)
    for n in range(3):
        dovecot.append("general", "INBOX", mail(n))

    killed(d, point)
    assert d.count(RawMessageRow) == 3  # stored, with the watermark
    with d.rt.sessions() as session:
        assert repo.get_watermark(session, "email", "general/INBOX")["uid"] == max(
            dovecot.uids("general")
        )
    assert d.count(ComplaintRow) == (3 if point == "processed" else 0)
    assert len(dovecot.uids("general")) == 3  # neither moved nor flagged yet
    assert all("\\Seen" not in f for f in dovecot.flags("general").values())

    report = restarted(d)
    assert (report["fetched"], report["created"]) == (0, 0)  # nothing fetched twice
    d.settle(3, after_ingest)


# --- 2. Dovecot restarted while the feed waits in IDLE ----------------------------------------


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def health(d: Desk) -> PollStatusRow | None:
    with d.rt.sessions() as session:
        row = session.get(PollStatusRow, ("general", "INBOX"))
        if row is not None:
            session.expunge(row)
        return row


def test_dovecot_restarted_during_idle_the_feed_reconnects_and_takes_the_new_mail(
    desk, dovecot, monkeypatch
):
    d = desk(poll_interval_seconds=30)  # IDLE, not the poll interval, brings new mail
    monkeypatch.setenv("TEST_IMAP_GENERAL", dovecot.users["general"])
    stream = io.StringIO()
    handler = make_handler(stream)  # what `intake run` logs through
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    stop = threading.Event()
    box = d.rt.settings.mailbox_named("general")
    feed = MailboxPoller(d.rt, box, "INBOX", redis=d.rt.broker.client)
    thread = threading.Thread(target=feed.run_forever, args=(stop,), name=feed.ident.name)
    thread.start()
    try:
        dovecot.append("general", "INBOX", mail(0))
        wait_for(lambda: d.count(ComplaintRow) == 1, what="the first mail")
        time.sleep(1.0)  # back in IDLE

        dovecot.stop()
        wait_for(lambda: (health(d).consecutive_failures or 0) >= 2, what="failed reconnects")
        [status] = [b for b in collect(d.rt)["mailboxes"] if b["mailbox"] == "general"]
        assert status["consecutive_failures"] >= 2 and "cannot connect" in status["last_error"]

        dovecot.start()
        dovecot.append("general", "INBOX", mail(1))
        wait_for(lambda: d.count(ComplaintRow) == 2, what="the mail after the restart")
        wait_for(lambda: health(d).consecutive_failures == 0, what="health back to good")
        assert thread.is_alive()  # never stopped for good
    finally:
        stop.set()
        thread.join(30)
        root.removeHandler(handler)
        root.setLevel(previous_level)
    assert not thread.is_alive()
    text = stream.getvalue()
    assert text.count("retrying with backoff") == 1, text  # the outage, logged once
    assert text.count("reachable again after") == 1, text
    row = health(d)
    assert row.last_success_at > row.last_error_at and "cannot connect" in row.last_error
    [status] = [b for b in collect(d.rt)["mailboxes"] if b["mailbox"] == "general"]
    assert status["consecutive_failures"] == 0 and status["last_error"] is None
    d.settle(2, "move")
