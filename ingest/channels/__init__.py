"""The channel table: one module or package per channel, registered once, duplicates refused.

A channel tells `intake run` which HTTP routes it receives pushes on (webhooks, the web form,
the desk API) and which feeds it polls (`ingest.feed`), and tells the outbound stage how a
complaint is answered on it (`outbound.channels`; by e-mail unless it brings a sender). What
its raw payload means is the pure table of `normalize.channels`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from intake.schema import CHANNELS
from outbound import channels as senders
from outbound.channels import Sender

if TYPE_CHECKING:
    from ingest.feed import Feed
    from intake.runtime import Runtime

BUILTIN = ("email", "telegram", "twitter", "webform", "desk")


@dataclass(frozen=True)
class ChannelSpec:
    """What `intake run` and the workers need to know of a channel."""

    name: str
    acknowledge: Sender | None = None  # None: by e-mail, when there is an address
    routes: Callable[["Runtime"], list[Any]] | None = None  # Starlette routes
    feeds: Callable[["Runtime"], list["Feed"]] | None = None  # the loops it polls


_TABLE: dict[str, ChannelSpec] = {}
_loaded = False


def register(spec: ChannelSpec) -> ChannelSpec:
    if spec.name in _TABLE:
        raise ValueError(f"channel {spec.name!r} is registered twice")
    _TABLE[spec.name] = spec
    senders.register(spec.name, spec.acknowledge)
    return spec


def load() -> list[ChannelSpec]:
    """Every built-in channel, registered (once): what an entry point calls at start."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN:
            importlib.import_module(f"ingest.channels.{module}")
        unserved = sorted(set(CHANNELS) - set(_TABLE))
        if unserved:  # a channel of the schema that no package brings in: a bug, said at start
            raise RuntimeError(f"channels without a package: {unserved}")
    return list(_TABLE.values())
