"""Fixtures for the Telegram channel: the fake Bot API on loopback, runtimes wired to it, and
helpers that poll it to empty or serve our webhook under uvicorn."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from ingest.channels.telegram.poller import TelegramPoller
from intake.runtime import Runtime
from store.models import ComplaintRow, RawMessageRow
from tests.conftest import DATA, free_port, make_settings
from tests.ingest.telegram.fake_api import FakeBotAPI, ServerThread

TOKEN = "123456:TEST-token-for-the-fake"
SECRET = "webhook-secret-0123456789"
UPDATES = DATA / "telegram"


def update(name: str, **message_fields: Any) -> dict[str, Any]:
    """An update from tests/data/telegram, with fields of its message replaced."""
    data = json.loads((UPDATES / f"{name}.json").read_text(encoding="utf-8"))
    message = data.get("message") or data.get("edited_message") or {}
    message.update(copy.deepcopy(message_fields))
    return data


@pytest.fixture
def bot_api() -> Iterator[FakeBotAPI]:
    fake = FakeBotAPI(TOKEN)
    port = free_port()
    server = ServerThread(fake.app(), port)
    server.start_serving()
    fake.base_url = f"http://127.0.0.1:{port}/bot"  # type: ignore[attr-defined]
    try:
        yield fake
    finally:
        server.stop()


@pytest.fixture
def telegram_runtime(bot_api, tmp_path, make_runtime, monkeypatch) -> Callable[..., Runtime]:
    """A migrated runtime whose [telegram] points at the fake (SQLite unless `store_url`)."""
    monkeypatch.setenv("TEST_TG_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_TG_SECRET", SECRET)

    def build(store_url: str | None = None, **telegram: Any) -> Runtime:
        values = {
            "enabled": True,
            "mode": "polling",
            "token_env": "TEST_TG_TOKEN",
            "webhook_secret_env": "TEST_TG_SECRET",
            "base_url": bot_api.base_url,
            "poll_timeout_seconds": 0,
            "timeout_seconds": 2.0,
            **telegram,
        }
        overrides: dict[str, dict] = {"telegram": values}
        if store_url:
            overrides["store"] = {"url": store_url}
        return make_runtime(make_settings(tmp_path, **overrides))

    return build


def poll(runtime: Runtime, *, poller: TelegramPoller | None = None, rounds: int = 10) -> int:
    """Run getUpdates rounds until one brings nothing; how many updates came in."""
    poller = poller or TelegramPoller(runtime, backoff_max=0.1)
    total = 0
    try:
        for _ in range(rounds):
            fetched = poller.run_once().fetched
            total += fetched
            if not fetched:
                break
    finally:
        poller.close()
    return total


def count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def complaints(runtime: Runtime) -> list[ComplaintRow]:
    with runtime.sessions() as session:
        rows = session.scalars(select(ComplaintRow).order_by(ComplaintRow.id)).all()
        session.expunge_all()
        return list(rows)


def raws(runtime: Runtime) -> list[RawMessageRow]:
    with runtime.sessions() as session:
        rows = session.scalars(select(RawMessageRow).order_by(RawMessageRow.id)).all()
        session.expunge_all()
        return list(rows)
