"""IMAP as a channel: one connection to one folder of one `[[mailbox]]`, with imapclient.

Connect (implicit TLS, STARTTLS, or plain to loopback), log in with a password or XOAUTH2,
list the UIDs after the watermark, ask their sizes (`RFC822.SIZE`, one FETCH a batch), fetch
them without setting \\Seen (`BODY.PEEK[]`), and apply the after-ingest action (\\Seen, MOVE,
delete) in batches: one flag change per message makes Dovecot re-read the whole Maildir each
time. Mail refused for its size is never fetched: only a few header fields, capped, to say
who sent it; it carries the keyword `$IntakeRefused` on the server.
"""

from __future__ import annotations

import logging
import shlex
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError
from imapclient.util import to_unicode

from intake.errors import ConfigError, TemporaryError
from intake.settings import MailboxSettings, secret

log = logging.getLogger(__name__)

ACTION_BATCH = 500
REFUSED = b"$IntakeRefused"  # the keyword on mail refused unfetched (too large)
HEADER_FIELDS = "FROM REPLY-TO SUBJECT DATE MESSAGE-ID"  # who sent a refused mail, and what
HEADER_CAP = 16 * 1024  # bytes of those fields at most


@dataclass(frozen=True)
class Fetched:
    uid: int
    payload: bytes | None  # None: the server had no body for it (expunged meanwhile, or broken)
    internaldate: datetime | None


@dataclass(frozen=True)
class Sized:
    uid: int
    size: int | None  # RFC822.SIZE; None: the server said nothing (expunged meanwhile)
    refused: bool  # carries REFUSED: refused before (then kept on the server)


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    uidnext: int | None
    exists: int


class ImapFolder:
    """A logged-in connection with one folder selected."""

    def __init__(self, box: MailboxSettings, folder: str) -> None:
        self.box, self.folder = box, folder
        self.client: IMAPClient | None = None

    def open(self) -> FolderState:
        self.client = connect(self.box)
        try:
            login(self.client, self.box)
            return self.select()
        except Exception:
            self.close()
            raise

    @property
    def _connected(self) -> IMAPClient:
        """The open connection; a `ConnectionError` when `open` has not made one (or `close`
        has ended it)."""
        if self.client is None:
            raise ConnectionError(f"{self.box.name}/{self.folder}: not connected")
        return self.client

    def select(self) -> FolderState:
        info = self._connected.select_folder(self.folder)
        return FolderState(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
            exists=int(info.get(b"EXISTS", 0)),
        )

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            try:
                client.shutdown()
            except OSError:
                pass

    @property
    def can_idle(self) -> bool:
        return self.client is not None and self.client.has_capability("IDLE")

    def uids_after(self, last_uid: int, since: date | None = None) -> list[int]:
        """UIDs greater than `last_uid` (RFC 3501 6.4.4: `n:*` always returns the last one)."""
        criteria: list = ["UID", f"{last_uid + 1}:*"]
        if since is not None:
            criteria += ["SINCE", since]
        return sorted(uid for uid in self._connected.search(criteria) if uid > last_uid)

    def uids_up_to(self, last_uid: int, criteria: tuple = ()) -> list[int]:
        if last_uid < 1:
            return []
        return sorted(self._connected.search(["UID", f"1:{last_uid}", *criteria]))

    def fetch(self, uids: list[int]) -> Iterator[Fetched]:
        """The raw bytes and INTERNALDATE of `uids`, in UID order."""
        response = self._connected.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        for uid in uids:
            data = response.get(uid)
            if data is None:
                yield Fetched(uid, None, None)
                continue
            yield Fetched(uid, data.get(b"BODY[]"), _aware(data.get(b"INTERNALDATE")))

    def sizes(self, uids: list[int]) -> dict[int, Sized]:
        """The RFC822.SIZE of `uids` (and whether each was refused before), in one FETCH."""
        response = self._connected.fetch(uids, ["RFC822.SIZE", "FLAGS"]) if uids else {}
        sized = {}
        for uid in uids:
            data = response.get(uid) or {}
            size = data.get(b"RFC822.SIZE")
            flags = data.get(b"FLAGS") or ()
            sized[uid] = Sized(uid, int(size) if size is not None else None, REFUSED in flags)
        return sized

    def headers(self, uids: list[int]) -> dict[int, Fetched]:
        """A few header fields of `uids` (at most HEADER_CAP bytes each) and INTERNALDATE."""
        section = f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]<0.{HEADER_CAP}>"
        response = self._connected.fetch(uids, [section, "INTERNALDATE"]) if uids else {}
        found = {}
        for uid, data in response.items():
            text = next((v for k, v in data.items() if k.startswith(b"BODY[")), None)
            found[uid] = Fetched(uid, text, _aware(data.get(b"INTERNALDATE")))
        return found

    def refuse(self, uids: list[int]) -> None:
        """Mark mail refused unfetched: the keyword, then what processed mail gets (\\Seen or
        MOVE); with `delete` it is only marked \\Seen, as it is stored nowhere else."""
        for start in range(0, len(uids), ACTION_BATCH):
            batch = uids[start : start + ACTION_BATCH]
            self._connected.add_flags(batch, [REFUSED], silent=True)
            if self.box.after_ingest == "delete":
                self._connected.add_flags(batch, [b"\\Seen"], silent=True)
        if self.box.after_ingest != "delete":
            self.finish(uids)

    def finish(self, uids: list[int]) -> None:
        """The after-ingest action on stored mail, in batches."""
        for start in range(0, len(uids), ACTION_BATCH):
            batch = uids[start : start + ACTION_BATCH]
            if self.box.after_ingest == "seen":
                self._connected.add_flags(batch, [b"\\Seen"], silent=True)
            elif self.box.after_ingest == "move":
                self._move(batch)
            else:
                self._connected.delete_messages(batch, silent=True)
                self._expunge(batch)

    def _move(self, uids: list[int]) -> None:
        client, target = self._connected, self.box.move_to
        if not client.folder_exists(target):
            client.create_folder(target)
        try:
            client.move(uids, target)  # RFC 6851
        except CapabilityError:
            client.copy(uids, target)
            client.delete_messages(uids, silent=True)
            self._expunge(uids)

    def _expunge(self, uids: list[int]) -> None:
        client = self._connected
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)  # RFC 4315: only ours, not others' \Deleted mail
        else:
            client.expunge()

    def idle_start(self) -> None:
        self._connected.idle()  # RFC 2177

    def idle_check(self, seconds: float) -> bool:
        """True when the server reported new mail within `seconds`.

        imapclient returns an empty list at once when the server has closed the connection
        (it swallows the EOF), so an early empty answer means the connection is gone.
        """
        started = time.monotonic()
        responses = self._connected.idle_check(timeout=seconds)
        if not responses and time.monotonic() - started < seconds / 2:
            raise ConnectionError("the server closed the connection during IDLE")
        return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)

    def idle_stop(self) -> None:
        self._connected.idle_done()


def connect(box: MailboxSettings) -> IMAPClient:
    """An IMAP connection as `security` says; every socket operation has a timeout."""
    context = ssl.create_default_context(cafile=box.ca_file or None)
    try:
        tls = box.security == "tls"
        client = IMAPClient(
            box.host,
            port=box.port,
            ssl=tls,
            ssl_context=context if tls else None,
            timeout=box.timeout_seconds,
        )
        client.normalise_times = False  # keep INTERNALDATE's own zone: aware datetimes
        if box.security == "starttls":
            client.starttls(context)
        return client
    except (OSError, IMAPClientError) as exc:
        raise TemporaryError(f"cannot connect to {box.host}:{box.port}: {exc}") from exc


def login(client: IMAPClient, box: MailboxSettings) -> None:
    """Password from the environment, or an XOAUTH2 access token (env or command)."""
    try:
        if box.oauth2_token_env or box.oauth2_token_command:
            client.oauth2_login(box.username, access_token(box))
        else:
            password = secret(box.password_env)
            if password is None:
                raise ConfigError(
                    f"mailbox {box.name!r}: {box.password_env or 'password_env'} is not set"
                )
            client.login(box.username, password)
    except LoginError as exc:
        raise TemporaryError(f"login refused: {to_unicode(str(exc))}") from exc


def access_token(box: MailboxSettings) -> str:
    """A fresh OAuth2 access token: from the command when one is configured, else the env."""
    if box.oauth2_token_command:
        try:
            result = subprocess.run(
                shlex.split(box.oauth2_token_command),
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise TemporaryError(f"oauth2_token_command failed: {exc}") from exc
        token = result.stdout.strip()
        if not token:
            raise TemporaryError("oauth2_token_command printed no access token")
        return token
    token = secret(box.oauth2_token_env) or ""
    if not token:
        raise ConfigError(
            f"mailbox {box.name!r}: {box.oauth2_token_env or 'oauth2_token_env'} is not set"
        )
    return token


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
