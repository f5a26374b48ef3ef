"""KVKK: personal data (addresses, phone numbers, handles) masked before it reaches a log.

`mask_email` and friends are for values we log on purpose; `MaskingFilter` is the safety net
that masks anything of that shape in every log line, tracebacks included, and `redact_url`
keeps the password of a `scheme://user:pass@host` URL out of logs and banners.
"""

from __future__ import annotations

import logging
import re
from types import TracebackType
from typing import TextIO

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

# `\w` is Unicode-aware, so IDN addresses (müşteri@örnek.com.tr) match as well.
EMAIL = re.compile(r"([\w.%+-])[\w.%+-]*@([\w-])[\w.-]*(\.[^\W\d_]{2,})")
# Ten- or eleven-digit numbers as Turkish phones are written (0 532 123 45 67, +90 532 …,
# (0532) 123 45 67, +90 (532) 123-45-67); references like CMP-2026-000042, log timestamps
# and the hex parts of Message-IDs do not match.
PHONE = re.compile(
    r"(?<![\w-])"
    r"((?:\+\d{1,3}[ -]?|0[ -]?)?(?:\(0?\d{3}\)|\d{3})[ -]?\d{3}[ -]?\d{2}[ -]?\d{2})"
    r"(?![\w-])"
)
# Not after `*`: `scheme://***@host` (see redact_url) is not a handle.
HANDLE = re.compile(r"(?<![\w@*])@([A-Za-z0-9_])[A-Za-z0-9_]{2,14}\b")
# `scheme://user:pass@` or `scheme://:pass@`; the password runs to the last `@` of the
# authority, so an unencoded `@` in it is still covered.
URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@:]*:[^\s/?#]*@")


def mask_email(value: str | None) -> str:
    """`ali.veli@example.com` → `a***@e***.com`."""
    return EMAIL.sub(r"\1***@\2***\3", value or "")


def mask_phone(value: str | None) -> str:
    """Keep the last two digits only: `0 532 123 45 67` → `***67`."""
    return PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(1))[-2:], value or "")


def mask_handle(value: str | None) -> str:
    return HANDLE.sub(r"@\1***", value or "")


def redact_url(text: str | None) -> str:
    """`redis://:S3cret@host:6379/0` → `redis://***@host:6379/0` (any URL in the text)."""
    return URL_CREDENTIALS.sub(r"\1***@", text or "")


def mask(text: str) -> str:
    return mask_handle(mask_phone(mask_email(redact_url(text))))


class MaskingFilter(logging.Filter):
    """Masks personal data in the final text of every record, its traceback included."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse a set `exc_text`, so every handler prints the masked one.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


class MaskingFormatter(logging.Formatter):
    """A formatter whose whole output (message, traceback, stack) goes through `mask()`."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))

    def formatException(self, ei: ExcInfo) -> str:
        return mask(super().formatException(ei))


def make_handler(stream: TextIO | None = None) -> logging.Handler:
    """The handler `setup_logging` installs, writing to `stream` (stderr by default)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    return handler


def setup_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    root.handlers[:] = [make_handler()]
    root.setLevel(level)
    quiet_chatty_libraries()


def quiet_chatty_libraries() -> None:
    """httpx logs every request URL at INFO, and Bot API URLs carry the bot token."""
    for name in ("alembic", "httpx", "httpcore", "telegram", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def install_masking() -> None:
    """Add the masking filter to the handlers someone else set up (e.g. Dramatiq's CLI)."""
    quiet_chatty_libraries()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
