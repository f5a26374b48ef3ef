"""X (Twitter) as a channel: mentions and DMs polled through the X API v2, replies as acks.

`pollers` fetches what is new after each feed's watermark and stores it raw, advancing the
watermark only after the commit; `client` talks to the X API and names its failures;
`payloads` reads its pages. This module registers the channel once, with its acknowledger
(a reply or a DM); `normalize.twitter` reads what comes in.
"""

from __future__ import annotations

from typing import Any

import tweepy

from ingest.channels import ChannelSpec, register
from ingest.channels.twitter.client import (
    BadResponse,
    NotConfigured,
    call,
    has_user_context,
    make_client,
)
from ingest.channels.twitter.pollers import feeds
from intake.errors import PermanentError
from intake.runtime import Runtime
from outbound.channels import AckRequest

ACK_TWEET = (
    "{handle}Başvurunuz {ref} numarasıyla kayda alındı. Ayrıntılar için lütfen DM ile "
    "yazın. / Registered as {ref}; please continue by DM."
)
ACK_DM = "Başvurunuz {ref} numarasıyla kayda alındı. / Registered as {ref}."
# A notice is never posted in public: the reply only says there is news, and where.
NEWS_TWEET = (
    "{handle}{ref} numaralı başvurunuzla ilgili bir gelişme var; ayrıntılar için lütfen DM "
    "ile yazın. / There is news on {ref}; please write to us by DM."
)
MAX_DM = 10_000  # X API: characters of a direct message


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
    answer = call(
        "POST tweets",
        client.create_tweet,
        in_reply_to_tweet_id=str(tweet_id),
        text=(NEWS_TWEET if request.text else ACK_TWEET).format(
            handle=handle, ref=request.reference
        ),
        user_auth=True,
    )
    return f"x:{_sent_id(answer, 'id')}"


def _ack_dm(client: tweepy.Client, request: AckRequest) -> str:
    sender_id = request.transport.get("sender_id")
    if not sender_id:
        raise PermanentError("no DM sender to answer")
    answer = call(
        "POST dm",
        client.create_direct_message,
        participant_id=str(sender_id),
        text=f"[{request.reference}]\n{request.text}"[:MAX_DM]
        if request.text
        else ACK_DM.format(ref=request.reference),
        user_auth=True,
    )
    return f"x:dm:{_sent_id(answer, 'dm_event_id')}"


def _sent_id(answer: dict[str, Any], key: str) -> str:
    data = answer.get("data")
    if not isinstance(data, dict) or not data.get(key):
        raise BadResponse(f"the X API answered no data.{key} for what was sent")
    return str(data[key])


def _is_handle(handle: str) -> bool:
    name = handle[1:]
    return (
        handle.startswith("@")
        and 0 < len(name) <= 15
        and name.replace("_", "a").isalnum()
        and name.isascii()
    )


register(ChannelSpec("twitter", acknowledge=acknowledge, feeds=feeds))
