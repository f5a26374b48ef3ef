"""Normalise an X (Twitter) post or direct message into the one complaint schema.

The X channel (`ingest.channels.twitter`) stores each mention as JSON bytes
`{"tweet": <X API v2 Tweet object>, "author": <User object>}` and each DM as
`{"dm_event": <DM event object>, "sender": <User object>}`; this module turns those bytes into
a `Normalized` record. Pure: no I/O, no settings object, only what the payload says.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from intake.errors import PermanentError
from intake.schema import Complainant, Complaint
from normalize.language import detect_language
from normalize.records import Normalized
from normalize.reference import ref_in_text

# A word of the mention list at the start of a reply: "@handle " (X usernames are 1–15
# characters of letters, digits and underscore; docs: "Usernames", X Help Center).
LEADING_MENTION = re.compile(r"@(\w{1,15})\s*", re.ASCII)
URL = re.compile(r"https?://\S+")
# X's `lang` is BCP 47; "und", "qme", "zxx", "art"… say it could not tell (docs: Tweet
# object, `lang`), so only a plain two-letter code is trusted.
PLAIN_LANGUAGE = re.compile(r"[a-z]{2}")


class MalformedPayload(PermanentError):
    """The stored X payload is not a tweet or DM event this channel can read."""


def normalize_twitter(
    payload: bytes,
    *,
    received_at: datetime | None = None,
    desk_user_id: str | None = None,
    reference_prefix: str = "CMP",
) -> Normalized:
    """The complaint of one stored mention or DM; `MalformedPayload` when it is unreadable."""
    data = _load(payload)
    if "dm_event" in data:
        return _from_dm(data, received_at, desk_user_id, reference_prefix)
    if "tweet" in data:
        return _from_tweet(data, received_at, desk_user_id, reference_prefix)
    raise MalformedPayload("X payload has neither 'tweet' nor 'dm_event'")


def _load(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # nested too deep
        raise MalformedPayload(f"X payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedPayload("X payload is not a JSON object")
    return data


def _from_tweet(
    data: dict, received_at: datetime | None, desk_user_id: str | None, prefix: str
) -> Normalized:
    tweet = _object(data, "tweet")
    author = _object(data, "author", required=False)
    tweet_id, text = _text_field(tweet, "id"), _tweet_text(tweet)
    referenced = _referenced(tweet)
    body = _nfc(strip_desk_mentions(text, tweet.get("entities"), desk_user_id))
    reason = _tweet_noise(body, referenced, str(tweet.get("author_id") or ""), desk_user_id)
    replied = [ref for kind, ref in referenced if kind == "replied_to"]
    conversation = str(tweet.get("conversation_id") or tweet_id)
    return _normalized(
        source_id=tweet_id,
        when=_created_at(tweet, received_at),
        person=author,
        body=body,
        lang=tweet.get("lang"),
        auto_reason=reason,
        prefix=prefix,
        # One person's posts in a public conversation are one complaint; another person
        # joining the conversation is someone else's complaint (KVKK: never mix them).
        thread_key=f"x:conversation:{conversation}:{tweet.get('author_id') or ''}",
        in_reply_to=tuple(f"x:{ref}" for ref in replied),
    )


def _from_dm(
    data: dict, received_at: datetime | None, desk_user_id: str | None, prefix: str
) -> Normalized:
    event = _object(data, "dm_event")
    sender = _object(data, "sender", required=False)
    event_id, sender_id = _text_field(event, "id"), _text_field(event, "sender_id")
    if event.get("event_type", "MessageCreate") != "MessageCreate":
        raise MalformedPayload(f"DM event {event_id} is not a MessageCreate")
    body = _nfc(str(event.get("text") or ""))
    reason = (
        "our own direct message"
        if sender_id == desk_user_id
        else (None if body.strip() else "direct message without text")
    )
    return _normalized(
        source_id=f"dm:{event_id}",
        when=_created_at(event, received_at),
        person=sender or {"id": sender_id},
        body=body,
        lang=None,
        auto_reason=reason,
        prefix=prefix,
        thread_key=f"x:dm:{sender_id}",
        in_reply_to=(),
    )


def _normalized(
    *,
    source_id: str,
    when: datetime,
    person: Mapping[str, Any] | None,
    body: str,
    lang: Any,
    auto_reason: str | None,
    prefix: str,
    thread_key: str,
    in_reply_to: tuple[str, ...],
) -> Normalized:
    complaint = Complaint(
        channel="twitter",
        source_id=source_id,
        received_at=when,
        complainant=complainant_of(person),
        subject="",
        body=body,
        language=language_of(body, lang),
        ticket_ref=ref_in_text(body, prefix),
        auto_submitted=auto_reason is not None,
    )
    return Normalized(
        complaint=complaint,
        blobs={},
        message_id=None,
        in_reply_to=in_reply_to,
        references=(),
        date=None,
        auto_reason=auto_reason,
        refused_attachments=(),
        notes=(),
        thread_key=thread_key,
    )


def strip_desk_mentions(text: str, entities: Any, desk_user_id: str | None) -> str:
    """The text without the leading @mentions of the desk's account; other mentions stay.

    A reply starts with the handles of the conversation (docs: "Replies", X API v2); the desk
    is recognised by id through `entities.mentions` (username and id of each mention).
    """
    desk = _desk_usernames(entities, desk_user_id)
    kept, position = [], 0
    while match := LEADING_MENTION.match(text, position):
        if match.group(1).lower() not in desk:
            kept.append(match.group(0))
        position = match.end()
    return ("".join(kept) + text[position:]).strip()


def _desk_usernames(entities: Any, desk_user_id: str | None) -> set[str]:
    mentions = entities.get("mentions") if isinstance(entities, dict) else None
    if not desk_user_id or not isinstance(mentions, list):
        return set()
    return {
        str(m.get("username", "")).lower()
        for m in mentions
        if isinstance(m, dict) and str(m.get("id", "")) == desk_user_id
    }


def _tweet_noise(
    body: str, referenced: list[tuple[str, str]], author_id: str, desk_user_id: str | None
) -> str | None:
    """Why a post is recorded but is no complaint: a repost, a bare quote, our own post."""
    kinds = {kind for kind, _ in referenced}
    if desk_user_id and author_id == desk_user_id:
        return "our own post"
    if "retweeted" in kinds:
        return "repost (retweet)"
    if not URL.sub("", body).strip():
        return "quote without comment" if "quoted" in kinds else "mention without text"
    return None


def complainant_of(user: Mapping[str, Any] | None) -> Complainant:
    """Name and `@username` of an X user object; X gives no e-mail or phone."""
    user = user or {}
    username = str(user.get("username") or "").strip()
    name = _nfc(str(user.get("name") or "")).strip()
    return Complainant(name=name or None, handle=f"@{username}" if username else None)


def language_of(body: str, lang: Any) -> str:
    """X's own language tag when it is a plain ISO 639-1 code, else our detector."""
    if isinstance(lang, str) and PLAIN_LANGUAGE.fullmatch(lang):
        return lang
    return detect_language(body)


def _tweet_text(tweet: dict) -> str:
    """The full text: a long post's `note_tweet.text` (docs: "Tweet object", note_tweet)."""
    note = tweet.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str):
        return note["text"]
    return _text_field(tweet, "text", allow_empty=True)


def _referenced(tweet: dict) -> list[tuple[str, str]]:
    items = tweet.get("referenced_tweets") or []
    if not isinstance(items, list):
        raise MalformedPayload("referenced_tweets is not a list")
    return [
        (str(item.get("type")), str(item.get("id")))
        for item in items
        if isinstance(item, dict) and item.get("id")
    ]


def _created_at(item: dict, fallback: datetime | None) -> datetime:
    """`created_at` is ISO 8601 in UTC, e.g. "2026-11-22T07:00:00.000Z"."""
    value = item.get("created_at")
    if value is None and fallback is not None:
        return fallback
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayload(f"created_at {str(value)[:40]!r} is not a time") from None
    if when.tzinfo is None:
        raise MalformedPayload("created_at has no time zone")
    return when


def _object(data: dict, key: str, *, required: bool = True) -> dict:
    value = data.get(key)
    if isinstance(value, dict):
        return value
    if value is None and not required:
        return {}
    raise MalformedPayload(f"X payload: {key!r} is not an object")


def _text_field(item: dict, key: str, *, allow_empty: bool = False) -> str:
    value = item.get(key)
    if (
        not isinstance(value, (str, int))
        or isinstance(value, bool)
        or (str(value) == "" and not allow_empty)
    ):
        raise MalformedPayload(f"X payload: {key!r} missing or not text")
    return str(value)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
