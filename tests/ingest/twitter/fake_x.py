"""A loopback fake of the X API v2: the endpoints the X channel uses, speaking their JSON.

Mentions timeline (pages, `since_id`, `includes.users`), DM events, posting a reply and
sending a DM; every call is recorded, and the next calls of an endpoint can be scripted to
fail (401/403/429 with or without `x-rate-limit-reset`, 5xx, malformed JSON, a hang) or
answer garbage (`GARBAGE`: invalid JSON, JSON of the wrong shape, an HTML error page, nothing).
Shapes follow docs.x.com "X API v2" reference pages and their "Error" problem objects.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PROBLEMS = {  # the documented problem objects (type/title/detail/status)
    401: {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
    403: {
        "title": "Forbidden",
        "type": "https://api.twitter.com/2/problems/client-forbidden",
        "status": 403,
        "reason": "client-not-enrolled",
        "detail": "When authenticating requests to the Twitter API v2 endpoints, you must "
        "use keys and tokens from a Twitter developer App that is attached to a "
        "Project.",
    },
    429: {
        "title": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
        "detail": "Too Many Requests",
    },
    500: {
        "title": "Internal Server Error",
        "type": "about:blank",
        "status": 500,
        "detail": "Internal Server Error",
    },
    503: {
        "title": "Service Unavailable",
        "type": "about:blank",
        "status": 503,
        "detail": "Service Unavailable",
    },
}


@dataclass
class Fault:
    """One scripted answer instead of the real one."""

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # None: the documented problem object of `status`
    hang: float = 0.0  # seconds to wait before answering (past the client's timeout)


MALFORMED = Fault(200, body=b'{"data": [{"id": "1", "text": ')
GARBAGE = {  # what a broken proxy or API answers instead of the documented JSON
    "invalid-json": MALFORMED,
    "wrong-shape": Fault(200, body=b'["not", "an", "object"]'),
    "html": Fault(
        502,
        headers={"content-type": "text/html"},
        body=b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway"
        b"</h1></body></html>",
    ),
    "empty": Fault(200, body=b""),
}


@dataclass
class FakeX:
    desk_id: str = "100"
    page_size: int = 100
    mentions: list[dict[str, Any]] = field(default_factory=list)
    dm_events: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)  # POST /2/tweets bodies
    dms_sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    faults: dict[str, list[Fault | None]] = field(default_factory=dict)
    base: str = ""
    next_id: int = 2_000_000_000_000_000_000

    def fail(self, endpoint: str, *faults: Fault, after: int = 0) -> None:
        """Script the next calls of `endpoint` ("mentions", "dm_events", "tweets",
        "dm_send"): `after` calls answer normally, then one call per fault."""
        self.faults.setdefault(endpoint, []).extend([None] * after + list(faults))

    def add_user(self, user: dict[str, Any]) -> None:
        self.users[str(user["id"])] = user

    def count(self, endpoint: str) -> int:
        return sum(1 for name, _ in self.calls if name == endpoint)

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    # --- the app -------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2/users/{user_id}/mentions", self.get_mentions),
                Route("/2/dm_events", self.get_dm_events),
                Route("/2/tweets", self.post_tweet, methods=["POST"]),
                Route(
                    "/2/dm_conversations/with/{participant_id}/messages",
                    self.post_dm,
                    methods=["POST"],
                ),
            ]
        )

    async def _scripted(self, endpoint: str, request: Request, auth: str) -> Response | None:
        self.calls.append((endpoint, dict(request.query_params)))
        queue = self.faults.get(endpoint)
        if not request.headers.get("authorization", "").startswith(auth):
            return JSONResponse(PROBLEMS[401], status_code=401)
        fault = queue.pop(0) if queue else None
        if fault is None:
            return None
        if fault.hang:
            await asyncio.sleep(fault.hang)
        if fault.body is not None:
            return Response(
                fault.body,
                status_code=fault.status,
                headers=fault.headers,
                media_type="application/json",
            )
        problem = PROBLEMS.get(fault.status, {"title": "Error", "status": fault.status})
        return JSONResponse(problem, status_code=fault.status, headers=fault.headers)

    async def get_mentions(self, request: Request) -> Response:
        if (scripted := await self._scripted("mentions", request, "Bearer ")) is not None:
            return scripted
        since = int(request.query_params.get("since_id") or 0)
        items = sorted((t for t in self.mentions if _order(t) > since), key=_order, reverse=True)
        return self._page(request, items, "author_id")

    async def get_dm_events(self, request: Request) -> Response:
        if (scripted := await self._scripted("dm_events", request, "OAuth ")) is not None:
            return scripted
        items = sorted(self.dm_events, key=_order, reverse=True)
        return self._page(request, items, "sender_id")

    def _page(self, request: Request, items: list[dict], user_key: str) -> Response:
        """One page, newest first, with `meta.next_token` when more follow (docs:
        "Pagination"); `includes.users` holds the authors of the page."""
        size = min(int(request.query_params.get("max_results") or 100), self.page_size)
        start = int(request.query_params.get("pagination_token") or 0)
        chunk = items[start : start + size]
        if not chunk:
            return JSONResponse({"meta": {"result_count": 0}})
        meta: dict[str, Any] = {
            "result_count": len(chunk),
            "newest_id": chunk[0].get("id"),
            "oldest_id": chunk[-1].get("id"),
        }
        if start + size < len(items):
            meta["next_token"] = str(start + size)
        users = [
            self.users[i]
            for i in dict.fromkeys(str(t.get(user_key)) for t in chunk)
            if i in self.users
        ]
        return JSONResponse({"data": chunk, "includes": {"users": users}, "meta": meta})

    async def post_tweet(self, request: Request) -> Response:
        if (scripted := await self._scripted("tweets", request, "OAuth ")) is not None:
            return scripted
        body = json.loads(await request.body())
        tweet_id = self.new_id()
        self.posted.append({**body, "id": tweet_id})
        return JSONResponse(
            {
                "data": {
                    "id": tweet_id,
                    "text": body.get("text", ""),
                    "edit_history_tweet_ids": [tweet_id],
                }
            },
            status_code=201,
        )

    async def post_dm(self, request: Request) -> Response:
        if (scripted := await self._scripted("dm_send", request, "OAuth ")) is not None:
            return scripted
        participant = request.path_params["participant_id"]
        self.dms_sent.append((participant, json.loads(await request.body())))
        return JSONResponse(
            {
                "data": {
                    "dm_conversation_id": f"{self.desk_id}-{participant}",
                    "dm_event_id": self.new_id(),
                }
            },
            status_code=201,
        )


def _order(item: dict[str, Any]) -> int:
    """Newest first by id; an item seeded without one (to test bad input) sorts newest."""
    return int(item.get("id") or 10**30)


class FakeXServer:
    """The fake under uvicorn in a thread on a loopback port."""

    def __init__(self, fake: FakeX, port: int) -> None:
        config = uvicorn.Config(
            fake.app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="fake-x", daemon=True)
        fake.base = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake X API did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
