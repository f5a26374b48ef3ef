"""The channel table: one module per channel, registered once, duplicates refused.

A pull channel polls from a watermark (`poll(watermark) -> Iterator[RawMessage]`); a push
channel parses a request (`parse(request) -> RawMessage`). Both give the pipeline the same
thing, and each names the pure normaliser that turns its raw payload into a complaint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from intake.schema import RawMessage

if TYPE_CHECKING:
    from intake.settings import Settings
    from normalize import NormalizedEmail


@dataclass(frozen=True)
class ChannelSpec:
    """What the pipeline needs to know of a channel."""

    name: str
    normalizer: Callable[[RawMessage, "Settings"], "NormalizedEmail"]


_TABLE: dict[str, ChannelSpec] = {}


def register(spec: ChannelSpec) -> ChannelSpec:
    if spec.name in _TABLE:
        raise ValueError(f"channel {spec.name!r} is registered twice")
    _TABLE[spec.name] = spec
    return spec


def channel(name: str) -> ChannelSpec:
    """The registered channel `name` (KeyError for an unknown one)."""
    if not _TABLE:
        _load_builtin()
    return _TABLE[name]


def _load_builtin() -> None:
    from ingest.channels import email  # noqa: F401  (registers email and email_ssl)
