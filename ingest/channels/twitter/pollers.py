"""The X channel's polling loops: mentions and DMs, each its own feed, thread and backoff.

`MentionsPoller` and `DirectMessagesPoller` fetch what is new after their watermark, store it
raw through `pipeline.ingest_batch` oldest first, and advance the watermark only after the
commit. Rate limits, outages, a revoked token or a tier without DMs back off here (health in
`PollStatusRow` for `intake status`), never in tweepy, never at another feed's expense.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import tweepy

from ingest import pipeline
from ingest.channels.email.poller import PollReport  # one report of a polling cycle, for every feed
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
from ingest.locks import FeedLock
from intake.errors import PermanentError, TemporaryError
from intake.privacy import mask
from intake.runtime import Runtime
from intake.schema import RawMessage
from store import health, repo

log = logging.getLogger(__package__)  # one logger for the whole X channel

BACKOFF_MAX = 300.0  # seconds: ceiling of the exponential backoff
RESET_WAIT_MAX = 16 * 60.0  # rate-limit windows are 15 minutes (docs: "Rate limits")
AUTH_RETRY = 30 * 60.0  # a revoked token needs a person; look again now and then
TIER_RETRY = 60 * 60.0  # DMs on a tier without them: ask hourly


class Poller:
    """One X feed: `run_once()` is a cycle, `run_forever()` the loop with its backoff."""

    feed = ""  # the PollStatusRow folder: "mentions" | "dms"

    def __init__(self, runtime: Runtime, client: tweepy.Client | None = None, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Any] | None = None,
                 rng: random.Random | None = None) -> None:
        self.runtime, self.settings = runtime, runtime.settings.twitter
        self.client = client or make_client(self.settings)
        self.clock, self.sleep, self.rng = clock, sleep, rng or random.Random()
        self.key = f"x/{self.feed}"
        self.failures = 0
        self.outage_since: float | None = None
        self.outage_kind: type | None = None

    def run_once(self) -> PollReport:
        """Fetch and store everything new; raises the error of a failed cycle (recorded)."""
        try:
            report = self._cycle()
        except Exception as exc:
            self._record_failure(exc)
            raise
        self._record_success(report)
        return report

    def run_forever(self, stop: threading.Event, lock: FeedLock | None = None) -> None:
        wait = self.sleep or stop.wait  # interruptible: a stop request ends any wait
        lock = lock or FeedLock(None, self.key, 0)
        try:
            self._loop(stop, wait, lock)
        finally:
            lock.release()

    def _loop(self, stop: threading.Event, wait: Callable[[float], Any], lock: FeedLock) -> None:
        while not stop.is_set():
            if not lock.hold():  # another `intake run` polls this feed
                wait(self.settings.poll_interval_seconds)
                continue
            try:
                self.run_once()
            except Exception as exc:
                wait(self.delay_after(exc))
                continue
            wait(self.settings.poll_interval_seconds)

    def delay_after(self, exc: Exception) -> float:
        """Until the rate-limit window resets (+1 s), else exponential backoff with jitter;
        long pauses for what needs a person (a revoked token, a tier without access)."""
        if isinstance(exc, RateLimited) and exc.reset_at is not None:
            return min(RESET_WAIT_MAX, max(0.0, exc.reset_at - self.clock()) + 1.0)
        if isinstance(exc, (Unauthorized, NotConfigured)):
            return AUTH_RETRY
        if isinstance(exc, Forbidden):
            return TIER_RETRY
        return self.rng.uniform(0.5, 1.0) * min(BACKOFF_MAX, 2.0 ** min(self.failures, 16))

    def _cycle(self) -> PollReport:
        raise NotImplementedError

    # --- storing ------------------------------------------------------------------------------

    def _ingest(self, raws: list[RawMessage], rejected: int) -> PollReport:
        counts = {"fetched": len(raws) + rejected, "created": 0, "duplicates": 0,
                  "failed": rejected}
        for batch in batches(raws):
            for outcome in pipeline.ingest_batch(self.runtime, batch):
                counts[_COUNTED.get(outcome.status, "created")] += 1
        return PollReport(fetched=counts["fetched"], created=counts["created"],
                          duplicates=counts["duplicates"], failed=counts["failed"])

    def _reject(self, item: Any, what: str) -> None:
        """An item without a usable id: kept raw and recorded failed, never a crash."""
        body = json.dumps(item, ensure_ascii=False, default=str).encode()
        raw = RawMessage(channel="twitter", source_id=f"malformed:{_digest(body)}",
                         received_at=repo.utcnow(), payload=body,
                         transport={"kind": self.feed})
        pipeline.reject(self.runtime, raw, f"{what} without a usable id in the X API answer")

    def _load_watermark(self) -> dict[str, Any]:
        with self.runtime.sessions() as session:
            return repo.get_watermark(session, "twitter", self.feed) or {}

    def _save_watermark(self, mark: dict[str, Any]) -> None:
        with self.runtime.sessions.begin() as session:
            repo.set_watermark(session, "twitter", self.feed, mark)

    # --- health -------------------------------------------------------------------------------

    def describe(self, exc: Exception) -> str:
        return mask(f"{type(exc).__name__}: {exc}")

    def _record_success(self, report: PollReport) -> None:
        if self.outage_since is not None:
            log.warning("%s: working again after %s failures (%.0f s)", self.key,
                        self.failures, time.monotonic() - self.outage_since)
        self.failures, self.outage_since, self.outage_kind = 0, None, None
        health.record_success(self.runtime.sessions, "twitter", self.feed, "twitter",
                              report.fetched)

    def _record_failure(self, exc: Exception) -> None:
        self.failures += 1
        problem = self.describe(exc)
        if self.outage_since is None or type(exc) is not self.outage_kind:  # once per outage
            self.outage_since = self.outage_since or time.monotonic()
            log.error("%s: %s; retrying with backoff", self.key, problem,
                      exc_info=not isinstance(exc, (TemporaryError, PermanentError)))
        self.outage_kind = type(exc)
        health.record_failure(self.runtime.sessions, "twitter", self.feed, "twitter", problem,
                              self.failures)


class MentionsPoller(Poller):
    """Posts that mention the desk (docs: GET /2/users/:id/mentions), `since_id` onwards."""

    feed = "mentions"

    def _cycle(self) -> PollReport:
        if not self.settings.user_id or not self.client.bearer_token:
            raise NotConfigured("[twitter] user_id and the bearer token are required")
        since_id = self._load_watermark().get("since_id")
        tweets: list[Any] = []
        users: dict[str, dict[str, Any]] = {}
        for page in pages("GET mentions", self.client.get_users_mentions,
                          id=self.settings.user_id, since_id=since_id,
                          max_results=PAGE_SIZE, **MENTION_FIELDS):
            tweets += page.items
            users.update(page.users)
        good = sorted((t for t in tweets if _has_id(t)), key=lambda t: snowflake(t["id"]))
        for item in tweets:
            if not _has_id(item):
                self._reject(item, "mention")
        report = self._ingest([tweet_raw(t, users) for t in good], len(tweets) - len(good))
        if good and snowflake(good[-1]["id"]) > snowflake(since_id or 0):
            self._save_watermark({"since_id": str(good[-1]["id"])})  # after the commit
        return report


class DirectMessagesPoller(Poller):
    """DMs to the desk (docs: GET /2/dm_events), newer than the newest event id seen.

    DM events have no `since_id`: pages come newest first and stop at the first event
    already seen. Needs user context and an access tier with DMs; a 403 says the tier.
    """

    feed = "dms"

    def _cycle(self) -> PollReport:
        if not has_user_context(self.client):
            raise NotConfigured("DMs need the OAuth 1.0a user-context keys ([twitter] *_env)")
        last = snowflake(self._load_watermark().get("last_event_id", 0))
        events: list[Any] = []
        users: dict[str, dict[str, Any]] = {}
        for page in pages("GET dm_events", self.client.get_direct_message_events,
                          max_results=PAGE_SIZE, user_auth=True, **DM_FIELDS):
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
            self._save_watermark({"last_event_id": str(good[-1]["id"])})
        return report

    def describe(self, exc: Exception) -> str:
        if isinstance(exc, Forbidden):
            return mask(f"DMs not available on this access tier ({exc})")
        return super().describe(exc)


_COUNTED = {"created": "created", "duplicate": "duplicates", "failed": "failed",
            "auto_submitted": "created", "followup": "created"}


def start_pollers(runtime: Runtime, stop: threading.Event) -> list[threading.Thread]:
    """The mentions feed, and the DM feed when asked for: each its own thread and backoff."""
    settings = runtime.settings.twitter
    if not settings.enabled:
        return []
    kinds: list[type[Poller]] = [MentionsPoller]
    if settings.direct_messages:
        kinds.append(DirectMessagesPoller)
    threads = []
    redis = getattr(runtime.broker, "client", None)
    ttl = max(runtime.settings.imap.lock_ttl_seconds, 3 * settings.poll_interval_seconds)
    for kind in kinds:
        poller = kind(runtime)
        lock = FeedLock(redis, poller.key, ttl)
        thread = threading.Thread(target=poller.run_forever, args=(stop, lock),
                                  name=f"x:{poller.feed}", daemon=True)
        thread.start()
        threads.append(thread)
    log.info("polling X: %s", ", ".join(kind.feed for kind in kinds))
    return threads
