"""The web form as a channel: `POST /webhooks/webform`, checked at the edge, stored, answered 202.

Cheap refusals first, in this order, so nothing is stored for them: the rate limit per client
address (429), the body size (413), the content type (415), a malformed `Idempotency-Key`
(400), the signature or the plain form's token (401/403), an unreadable body (400), the field
rules (422). A filled honeypot is stored as a recorded rejection and answered like a success,
so bots learn nothing.

The signature (`X-Intake-Signature: sha256=<hex>`) is the HMAC-SHA256 of
`f"{timestamp}.{idempotency_key or ''}.".encode() + body`, the timestamp being the
`X-Intake-Timestamp` header (unix seconds): a signed request is good for
`[webform] signature_max_age_seconds` either side of our clock, a captured body cannot be sent
again under another key, and one signature is taken once in its window unless it carries an
`Idempotency-Key` (then it is the client's retry). The signature of the body alone (no
timestamp: the design's contract) is taken while `[webform] accept_body_only_signature` (on
by default); since it covers no key, its key is ignored and the body's hash is the
submission's identity, so a captured body sent again is the same complaint.

The same submission twice is one complaint: the dedupe key is the client's (the signed site,
else the plain form's address) `Idempotency-Key`, else the body's hash, so one client never
gets another's reference back. A key that comes back with other content is 409, and the new
content is not stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingest import pipeline
from ingest.channels import ChannelSpec, register
from ingest.records import Outcome, OutcomeStatus
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
from store.models import RawMessageRow

log = logging.getLogger(__name__)

PATH = "/webhooks/webform"
SIGNATURE_HEADER = "X-Intake-Signature"  # a contract outside tests use: sha256=<hex>
SIGNATURE_PREFIX = "sha256="
TIMESTAMP_HEADER = "X-Intake-Timestamp"  # unix seconds, signed with the key and the body
KEY_HEADER = "Idempotency-Key"
SITE = "site"  # the client that holds the signing secret: the website
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


def idempotency_source_id(key: str | None, body: bytes, *, client: str) -> str:
    """The dedupe key within one client's submissions (`client`: `SITE` for signed requests,
    else `form_client`): its Idempotency-Key, else the hash of the exact body."""
    if key:
        return f"idem:{client}:{key}"
    return f"sha256:{client}:{hashlib.sha256(body).hexdigest()}"


def form_client(address: str) -> str:
    """A plain form's client: the token is the same in every visitor's page, so the address
    (hashed: a dedupe key is no place for it) is all that tells two visitors apart."""
    return "form-" + hashlib.sha256(address.encode()).hexdigest()[:16]


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


# --- Authentication ---------------------------------------------------------------------------


def signed_bytes(timestamp: str, idempotency_key: str | None, body: bytes) -> bytes:
    """What the signature covers: `f"{timestamp}.{idempotency_key or ''}."` then the body."""
    return f"{timestamp}.{idempotency_key or ''}.".encode() + body


def signature_valid(header: str, signed: bytes, key: str | None) -> bool:
    """`sha256=<hex of HMAC-SHA256(key, signed)>`, compared in constant time; `signed` is
    `signed_bytes(...)`."""
    if not key or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()
    given = header[len(SIGNATURE_PREFIX) :].strip().lower()
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def timestamp_seconds(value: str) -> int | None:
    """The header's unix seconds (digits only, as signed), else None."""
    if not (0 < len(value) <= 12 and value.isascii() and value.isdigit()):
        return None
    return int(value)


def token_status(form: Form, config: WebformSettings) -> int | None:
    """None when the plain form's token is right; 401 when absent, 403 when wrong."""
    expected = secret(config.form_token_env)
    given = form.get(TOKEN_FIELD)
    if not expected or not given:
        return 401
    return None if hmac.compare_digest(given.encode(), expected.encode()) else 403


# --- Rate limit -------------------------------------------------------------------------------


def too_many(retry_after: int) -> JSONResponse:
    return error(429, "too many submissions; try again later", **{"Retry-After": str(retry_after)})


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


# --- Replays ---------------------------------------------------------------------------------


class SeenOnce:
    """Values remembered for a while (the signatures taken in their window): in Redis with
    SET NX EX when there is a broker (shared by every process), else in this process."""

    def __init__(self, redis: Any = None, name: str = "webform-signature") -> None:
        self.redis, self.name = redis, name
        self._local: dict[str, float] = {}  # value -> until (epoch seconds of `clock`)
        self._lock = threading.Lock()
        self._redis_down = False

    def first(self, value: str, ttl: int) -> bool:
        """Remember `value` for `ttl` seconds; True unless it was remembered already."""
        if self.redis is not None:
            try:
                taken = self.redis.set(self._key(value), 1, nx=True, ex=max(1, ttl))
            except Exception as exc:  # remembered here meanwhile; the outage is logged once
                if not self._redis_down:
                    log.warning("replay check: redis unreachable (%s); kept in this process", exc)
                self._redis_down = True
            else:
                self._redis_down = False
                return bool(taken)
        now = clock.now().timestamp()
        with self._lock:
            if len(self._local) > 10_000:
                self._local = {k: until for k, until in self._local.items() if until > now}
            if self._local.get(value, 0.0) > now:
                return False
            self._local[value] = now + ttl
            return True

    def forget(self, value: str) -> None:
        """Let `value` be taken again (its request was not stored after all)."""
        with self._lock:
            self._local.pop(value, None)
        if self.redis is not None:
            try:
                self.redis.delete(self._key(value))
            except Exception as exc:
                log.warning("replay check: redis unreachable (%s)", exc)

    def _key(self, value: str) -> str:
        return f"intake:seen:{self.name}:{value}"


# --- A key that comes back ---------------------------------------------------------------------


def key_reused(
    runtime: Runtime,
    raw: RawMessage,
    channels: tuple[str, ...],
    same: Callable[[RawMessageRow, RawMessage], bool],
) -> bool:
    """True when `raw.source_id` is stored on one of `channels` with content `same` does not
    find the same as `raw`'s: the client's key came back with another submission."""
    with runtime.sessions() as session:
        rows = session.scalars(
            select(RawMessageRow).where(
                RawMessageRow.source_id == raw.source_id, RawMessageRow.channel.in_(channels)
            )
        )
        return any(not same(row, raw) for row in rows)


def same_form(row: RawMessageRow, raw: RawMessage) -> bool:
    """The same bytes, or the same fields and files (a client that encoded its retry anew,
    with another multipart boundary or JSON spacing, sent the same submission)."""
    if bytes(row.payload) == raw.payload:
        return True
    try:
        stored = parse_form(bytes(row.payload), str(row.transport.get("content_type", "")))
        return stored == parse_form(raw.payload, str(raw.transport.get("content_type", "")))
    except MalformedForm:
        return False


KEY_REUSED = f"this {KEY_HEADER} was used for another submission; send a new key"


# --- The route --------------------------------------------------------------------------------


class WebformEndpoint:
    """`POST /webhooks/webform`: refuse cheaply, else store raw and answer 202."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.config = runtime.settings.webform
        broker = runtime.broker
        redis = getattr(broker, "client", None) if broker else None
        # Per client address: the public plain form, and requests whose signature fails. The
        # signed site is one credential with a limit of its own: a valid signature is never
        # refused for what others sent from its address, nor all the site's visitors for 10.
        self.limiter = RateLimiter(self.config.rate_limit_per_minute, redis)
        self.signed = RateLimiter(self.config.signed_rate_limit_per_minute, redis, name="site")
        self.seen = SeenOnce(redis)

    async def receive(self, request: Request) -> JSONResponse:
        client = request.client.host if request.client else "unknown"
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is None:  # the plain form: counted per address before anything else
            retry_after = await run_in_threadpool(self.limiter.hit, client)
            if retry_after:
                return too_many(retry_after)
        try:
            body = await read_body(request, self.config.max_body_bytes)
        except BodyTooLarge:
            return error(413, f"body over {self.config.max_body_bytes} bytes", Connection="close")
        content_type = request.headers.get("content-type", "")
        if not supported(content_type):
            return error(415, f"send one of {', '.join(FORM_TYPES)}")
        key = request.headers.get(KEY_HEADER)
        if key is not None and not valid_key(key):
            return error(400, f"{KEY_HEADER}: 1 to {MAX_KEY_LENGTH} printable ASCII characters")
        if signature is None and not self.config.form_token_env:
            return error(401, f"missing {SIGNATURE_HEADER} header")
        taken = None
        if signature is not None:
            timestamp = request.headers.get(TIMESTAMP_HEADER)
            checked = await run_in_threadpool(
                self._check_signature, signature, timestamp, key, body
            )
            if isinstance(checked, JSONResponse):  # a failed signature counts for its address
                retry_after = await run_in_threadpool(self.limiter.hit, client)
                return too_many(retry_after) if retry_after else checked
            retry_after = await run_in_threadpool(self.signed.hit, SITE)
            if retry_after:
                if checked is not None:
                    await run_in_threadpool(self.seen.forget, checked)
                return too_many(retry_after)
            taken = checked
            if timestamp is None:  # the body-only signature covers no key: it is not believed
                key = None  # and the body's hash is the submission's identity
        answer = await self._parse_and_accept(
            body, content_type, client, key, signed=signature is not None
        )
        if taken is not None and answer.status_code != 202:
            await run_in_threadpool(self.seen.forget, taken)  # not stored: it may come again
        return answer

    async def _parse_and_accept(
        self, body: bytes, content_type: str, client: str, key: str | None, *, signed: bool
    ) -> JSONResponse:
        try:
            form = await run_in_threadpool(parse_form, body, content_type)  # 10 MB: 1 s of CPU
        except MalformedForm as exc:
            return error(400, str(exc))
        refused = None if signed else self._check_token(form)
        if refused is not None:
            return refused
        scope = SITE if signed else form_client(client)
        return await self._accept(body, form, content_type, client, key, scope)

    def _check_signature(
        self, signature: str, timestamp: str | None, key: str | None, body: bytes
    ) -> JSONResponse | str | None:
        """The signature over the timestamp, the key and the body; a fresh timestamp; a
        signature not taken before in its window, unless the key makes it the client's retry.
        The refusal; else the signature (hex) when taken now, None for a retry."""
        how = f"sign '<{TIMESTAMP_HEADER}>.<{KEY_HEADER}, or nothing>.' followed by the body"
        if timestamp is None and self.config.accept_body_only_signature:
            return self._check_body_only(signature, key, body)
        if timestamp is None:
            return error(401, f"missing {TIMESTAMP_HEADER} header (unix seconds); {how}")
        seconds = timestamp_seconds(timestamp)
        if seconds is None:
            return error(403, f"{TIMESTAMP_HEADER} must be unix seconds (digits only)")
        signed = signed_bytes(timestamp, key, body)
        if not signature_valid(signature, signed, secret(self.config.secret_env)):
            return error(403, f"signature does not match; {how}")
        max_age = self.config.signature_max_age_seconds
        skew = int(clock.now().timestamp()) - seconds
        if abs(skew) > max_age:
            when = "old" if skew > 0 else "ahead of our clock"
            return error(
                403,
                f"{TIMESTAMP_HEADER} is {abs(skew)} s {when} (the limit is {max_age} s): "
                "sign each request when it is sent",
            )
        value = signature[len(SIGNATURE_PREFIX) :].strip().lower()
        if self.seen.first(value, 2 * max_age + 1):
            return value
        if key is None:
            return error(
                403,
                "this signed request was received before; sign each submission anew "
                f"(a retry carries the same {KEY_HEADER})",
            )
        return None  # the client's retry: its key gives it the same reference

    def _check_body_only(
        self, signature: str, key: str | None, body: bytes
    ) -> JSONResponse | str | None:
        """The signature of the body alone (the design's contract): it covers no time and no
        key, so the caller takes the body's hash as the submission's identity, and a
        captured body sent again, under any key, is the same complaint, never a new one."""
        if not signature_valid(signature, body, secret(self.config.secret_env)):
            return error(403, "signature does not match")
        return None

    def _check_token(self, form: Form) -> JSONResponse | None:
        status = token_status(form, self.config)
        if status == 401:
            return error(401, f"missing {SIGNATURE_HEADER} header or {TOKEN_FIELD} field")
        return error(403, f"{TOKEN_FIELD} does not match") if status == 403 else None

    async def _accept(
        self,
        body: bytes,
        form: Form,
        content_type: str,
        client: str,
        key: str | None,
        scope: str,
    ) -> JSONResponse:
        """Field rules (skipped for a honeypot: a bot learns nothing), then store and answer;
        409 when the key came back with another submission (nothing stored)."""
        honeypot = bool(self.config.honeypot_field and form.get(self.config.honeypot_field))
        errors = {} if honeypot else form_errors(form)
        if errors:
            return JSONResponse({"errors": errors}, status_code=422)
        raw = RawMessage(
            channel="webform",
            source_id=idempotency_source_id(key, body, client=scope),
            received_at=clock.now(),
            payload=body,
            transport={"content_type": content_type, "client": client},
        )

        async def reused() -> bool:
            return await run_in_threadpool(key_reused, self.runtime, raw, ("webform",), same_form)

        try:
            if key and await reused():
                return error(409, KEY_REUSED)
            outcome = await ingest_safely(self.runtime, raw)
            # Two at once with one key: the second found the first stored; its content told.
            if key and outcome and outcome.status == OutcomeStatus.DUPLICATE and await reused():
                return error(409, KEY_REUSED)
        except OperationalError as exc:
            log.error("webform: store unreachable: %s", exc.orig)
            outcome = None
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
