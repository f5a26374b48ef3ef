"""The HTTP receiver: one Starlette app under uvicorn for every push channel.

Each channel contributes its routes (the web form, Telegram's webhook, the desk API); the
handlers check the request cheaply at the edge and hand a `RawMessage` to the pipeline, which
stores it before anything else. The operators' console (`console/`) brings its pages,
health and metrics as `extra` routes, from the entry point that assembles the app.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

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
    app = Starlette(routes=routes, middleware=list(middleware))
    app.state.runtime = runtime
    return app


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


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
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=10,
            # uvicorn believes X-Forwarded-For from loopback by default: only from the
            # proxies the settings name, so a client cannot choose its own address.
            proxy_headers=bool(runtime.settings.http.trusted_proxies),
            forwarded_allow_ips=list(runtime.settings.http.trusted_proxies) or None,
        )
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        self.server.run()

    @property
    def started(self) -> bool:
        return self.server.started

    def stop(self) -> None:
        self.server.should_exit = True
