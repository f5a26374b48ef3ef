"""The web form as a channel: `POST /webhooks/webform`, checked at the edge, stored, answered 202.

Cheap refusals first, in this order, so nothing is stored for them: the rate limit per client
address (429), the body size (413), the HMAC signature or the plain form's token (401/403),
an unreadable body (400/415), the field rules (422). A filled honeypot is stored as a recorded
rejection and answered like a success, so bots learn nothing. The same submission twice (the
`Idempotency-Key`, else the body's hash) is one complaint; the pipeline decides the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingest import pipeline
from ingest.channels import ChannelSpec, register
from ingest.records import Outcome
from intake import clock
from intake.privacy import mask
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.settings import WebformSettings, secret
from normalize.webform import (
    FORM_TYPES,
    Form,
    MalformedForm,
    form_errors,
    media_type,
    parse_form,
)

log = logging.getLogger(__name__)

PATH = "/webhooks/webform"
SIGNATURE_HEADER = "X-Intake-Signature"  # a contract outside tests use: sha256=<hex>
SIGNATURE_PREFIX = "sha256="
TOKEN_FIELD = "form_token"
MAX_KEY_LENGTH = 200


class BodyTooLarge(Exception):
    """The request body is over the limit (answered 413; the rest is read and dropped, up to
    `DRAIN_BYTES`, so that the sender can read the answer instead of a reset connection)."""


DRAIN_BYTES = 64 * 2**20  # beyond this a sender is cut off: it is not a mistake any more


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused by its Content-Length and again by counting while it streams;
    nothing over `limit` is kept."""
    declared = request.headers.get("content-length", "")
    chunks, size = [], 0
    stream = request.stream()
    if declared.isdigit() and int(declared) > limit:
        await _drain(stream, DRAIN_BYTES)
        raise BodyTooLarge
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await _drain(stream, DRAIN_BYTES - size)
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(stream: AsyncIterator[bytes], budget: int) -> None:
    """Read and drop the rest of a body, up to `budget` bytes."""
    async for chunk in stream:
        budget -= len(chunk)
        if budget <= 0:
            return


def error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def idempotency_source_id(key: str | None, body: bytes) -> str:
    """The dedupe key: the client's Idempotency-Key, else the hash of the exact body."""
    if key:
        return "idem:" + key
    return "sha256:" + hashlib.sha256(body).hexdigest()


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


# --- Authentication ---------------------------------------------------------------------------


def signature_valid(header: str, body: bytes, key: str | None) -> bool:
    """`sha256=<hex of HMAC-SHA256(key, body)>`, compared in constant time."""
    if not key or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    given = header[len(SIGNATURE_PREFIX) :].strip().lower()
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def token_status(form: Form, config: WebformSettings) -> int | None:
    """None when the plain form's token is right; 401 when absent, 403 when wrong."""
    expected = secret(config.form_token_env)
    given = form.get(TOKEN_FIELD)
    if not expected or not given:
        return 401
    return None if hmac.compare_digest(given.encode(), expected.encode()) else 403


# --- Rate limit -------------------------------------------------------------------------------


class RateLimiter:
    """A fixed one-minute window per client address: counted in Redis when there is a broker
    (shared by every process behind the same address), else in this process."""

    WINDOW = 60

    def __init__(
        self,
        limit: int,
        redis: Any = None,
        seconds: Callable[[], float] | None = None,
        name: str = "webform",
    ) -> None:
        self.limit, self.redis, self.name = limit, redis, name
        self.clock = seconds or (lambda: clock.now().timestamp())  # epoch seconds
        self._local: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._redis_down = False

    def hit(self, client: str) -> int:
        """Count one request; 0 when it is allowed, else the seconds until the next window."""
        if self.limit <= 0:
            return 0
        now = self.clock()
        window = int(now // self.WINDOW)
        count = self._count_redis(client, window)
        if count is None:
            count = self._count_local(client, window)
        return 0 if count <= self.limit else max(1, int((window + 1) * self.WINDOW - now))

    def exceeded(self, client: str) -> int:
        """Without counting: the seconds to wait when `client` is over the limit, else 0."""
        now = self.clock()
        window = int(now // self.WINDOW)
        count = None
        if self.redis is not None:
            try:
                count = int(self.redis.get(f"intake:ratelimit:{self.name}:{client}:{window}") or 0)
            except Exception:
                count = None
        if count is None:
            with self._lock:
                count = self._local.get((client, window), 0)
        return 0 if count < self.limit else max(1, int((window + 1) * self.WINDOW - now))

    def _count_redis(self, client: str, window: int) -> int | None:
        if self.redis is None:
            return None
        key = f"intake:ratelimit:{self.name}:{client}:{window}"
        try:
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, 2 * self.WINDOW)
            count, _ = pipe.execute()
        except Exception as exc:  # counted here meanwhile; the outage is logged once
            if not self._redis_down:
                log.warning("rate limit: redis unreachable (%s); counting in this process", exc)
            self._redis_down = True
            return None
        self._redis_down = False
        return int(count)

    def _count_local(self, client: str, window: int) -> int:
        with self._lock:
            if len(self._local) > 10_000:  # forget past windows
                self._local = {k: v for k, v in self._local.items() if k[1] == window}
            count = self._local.get((client, window), 0) + 1
            self._local[(client, window)] = count
            return count


# --- The route --------------------------------------------------------------------------------


class WebformEndpoint:
    """`POST /webhooks/webform`: refuse cheaply, else store raw and answer 202."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.config = runtime.settings.webform
        broker = runtime.broker
        self.limiter = RateLimiter(
            self.config.rate_limit_per_minute, getattr(broker, "client", None) if broker else None
        )

    async def receive(self, request: Request) -> JSONResponse:
        client = request.client.host if request.client else "unknown"
        retry_after = await run_in_threadpool(self.limiter.hit, client)
        if retry_after:
            return error(
                429, "too many submissions; try again later", **{"Retry-After": str(retry_after)}
            )
        try:
            body = await read_body(request, self.config.max_body_bytes)
        except BodyTooLarge:
            return error(413, f"body over {self.config.max_body_bytes} bytes", Connection="close")
        content_type = request.headers.get("content-type", "")
        if not supported(content_type):
            return error(415, f"send one of {', '.join(FORM_TYPES)}")
        signature = request.headers.get(SIGNATURE_HEADER)
        refused = self._check_signature(signature, body)
        if refused is not None:
            return refused
        try:
            form = parse_form(body, content_type)
        except MalformedForm as exc:
            return error(400, str(exc))
        refused = None if signature is not None else self._check_token(form)
        return refused or await self._accept(request, body, form, content_type, client)

    def _check_signature(self, signature: str | None, body: bytes) -> JSONResponse | None:
        """A signature sent must match; none sent is fine only for a plain form with a token."""
        if signature is None:
            if self.config.form_token_env:
                return None
            return error(401, f"missing {SIGNATURE_HEADER} header")
        if signature_valid(signature, body, secret(self.config.secret_env)):
            return None
        return error(403, "signature does not match")

    def _check_token(self, form: Form) -> JSONResponse | None:
        status = token_status(form, self.config)
        if status == 401:
            return error(401, f"missing {SIGNATURE_HEADER} header or {TOKEN_FIELD} field")
        return error(403, f"{TOKEN_FIELD} does not match") if status == 403 else None

    async def _accept(
        self, request: Request, body: bytes, form: Form, content_type: str, client: str
    ) -> JSONResponse:
        """Field rules (skipped for a honeypot: a bot learns nothing), then store and answer."""
        honeypot = bool(self.config.honeypot_field and form.get(self.config.honeypot_field))
        errors = {} if honeypot else form_errors(form)
        if errors:
            return JSONResponse({"errors": errors}, status_code=422)
        key = request.headers.get("idempotency-key")
        if key is not None and not valid_key(key):
            return error(400, f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable ASCII characters")
        raw = RawMessage(
            channel="webform",
            source_id=idempotency_source_id(key, body),
            received_at=clock.now(),
            payload=body,
            transport={"content_type": content_type, "client": client},
        )
        outcome = await ingest_safely(self.runtime, raw)
        if outcome is None:
            return error(503, "temporarily unavailable; try again", **{"Retry-After": "30"})
        return JSONResponse({"reference": outcome.reference, "status": "received"}, status_code=202)


async def ingest_safely(runtime: Runtime, raw: RawMessage) -> Outcome | None:
    """`pipeline.ingest` off the event loop; None when the store cannot be reached."""
    try:
        outcome = (await run_in_threadpool(pipeline.ingest, runtime, [raw])).outcomes()[0]
    except OperationalError as exc:
        log.error("%s %s: store unreachable: %s", raw.channel, mask(raw.source_id), exc.orig)
        return None
    log.info(
        "%s %s: raw %s %s %s",
        raw.channel,
        mask(raw.source_id),
        outcome.raw_id,
        outcome.status,
        outcome.reference or "",
    )
    return outcome


def supported(content_type: str) -> bool:
    kind = media_type(content_type)
    return kind in FORM_TYPES or kind.endswith("+json")


def routes(runtime: Runtime) -> list[Route]:
    return [Route(PATH, WebformEndpoint(runtime).receive, methods=["POST"])]


register(ChannelSpec("webform", routes=routes))
