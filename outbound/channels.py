"""Answering complainants on the channel they used: the table of channel senders.

E-mail is this stage's own (`compose` + `smtp`): a channel without a sender of its own is
answered by e-mail, when there is an address. A channel that can answer in kind (Telegram's
sendMessage, an X reply or DM) brings its sender when its package under `ingest/channels/`
registers the channel; the entry points load every channel package at start, so each
worker knows them all, and a channel that was never registered is an error, not an e-mail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from intake.runtime import Runtime
from intake.schema import Complainant


@dataclass(frozen=True)
class AckRequest:
    """What a channel's sender needs to answer on the complainant's own channel."""

    reference: str
    channel: str
    source_id: str
    complainant: Complainant
    subject: str
    language: str
    transport: Mapping[str, Any] = field(default_factory=dict)  # of the raw message
    text: str = ""  # a notice to send instead of the acknowledgement (handling.notices)


# Sends the acknowledgement (or the notice in `text`); returns the id of what it sent (the
# id a reply carries back).
# Raises `TemporaryError` or `PermanentError`, named by what the caller should do.
Sender = Callable[[Runtime, AckRequest], str]

_SENDERS: dict[str, Sender | None] = {}


def register(channel: str, sender: Sender | None) -> None:
    """Record how `channel` is answered: by `sender`, or (None) by e-mail."""
    if channel in _SENDERS:
        raise ValueError(f"channel {channel!r} has a sender already")
    _SENDERS[channel] = sender


def sender_for(channel: str) -> Sender | None:
    """The sender of `channel`; None when it is answered by e-mail."""
    try:
        return _SENDERS[channel]
    except KeyError:
        raise LookupError(
            f"channel {channel!r} is not registered (its package was not "
            "loaded: see ingest.channels.load)"
        ) from None


def answers_in_kind(channel: str) -> bool:
    """Whether `channel` answers on its own, with no e-mail address needed."""
    return sender_for(channel) is not None
