"""The channel table: one module per channel, registered once, duplicates refused.

A channel tells the pipeline how to normalise its raw payload (pure), and optionally how to
acknowledge a complaint on the channel the complainant used, which HTTP routes it receives
pushes on (webhooks, the web form, the desk API), and which polling loops it runs.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from intake.schema import Complainant, RawMessage

if TYPE_CHECKING:
    from intake.runtime import Runtime
    from intake.settings import Settings
    from normalize import Normalized

BUILTIN = ("email", "telegram", "twitter", "webform", "desk")


@dataclass(frozen=True)
class AckRequest:
    """What an acknowledger needs to answer on the complainant's own channel."""

    reference: str
    channel: str
    source_id: str
    complainant: Complainant
    subject: str
    language: str
    transport: Mapping[str, Any] = field(default_factory=dict)  # of the raw message


@dataclass(frozen=True)
class ChannelSpec:
    """What the pipeline, the workers and `intake run` need to know of a channel.

    `acknowledge` sends the acknowledgement and returns the id of what it sent (it raises
    `TemporaryError`/`PermanentError`); None means: by e-mail, when there is an address.
    """

    name: str
    normalizer: Callable[[RawMessage, "Settings"], "Normalized"]
    acknowledge: Callable[["Runtime", AckRequest], str] | None = None
    routes: Callable[["Runtime"], list[Any]] | None = None  # Starlette routes
    pollers: Callable[["Runtime", threading.Event], list[threading.Thread]] | None = None


_TABLE: dict[str, ChannelSpec] = {}
_loaded = False


def register(spec: ChannelSpec) -> ChannelSpec:
    if spec.name in _TABLE:
        raise ValueError(f"channel {spec.name!r} is registered twice")
    _TABLE[spec.name] = spec
    return spec


def channel(name: str) -> ChannelSpec:
    """The registered channel `name` (KeyError for an unknown one)."""
    _load_builtin()
    return _TABLE[name]


def all_channels() -> list[ChannelSpec]:
    _load_builtin()
    return list(_TABLE.values())


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN:
        try:
            importlib.import_module(f"ingest.channels.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ingest.channels.{module}":
                raise  # a channel module that exists but cannot import is a bug
