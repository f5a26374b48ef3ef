"""The HTTP receiver as the outside world sees it: `HttpServer` (uvicorn) on a loopback port,
over a real store (SQLite or PostgreSQL) and a real Redis broker. Shared by the desk tests."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from ingest.webhooks import HttpServer
from intake import clock
from intake.runtime import Runtime
from intake.settings import ApiTokenSettings
from outbound.broker import make_broker
from store.models import ComplaintRow, RawMessageRow
from tests.conftest import free_port, make_settings

SECRET = "webform-test-secret"
FORM_TOKEN = "plain-form-token"
API_TOKEN = "call-centre-test-token"
ENVIRONMENT = {
    "INTAKE_WEBFORM_SECRET": SECRET,
    "INTAKE_WEBFORM_TOKEN": FORM_TOKEN,
    "INTAKE_API_TOKEN_CALL_CENTRE": API_TOKEN,
}


def sign(
    body: bytes,
    key: str = SECRET,
    *,
    timestamp: int | str | None = None,
    idempotency_key: str | None = None,
) -> str:
    """The X-Intake-Signature of `body` as the website signs it: the HMAC-SHA256 of
    f"{timestamp}.{idempotency_key or ''}." + body (the timestamp: now, on the test clock)."""
    stamp = now_stamp() if timestamp is None else timestamp
    signed = f"{stamp}.{idempotency_key or ''}.".encode() + body
    return "sha256=" + hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()


def now_stamp() -> str:
    return str(int(clock.now().timestamp()))


def signed_headers(
    body: bytes,
    idempotency_key: str | None = None,
    *,
    timestamp: int | str | None = None,
    key: str = SECRET,
) -> dict[str, str]:
    """The headers of a signed submission: signature, timestamp and the key, when given."""
    stamp = str(now_stamp() if timestamp is None else timestamp)
    headers = {
        "X-Intake-Timestamp": stamp,
        "X-Intake-Signature": sign(body, key, timestamp=stamp, idempotency_key=idempotency_key),
    }
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


@dataclass
class Site:
    url: str
    runtime: Runtime
    http: httpx.Client

    def count(self, model=ComplaintRow) -> int:  # noqa: ANN001
        with self.runtime.sessions() as session:
            return session.scalar(select(func.count()).select_from(model))

    def raws(self) -> list[RawMessageRow]:
        with self.runtime.sessions() as session:
            return list(session.scalars(select(RawMessageRow).order_by(RawMessageRow.id)))

    def complaint(self, reference: str) -> ComplaintRow:
        with self.runtime.sessions() as session:
            return session.scalars(
                select(ComplaintRow).where(ComplaintRow.reference == reference)
            ).one()


@contextmanager
def serve(
    tmp_path: Path,
    make_runtime,
    redis_url: str,
    store_url: str | None = None,
    api_tokens: dict[str, str | tuple[str, int]] | None = None,
    **webform: object,
) -> Iterator[Site]:
    """Start the app on a free port; stop it (and the broker's pool) afterwards.
    `api_tokens`: the `[[api_token]]` names and the variables holding them (else the one
    of settings.toml)."""
    overrides: dict = {
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "webform": {"rate_limit_per_minute": 1000, **webform},
    }
    if store_url:
        overrides["store"] = {"url": store_url}
    settings = make_settings(tmp_path, **overrides)
    if api_tokens is not None:
        settings = dataclasses.replace(
            settings,
            api_token=tuple(
                ApiTokenSettings(name, *(env if isinstance(env, tuple) else (env,)))
                for name, env in api_tokens.items()
            ),
        )
    broker = make_broker(settings, redis_url)
    runtime = make_runtime(settings, broker=broker)
    server = HttpServer(runtime)
    server.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and server.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://{settings.http.listen}", timeout=30) as client:
            yield Site(f"http://{settings.http.listen}", runtime, client)
    finally:
        server.stop()
        server.join(15)
        broker.close()


def away_from_minute_edge() -> None:
    """Rate limits count per clock minute: start a burst well inside one (the test clock
    starts each test on a full minute, so this waits only in a test past its 57th second)."""
    into = clock.now().timestamp() % 60
    if into > 57:
        time.sleep(60.2 - into)
