"""The desk as channels: phone calls, visits, and CİMER/TÜBİMER petitions typed in by staff.

`POST /api/entries` (JSON, `Authorization: Bearer <token>` of an `[[api_token]]`) and
`intake new` both go through `submit_entry`: the field rules at the edge (422, nothing
stored), then the raw entry is stored and the pipeline makes the complaint. A petition number
is the dedupe key, so a petition entered twice is one complaint; CİMER runs on its 30-day clock.
Another entry is deduped by its `Idempotency-Key`, scoped to the operator (the API token's
name), so one operator never gets another's reference back; a key that comes back with another
entry is 409 and nothing new is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingest import pipeline
from ingest.channels import ChannelSpec, register
from ingest.channels.webform import (
    KEY_HEADER,
    KEY_REUSED,
    MAX_KEY_LENGTH,
    BodyTooLarge,
    RateLimiter,
    error,
    ingest_safely,
    key_reused,
    read_body,
    valid_key,
)
from ingest.records import Outcome, OutcomeStatus
from intake import clock
from intake.errors import PermanentError
from intake.privacy import mask
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.settings import Settings, secret
from normalize.desk import (
    DESK_CHANNELS,
    PETITION_CHANNELS,
    entry_errors,
    parse_entry,
    parse_received_at,
)
from normalize.webform import MalformedForm
from store.models import RawMessageRow

log = logging.getLogger(__name__)

PATH = "/api/entries"
MAX_ENTRY_BYTES = 1 * 2**20  # a typed entry; the text itself is bounded at 50 000 characters
FUTURE_SLACK = timedelta(minutes=5)  # clocks of the desk's PCs drift


class KeyReused(PermanentError):
    """The operator's Idempotency-Key was used before for another entry."""


class InvalidEntry(PermanentError):
    """The entry breaks the field rules; `errors` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {why}" for field, why in errors.items()))
        self.errors = errors


def token_owner(authorization: str | None, settings: Settings) -> str | None:
    """The name of the `[[api_token]]` whose token is the bearer token, else None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    given, owner = token.strip().encode(), None
    for entry in settings.api_token:
        expected = secret(entry.token_env)
        # Every token is compared, in constant time: no timing tells which one came close.
        if expected and hmac.compare_digest(given, expected.encode()) and owner is None:
            owner = entry.name
    return owner


def build_raw(
    body: bytes,
    operator: str,
    settings: Settings,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> RawMessage:
    """The raw entry to store; `MalformedForm` (not JSON) or `InvalidEntry` (field rules)."""
    values = parse_entry(body)
    errors = entry_errors(values)
    if idempotency_key is not None and not valid_key(idempotency_key):
        errors["Idempotency-Key"] = f"1 to {MAX_KEY_LENGTH} printable ASCII characters"
    now = now or clock.now()
    received_at = now
    if values.get("received_at", "").strip() and "received_at" not in errors:
        received_at = parse_received_at(values["received_at"], settings.clock.timezone)
        if received_at > now + FUTURE_SLACK:
            errors["received_at"] = "in the future"
    if errors:
        raise InvalidEntry(errors)
    channel = values["channel"].strip()
    return RawMessage(
        channel=channel,
        source_id=entry_source_id(channel, values, idempotency_key, operator),
        received_at=received_at,
        payload=body,
        transport={"operator": operator},
    )


def entry_source_id(
    channel: str, values: dict[str, str], idempotency_key: str | None, operator: str
) -> str:
    """The petition number for CİMER/TÜBİMER (one petition, whoever enters it); else the
    operator's own key (`entry:<operator>:<key>`) or a fresh id."""
    if channel in PETITION_CHANNELS:
        return values["petition_number"].strip()
    if not idempotency_key:
        return "entry:" + uuid.uuid4().hex
    return f"entry:{operator_scope(operator)}:{idempotency_key}"


def operator_scope(operator: str) -> str:
    """The operator in a dedupe key: quoted (no ':' of its own), a hash when very long."""
    quoted = quote(operator, safe="")
    if len(quoted) <= 100:
        return quoted
    return "sha256-" + hashlib.sha256(operator.encode()).hexdigest()[:32]


KEYED_CHANNELS = tuple(name for name in DESK_CHANNELS if name not in PETITION_CHANNELS)


def same_entry(row: RawMessageRow, raw: RawMessage) -> bool:
    """The same channel and the same bytes or values (JSON spaced or ordered anew)."""
    if row.channel != raw.channel:
        return False
    if bytes(row.payload) == raw.payload:
        return True
    try:
        return parse_entry(bytes(row.payload)) == parse_entry(raw.payload)
    except MalformedForm:
        return False


def reused(runtime: Runtime, raw: RawMessage) -> bool:
    """The operator's key came back with another entry (a petition number is no key)."""
    return raw.channel in KEYED_CHANNELS and key_reused(runtime, raw, KEYED_CHANNELS, same_entry)


def submit_entry(
    runtime: Runtime, body: bytes, operator: str, *, idempotency_key: str | None = None
) -> Outcome:
    """Check, store and process one entry (the CLI's path; the route does the same async)."""
    raw = build_raw(body, operator, runtime.settings, idempotency_key=idempotency_key)
    if idempotency_key and reused(runtime, raw):
        raise KeyReused(KEY_REUSED)
    outcome = pipeline.ingest(runtime, [raw]).outcomes()[0]
    if idempotency_key and outcome.status == OutcomeStatus.DUPLICATE and reused(runtime, raw):
        raise KeyReused(KEY_REUSED)
    log.info(
        "%s %s: raw %s %s %s",
        raw.channel,
        mask(raw.source_id),
        outcome.raw_id,
        outcome.status,
        outcome.reference or "",
    )
    return outcome


async def receive(
    request: Request, failures: RateLimiter, limits: dict[str, RateLimiter]
) -> JSONResponse:
    """`POST /api/entries`: 201 with the reference, 200 when already entered."""
    runtime: Runtime = request.app.state.runtime
    client = request.client.host if request.client else "unknown"
    operator = token_owner(request.headers.get("authorization"), runtime.settings)
    if operator is None:  # wrong tokens are throttled per address; the right one never is
        if wait := await run_in_threadpool(failures.exceeded, client):
            return error(429, "too many failed logins; try later", **{"Retry-After": str(wait)})
        await run_in_threadpool(failures.hit, client)
        return error(401, "a valid API token is required", **{"WWW-Authenticate": "Bearer"})
    if wait := await run_in_threadpool(limits[operator].hit, operator):  # per token
        return error(
            429, "too many entries with this token; try later", **{"Retry-After": str(wait)}
        )
    try:
        body = await read_body(request, MAX_ENTRY_BYTES)
        key = request.headers.get(KEY_HEADER)
        raw = build_raw(body, operator, runtime.settings, idempotency_key=key)
    except BodyTooLarge:
        return error(413, f"body over {MAX_ENTRY_BYTES} bytes")
    except MalformedForm as exc:
        return error(400, str(exc))
    except InvalidEntry as exc:
        return JSONResponse({"errors": exc.errors}, status_code=422)

    async def key_came_back() -> bool:
        return bool(key) and await run_in_threadpool(reused, runtime, raw)

    try:
        if await key_came_back():
            return error(409, KEY_REUSED)
        outcome = await ingest_safely(runtime, raw)
        # Two at once with one key: the second found the first stored; its content told.
        if outcome and outcome.status == OutcomeStatus.DUPLICATE and await key_came_back():
            return error(409, KEY_REUSED)
    except OperationalError as exc:
        log.error("desk: store unreachable: %s", exc.orig)
        outcome = None
    if outcome is None:
        return error(503, "temporarily unavailable; try again", **{"Retry-After": "30"})
    return answer(outcome)


def answer(outcome: Outcome) -> JSONResponse:
    """201 for a new complaint, 200 for one entered before, 202 when kept for a retry."""
    status = {OutcomeStatus.CREATED: 201, OutcomeStatus.DUPLICATE: 200}.get(outcome.status, 202)
    return JSONResponse(
        {"reference": outcome.reference, "status": outcome.status}, status_code=status
    )


AUTH_FAILURES_PER_MINUTE = 10  # per client address, against guessing tokens


def routes(runtime: Runtime) -> list[Route]:
    redis = getattr(runtime.broker, "client", None)
    failures = RateLimiter(AUTH_FAILURES_PER_MINUTE, redis, name="desk-auth")
    limits = {
        entry.name: RateLimiter(entry.rate_limit_per_minute, redis, name="desk-token")
        for entry in runtime.settings.api_token
    }

    async def endpoint(request: Request) -> JSONResponse:
        return await receive(request, failures, limits)

    return [Route(PATH, endpoint, methods=["POST"])]


# The four share the routes: given once (on `phone`), or Starlette would see them four times.
for name in DESK_CHANNELS:
    register(ChannelSpec(name, routes=routes if name == "phone" else None))
