"""Fixtures of the X channel tests: the fake X API v2 on loopback and a runtime pointed at it.

The runtime's `[twitter] api_base` is the fake's URL, so the real tweepy client, our gateway
adapter and every timeout are exercised over real HTTP; the store is a real SQLite database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import DATA, free_port, make_settings
from tests.ingest.twitter.fake_x import FakeX, FakeXServer

X_DATA = DATA / "twitter"
SECRETS = {
    "INTAKE_X_BEARER_TOKEN": "test-bearer",
    "INTAKE_X_CONSUMER_KEY": "test-ck",
    "INTAKE_X_CONSUMER_SECRET": "test-cs",
    "INTAKE_X_ACCESS_TOKEN": "100-test-at",
    "INTAKE_X_ACCESS_TOKEN_SECRET": "test-ats",
}
TIMEOUT = 0.5  # seconds: the client's per-request timeout, short so a hang fails fast


def load(name: str) -> dict:
    return json.loads((X_DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    """A started fake X API, preloaded with the users of tests/data/twitter/mentions.json."""
    fake = FakeX()
    for user in load("mentions.json")["users"]:
        fake.add_user(user)
    server = FakeXServer(fake, free_port())
    server.start()
    try:
        yield fake
    finally:
        server.stop()


@pytest.fixture
def x_runtime(tmp_path, make_runtime, fake_x, monkeypatch):
    """A migrated runtime (SQLite) whose X channel talks to the fake."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)

    def build(**twitter):
        values = {
            "enabled": True,
            "user_id": fake_x.desk_id,
            "api_base": fake_x.base,
            "timeout_seconds": TIMEOUT,
            "poll_interval_seconds": 1,
            **twitter,
        }
        return make_runtime(make_settings(tmp_path, twitter=values))

    return build
