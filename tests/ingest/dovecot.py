"""A real Dovecot IMAP server on loopback, for the ingest tests.

`DovecotServer` writes a complete Dovecot configuration into a private temp folder (nothing
from /etc/dovecot is used: base_dir, state, log, certificate, passwd-file and Maildirs all
live there), starts `dovecot -F -c CONF` in its own process group and kills that whole group
on stop. It listens on 127.0.0.1 only: plain IMAP with STARTTLS (`imap_port`) and implicit
TLS (`imaps_port`) with a self-signed certificate made per run (`ca_file` to trust it).

Users come from a passwd-file with plain passwords (`users`); XOAUTH2/OAUTHBEARER logins are
checked by Dovecot's oauth2 passdb against a tiny introspection server on loopback whose
tokens the test controls (`grant_token`, `revoke_token`). The helpers act as the user over
IMAP (imapclient), like any other client would.
"""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import psutil
from imapclient import IMAPClient

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
HOST = "127.0.0.1"
DEFAULT_USERS = ("general", "ssl")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PR_SET_PDEATHSIG = 1


class DovecotError(RuntimeError):
    """Dovecot is missing or did not start; the message carries the log tail."""


def available() -> bool:
    return os.access(DOVECOT, os.X_OK)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open while picking, so never the same twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((HOST, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


# --- Certificate ----------------------------------------------------------------------------


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed EC certificate for 127.0.0.1 and localhost: (cert PEM, key PEM)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


# --- OAuth2 token introspection (RFC 7662) --------------------------------------------------


class IntrospectionServer:
    """An HTTP introspection endpoint on loopback; tokens map to user names."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.requests = 0
        self._httpd = ThreadingHTTPServer((HOST, 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._httpd.server_address[1]}/introspect"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self.running:
            self._httpd.shutdown()
        self._httpd.server_close()

    def grant(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = user
        return token

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def answer(self, token: str) -> dict:
        self.requests += 1
        user = self.tokens.get(token)
        return {"active": True, "username": user} if user else {"active": False}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = parse_qs(body.decode()).get("token", [""])[0]
                payload = json.dumps(owner.answer(token)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:  # quiet
                pass

        return Handler


# --- Configuration --------------------------------------------------------------------------


def dovecot_conf(
    *,
    root: Path,
    imap_port: int,
    imaps_port: int,
    cert: Path,
    key: Path,
    login_user: str,
    internal_user: str,
    mail_uid: int,
    mail_gid: int,
    idle_notify: int,
) -> str:
    """The whole dovecot.conf: self-contained, loopback only."""
    return f"""\
# Generated by tests/ingest/dovecot.py
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
instance_name = intake-test-{root.name}
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
mailbox_idle_check_interval = 1 secs
imap_idle_notify_interval = {idle_notify} secs
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_verbose = yes
auth_failure_delay = 0
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}

namespace inbox {{
  inbox = yes
}}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/auth/passwd
  mechanisms = plain login
}}
passdb {{
  driver = oauth2
  args = {root}/auth/oauth2.conf
  mechanisms = xoauth2 oauthbearer
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/auth/passwd
}}

# No auth penalty: failed logins from 127.0.0.1 would otherwise be delayed up to 15 s.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {imaps_port}
    ssl = yes
  }}
}}
"""


def oauth2_conf(introspection_url: str) -> str:
    return f"""\
introspection_mode = post
introspection_url = {introspection_url}
username_attribute = username
active_attribute = active
active_value = true
"""


def die_with_parent() -> None:
    """preexec_fn: Dovecot gets SIGTERM if the test process dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def accounts() -> tuple[str, str, int, int]:
    """(login user, internal user, mail uid, mail gid): unprivileged ones when we are root."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return "dovenull", "dovecot", nobody.pw_uid, nobody.pw_gid
    me = pwd.getpwuid(os.geteuid())
    return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid


# --- The server -----------------------------------------------------------------------------


class DovecotServer:
    """One Dovecot instance in a private temp folder; start/stop/restart keep ports and mail.

    `users` is a list of names (random passwords) or a name → password dict. `root` defaults
    to a fresh `mkdtemp()` folder, removed by `close()`; a given root must be traversable by
    the unprivileged mail user (pytest's tmp_path is not: /tmp/pytest-of-root is 0700).
    """

    def __init__(
        self,
        users: Iterable[str] | dict[str, str] = DEFAULT_USERS,
        root: Path | None = None,
        idle_notify_interval: int = 2,
    ) -> None:
        if not available():
            raise DovecotError(f"{DOVECOT} not found")
        self.host = HOST
        self.users: dict[str, str] = (
            dict(users) if isinstance(users, dict) else {u: secrets.token_hex(8) for u in users}
        )
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-")) if root is None else Path(root)
        self.imap_port, self.imaps_port = free_ports(2)
        self.oauth = IntrospectionServer()
        self.process: subprocess.Popen | None = None
        self._login_user, self._internal_user, self.mail_uid, self.mail_gid = accounts()
        self._idle_notify = idle_notify_interval
        self._started = False
        self._log_offset = 0
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    # -- files --

    def _prepare(self) -> None:
        """Folders, certificate, passwd-file and configs; readable by Dovecot's own users."""
        self.root.chmod(0o755)
        for name in ("run", "state", "log", "auth", "tls"):
            (self.root / name).mkdir(exist_ok=True)
        mail = self.root / "mail"
        mail.mkdir(exist_ok=True)
        os.chown(mail, self.mail_uid, self.mail_gid)
        self.ca_file = str(make_certificate(self.root / "tls")[0])
        self.conf = self.root / "dovecot.conf"
        self._write_config()
        (self.root / "auth" / "oauth2.conf").write_text(oauth2_conf(self.oauth.url))
        self._write_passwd()

    def _write_config(self) -> None:
        tls = self.root / "tls"
        self.conf.write_text(
            dovecot_conf(
                root=self.root,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                cert=tls / "cert.pem",
                key=tls / "key.pem",
                login_user=self._login_user,
                internal_user=self._internal_user,
                mail_uid=self.mail_uid,
                mail_gid=self.mail_gid,
                idle_notify=self._idle_notify,
            )
        )

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "dovecot.log"

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _passwd_line(self, user: str, password: str) -> str:
        home = self.root / "mail" / user
        return f"{user}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}::\n"

    def _write_passwd(self) -> None:
        """Rewrite atomically with a newer mtime, so Dovecot's passwd-file re-read notices."""
        path = self.root / "auth" / "passwd"
        old_mtime = path.stat().st_mtime if path.exists() else 0.0
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(self._passwd_line(u, p) for u, p in self.users.items()))
        tmp.chmod(0o644)
        stamp = max(time.time(), old_mtime + 1)
        os.utime(tmp, (stamp, stamp))
        tmp.replace(path)

    # -- lifecycle --

    def start(self) -> DovecotServer:
        """Start Dovecot and wait until it greets. The first start moves to other ports if
        another process took the chosen ones meanwhile; later starts keep the ports."""
        if self.process is not None:
            return self
        if not self.oauth.running:
            self.oauth.start()
        retries = 0 if self._started else 2
        for attempt in range(retries + 1):
            try:
                self._start_once()
                break
            except DovecotError as exc:
                if attempt == retries or "Address already in use" not in str(exc):
                    raise
                self.imap_port, self.imaps_port = free_ports(2)
                self._write_config()
        self._started = True
        return self

    def _start_once(self) -> None:
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.root / "log" / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group, killed as a whole on stop
                preexec_fn=die_with_parent,
            )
        try:
            self._wait_ready()
        except DovecotError:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        """Until the plain port greets with `* OK` (the login process is up)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DovecotError(
                    f"dovecot exited with {self.process.returncode}:\n" + self._failure_text()
                )
            if _greets(self.host, self.imap_port):
                return
            time.sleep(0.02)
        raise DovecotError("dovecot did not answer in time:\n" + self._failure_text())

    def _failure_text(self) -> str:
        stderr = self.root / "log" / "stderr.log"
        text = stderr.read_text(errors="replace") if stderr.exists() else ""
        return (text + self.log()[self._log_offset :])[-4000:]

    def stop(self) -> None:
        """Terminate the whole process group (master and every child), then reap it."""
        if self.process is None:
            return
        process, self.process = self.process, None
        tree = _tree(process.pid)
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        _, alive = psutil.wait_procs(tree, timeout=STOP_TIMEOUT)
        _signal_group(process.pid, signal.SIGKILL)
        for proc in alive:
            _kill(proc)
        psutil.wait_procs(alive, timeout=STOP_TIMEOUT)
        process.wait()

    def restart(self) -> DovecotServer:
        """Stop and start again: same ports, users, tokens and mail."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop Dovecot and the introspection server; remove the temp folder we made."""
        self.stop()
        self.oauth.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """The master and all its children (empty when stopped)."""
        if self.process is None:
            return []
        return [p.pid for p in [psutil.Process(self.process.pid), *_tree(self.process.pid)]]

    # -- users and tokens --

    def set_password(self, user: str, password: str) -> None:
        self.users[user] = password
        self._write_passwd()

    def grant_token(self, user: str) -> str:
        return self.oauth.grant(user)

    def revoke_token(self, token: str) -> None:
        self.oauth.revoke(token)

    # -- clients --

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the server certificate against `ca_file` (host name checked too)."""
        return ssl.create_default_context(cafile=self.ca_file)

    def connect(
        self, tls: bool = False, starttls: bool = False, timeout: float = 10.0
    ) -> IMAPClient:
        """A connected, not logged-in client: plain, STARTTLS or implicit TLS (verified)."""
        if tls:
            return IMAPClient(
                self.host,
                self.imaps_port,
                ssl=True,
                ssl_context=self.ssl_context(),
                timeout=timeout,
            )
        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=timeout)
        if starttls:
            client.starttls(self.ssl_context())
        return client

    def client(self, user: str, tls: bool = False, starttls: bool = False) -> IMAPClient:
        """A client logged in as `user` with its current password."""
        client = self.connect(tls=tls, starttls=starttls)
        client.login(user, self.users[user])
        return client

    @contextmanager
    def _session(self, user: str) -> Iterator[IMAPClient]:
        client = self.client(user)
        try:
            yield client
        finally:
            _logout(client)

    # -- mailbox helpers (as the user, over IMAP) --

    def append(
        self,
        user: str,
        folder: str,
        message: bytes,
        flags: Iterable = (),
        msg_time: datetime | None = None,
    ) -> int:
        """APPEND and return the new message's UID (from APPENDUID)."""
        with self._session(user) as c:
            response = c.append(folder, message, flags=tuple(flags), msg_time=msg_time)
        return _appenduid(response)

    def uids(self, user: str, folder: str = "INBOX") -> list[int]:
        with self._session(user) as c:
            c.select_folder(folder, readonly=True)
            return sorted(c.search(["ALL"]))

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, tuple[str, ...]]:
        """UID → sorted flags as str; \\Recent left out (it depends on the session)."""
        with self._session(user) as c:
            c.select_folder(folder, readonly=True)
            found = c.get_flags(c.search(["ALL"]))
        return {uid: _clean_flags(flags) for uid, flags in sorted(found.items())}

    def folders(self, user: str) -> list[str]:
        with self._session(user) as c:
            return sorted(name for _, _, name in c.list_folders())

    def create_folder(self, user: str, name: str) -> None:
        with self._session(user) as c:
            c.create_folder(name)

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self._session(user) as c:
            return int(c.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def change_uidvalidity(self, user: str, folder: str = "INBOX", recreate: bool = False) -> int:
        """Rebuild `folder` with a new UIDVALIDITY: same mails (body, flags, date), new UIDs.

        Like a server whose mailbox was rebuilt; a session that has the folder selected is
        disconnected by Dovecot. Default: expunge, raise UIDVALIDITY with `doveadm mailbox
        update` (works for INBOX) and append again, so the new UIDs follow the old ones.
        `recreate=True` (not INBOX) deletes and recreates the folder: the UIDs restart at 1,
        colliding with the old ones. Returns the new UIDVALIDITY.
        """
        messages, old = self._take_all(user, folder, delete_folder=recreate)
        if recreate:
            self.create_folder(user, folder)
        else:
            self._doveadm("mailbox", "update", "-u", user, "--uid-validity", str(old + 1), folder)
        with self._session(user) as c:
            for _, data in sorted(messages.items()):
                c.append(
                    folder,
                    data[b"BODY[]"],
                    flags=_clean_flags(data[b"FLAGS"]),
                    msg_time=data[b"INTERNALDATE"],
                )
            return int(c.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def _take_all(self, user: str, folder: str, delete_folder: bool) -> tuple[dict, int]:
        """Fetch every message of `folder`, then empty it (or delete it): (messages, UIDVALIDITY)."""
        if delete_folder and folder.upper() == "INBOX":
            raise ValueError("INBOX cannot be deleted; use recreate=False")
        with self._session(user) as c:
            old = int(c.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])
            c.select_folder(folder)
            messages = c.fetch(c.search(["ALL"]), ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
            if messages:
                c.delete_messages(list(messages))
                c.expunge()
            c.close_folder()
            if delete_folder:
                c.delete_folder(folder)
        return messages, old

    def _doveadm(self, *args: str) -> str:
        done = subprocess.run(
            [DOVEADM, "-c", str(self.conf), *args], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise DovecotError(f"doveadm {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout


# --- small helpers --------------------------------------------------------------------------


def _greets(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def _tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(proc: psutil.Process) -> None:
    try:
        proc.kill()
    except psutil.NoSuchProcess:
        pass


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        pass


def _appenduid(response: bytes | str) -> int:
    text = response.decode() if isinstance(response, bytes) else response
    match = re.search(r"\[APPENDUID \d+ (\d+)\]", text)
    if not match:
        raise DovecotError(f"no APPENDUID in {text!r}")
    return int(match.group(1))


def _clean_flags(flags: Iterable[bytes | str]) -> tuple[str, ...]:
    names = (f.decode() if isinstance(f, bytes) else f for f in flags)
    return tuple(sorted(n for n in names if n != "\\Recent"))
