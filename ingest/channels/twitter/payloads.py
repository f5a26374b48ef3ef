"""Pages of the X API's documented JSON, and the raw messages the X channel stores.

The pollers read list responses page by page here (`pages`, following `meta.next_token`),
compare ids as snowflakes, and turn each mention or DM event into a `RawMessage` kept as X
sent it (`tweet_raw`, `dm_raw`), in `batches` that let a reply find the post it answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ingest.channels.twitter.client import BadResponse, call
from intake import clock
from intake.schema import RawMessage

log = logging.getLogger(__package__)  # one logger for the whole X channel

PAGE_SIZE = 100  # the most `max_results` allows on both timelines (docs: "Mentions timeline")
MAX_PAGES = 50  # a loop guard: the mentions timeline reaches back 800 posts at most
MENTION_FIELDS = dict(
    expansions=["author_id", "referenced_tweets.id"],
    tweet_fields=[
        "created_at",
        "conversation_id",
        "in_reply_to_user_id",
        "referenced_tweets",
        "lang",
        "author_id",
        "entities",
        "note_tweet",
    ],
    user_fields=["username", "name"],
)
DM_FIELDS = dict(
    event_types="MessageCreate",
    expansions=["sender_id"],
    user_fields=["username", "name"],
    dm_event_fields=["id", "text", "event_type", "created_at", "sender_id", "dm_conversation_id"],
)


# --- pages of the documented JSON ------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    users: dict[str, dict[str, Any]]
    next_token: str | None


def read_page(what: str, answer: dict[str, Any]) -> Page:
    """`data`, `includes.users` and `meta.next_token` of a list response, shape-checked."""
    data, includes, meta = (
        answer.get("data", []),
        answer.get("includes", {}),
        answer.get("meta", {}),
    )
    if not (isinstance(data, list) and isinstance(includes, dict) and isinstance(meta, dict)):
        raise BadResponse(f"{what}: response is not the documented data/includes/meta shape")
    users = includes.get("users", [])
    if not isinstance(users, list):
        raise BadResponse(f"{what}: includes.users is not a list")
    token = meta.get("next_token")
    return Page(
        data,
        {str(u["id"]): u for u in users if isinstance(u, dict) and "id" in u},
        str(token) if token else None,
    )


def pages(what: str, fetch: Callable[..., dict[str, Any]], **params: Any) -> Iterator[Page]:
    """Every page, following `meta.next_token` (docs: "Pagination")."""
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = read_page(what, call(what, fetch, pagination_token=token, **params))
        yield page
        if not page.next_token or page.next_token == token:
            return
        token = page.next_token
    log.warning("%s: stopped after %s pages", what, MAX_PAGES)


def snowflake(value: Any) -> int:
    """X ids are 64-bit snowflakes that grow with time: compared as numbers."""
    try:
        return int(str(value))
    except ValueError:
        return -1


def parse_time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return clock.now()  # the normaliser rejects the item with the reason


def batches(raws: list[RawMessage]) -> Iterator[list[RawMessage]]:
    """Batches of a page's size in which no conversation appears twice, so a reply stored in
    the same run as the post it answers finds that post's complaint already created."""
    batch: list[RawMessage] = []
    seen: set[str] = set()
    for raw in raws:
        thread = str(raw.transport.get("conversation_id") or raw.transport.get("sender_id"))
        if len(batch) >= PAGE_SIZE or thread in seen:
            yield batch
            batch, seen = [], set()
        batch.append(raw)
        seen.add(thread)
    if batch:
        yield batch


# --- raw messages as stored ------------------------------------------------------------------


def _has_id(item: Any) -> bool:
    return isinstance(item, dict) and snowflake(item.get("id")) >= 0


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def tweet_raw(tweet: dict[str, Any], users: dict[str, dict[str, Any]]) -> RawMessage:
    """One mention as stored: the documented Tweet and User objects, as X sent them."""
    author_id = str(tweet.get("author_id") or "")
    payload = {"tweet": tweet, "author": users.get(author_id) or {"id": author_id}}
    return RawMessage(
        channel="twitter",
        source_id=str(tweet["id"]),
        received_at=_aware(parse_time(tweet.get("created_at"))),
        payload=_json(payload),
        transport={
            "tweet_id": str(tweet["id"]),
            "kind": "mention",
            "sender_id": author_id,
            "conversation_id": str(tweet.get("conversation_id") or tweet["id"]),
        },
    )


def dm_raw(event: dict[str, Any], users: dict[str, dict[str, Any]]) -> RawMessage:
    """One DM as stored: the documented DM event and its sender's User object."""
    sender_id = str(event.get("sender_id") or "")
    payload = {"dm_event": event, "sender": users.get(sender_id) or {"id": sender_id}}
    return RawMessage(
        channel="twitter",
        source_id=f"dm:{event['id']}",
        received_at=_aware(parse_time(event.get("created_at"))),
        payload=_json(payload),
        transport={
            "tweet_id": None,
            "kind": "dm",
            "sender_id": sender_id,
            "conversation_id": str(event.get("dm_conversation_id") or ""),
        },
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
