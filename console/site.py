"""The console as the HTTP server mounts it: its pages with their session middleware, and
the health and metrics routes (which need no login: probes and Prometheus call them)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from console import health, metrics, pages
from ingest.webhooks import make_app
from intake.runtime import Runtime


def probe_routes(runtime: Runtime) -> list[BaseRoute]:
    """`/healthz`, `/readyz` and `/metrics`."""
    return [*health.routes(runtime), *metrics.routes(runtime)]


def app(runtime: Runtime) -> Starlette:
    """The whole HTTP app of `intake run`: every channel's routes, and the console unless
    `[console] enabled = false`."""
    if not runtime.settings.console.enabled:
        return make_app(runtime)
    return make_app(
        runtime,
        extra=[*probe_routes(runtime), *pages.routes(runtime)],
        middleware=pages.middleware(runtime),
    )


def probe_app(runtime: Runtime) -> Starlette:
    """Health and metrics alone, for `[console] metrics_listen`."""
    return Starlette(routes=probe_routes(runtime))
