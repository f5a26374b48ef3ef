"""The webhook: Telegram pushes updates to POST /webhooks/telegram, served by `ingest.webhooks`.

Checks the secret header and the body's size and shape at the edge, then hands the update to
a `Receiver`; a failure answers 503 so that Telegram delivers the update again.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from telegram.error import TelegramError

from ingest.channels.telegram.api import http, new_bot
from ingest.channels.telegram.receive import Receiver
from ingest.channels.webform import BodyTooLarge, read_body
from intake.errors import IntakeError
from intake.runtime import Runtime
from intake.settings import secret

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # setWebhook secret_token (Bot API)
MAX_WEBHOOK_BYTES = 2**20


# --- the webhook ----------------------------------------------------------------------------------


class Webhook:
    """POST /webhooks/telegram: Telegram pushes one update per request (Bot API setWebhook).

    Wrong secret → 403, body over 1 MB → 413, not an update → 400, stored or skipped → 200;
    when Telegram or the store fails → 503, and Telegram delivers the update again.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.config = runtime, runtime.settings.telegram
        self.receiver: Receiver | None = None  # made in the server's event loop, on first use

    async def handle(self, request: Request) -> JSONResponse:
        if not self.authentic(request.headers.get(SECRET_HEADER)):
            log.warning("telegram webhook: refused a request without the right secret token")
            return _error(403, f"wrong or missing {SECRET_HEADER}")
        body = await read_limited(request, MAX_WEBHOOK_BYTES)
        if body is None:
            return _error(413, f"body over {MAX_WEBHOOK_BYTES} bytes")
        update = parse_update(body)
        if isinstance(update, str):
            log.warning("telegram webhook: %s", update)
            return _error(400, update)
        try:
            outcome = await self._receiver().receive(update)
        except (TelegramError, IntakeError) as exc:
            log.warning("telegram webhook: update %s not stored yet: %s", update["update_id"], exc)
            return _error(503, "temporarily unavailable; deliver again")
        except Exception:
            log.exception("telegram webhook: update %s failed", update["update_id"])
            return _error(503, "temporarily unavailable; deliver again")
        return JSONResponse({"ok": True, "status": outcome.status if outcome else "skipped"})

    def authentic(self, given: str | None) -> bool:
        expected = secret(self.config.webhook_secret_env)
        if not expected or given is None:
            return False
        return hmac.compare_digest(given.encode(), expected.encode())

    def _receiver(self) -> Receiver:
        if self.receiver is None:
            self.receiver = Receiver(
                self.runtime, new_bot(self.config, http(self.config), http(self.config))
            )
        return self.receiver


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is over `limit` bytes: the web form's reader (Content-Length
    and the streamed count, the rest drained so that the 413 is read); its time is bounded
    for every route by `ingest.webhooks.BodyDeadline`."""
    try:
        return await read_body(request, limit)
    except BodyTooLarge:
        return None
    except ClientDisconnect:
        return b""


def parse_update(body: bytes) -> dict[str, Any] | str:
    """The update object, or what is wrong with the body."""
    try:
        update = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: also an integer of over 4300 digits (Python's int_max_str_digits), which
        # is no JSONDecodeError and was a 500; RecursionError: nested too deep.
        return f"malformed JSON: {exc}"
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return "not a Telegram update (no update_id)"
    return update


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def routes(runtime: Runtime) -> list[Route]:
    config = runtime.settings.telegram
    if not (config.enabled and config.mode == "webhook"):
        return []
    return [Route("/webhooks/telegram", Webhook(runtime).handle, methods=["POST"])]
