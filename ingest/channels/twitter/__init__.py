"""X (Twitter) as a channel: mentions and DMs polled through the X API v2, replies as acks.

`pollers` fetches what is new after each feed's watermark and stores it raw, advancing the
watermark only after the commit; `client` talks to the X API and names its failures;
`payloads` reads its pages. This module registers the channel once, with its acknowledger
(a reply or a DM) and its normaliser.
"""

from __future__ import annotations

from typing import Any

import tweepy

from ingest.channels import AckRequest, ChannelSpec, register
from ingest.channels.twitter.client import (
    X_HOSTS,
    BadResponse,
    Forbidden,
    GatewayAdapter,
    NotConfigured,
    RateLimited,
    Refused,
    Unauthorized,
    Unavailable,
    call,
    has_user_context,
    make_client,
)
from ingest.channels.twitter.payloads import (
    DM_FIELDS,
    MAX_PAGES,
    MENTION_FIELDS,
    PAGE_SIZE,
    Page,
    batches,
    dm_raw,
    pages,
    parse_time,
    read_page,
    snowflake,
    tweet_raw,
)
from ingest.channels.twitter.pollers import (
    AUTH_RETRY,
    BACKOFF_MAX,
    RESET_WAIT_MAX,
    TIER_RETRY,
    DirectMessagesPoller,
    MentionsPoller,
    Poller,
    PollReport,
    start_pollers,
)
from intake.errors import PermanentError
from intake.runtime import Runtime
from intake.schema import RawMessage
from intake.settings import Settings
from normalize import Normalized
from normalize.twitter import normalize_twitter

__all__ = [
    "ACK_DM", "ACK_TWEET", "AUTH_RETRY", "BACKOFF_MAX", "DM_FIELDS", "MAX_PAGES",
    "MENTION_FIELDS", "PAGE_SIZE", "RESET_WAIT_MAX", "TIER_RETRY", "TWITTER", "X_HOSTS",
    "BadResponse", "DirectMessagesPoller", "Forbidden", "GatewayAdapter", "MentionsPoller",
    "NotConfigured", "Page", "PollReport", "Poller", "RateLimited", "Refused", "Unauthorized",
    "Unavailable", "acknowledge", "batches", "call", "dm_raw", "has_user_context",
    "make_client", "normalizer", "pages", "parse_time", "read_page", "snowflake",
    "start_pollers", "tweet_raw",
]

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
