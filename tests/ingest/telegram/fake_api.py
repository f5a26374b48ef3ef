"""A loopback fake of the Telegram Bot API, speaking its documented JSON.

Methods answer `{"ok": true, "result": …}` or `{"ok": false, "error_code", "description",
"parameters"}` (https://core.telegram.org/bots/api#making-requests). Tests queue updates, put
files up for getFile, read what sendMessage received, and script faults: the next calls of a
method answer 401/403/429 (with or without `retry_after`)/5xx, hang past the client timeout, or
answer garbage (`GARBAGE`: invalid JSON, JSON of the wrong shape, an HTML error page, nothing).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    409: "Conflict: terminated by other getUpdates request",
    429: "Too Many Requests: retry later",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
# What a broken proxy or API answers instead of the Bot API's JSON: (status, content type, body).
GARBAGE = {
    "invalid-json": (200, "application/json", b'{"ok": true, "result": [{"update_id": '),
    "wrong-shape": (200, "application/json", b'{"ok": true, "result": "surprise"}'),
    "not-an-object": (200, "application/json", b'[{"ok": true, "result": []}]'),
    "html": (
        502,
        "text/html",
        b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
        b"Gateway</h1></center><hr><center>nginx</center></body></html>",
    ),
    "empty": (200, "application/json", b""),
}
NUMBERS = ("offset", "limit", "timeout", "chat_id", "reply_to_message_id")
OBJECTS = ("allowed_updates", "reply_parameters")


@dataclass
class Fault:
    status: int = 0  # 0: answer normally (after the hang)
    retry_after: int | None = None
    hang: float = 0.0
    garbage: str = ""  # a key of GARBAGE: answer that instead


class FakeBotAPI:
    """The state behind the fake: updates to serve, files, messages the bot sent, faults."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.me = {
            "id": 777000111,
            "is_bot": True,
            "first_name": "Kamu SM Şikâyet",
            "username": "kamusm_sikayet_bot",
        }
        self.updates: list[dict[str, Any]] = []
        self.files: dict[str, tuple[str, bytes]] = {}
        self.sent: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.lock = threading.Lock()
        self.next_message_id = 9000
        self.webhook: dict[str, Any] | None = None

    # --- scripting -------------------------------------------------------------------------

    def push(self, *updates: dict[str, Any]) -> None:
        with self.lock:
            self.updates += updates

    def add_file(self, file_id: str, data: bytes, file_path: str) -> None:
        self.files[file_id] = (file_path, data)

    def fail(
        self, method: str, status: int, *, times: int = 1, retry_after: int | None = None
    ) -> None:
        with self.lock:
            self.faults[method] += [Fault(status, retry_after) for _ in range(times)]

    def hang(self, method: str, seconds: float, *, times: int = 1) -> None:
        with self.lock:
            self.faults[method] += [Fault(hang=seconds) for _ in range(times)]

    def garbage(self, method: str, kind: str, *, times: int = 1) -> None:
        """The next `times` calls of `method` answer GARBAGE[kind] instead of the API's JSON."""
        assert kind in GARBAGE, kind
        with self.lock:
            self.faults[method] += [Fault(garbage=kind) for _ in range(times)]

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def offsets(self) -> list[int | None]:
        return [params.get("offset") for method, params in self.calls if method == "getUpdates"]

    # --- the HTTP side ---------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
            ]
        )

    async def _method(self, request: Request) -> Response:
        method, params = request.path_params["method"], await _params(request)
        self.calls.append((method, params))
        if request.path_params["token"] != self.token:
            return _error(401)
        fault = self._next_fault(method)
        if fault is not None and fault.hang:
            await asyncio.sleep(fault.hang)
        if fault is not None and fault.garbage:
            status, content_type, body = GARBAGE[fault.garbage]
            return Response(body, status_code=status, media_type=content_type)
        if fault is not None and fault.status:
            return _error(fault.status, fault.retry_after)
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _error(404, description="Not Found")
        return await handler(params)

    def _next_fault(self, method: str) -> Fault | None:
        with self.lock:
            queue = self.faults.get(method)
            return queue.pop(0) if queue else None

    async def _getMe(self, params: dict[str, Any]) -> Response:  # noqa: N802
        return _ok(self.me)

    async def _getUpdates(self, params: dict[str, Any]) -> Response:  # noqa: N802
        """Updates from `offset` on; lower ones are confirmed and forgotten; long polling."""
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            with self.lock:
                if params.get("offset") is not None:
                    self.updates = [u for u in self.updates if u["update_id"] >= params["offset"]]
                ready = self.updates[: int(params.get("limit") or 100)]
            if ready or time.monotonic() >= deadline:
                return _ok(ready)
            await asyncio.sleep(0.05)

    async def _sendMessage(self, params: dict[str, Any]) -> Response:  # noqa: N802
        with self.lock:
            self.next_message_id += 1
            message_id = self.next_message_id
        reply = (params.get("reply_parameters") or {}).get("message_id") or params.get(
            "reply_to_message_id"
        )
        self.sent.append(
            {
                "chat_id": params["chat_id"],
                "text": params.get("text", ""),
                "reply_to": reply,
                "message_id": message_id,
            }
        )
        return _ok(
            {
                "message_id": message_id,
                "date": int(time.time()),
                "from": self.me,
                "chat": {"id": params["chat_id"], "type": "private"},
                "text": params.get("text", ""),
            }
        )

    async def _setWebhook(self, params: dict[str, Any]) -> Response:  # noqa: N802
        self.webhook = dict(params)
        return _ok(True)

    async def _deleteWebhook(self, params: dict[str, Any]) -> Response:  # noqa: N802
        self.webhook = None
        return _ok(True)

    async def _getFile(self, params: dict[str, Any]) -> Response:  # noqa: N802
        found = self.files.get(str(params.get("file_id")))
        if found is None:
            return _error(400, description="Bad Request: invalid file_id")
        path, data = found
        return _ok(
            {
                "file_id": params["file_id"],
                "file_unique_id": "u" + params["file_id"],
                "file_size": len(data),
                "file_path": path,
            }
        )

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        for path, data in self.files.values():
            if path == request.path_params["path"]:
                return Response(data, media_type="application/octet-stream")
        return Response(status_code=404)


async def _params(request: Request) -> dict[str, Any]:
    """Parameters as JSON or form fields (PTB sends forms whose nested values are JSON)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        return json.loads(await request.body() or b"{}")
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        params.update((key, value) for key, value in (await request.form()).items())
    for key in NUMBERS:
        if key in params:
            params[key] = int(params[key])
    for key in OBJECTS:
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(status: int, retry_after: int | None = None, *, description: str = "") -> JSONResponse:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": status,
        "description": description or DESCRIPTIONS.get(status, "Error"),
    }
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


class ServerThread(threading.Thread):
    """A Starlette app under uvicorn in a thread, on loopback; `stop()` ends it."""

    def __init__(self, app: Any, port: int) -> None:
        super().__init__(name=f"uvicorn:{port}", daemon=True)
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=1,
            )
        )

    def run(self) -> None:
        self.server.run()

    def start_serving(self) -> None:
        self.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.is_alive():
                raise RuntimeError("the fake server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(10)
