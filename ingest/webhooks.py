"""The HTTP receiver: one Starlette app under uvicorn for every push channel.

Each channel contributes its routes (the web form, Telegram's webhook, the desk API); the
handlers check the request cheaply at the edge and hand a `RawMessage` to the pipeline, which
stores it before anything else. The operators' console (`console/`) brings its pages,
health and metrics as `extra` routes, from the entry point that assembles the app.

Slow clients are bounded here, for every route: the headers by `BoundedH11Protocol` (closed
when they do not arrive in time), the body by `BodyDeadline` (408 and close).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol

from ingest import channels
from intake.runtime import Runtime

log = logging.getLogger(__name__)


def make_app(
    runtime: Runtime, extra: Sequence[BaseRoute] = (), middleware: Sequence[Middleware] = ()
) -> Starlette:
    """The app with every registered channel's routes, and `extra` (the console's)."""
    routes: list[BaseRoute] = []
    for spec in channels.load():
        if spec.routes is not None:
            routes += spec.routes(runtime)
    routes += extra
    if not any(getattr(route, "path", "") == "/healthz" for route in routes):
        routes.append(Route("/healthz", _health, methods=["GET"]))
    proxies = Middleware(Proxied, trusted=runtime.settings.http.trusted_proxies)
    deadline = Middleware(BodyDeadline, seconds=runtime.settings.http.body_timeout_seconds)
    app = Starlette(routes=routes, middleware=[proxies, deadline, *middleware])
    app.state.runtime = runtime
    return app


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


# --- Slow clients (slowloris) -----------------------------------------------------------------


class BodyTimeout(Exception):
    """The request body did not arrive within its time (raised from `receive`)."""


class BodyDeadline:
    """ASGI middleware: the whole request body must arrive within `seconds` of the headers,
    however slowly it trickles, else 408 and the connection is closed (RFC 9110 15.5.9).
    Every route's reading is bounded here, the channels' size-bounded readers included."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline, state = loop.time() + self.seconds, {"read": False, "answered": False}

        async def bounded() -> Message:
            if state["read"]:  # the body is in: later calls wait for a disconnect, unbounded
                return await receive()
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout from None
            state["read"] = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def tracked(message: Message) -> None:
            state["answered"] = state["answered"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded, tracked)
        except BodyTimeout:
            if state["answered"]:
                raise
            log.warning("http: %s %s: body not in after %ss; 408", *_where(scope), self.seconds)
            await _answer_408(send, f"request body not received within {self.seconds:g} s")


def _where(scope: Scope) -> tuple[str, str]:
    return scope.get("method", ""), scope.get("path", "")


async def _answer_408(send: Send, message: str) -> None:
    response = JSONResponse({"error": message}, status_code=408, headers={"Connection": "close"})
    await send({"type": "http.response.start", "status": 408, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a bound on the headers: the request line and headers must
    be in within `header_timeout` seconds of the connection (or of the previous answer on a
    kept-alive one), else the connection is closed. uvicorn has no such bound: its keep-alive
    timer starts only after a first answer and any byte cancels it, so a client that never
    finishes its headers, or sends one byte every few seconds, held a connection for ever."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the headers are in (or it went wrong)
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the next request's headers are bounded in their turn

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        if self.header_timeout > 0:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def bounded_protocol(header_timeout: float) -> type[H11Protocol]:
    """The protocol class for one server, with its header bound (uvicorn takes a class)."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,), {"header_timeout": header_timeout})


class Proxied:
    """The reverse proxies of `[http] trusted_proxies`: from one of them, X-Forwarded-For
    and X-Forwarded-Proto say who the client is and whether it came over TLS (uvicorn's own
    `ProxyHeadersMiddleware`); from any other peer they are ignored. The peer itself is kept
    as `request.state.peer`, for what only the proxy may say (the console's user header)."""

    def __init__(self, app: Any, trusted: Sequence[str]) -> None:
        self.trusted = tuple(trusted)
        self.app = ProxyHeadersMiddleware(app, trusted_hosts=list(trusted)) if trusted else app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = (scope.get("client") or ("",))[0]
            scope.setdefault("state", {})["peer"] = peer
        await self.app(scope, receive, send)


def from_trusted_proxy(request: Request) -> bool:
    """Whether the request's peer is one of the reverse proxies the settings trust."""
    peer = getattr(request.state, "peer", None)
    return peer is not None and peer in request.app.state.runtime.settings.http.trusted_proxies


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class HttpServer(threading.Thread):
    """uvicorn in a thread of `intake run`; `stop()` lets requests in flight finish."""

    def __init__(
        self,
        runtime: Runtime,
        app: Starlette | None = None,
        listen: str | None = None,
    ) -> None:
        super().__init__(name="http", daemon=True)
        host, port = parse_listen(listen or runtime.settings.http.listen)
        config = uvicorn.Config(
            app or make_app(runtime),
            host=host,
            port=port,
            http=bounded_protocol(runtime.settings.http.header_timeout_seconds),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=10,
            # uvicorn believes X-Forwarded-For from loopback by default: the app's `Proxied`
            # does, from the proxies the settings name only, so no client picks its address.
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        self.server.run()

    @property
    def started(self) -> bool:
        return self.server.started

    def stop(self) -> None:
        self.server.should_exit = True
