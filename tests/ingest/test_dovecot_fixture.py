"""Proof that the Dovecot fixture is a real, usable IMAP server: logins (plain, STARTTLS,
implicit TLS with a verified certificate, XOAUTH2/OAUTHBEARER), the mailbox helpers, IDLE,
UIDVALIDITY changes, restarts and a clean stop.
"""

from __future__ import annotations

import ssl
import time
from datetime import datetime, timezone

import psutil
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.conftest import missing
from tests.ingest.conftest import WHAT
from tests.ingest.dovecot import DovecotServer, available


def mail(n: int) -> bytes:
    return (
        f"From: a@example.org\r\nTo: desk@example.org\r\nSubject: complaint {n}\r\n"
        f"Message-ID: <c{n}@example.org>\r\n\r\nBody {n}\r\n"
    ).encode()


def subjects(server: DovecotServer, user: str, folder: str = "INBOX") -> list[str]:
    with server.client(user) as c:
        c.select_folder(folder, readonly=True)
        found = c.fetch(c.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return sorted(v[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip() for v in found.values())


# --- logins ---------------------------------------------------------------------------------


def test_plain_login_and_capabilities(dovecot: DovecotServer) -> None:
    with dovecot.client("general") as c:
        caps = set(c.capabilities())
    assert {b"IDLE", b"MOVE", b"UIDPLUS", b"ESEARCH"} <= caps
    assert set(dovecot.users) >= {"general", "ssl"}


def test_starttls_verifies_certificate(dovecot: DovecotServer) -> None:
    c = dovecot.connect()
    assert b"STARTTLS" in c.capabilities()
    c.starttls(dovecot.ssl_context())
    c.login("ssl", dovecot.users["ssl"])
    assert c.socket().version().startswith("TLS")
    c.logout()


def test_implicit_tls_verifies_certificate(dovecot: DovecotServer) -> None:
    with dovecot.client("ssl", tls=True) as c:
        assert c.socket().getpeercert()["subject"] == ((("commonName", "127.0.0.1"),),)
    context = ssl.create_default_context(cafile=dovecot.ca_file)
    with IMAPClient("localhost", dovecot.imaps_port, ssl_context=context, timeout=5) as c:
        c.login("ssl", dovecot.users["ssl"])  # the SAN names localhost too


def test_untrusted_certificate_is_refused(dovecot: DovecotServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            dovecot.host, dovecot.imaps_port, ssl_context=ssl.create_default_context(), timeout=5
        )


def test_wrong_password_fails(dovecot: DovecotServer) -> None:
    c = dovecot.connect()
    with pytest.raises(LoginError):
        c.login("general", "not-the-password")
    c.logout()


def test_set_password_is_picked_up(dovecot: DovecotServer) -> None:
    old = dovecot.users["general"]
    dovecot.set_password("general", "fresh-secret")
    with dovecot.client("general"):
        pass
    c = dovecot.connect()
    with pytest.raises(LoginError):
        c.login("general", old)
    c.logout()


def test_xoauth2_granted_token_works_revoked_fails(dovecot: DovecotServer) -> None:
    token = dovecot.grant_token("general")
    with dovecot.connect() as c:
        c.oauth2_login("general", token)
        assert c.list_folders()
    dovecot.revoke_token(token)
    c = dovecot.connect()
    with pytest.raises(LoginError):
        c.oauth2_login("general", token)
    c.logout()


def test_xoauth2_token_of_another_user_fails(dovecot: DovecotServer) -> None:
    token = dovecot.grant_token("ssl")
    c = dovecot.connect()
    with pytest.raises(LoginError):
        c.oauth2_login("general", token)
    c.logout()


def test_oauthbearer_over_tls(dovecot: DovecotServer) -> None:
    token = dovecot.grant_token("ssl")
    payload = f"n,a=ssl,\x01auth=Bearer {token}\x01\x01".encode()
    with dovecot.connect(tls=True) as c:
        typ, _ = c._imap.authenticate("OAUTHBEARER", lambda _: payload)
        assert typ == "OK"


# --- mailbox helpers ------------------------------------------------------------------------


def test_append_uids_flags_folders(dovecot: DovecotServer) -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    first = dovecot.append("general", "INBOX", mail(1))
    second = dovecot.append(
        "general", "INBOX", mail(2), flags=[b"\\Seen", b"\\Flagged"], msg_time=when
    )
    assert second > first
    assert dovecot.uids("general", "INBOX") == [first, second]
    assert dovecot.flags("general", "INBOX") == {first: (), second: ("\\Flagged", "\\Seen")}
    with dovecot.client("general") as c:
        c.select_folder("INBOX", readonly=True)
        stored = c.fetch([second], ["INTERNALDATE"])[second][b"INTERNALDATE"]
    assert stored == when.astimezone().replace(tzinfo=None)  # imapclient: naive local time
    dovecot.create_folder("general", "Complaints")
    dovecot.append("general", "Complaints", mail(3))
    assert dovecot.folders("general") == ["Complaints", "INBOX"]
    assert dovecot.uids("ssl", "INBOX") == []  # users are separate


def test_idle_wakes_up_on_append(dovecot: DovecotServer) -> None:
    with dovecot.client("general") as watcher:
        watcher.select_folder("INBOX")
        watcher.idle()
        started = time.monotonic()
        uid = dovecot.append("general", "INBOX", mail(1))
        responses = []
        while time.monotonic() - started < 10 and not any(
            r[1:2] == (b"EXISTS",) for r in responses
        ):
            responses += watcher.idle_check(timeout=1)
        watcher.idle_done()
    assert (1, b"EXISTS") in responses
    assert uid == 1


@pytest.mark.parametrize(
    "folder,recreate", [("INBOX", False), ("Complaints", False), ("Complaints", True)]
)
def test_change_uidvalidity_keeps_the_mails(
    dovecot: DovecotServer, folder: str, recreate: bool
) -> None:
    if folder != "INBOX":
        dovecot.create_folder("general", folder)
    uids = [
        dovecot.append("general", folder, mail(n), flags=[b"\\Seen"] if n == 2 else [])
        for n in (1, 2, 3)
    ]
    before = dovecot.uidvalidity("general", folder)

    after = dovecot.change_uidvalidity("general", folder, recreate=recreate)

    assert after != before
    assert dovecot.uidvalidity("general", folder) == after
    assert subjects(dovecot, "general", folder) == [f"Subject: complaint {n}" for n in (1, 2, 3)]
    new = dovecot.uids("general", folder)
    assert len(new) == 3
    assert new == (uids if recreate else [u + 3 for u in uids])
    assert list(dovecot.flags("general", folder).values()) == [(), ("\\Seen",), ()]


def test_change_uidvalidity_disconnects_a_selected_session(dovecot: DovecotServer) -> None:
    dovecot.append("general", "INBOX", mail(1))
    watcher = dovecot.client("general")
    watcher.select_folder("INBOX")
    dovecot.change_uidvalidity("general", "INBOX")
    with pytest.raises((IMAPClient.AbortError, OSError)):
        watcher.noop()
        watcher.search(["ALL"])


# --- lifecycle ------------------------------------------------------------------------------


def test_restart_keeps_ports_mail_and_tokens(dovecot: DovecotServer) -> None:
    uid = dovecot.append("general", "INBOX", mail(1))
    token = dovecot.grant_token("general")
    ports, old_pids = (dovecot.imap_port, dovecot.imaps_port), dovecot.pids
    session = dovecot.client("general")

    dovecot.restart()

    assert (dovecot.imap_port, dovecot.imaps_port) == ports
    assert not [pid for pid in old_pids if psutil.pid_exists(pid)]
    with pytest.raises((IMAPClient.AbortError, OSError)):
        session.noop()
    assert dovecot.uids("general", "INBOX") == [uid]
    with dovecot.connect() as c:
        c.oauth2_login("general", token)


def test_stop_leaves_no_process_and_start_again() -> None:
    if not available():
        missing(WHAT)
    server = DovecotServer()
    try:
        started = time.monotonic()
        server.start()
        assert time.monotonic() - started < 2.0
        pids = server.pids
        assert len(pids) > 1  # master plus its children
        server.append("general", "INBOX", mail(1))
        server.stop()
        assert server.pids == []
        assert not [pid for pid in pids if psutil.pid_exists(pid)]
        with pytest.raises(OSError):
            server.connect()
        server.start()
        assert server.uids("general", "INBOX") == [1]
    finally:
        server.close()
    assert not server.root.exists()
