"""`[store] password_env` and `[broker] password_env`: the passwords come from the
environment, never from the settings file or a URL that is printed (issue 11, defect 7)."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from intake import settings as settings_module
from intake.cli.bundled_redis import redis_server_binary
from intake.cli.wiring import runtime_for
from outbound.broker import make_broker
from tests.conftest import free_port
from tests.test_settings import shipped


@pytest.fixture
def locked_redis(tmp_path):
    """A real Redis that asks for a password (AUTH), on a port of its own."""
    port = free_port()
    server = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--requirepass", "R3dis-pw", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, password="R3dis-pw")
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


def settings_with(**tables) -> settings_module.Settings:
    data = shipped()
    for table, values in tables.items():
        data[table].update(values)
    return settings_module.from_mapping(data)


def test_the_broker_logs_in_with_the_password_from_its_variable(locked_redis, monkeypatch):
    monkeypatch.setenv("TEST_REDIS_PASSWORD", "R3dis-pw")
    settings = settings_with(broker={"url": locked_redis, "password_env": "TEST_REDIS_PASSWORD"})

    broker = make_broker(settings, locked_redis)
    assert broker.client.ping()

    without = make_broker(settings_with(broker={"url": locked_redis}), locked_redis)
    with pytest.raises(redis.AuthenticationError):
        without.client.ping()


def test_the_store_password_goes_into_the_engine_not_the_settings(monkeypatch):
    monkeypatch.setenv("TEST_DB_PASSWORD", "Db-s3cret")
    url = "postgresql+psycopg://intake@127.0.0.1:5432/test"
    settings = settings_with(store={"url": url, "password_env": "TEST_DB_PASSWORD"})

    runtime = runtime_for(settings)
    try:
        assert runtime.engine.url.password == "Db-s3cret"
        assert "Db-s3cret" not in repr(runtime.engine.url)  # SQLAlchemy hides it when shown
    finally:
        runtime.engine.dispose()
    assert "Db-s3cret" not in settings.store.url


def test_a_named_password_variable_that_is_not_set_is_a_missing_secret(monkeypatch):
    monkeypatch.delenv("TEST_DB_PASSWORD", raising=False)
    monkeypatch.delenv("TEST_REDIS_PASSWORD", raising=False)
    settings = settings_with(
        store={"password_env": "TEST_DB_PASSWORD"},
        broker={"url": "redis://127.0.0.1:6379/0", "password_env": "TEST_REDIS_PASSWORD"},
    )
    assert settings_module.missing_secrets(settings) == [
        "store.password_env (TEST_DB_PASSWORD)",
        "broker.password_env (TEST_REDIS_PASSWORD)",
    ]
