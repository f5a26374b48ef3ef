"""X (Twitter) as a channel: mentions and DMs polled through the X API v2, replies as acks.

`MentionsPoller` and `DirectMessagesPoller` fetch what is new after their watermark (mentions:
`since_id`; DMs: the newest event id seen), store it raw through `pipeline.ingest_batch`
oldest first, and advance the watermark only after the commit. Rate limits, outages, a revoked
token or a tier without DMs are handled here (backoff; health in `PollStatusRow` for
`intake status`), never by tweepy and never at the expense of another channel or feed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests
import tweepy  # type: ignore[import-untyped]
from requests.adapters import HTTPAdapter

from ingest import pipeline
from ingest.channels import AckRequest, ChannelSpec, register
from intake.errors import PermanentError, TemporaryError
from intake.locks import FeedLock
from intake.privacy import mask
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.settings import Settings, TwitterSettings, secret
from normalize import Normalized
from normalize.twitter import normalize_twitter
from store import repo
from store.models import PollStatusRow

log = logging.getLogger(__name__)

X_HOSTS = ("https://api.twitter.com/", "https://api.x.com/")
PAGE_SIZE = 100  # the most `max_results` allows on both timelines (docs: "Mentions timeline")
MAX_PAGES = 50  # a loop guard: the mentions timeline reaches back 800 posts at most
BACKOFF_MAX = 300.0  # seconds: ceiling of the exponential backoff
RESET_WAIT_MAX = 16 * 60.0  # rate-limit windows are 15 minutes (docs: "Rate limits")
AUTH_RETRY = 30 * 60.0  # a revoked token needs a person; look again now and then
TIER_RETRY = 60 * 60.0  # DMs on a tier without them: ask hourly
MENTION_FIELDS = dict(
    expansions=["author_id", "referenced_tweets.id"],
    tweet_fields=["created_at", "conversation_id", "in_reply_to_user_id", "referenced_tweets",
                  "lang", "author_id", "entities", "note_tweet"],
    user_fields=["username", "name"],
)
DM_FIELDS = dict(
    event_types="MessageCreate", expansions=["sender_id"], user_fields=["username", "name"],
    dm_event_fields=["id", "text", "event_type", "created_at", "sender_id",
                     "dm_conversation_id"],
)


# --- errors, named by what the caller does ---------------------------------------------------

class RateLimited(TemporaryError):
    def __init__(self, message: str, reset_at: float | None) -> None:
        super().__init__(message)
        self.reset_at = reset_at  # epoch seconds of `x-rate-limit-reset`, when given


class Unavailable(TemporaryError):
    """5xx, a timeout or a refused connection."""


class BadResponse(TemporaryError):
    """The API answered something that is not the documented JSON."""


class Unauthorized(PermanentError):
    """401: the token is revoked or wrong."""


class Forbidden(PermanentError):
    """403: the access tier or the account does not allow this."""


class Refused(PermanentError):
    """Another 4xx: the request itself is refused (e.g. replying to a deleted post)."""


# --- the client ------------------------------------------------------------------------------

class GatewayAdapter(HTTPAdapter):
    """Sends every X API request with a timeout, to `api_base` instead of X when set."""

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__()
        self.api_base, self.timeout = api_base.rstrip("/") + "/" if api_base else "", timeout

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: bool | str = True, cert: Any = None,
             proxies: Any = None) -> requests.Response:
        url = request.url or ""
        for host in X_HOSTS:
            if self.api_base and url.startswith(host):
                request.url = self.api_base + url[len(host):]
        # tweepy passes no timeout; DESIGN: every socket has its own
        return super().send(request, stream=stream, timeout=self.timeout, verify=verify,
                            cert=cert, proxies=proxies)


def make_client(settings: TwitterSettings) -> tweepy.Client:
    """A tweepy client that never sleeps on its own (we handle 429) and returns plain JSON."""
    client = tweepy.Client(
        bearer_token=secret(settings.bearer_token_env),
        consumer_key=secret(settings.consumer_key_env),
        consumer_secret=secret(settings.consumer_secret_env),
        access_token=secret(settings.access_token_env),
        access_token_secret=secret(settings.access_token_secret_env),
        return_type=dict, wait_on_rate_limit=False,
    )
    adapter = GatewayAdapter(settings.api_base, settings.timeout_seconds)
    for host in X_HOSTS:
        client.session.mount(host, adapter)
    if settings.api_base:
        client.session.trust_env = False  # the gateway is the proxy: no *_PROXY detour
    return client


def has_user_context(client: tweepy.Client) -> bool:
    """OAuth 1.0a user context is needed for replies and DMs (docs: "Authentication")."""
    return all((client.consumer_key, client.consumer_secret, client.access_token,
                client.access_token_secret))


def call(what: str, method: Callable[..., Any], /, **params: Any) -> dict[str, Any]:
    """Call the X API; every failure becomes one of the errors above, with a one-line text."""
    try:
        answer = method(**params)
    except tweepy.TooManyRequests as exc:
        raise RateLimited(f"{what}: 429 rate limited", exc.reset_time) from None
    except tweepy.Unauthorized as exc:
        raise Unauthorized(f"{what}: {_first_line(exc)} (token revoked or invalid)") from None
    except tweepy.Forbidden as exc:
        raise Forbidden(f"{what}: {_first_line(exc)}") from None
    except tweepy.TwitterServerError as exc:
        raise Unavailable(f"{what}: {_first_line(exc)}") from None
    except tweepy.HTTPException as exc:
        raise Refused(f"{what}: {_first_line(exc)}") from None
    except requests.Timeout:
        raise Unavailable(f"{what}: no answer within the timeout") from None
    except requests.ConnectionError as exc:
        raise Unavailable(f"{what}: cannot connect ({type(exc).__name__})") from None
    except (ValueError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        raise BadResponse(f"{what}: malformed JSON from the X API ({exc})") from None
    if not isinstance(answer, dict):
        raise BadResponse(f"{what}: the X API answered a {type(answer).__name__}, not an object")
    return answer


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


# --- pages of the documented JSON ------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    users: dict[str, dict[str, Any]]
    next_token: str | None


def read_page(what: str, answer: dict[str, Any]) -> Page:
    """`data`, `includes.users` and `meta.next_token` of a list response, shape-checked."""
    data, includes, meta = (answer.get("data", []), answer.get("includes", {}),
                            answer.get("meta", {}))
    if not (isinstance(data, list) and isinstance(includes, dict) and isinstance(meta, dict)):
        raise BadResponse(f"{what}: response is not the documented data/includes/meta shape")
    users = includes.get("users", [])
    if not isinstance(users, list):
        raise BadResponse(f"{what}: includes.users is not a list")
    token = meta.get("next_token")
    return Page(data, {str(u["id"]): u for u in users if isinstance(u, dict) and "id" in u},
                str(token) if token else None)


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
        return repo.utcnow()  # the normaliser rejects the item with the reason


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



class NotConfigured(PermanentError):
    """A key the X channel needs is not set (`[twitter]` user_id, or the *_env secrets)."""


# --- the pollers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PollReport:
    fetched: int = 0
    created: int = 0
    duplicates: int = 0
    failed: int = 0


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
        return PollReport(**counts)

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

    def _status_row(self, session) -> PollStatusRow:  # type: ignore[no-untyped-def]
        row = session.get(PollStatusRow, ("twitter", self.feed))
        if row is None:
            row = PollStatusRow(mailbox="twitter", folder=self.feed, channel="twitter",
                                consecutive_failures=0, messages_total=0)
            session.add(row)
        return row

    def _record_success(self, report: PollReport) -> None:
        if self.outage_since is not None:
            log.warning("%s: working again after %s failures (%.0f s)", self.key,
                        self.failures, time.monotonic() - self.outage_since)
        self.failures, self.outage_since, self.outage_kind = 0, None, None
        with self.runtime.sessions.begin() as session:
            row = self._status_row(session)
            row.last_attempt_at = row.last_success_at = repo.utcnow()
            row.consecutive_failures = 0
            row.messages_total += report.fetched

    def _record_failure(self, exc: Exception) -> None:
        self.failures += 1
        problem = self.describe(exc)
        if self.outage_since is None or type(exc) is not self.outage_kind:  # once per outage
            self.outage_since = self.outage_since or time.monotonic()
            log.error("%s: %s; retrying with backoff", self.key, problem,
                      exc_info=not isinstance(exc, (TemporaryError, PermanentError)))
        self.outage_kind = type(exc)
        try:
            with self.runtime.sessions.begin() as session:
                row = self._status_row(session)
                row.last_attempt_at = row.last_error_at = repo.utcnow()
                row.last_error = problem[:2000]
                row.consecutive_failures = self.failures
        except Exception:
            log.debug("%s: could not record the failure", self.key, exc_info=True)


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


def _has_id(item: Any) -> bool:
    return isinstance(item, dict) and snowflake(item.get("id")) >= 0


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def tweet_raw(tweet: dict[str, Any], users: dict[str, dict[str, Any]]) -> RawMessage:
    """One mention as stored: the documented Tweet and User objects, as X sent them."""
    author_id = str(tweet.get("author_id") or "")
    payload = {"tweet": tweet, "author": users.get(author_id) or {"id": author_id}}
    return RawMessage(
        channel="twitter", source_id=str(tweet["id"]),
        received_at=_aware(parse_time(tweet.get("created_at"))), payload=_json(payload),
        transport={"tweet_id": str(tweet["id"]), "kind": "mention", "sender_id": author_id,
                   "conversation_id": str(tweet.get("conversation_id") or tweet["id"])},
    )


def dm_raw(event: dict[str, Any], users: dict[str, dict[str, Any]]) -> RawMessage:
    """One DM as stored: the documented DM event and its sender's User object."""
    sender_id = str(event.get("sender_id") or "")
    payload = {"dm_event": event, "sender": users.get(sender_id) or {"id": sender_id}}
    return RawMessage(
        channel="twitter", source_id=f"dm:{event['id']}",
        received_at=_aware(parse_time(event.get("created_at"))), payload=_json(payload),
        transport={"tweet_id": None, "kind": "dm", "sender_id": sender_id,
                   "conversation_id": str(event.get("dm_conversation_id") or "")},
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


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


# --- acknowledgement and normalisation -------------------------------------------------------

ACK_TWEET = ("{handle}Başvurunuz {ref} numarasıyla kayda alındı. Ayrıntılar için lütfen DM ile "
             "yazın. / Registered as {ref}; please continue by DM.")
ACK_DM = "Başvurunuz {ref} numarasıyla kayda alındı. / Registered as {ref}."


def acknowledge(runtime: Runtime, request: AckRequest) -> str:
    """A public reply with only the reference and the way to DM (no personal data), or a DM
    answer to a DM; the id of what was sent (`x:<tweet id>` or `x:dm:<event id>`)."""
    client = make_client(runtime.settings.twitter)
    try:
        if not has_user_context(client):
            raise NotConfigured("replies need the OAuth 1.0a user-context keys")
        if request.transport.get("kind") == "dm":
            return _ack_dm(client, request)
        return _ack_mention(client, request)
    finally:
        client.session.close()


def _ack_mention(client: tweepy.Client, request: AckRequest) -> str:
    tweet_id = request.transport.get("tweet_id")
    if not tweet_id:
        raise PermanentError("no tweet id to reply to")
    handle = request.complainant.handle or ""
    handle = f"{handle} " if _is_handle(handle) else ""  # only the handle: X needs it
    answer = call("POST tweets", client.create_tweet, in_reply_to_tweet_id=str(tweet_id),
                  text=ACK_TWEET.format(handle=handle, ref=request.reference), user_auth=True)
    return f"x:{_sent_id(answer, 'id')}"


def _ack_dm(client: tweepy.Client, request: AckRequest) -> str:
    sender_id = request.transport.get("sender_id")
    if not sender_id:
        raise PermanentError("no DM sender to answer")
    answer = call("POST dm", client.create_direct_message, participant_id=str(sender_id),
                  text=ACK_DM.format(ref=request.reference), user_auth=True)
    return f"x:dm:{_sent_id(answer, 'dm_event_id')}"


def _sent_id(answer: dict[str, Any], key: str) -> str:
    data = answer.get("data")
    if not isinstance(data, dict) or not data.get(key):
        raise BadResponse(f"the X API answered no data.{key} for what was sent")
    return str(data[key])


def _is_handle(handle: str) -> bool:
    name = handle[1:]
    return handle.startswith("@") and 0 < len(name) <= 15 and name.replace("_", "a").isalnum() \
        and name.isascii()


def normalizer(raw: RawMessage, settings: Settings) -> Normalized:
    return normalize_twitter(raw.payload, received_at=raw.received_at,
                             desk_user_id=settings.twitter.user_id or None,
                             reference_prefix=settings.reference.prefix)


TWITTER = register(ChannelSpec("twitter", normalizer=normalizer, acknowledge=acknowledge,
                               pollers=start_pollers))
