"""The desk under faults: `intake run` as a user starts it, with the servers it depends on
placed where a test can break them.

- Redis is a `redis-server` of its own on a TCP port, without persistence, that a test can
  kill and start again (empty, as a Redis without persistence comes back).
- PostgreSQL and Redis are reached through a `Proxy`, a TCP forwarder that a test can cut
  (every connection reset, new ones refused) and restore: an outage of the network path.
- The SMTP relay is aiosmtpd with a switch: it can answer every RCPT with a reply of the
  test's choosing (4xx, 5xx) until told otherwise, or hold DATA without answering.

`Desk.settle` ends each test with the one invariant: N entries in, N complaints, each with one
ticket at its unit and one acknowledgement to its complainant, no duplicate, and each clock
as its policy says (`routing.clocks.clocks_for` from the complaint's own time of receipt).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import psutil
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from intake import settings as settings_module
from intake.cli.bundled_redis import redis_server_binary
from routing.clocks import clocks_for
from store.models import ClockRow, ComplaintRow
from tests.conftest import ROOT, free_port

INTAKE = [sys.executable, "-m", "intake.cli"]
API_TOKEN = "faults-desk-token"
WEBFORM_SECRET = "faults-webform-secret"
UNIT_EMAIL = "sertifika.operasyon@example.org"  # the unit of product `nes`


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- the network path: a TCP forwarder that can be cut -----------------------------------------


class Proxy:
    """127.0.0.1:`port` → `target`; `cut()` resets every connection and refuses new ones."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._live: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self.up = False
            live, self._live = self._live, set()
        for sock in live:
            _reset(sock)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._live |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            source.settimeout(None)
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with self._lock:
                    self._live.discard(sock)
                _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close `sock` for good: shutdown first, since a close alone neither wakes the pump
    blocked in its recv() nor tells the far end (a killed client's database session would
    stay open, holding its row locks)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# --- Redis without persistence, on a port of its own ---------------------------------------------


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        wait_for(lambda: _pings(client), 15, "redis-server")

    def kill(self) -> None:
        """kill -9: whatever the queues held is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


# --- the relay ---------------------------------------------------------------------------------


@dataclass
class Relay:
    """aiosmtpd's handler: records what it accepted; `refuse_all` answers every RCPT with a
    reply of the test's choosing; `hold_data` keeps DATA unanswered until released."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    attempts: int = 0
    refuse_all: str | None = None
    hold_data: threading.Event | None = None
    data_started: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server, session, envelope: Envelope, address, options):  # noqa: N802, ANN001
        self.attempts += 1
        if self.refuse_all:
            return self.refuse_all
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope: Envelope):  # noqa: N802, ANN001
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))  # the relay has it now
        self.data_started.set()
        while self.hold_data is not None and not self.hold_data.is_set():
            await asyncio.sleep(0.05)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [msg for rcpts, msg in self.messages if address in rcpts]


@contextmanager
def relay() -> Iterator[tuple[Relay, int]]:
    handler, port = Relay(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


# --- the desk ----------------------------------------------------------------------------------


@dataclass
class Desk:
    folder: Path
    config: Path
    store_url: str  # direct, for the test's own reads
    listen: str
    relay: Relay
    process: subprocess.Popen[bytes] | None = None
    entries: dict[str, str] = field(default_factory=dict)  # reference → complainant address

    @property
    def log(self) -> str:
        return (self.folder / "run.log").read_text(errors="replace")

    def start(self) -> None:
        out = open(self.folder / "run.log", "ab")
        env = {
            **_environment(),
            "INTAKE_API_TOKEN_FAULTS": API_TOKEN,
            "INTAKE_WEBFORM_SECRET": WEBFORM_SECRET,
        }
        self.process = subprocess.Popen(
            [*INTAKE, "--config", str(self.config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
            env=env,
        )
        wait_for(self._ready, 90, "intake run to start")

    def _ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log
        if "intake is running" not in self.log:
            return False
        names = [" ".join(p.cmdline()) for p in self.family()]
        return sum("dramatiq" in n for n in names) >= 2

    def family(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.process is None:
            return
        children = self.family()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        self.process = None

    def kill(self) -> None:
        """kill -9 of the whole `intake run`: the supervisor and every child."""
        assert self.process is not None
        children = self.family()
        self.process.kill()
        self.process.wait(10)
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(children, timeout=10)
        self.process = None

    def post(self, number: int, timeout: float = 15) -> httpx.Response:
        """Entry `number` through the desk API, with an address, so it is owed an ack."""
        address = f"vatandas{number}.{uuid.uuid4().hex[:6]}@example.com"
        entry = {
            "channel": "phone",
            "name": f"Vatandaş {number}",
            "email": address,
            "subject": f"E-imza kartım çalışmıyor {number}",
            "text": f"Nitelikli elektronik sertifikam ({number}) imza atarken hata veriyor.",
            "product": "nes",
        }
        response = httpx.post(
            f"http://{self.listen}/api/entries",
            json=entry,
            headers={"Authorization": f"Bearer {API_TOKEN}", "Idempotency-Key": address},
            timeout=timeout,
        )
        if response.status_code == 201:
            self.entries[response.json()["reference"]] = address
        return response

    def post_webform(self, number: int, timeout: float = 15) -> httpx.Response:
        """Submission `number` of the website, signed as the design's contract says."""
        address = f"site{number}.{uuid.uuid4().hex[:6]}@example.com"
        body = dumps(
            {
                "name": f"Ziyaretçi {number}",
                "email": address,
                "subject": f"Zaman damgası hatası {number}",
                "message": f"Zaman damgası sunucusu yanıt vermiyor ({number}).",
                "product": "nes",
                "kvkk_consent": "on",
            }
        ).encode()
        digest = hmac.new(WEBFORM_SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = httpx.post(
            f"http://{self.listen}/webhooks/webform",
            content=body,
            headers={"Content-Type": "application/json", "X-Intake-Signature": f"sha256={digest}"},
            timeout=timeout,
        )
        if response.status_code == 202:
            self.entries[response.json()["reference"]] = address
        return response

    def inject(self, *files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*INTAKE, "--config", str(self.config), "inject", *files],
            capture_output=True,
            text=True,
            cwd=self.folder,
            timeout=120,
            env=_environment(),
        )

    def settle(self, count: int, timeout: float = 120) -> None:
        """Wait for every ticket and acknowledgement, then check the invariant."""
        assert len(self.entries) == count, self.entries

        def delivered() -> bool:
            return all(
                self._tickets(ref) and self.relay.to(addr) for ref, addr in self.entries.items()
            )

        wait_for(delivered, timeout, "every ticket and acknowledgement")
        time.sleep(3)  # a duplicate on its way would arrive by now
        for reference, address in self.entries.items():
            assert len(self._tickets(reference)) == 1, f"{reference}: tickets"
            assert len(self.relay.to(address)) == 1, f"{reference}: acknowledgements"
        assert len(self.relay.messages) == 2 * count, [m["Subject"] for _, m in self.relay.messages]
        self.check_store(count)

    def _tickets(self, reference: str) -> list[EmailMessage]:
        return [m for m in self.relay.to(UNIT_EMAIL) if reference in m["Subject"]]

    def check_store(self, count: int) -> None:
        settings = settings_module.load(self.config)
        engine = create_engine(self.store_url)
        try:
            with Session(engine) as session:
                rows = list(session.scalars(select(ComplaintRow)))
                assert sorted(r.reference for r in rows) == sorted(self.entries)
                assert len(rows) == count
                for row in rows:
                    assert (row.delivery_state, row.ack_state) == ("sent", "sent"), row.reference
                    clocks = {
                        c.name: c
                        for c in session.scalars(
                            select(ClockRow).where(ClockRow.complaint_id == row.id)
                        )
                    }
                    unit = settings.unit_named(row.unit)
                    expected = clocks_for(
                        row.channel, row.received_at, settings, unit, row.category
                    )
                    assert sorted(clocks) == sorted(str(s.name) for s in expected)
                    for start in expected:
                        clock = clocks[str(start.name)]
                        assert (clock.started_at, clock.due_at) == (start.started_at, start.due_at)
                        assert clock.breached_at is None and clock.version == 1
        finally:
            engine.dispose()


def _environment() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("INTAKE_CONFIG", None)
    return env


def write_config(
    folder: Path, *, store_url: str, broker_url: str, smtp_port: int, listen: str
) -> Path:
    text = (ROOT / "settings.toml").read_text(encoding="utf-8")
    swaps = {
        'url = "sqlite:///var/intake.db"': f'url = "{store_url}"',
        'url = ""\n# Folder of the bundled Redis': f'url = "{broker_url}"\n# Folder of the bundled Redis',
        'state_dir = "var"': f'state_dir = "{folder}/state"',
        'outbox_dir = "var/outbox"': f'outbox_dir = "{folder}/outbox"',
        "reconcile_every_seconds = 60": "reconcile_every_seconds = 1",
        "requeue_after_seconds = 600": "requeue_after_seconds = 5",
        "claim_lease_seconds = 90": "claim_lease_seconds = 8",
        "min_backoff_ms = 15000": "min_backoff_ms = 200",
        "max_backoff_ms = 3600000": "max_backoff_ms = 2000",
        "max_retries = 12": "max_retries = 30",
        'listen = "127.0.0.1:8080"': f'listen = "{listen}"',
        'host = ""\nport = 25': f'host = "127.0.0.1"\nport = {smtp_port}',
        "timeout_seconds = 30.0\n# Domain of our Message-IDs": (
            "timeout_seconds = 5.0\n# Domain of our Message-IDs"
        ),
        'name = "call_centre"\ntoken_env = "INTAKE_API_TOKEN_CALL_CENTRE"': (
            'name = "faults"\ntoken_env = "INTAKE_API_TOKEN_FAULTS"'
        ),
    }
    for old, new in swaps.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = folder / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
