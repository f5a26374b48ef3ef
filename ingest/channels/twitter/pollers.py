"""The X channel's feeds: mentions and DMs, each its own thread, watermark and backoff.

`MentionsPoller` and `DirectMessagesPoller` fetch what is new after their watermark, store it
raw through `pipeline.ingest` oldest first, and advance the watermark only after the commit.
Rate limits, a revoked token or a tier without DMs set the waits here (the loop, the lock and
the health in `PollStatusRow` are the feed skeleton's), never in tweepy, never at another
feed's expense.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import tweepy

from ingest import pipeline
from ingest.channels.twitter.client import (
    Forbidden,
    NotConfigured,
    RateLimited,
    Unauthorized,
    has_user_context,
    make_client,
)
from ingest.channels.twitter.payloads import (
    DM_FIELDS,
    MENTION_FIELDS,
    PAGE_SIZE,
    _digest,
    _has_id,
    batches,
    dm_raw,
    pages,
    snowflake,
    tweet_raw,
)
from ingest.feed import Feed, FeedId, PollReport, Tally
from intake import clock
from intake.privacy import mask
from intake.runtime import Runtime
from intake.schema import RawMessage

log = logging.getLogger(__package__)  # one logger for the whole X channel

BACKOFF_MAX = 300.0  # seconds: ceiling of the exponential backoff
RESET_WAIT_MAX = 16 * 60.0  # rate-limit windows are 15 minutes (docs: "Rate limits")
AUTH_RETRY = 30 * 60.0  # a revoked token needs a person; look again now and then
TIER_RETRY = 60 * 60.0  # DMs on a tier without them: ask hourly


class Poller(Feed):
    """One X feed; the loop, its lock and health are the feed skeleton's, the waits X's own."""

    log = log
    feed = ""  # the PollStatusRow folder and watermark key: "mentions" | "dms"

    def __init__(
        self,
        runtime: Runtime,
        client: tweepy.Client | None = None,
        *,
        redis: Any = None,
        wait: Callable[[float], Any] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        settings = runtime.settings.twitter
        ttl = max(runtime.settings.imap.lock_ttl_seconds, 3 * settings.poll_interval_seconds)
        super().__init__(
            runtime,
            FeedId(f"x/{self.feed}", "twitter", ("twitter", self.feed), ("twitter", self.feed)),
            redis=redis,
            lock_ttl=ttl,
            interval=settings.poll_interval_seconds,
            backoff_max=BACKOFF_MAX,
            wait=wait,
            rng=rng,
        )
        self.settings = settings
        self.client = client or make_client(settings)

    def delay_after(self, exc: Exception) -> float:
        """Until the rate-limit window resets (+1 s), else exponential backoff with jitter;
        long pauses for what needs a person (a revoked token, a tier without access)."""
        if isinstance(exc, RateLimited) and exc.reset_at is not None:
            waited = exc.reset_at - clock.now().timestamp()
            return min(RESET_WAIT_MAX, max(0.0, waited) + 1.0)
        if isinstance(exc, Unauthorized):
            return AUTH_RETRY
        if isinstance(exc, Forbidden):
            return TIER_RETRY
        return super().delay_after(exc)

    # --- storing ------------------------------------------------------------------------------

    def _ingest(self, raws: list[RawMessage], rejected: int) -> PollReport:
        tally = Tally(fetched=len(raws) + rejected, failed=rejected)
        for batch in batches(raws):
            tally.add(pipeline.ingest(self.runtime, batch).outcomes())
        return tally.report()

    def _reject(self, item: Any, what: str) -> None:
        """An item without a usable id: kept raw and recorded failed, never a crash."""
        body = json.dumps(item, ensure_ascii=False, default=str).encode()
        raw = RawMessage(
            channel="twitter",
            source_id=f"malformed:{_digest(body)}",
            received_at=clock.now(),
            payload=body,
            transport={"kind": self.feed},
        )
        pipeline.reject(self.runtime, raw, f"{what} without a usable id in the X API answer")


class MentionsPoller(Poller):
    """Posts that mention the desk (docs: GET /2/users/:id/mentions), `since_id` onwards."""

    feed = "mentions"

    def cycle(self, stop: threading.Event | None = None) -> PollReport:
        if not self.settings.user_id or not self.client.bearer_token:
            raise NotConfigured("[twitter] user_id and the bearer token are required")
        since_id = (self.load_watermark() or {}).get("since_id")
        tweets: list[Any] = []
        users: dict[str, dict[str, Any]] = {}
        for page in pages(
            "GET mentions",
            self.client.get_users_mentions,
            id=self.settings.user_id,
            since_id=since_id,
            max_results=PAGE_SIZE,
            **MENTION_FIELDS,
        ):
            tweets += page.items
            users.update(page.users)
        good = sorted((t for t in tweets if _has_id(t)), key=lambda t: snowflake(t["id"]))
        for item in tweets:
            if not _has_id(item):
                self._reject(item, "mention")
        report = self._ingest([tweet_raw(t, users) for t in good], len(tweets) - len(good))
        if good and snowflake(good[-1]["id"]) > snowflake(since_id or 0):
            self.save_watermark({"since_id": str(good[-1]["id"])})  # after the commit
        return report


class DirectMessagesPoller(Poller):
    """DMs to the desk (docs: GET /2/dm_events), newer than the newest event id seen.

    DM events have no `since_id`: pages come newest first and stop at the first event
    already seen. Needs user context and an access tier with DMs; a 403 says the tier.
    """

    feed = "dms"

    def cycle(self, stop: threading.Event | None = None) -> PollReport:
        if not has_user_context(self.client):
            raise NotConfigured("DMs need the OAuth 1.0a user-context keys ([twitter] *_env)")
        last = snowflake((self.load_watermark() or {}).get("last_event_id", 0))
        events: list[Any] = []
        users: dict[str, dict[str, Any]] = {}
        for page in pages(
            "GET dm_events",
            self.client.get_direct_message_events,
            max_results=PAGE_SIZE,
            user_auth=True,
            **DM_FIELDS,
        ):
            events += [e for e in page.items if not _has_id(e) or snowflake(e["id"]) > last]
            users.update(page.users)
            if any(_has_id(e) and snowflake(e["id"]) <= last for e in page.items):
                break
        good = sorted((e for e in events if _has_id(e)), key=lambda e: snowflake(e["id"]))
        for item in events:
            if not _has_id(item):
                self._reject(item, "DM event")
        mine = {e["id"] for e in good if str(e.get("sender_id")) == self.settings.user_id}
        raws = [dm_raw(e, users) for e in good if e["id"] not in mine]  # our own acks
        report = self._ingest(raws, len(events) - len(good))
        if good:
            self.save_watermark({"last_event_id": str(good[-1]["id"])})
        return report

    def describe(self, exc: Exception) -> str:
        if isinstance(exc, Forbidden):
            return mask(f"DMs not available on this access tier ({exc})")
        return super().describe(exc)


def feeds(runtime: Runtime) -> list[Feed]:
    """The mentions feed, and the DM feed when asked for: each its own thread and backoff."""
    settings = runtime.settings.twitter
    if not settings.enabled:
        return []
    kinds: list[type[Poller]] = [MentionsPoller]
    if settings.direct_messages:
        kinds.append(DirectMessagesPoller)
    redis = getattr(runtime.broker, "client", None)
    log.info("polling X: %s", ", ".join(kind.feed for kind in kinds))
    return [kind(runtime, redis=redis) for kind in kinds]
