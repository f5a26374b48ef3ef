"""Which normaliser reads which channel's raw payload: one pure table, by channel name.

`normalize_raw` is what the pipeline calls for a new item (in this process or a pool's) and
what the workers call to forward a follow-up; each entry passes its normaliser the limits and
names from the settings. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from intake.errors import PermanentError
from intake.schema import RawMessage
from intake.settings import Settings
from normalize.desk import DESK_CHANNELS, normalize_desk
from normalize.mail import normalize_email
from normalize.records import EmailLimits, Normalized
from normalize.telegram import normalize_telegram
from normalize.twitter import normalize_twitter
from normalize.webform import normalize_webform


def limits_of(settings: Settings) -> EmailLimits:
    """The bounds on one item's body and attachments, from `[limits]`."""
    limits = settings.limits
    return EmailLimits(
        max_body_chars=limits.max_body_chars,
        max_attachment_bytes=limits.max_attachment_bytes,
        max_attachments=limits.max_attachments,
        max_total_attachment_bytes=limits.max_total_attachment_bytes,
    )


def _email(raw: RawMessage, settings: Settings) -> Normalized:
    return normalize_email(
        raw.payload,
        channel=raw.channel,
        received_at=raw.received_at,
        reference_prefix=settings.reference.prefix,
        limits=limits_of(settings),
        authserv_id=settings.trust.authserv_id,
    )


def _telegram(raw: RawMessage, settings: Settings) -> Normalized:
    return normalize_telegram(
        raw.payload, received_at=raw.received_at, max_body_chars=settings.limits.max_body_chars
    )


def _twitter(raw: RawMessage, settings: Settings) -> Normalized:
    return normalize_twitter(
        raw.payload,
        received_at=raw.received_at,
        desk_user_id=settings.twitter.user_id or None,
        reference_prefix=settings.reference.prefix,
    )


def _webform(raw: RawMessage, settings: Settings) -> Normalized:
    return normalize_webform(
        raw.payload,
        str(raw.transport.get("content_type", "")),
        received_at=raw.received_at,
        honeypot_field=settings.webform.honeypot_field,
        limits=limits_of(settings),
    )


def _desk(raw: RawMessage, settings: Settings) -> Normalized:
    return normalize_desk(
        raw.payload,
        operator=str(raw.transport.get("operator", "")),
        received_at=raw.received_at,
        limits=limits_of(settings),
    )


NORMALIZERS: dict[str, Callable[[RawMessage, Settings], Normalized]] = {
    "email": _email,
    "email_ssl": _email,
    "telegram": _telegram,
    "twitter": _twitter,
    "webform": _webform,
    **{name: _desk for name in DESK_CHANNELS},
}


def normalize_raw(raw: RawMessage, settings: Settings) -> Normalized:
    """The complaint (and what is kept beside it) of one raw item of any channel."""
    try:
        normalizer = NORMALIZERS[raw.channel]
    except KeyError:
        raise PermanentError(f"no normaliser for channel {raw.channel!r}") from None
    return normalizer(raw, settings)
