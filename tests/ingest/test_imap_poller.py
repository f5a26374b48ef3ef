"""The IMAP poller against a real Dovecot: no mail lost, none twice, every mailbox on its own.

Given mail in a Dovecot folder, when the poller runs, then each mail is one stored, routed
complaint and the folder is finished as configured; crashes, restarts, a changed UIDVALIDITY,
a wrong password and a second poller change none of that.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import redis
from sqlalchemy import func, select

from ingest import pipeline
from ingest.channels.email import poller as poller_module
from ingest.channels.email.poller import MailboxPoller, feeds
from ingest.feed import start
from intake.privacy import make_handler
from outbound.broker import make_broker
from store import repo
from store.models import ComplaintRow, EventRow, PollStatusRow, RawMessageRow
from tests.conftest import DATA, make_settings

MAILS = DATA / "system"


def mail(
    n: int,
    subject: str = "E-imza kartım kilitlendi",
    sender: str = "ali@example.com",
    extra: str = "",
) -> bytes:
    return (
        f"From: Ali Veli <{sender}>\r\nTo: sikayet@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <imap-{n}@example.com>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0300\r\n{extra}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Nitelikli e-imza sertifikamın PIN kodu bloke oldu ({n}).\r\n"
    ).encode()


def box(server, name: str, **over) -> dict:
    entry = {
        "name": name,
        "channel": "email_ssl" if name == "ssl" else "email",
        "enabled": True,
        "host": server.host,
        "port": server.imap_port,
        "security": "plain",
        "username": name,
        "password_env": f"TEST_IMAP_{name.upper()}",
        "folder": "INBOX",
        "after_ingest": "move",
        "poll_interval_seconds": 1,
        "timeout_seconds": 10,
    }
    entry.update(over)
    return entry


@pytest.fixture
def imap(dovecot, tmp_path, redis_url, make_runtime, monkeypatch):
    """A runtime whose two mailboxes are Dovecot users `general` and `ssl`."""
    for user, password in dovecot.users.items():
        monkeypatch.setenv(f"TEST_IMAP_{user.upper()}", password)

    def build(sections: dict | None = None, **boxes):
        entries = [
            box(dovecot, "general", **boxes.get("general", {})),
            box(dovecot, "ssl", **boxes.get("ssl", {})),
        ]
        settings = make_settings(
            tmp_path,
            imap={"backoff_max_seconds": 1, "lock_ttl_seconds": 30, "max_fetch_attempts": 2},
        )
        data = {**_as_mapping(settings), "mailbox": entries}
        for section, values in (sections or {}).items():  # e.g. {"limits": {...}}
            data[section] = {**data.get(section, {}), **values}
        from intake.settings import from_mapping

        settings = from_mapping(data)
        return make_runtime(settings, broker=make_broker(settings, redis_url))

    return build


def _as_mapping(settings) -> dict:
    import tomllib

    from tests.conftest import ROOT

    data = tomllib.loads((ROOT / "settings.toml").read_text(encoding="utf-8"))
    data["store"]["url"] = settings.store.url
    data["broker"]["state_dir"] = settings.broker.state_dir
    data["smtp"]["outbox_dir"] = settings.smtp.outbox_dir
    data["imap"] = {"backoff_max_seconds": 1, "lock_ttl_seconds": 30, "max_fetch_attempts": 2}
    return data


def count(rt, model, *where) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def poll(rt, name: str = "general", folder: str = "INBOX", **kw):
    settings_box = rt.settings.mailbox_named(name)
    poller = MailboxPoller(rt, settings_box, folder, **kw)
    try:
        return poller.run_once()
    finally:
        poller.close()


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_new_mail_becomes_complaints_and_is_moved_to_processed(imap, dovecot):
    rt = imap()
    for n in range(3):
        dovecot.append("general", "INBOX", mail(n))
    report = poll(rt)
    assert (report.fetched, report.created) == (3, 3)
    assert count(rt, ComplaintRow) == 3
    assert dovecot.uids("general") == []
    assert len(dovecot.uids("general", "Processed")) == 3
    assert poll(rt).fetched == 0


def test_keep_marks_seen_and_never_fetches_again(imap, dovecot):
    rt = imap(general={"after_ingest": "seen"})
    uid = dovecot.append("general", "INBOX", mail(1))
    poll(rt)
    assert "\\Seen" in dovecot.flags("general")[uid]
    dovecot.append("general", "INBOX", mail(2))
    assert poll(rt).fetched == 1
    assert count(rt, ComplaintRow) == 2


def test_delete_removes_the_mail_after_it_is_stored(imap, dovecot):
    rt = imap(general={"after_ingest": "delete"})
    dovecot.append("general", "INBOX", mail(1))
    poll(rt)
    assert dovecot.uids("general") == [] and "Processed" not in dovecot.folders("general")
    with rt.sessions() as session:
        assert session.scalars(select(RawMessageRow.payload)).one().startswith(b"From: Ali")


def test_idle_brings_new_mail_in_within_seconds(imap, dovecot):
    rt = imap()
    stop = threading.Event()
    settings_box = rt.settings.mailbox_named("general")
    worker = MailboxPoller(rt, settings_box, "INBOX")
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: worker.folder.client is not None)
        time.sleep(0.5)  # in IDLE now
        started = time.monotonic()
        dovecot.append("general", "INBOX", mail(7))
        wait_for(lambda: count(rt, ComplaintRow) == 1, timeout=10)
        assert time.monotonic() - started < 10
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_a_changed_uidvalidity_resyncs_without_duplicates(imap, dovecot):
    rt = imap(general={"after_ingest": "seen"})
    for n in range(2):
        dovecot.append("general", "INBOX", mail(n))
    poll(rt)
    dovecot.change_uidvalidity("general", "INBOX")
    report = poll(rt)
    assert report.resynced and report.duplicates == 2
    assert count(rt, ComplaintRow) == 2
    assert count(rt, EventRow, EventRow.kind == "received_again") == 2


class Crash(BaseException):
    """Stands for the process being killed: nothing after it runs."""


def test_killed_after_storing_before_the_server_action_loses_and_doubles_nothing(
    imap, dovecot, monkeypatch
):
    rt = imap()
    for n in range(3):
        dovecot.append("general", "INBOX", mail(n))

    def crash(self, uids):
        if uids:
            raise Crash()

    with monkeypatch.context() as patch:
        patch.setattr(poller_module.ImapFolder, "finish", crash)
        with pytest.raises(Crash):
            poll(rt)
    assert count(rt, RawMessageRow) == 3 and len(dovecot.uids("general")) == 3  # not moved yet
    with rt.sessions() as session:  # the watermark moved in the commit of the raw mail
        assert repo.get_watermark(session, "email", "general/INBOX")["uid"] == max(
            dovecot.uids("general")
        )

    report = poll(rt)  # restarted: the stored mail is finished, nothing fetched twice
    assert (report.fetched, report.created, report.duplicates) == (0, 0, 0)
    assert count(rt, ComplaintRow) == 3
    assert dovecot.uids("general") == []


def test_killed_between_fetch_and_store_fetches_again(imap, dovecot, monkeypatch):
    rt = imap()
    dovecot.append("general", "INBOX", mail(1))
    with monkeypatch.context() as patch:
        patch.setattr(
            poller_module.pipeline, "ingest", lambda *a, **k: (_ for _ in ()).throw(Crash())
        )
        with pytest.raises(Crash):
            poll(rt)
    assert count(rt, RawMessageRow) == 0
    assert poll(rt).created == 1 and count(rt, ComplaintRow) == 1


def test_a_wrong_password_stops_only_its_own_mailbox(imap, dovecot, monkeypatch):
    rt = imap()
    monkeypatch.setenv("TEST_IMAP_GENERAL", "wrong")
    stop = threading.Event()
    threads = start(feeds(rt), stop)
    try:
        dovecot.append("ssl", "INBOX", (MAILS / "ssl_problem.eml").read_bytes())
        wait_for(lambda: count(rt, ComplaintRow) == 1)
        wait_for(
            lambda: count(
                rt,
                PollStatusRow,
                PollStatusRow.mailbox == "general",
                PollStatusRow.consecutive_failures >= 2,
            )
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    with rt.sessions() as session:
        general = session.get(PollStatusRow, ("general", "INBOX"))
        ssl_box = session.get(PollStatusRow, ("ssl", "INBOX"))
    assert "login refused" in general.last_error and general.last_success_at is None
    assert ssl_box.last_success_at is not None and ssl_box.consecutive_failures == 0


def test_a_server_restart_mid_poll_is_survived(imap, dovecot):
    rt = imap()
    stop = threading.Event()
    threads = start(feeds(rt), stop)
    try:
        dovecot.append("general", "INBOX", mail(1))
        wait_for(lambda: count(rt, ComplaintRow) == 1)
        dovecot.restart()
        dovecot.append("general", "INBOX", mail(2))
        wait_for(lambda: count(rt, ComplaintRow) == 2, timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert count(rt, RawMessageRow) == 2


@pytest.mark.parametrize(
    "name",
    [
        "oof-exchange.eml",
        "bounce-report.eml",
        "list-id.eml",
        "own-message-id.eml",
        "precedence-bulk.eml",
        "mailer-daemon.eml",
        "subject-otomatik-yanit.eml",
    ],
)
def test_loop_mail_is_recorded_but_opens_no_complaint(imap, dovecot, name):
    rt = imap()
    dovecot.append("general", "INBOX", (DATA / "email" / name).read_bytes())
    poll(rt)
    assert count(rt, RawMessageRow, RawMessageRow.status == "processed") == 1
    assert count(rt, ComplaintRow) == 0
    assert count(rt, EventRow, EventRow.kind == "not_a_complaint") == 1


def test_a_reply_quoting_the_reference_continues_its_complaint(imap, dovecot):
    rt = imap()
    dovecot.append("general", "INBOX", mail(1))
    poll(rt)
    with rt.sessions() as session:
        reference = session.scalars(select(ComplaintRow.reference)).one()
    dovecot.append("general", "INBOX", mail(2, subject=f"Re: [#{reference}] Başvurunuz alındı"))
    assert poll(rt).created == 1  # counted as handled, not as a new complaint
    assert count(rt, ComplaintRow) == 1
    assert count(rt, EventRow, EventRow.kind == "followup") == 1


def test_the_same_mail_in_both_mailboxes_is_one_complaint_on_the_ssl_clock(imap, dovecot):
    rt = imap()
    payload = mail(
        9, subject="SSL sertifikası iptal edilmeli", extra="Cc: sslproblem@example.org\r\n"
    )
    dovecot.append("general", "INBOX", payload)
    dovecot.append("ssl", "INBOX", payload)
    poll(rt, "general")
    poll(rt, "ssl")
    assert count(rt, ComplaintRow) == 1 and count(rt, RawMessageRow) == 2
    with rt.sessions() as session:
        row = session.scalars(select(ComplaintRow)).one()
    assert row.due_at - row.received_at == timedelta(hours=24)


def test_two_pollers_never_poll_one_mailbox_at_once(imap, dovecot, redis_url):
    rt = imap()
    client = redis.Redis.from_url(redis_url)
    dovecot.append("general", "INBOX", mail(1))
    settings_box = rt.settings.mailbox_named("general")
    first = MailboxPoller(rt, settings_box, "INBOX", redis=client)
    second = MailboxPoller(rt, settings_box, "INBOX", redis=client)
    assert first.run_once().created == 1
    assert second.run_once().skipped
    first.close()
    dovecot.append("general", "INBOX", mail(2))
    assert second.run_once().created == 1
    second.close()
    assert count(rt, ComplaintRow) == 2


def test_a_mail_that_cannot_be_fetched_is_recorded_and_skipped(imap, dovecot, monkeypatch):
    rt = imap()
    bad = dovecot.append("general", "INBOX", mail(1))
    dovecot.append("general", "INBOX", mail(2))
    real_fetch = poller_module.ImapFolder.fetch

    def fetch_without(self, uids):
        for item in real_fetch(self, uids):
            yield poller_module.Fetched(item.uid, None, None) if item.uid == bad else item

    monkeypatch.setattr(poller_module.ImapFolder, "fetch", fetch_without)
    assert poll(rt).created == 1  # the good one is not blocked
    assert poll(rt).failed == 1  # second attempt: recorded as failed, not retried forever
    assert poll(rt).fetched == 0
    with rt.sessions() as session:
        failed = session.scalars(
            select(RawMessageRow).where(RawMessageRow.status == "failed")
        ).one()
    assert f":{bad}" in failed.source_id and "fetch failed" in failed.error


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls_with_a_verified_certificate(imap, dovecot, security):
    port = dovecot.imaps_port if security == "tls" else dovecot.imap_port
    rt = imap(
        general={
            "security": security,
            "port": port,
            "ca_file": str(dovecot.ca_file),
            "host": "localhost",
        }
    )
    dovecot.append("general", "INBOX", mail(1))
    assert poll(rt).created == 1


def test_xoauth2_with_a_token_from_the_environment_or_a_command(imap, dovecot, monkeypatch):
    token = dovecot.grant_token("general")
    monkeypatch.setenv("TEST_TOKEN", token)
    rt = imap(general={"password_env": "", "oauth2_token_env": "TEST_TOKEN"})
    dovecot.append("general", "INBOX", mail(1))
    assert poll(rt).created == 1
    rt = imap(general={"password_env": "", "oauth2_token_command": f"echo {token}"})
    dovecot.append("general", "INBOX", mail(2))
    assert poll(rt).created == 1


def test_first_run_new_skips_the_backlog(imap, dovecot):
    rt = imap(general={"first_run": "new"})
    dovecot.append("general", "INBOX", mail(1))
    assert poll(rt).fetched == 0
    dovecot.append("general", "INBOX", mail(2))
    assert poll(rt).created == 1


def test_first_run_since_a_date(imap, dovecot):
    rt = imap(general={"first_run": "since", "since": "2026-11-01"})
    dovecot.append("general", "INBOX", mail(1), msg_time=datetime(2026, 10, 1, tzinfo=timezone.utc))
    dovecot.append(
        "general", "INBOX", mail(2), msg_time=datetime(2026, 11, 20, tzinfo=timezone.utc)
    )
    assert poll(rt).created == 1
    dovecot.append("general", "INBOX", mail(3), msg_time=datetime(2026, 10, 2, tzinfo=timezone.utc))
    assert poll(rt).created == 1  # after the first run, every new UID counts


def test_status_warns_when_the_ssl_box_is_not_polled(imap, dovecot):
    from intake.cli.status import collect

    rt = imap()
    boxes = {b["mailbox"]: b for b in collect(rt)["mailboxes"]}
    assert boxes["ssl"]["warning"] and not boxes["general"]["warning"]
    poll(rt, "ssl")
    boxes = {b["mailbox"]: b for b in collect(rt)["mailboxes"]}
    assert boxes["ssl"]["warning"] is None and boxes["ssl"]["last_success_at"]


def test_intake_poll_once_runs_one_cycle_in_the_foreground(dovecot, tmp_path):
    import os
    import subprocess
    import sys

    from tests.system.test_run import write_config

    config = write_config(tmp_path, None)
    text = config.read_text(encoding="utf-8")
    head = text[: text.index("[[mailbox]]")]
    config.write_text(
        head
        + (
            f'[[mailbox]]\nname = "general"\nchannel = "email"\nhost = "{dovecot.host}"\n'
            f'port = {dovecot.imap_port}\nsecurity = "plain"\nusername = "general"\n'
            'password_env = "TEST_IMAP_GENERAL"\nafter_ingest = "move"\nfetch_batch = 2\n'
        ),
        encoding="utf-8",
    )
    for n in range(5):
        dovecot.append("general", "INBOX", mail(n))
    env = {**os.environ, "TEST_IMAP_GENERAL": dovecot.users["general"]}
    result = subprocess.run(
        [sys.executable, "-m", "intake.cli", "--config", str(config), "poll", "general", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "general/INBOX: fetched 5, new 5, duplicates 0, failed 0" in result.stdout
    assert "5/5" in result.stderr  # the progress bar of a backlog larger than one batch
    assert dovecot.uids("general") == [] and len(dovecot.uids("general", "Processed")) == 5
    again = subprocess.run(
        [sys.executable, "-m", "intake.cli", "--config", str(config), "poll", "general", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert "fetched 0, new 0" in again.stdout


def test_a_backlog_is_processed_while_the_next_batch_is_fetched(imap, dovecot):
    rt = imap(general={"fetch_batch": 2})
    for n in range(7):
        dovecot.append("general", "INBOX", mail(n))
    report = poll(rt)
    assert (report.fetched, report.created) == (7, 7)  # counted once processing has ended
    assert count(rt, ComplaintRow) == 7
    assert count(rt, RawMessageRow, RawMessageRow.status == "pending") == 0
    with rt.sessions() as session:
        refs = list(session.scalars(select(ComplaintRow.reference).order_by(ComplaintRow.id)))
    assert refs == sorted(refs)  # batches processed in order


# --- sizes: mail over max_raw_bytes is refused unfetched; FETCHes are budgeted by bytes ------

LIMIT = 200_000  # [limits] max_raw_bytes in these tests


def sized_mail(n: int, size: int, sender: str = "buyuk.dosya@example.com") -> bytes:
    """A mail of about `size` bytes (its body lines of x's)."""
    head = mail(n, subject=f"Ekli belgeler {n}", sender=sender)
    lines = max(0, size - len(head)) // 78
    return head + (b"x" * 76 + b"\r\n") * lines


@pytest.fixture
def received(monkeypatch) -> list[int]:
    """The bytes every IMAP client of the test reads from its server (lines and literals)."""
    import imaplib

    counts: list[int] = []
    real_read, real_readline = imaplib.IMAP4.read, imaplib.IMAP4.readline

    def read(self, size):
        data = real_read(self, size)
        counts.append(len(data))
        return data

    def readline(self):
        data = real_readline(self)
        counts.append(len(data))
        return data

    monkeypatch.setattr(imaplib.IMAP4, "read", read)
    monkeypatch.setattr(imaplib.IMAP4, "readline", readline)
    return counts


def refused_rows(rt) -> list[RawMessageRow]:
    with rt.sessions() as session:
        return list(session.scalars(select(RawMessageRow).where(RawMessageRow.status == "failed")))


def test_a_mail_over_max_raw_bytes_is_refused_unfetched_and_recorded(imap, dovecot, received):
    rt = imap({"limits": {"max_raw_bytes": LIMIT}}, general={"after_ingest": "seen"})
    dovecot.append("general", "INBOX", mail(1))
    big = dovecot.append("general", "INBOX", sized_mail(2, 300_000))
    dovecot.append("general", "INBOX", mail(3))
    received.clear()
    stream = io.StringIO()
    handler = make_handler(stream)  # what `intake run` logs through
    logging.getLogger().addHandler(handler)
    try:
        report = poll(rt)
    finally:
        logging.getLogger().removeHandler(handler)
    assert sum(received) < 100_000  # the 300 KB body never crossed the wire
    assert "over max_raw_bytes" in stream.getvalue()
    assert "buyuk.dosya@" not in stream.getvalue() and "b***@e***.com" in stream.getvalue()
    assert (report.fetched, report.created, report.failed) == (3, 2, 1)  # its neighbours taken
    assert count(rt, ComplaintRow) == 2
    [row] = refused_rows(rt)
    assert row.payload == b"" and row.transport["uid"] == big
    assert row.transport["size"] > LIMIT and row.transport["from"] == "buyuk.dosya@example.com"
    assert "Subject: Ekli belgeler 2" in row.transport["headers"]
    assert row.error.startswith(f"mail of {row.transport['size']} bytes is over max_raw_bytes")
    assert "from buyuk.dosya@example.com" in row.error  # the console shows who sent it
    assert count(rt, EventRow, EventRow.kind == "failed", EventRow.raw_message_id == row.id) == 1
    flags = dovecot.flags("general")[big]
    assert "\\Seen" in flags and "$IntakeRefused" in flags
    again = poll(rt)  # handled: not refused again
    assert (again.fetched, again.failed) == (0, 0) and len(refused_rows(rt)) == 1
    error = row.error
    [retried] = pipeline.process(rt, [row.id]).values()  # `intake retry`, the console's retry
    assert (retried.status, retried.error) == ("failed", error)  # the reason is kept
    assert refused_rows(rt)[0].error == error


def test_refused_mail_is_not_recorded_again_after_a_resync(imap, dovecot):
    rt = imap({"limits": {"max_raw_bytes": LIMIT}}, general={"after_ingest": "seen"})
    dovecot.append("general", "INBOX", mail(1))
    dovecot.append("general", "INBOX", sized_mail(2, 300_000))
    poll(rt)
    dovecot.change_uidvalidity("general", "INBOX")
    report = poll(rt)  # every UID is new: the keyword says the big one was refused before
    assert report.resynced and (report.failed, report.duplicates) == (0, 2)
    assert len(refused_rows(rt)) == 1 and count(rt, ComplaintRow) == 1


@pytest.mark.parametrize("after_ingest", ["move", "delete"])
def test_refused_mail_is_moved_as_processed_mail_is_but_never_deleted(imap, dovecot, after_ingest):
    rt = imap({"limits": {"max_raw_bytes": LIMIT}}, general={"after_ingest": after_ingest})
    dovecot.append("general", "INBOX", sized_mail(1, 300_000))
    dovecot.append("general", "INBOX", mail(2))
    assert (poll(rt).created, len(refused_rows(rt))) == (1, 1)
    assert poll(rt).failed == 0  # the second cycle: nothing refused again
    [row] = refused_rows(rt)
    if after_ingest == "move":
        assert dovecot.uids("general") == [] and len(dovecot.uids("general", "Processed")) == 2
        assert "general/Processed" in row.error
    else:  # stored nowhere else: kept, marked, and the leftover pass leaves it alone
        [(uid, flags)] = dovecot.flags("general").items()
        assert uid == row.transport["uid"] and "$IntakeRefused" in flags
        assert "general/INBOX" in row.error


def test_a_batch_over_the_byte_budget_is_fetched_in_several_fetches(imap, dovecot, monkeypatch):
    rt = imap({"imap": {"batch_bytes": 100_000, "fetch_alone_bytes": 60_000}})
    sizes = [40_000, 40_000, 40_000, 70_000, 10_000, 10_000]
    uids = [dovecot.append("general", "INBOX", sized_mail(n, size)) for n, size in enumerate(sizes)]
    calls: list[list[int]] = []
    real_fetch = poller_module.ImapFolder.fetch

    def fetch(self, group):
        calls.append(list(group))
        return real_fetch(self, group)

    monkeypatch.setattr(poller_module.ImapFolder, "fetch", fetch)
    report = poll(rt)
    # 40+40 | 40 (+40 would pass 100 KB) | 70 alone (over 60 KB) | 10+10
    assert calls == [uids[0:2], uids[2:3], uids[3:4], uids[4:6]]
    assert (report.fetched, report.created, report.duplicates) == (6, 6, 0)
    assert count(rt, RawMessageRow) == 6 and count(rt, ComplaintRow) == 6
    assert dovecot.uids("general") == []
    with rt.sessions() as session:
        assert repo.get_watermark(session, "email", "general/INBOX")["uid"] == uids[-1]


@pytest.mark.parametrize(
    ("sizes", "groups"),
    [
        ([], []),
        ([10, 10, 10], [[0, 1, 2]]),
        ([45, 45, 45, 5], [[0, 1], [2, 3]]),  # within the budget of 100
        ([10, 500, 10], [[0], [1], [2]]),  # over the budget by itself: alone
        ([10, 60, 10], [[0], [1], [2]]),  # over `alone` (50): alone
        ([0, 0, 40, 0], [[0, 1, 2, 3]]),  # unknown sizes (0) ride along
    ],
)
def test_plan_fetches_budgets_by_bytes(sizes, groups):
    sized = list(enumerate(sizes))
    assert poller_module.plan_fetches(sized, budget=100, alone=50) == groups
