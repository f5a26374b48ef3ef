"""KVKK: personal data (addresses, phone numbers, handles) masked before it reaches a log.

`mask_email` and friends are for values we log on purpose; `MaskingFilter` is the safety net
that masks anything of that shape in every log line.
"""

from __future__ import annotations

import logging
import re

EMAIL = re.compile(
    r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-])[A-Za-z0-9.-]*(\.[A-Za-z]{2,})"
)
# Ten- or eleven-digit numbers as Turkish phones are written (0 532 123 45 67, +90 532 …);
# references like CMP-2026-000042 and log timestamps do not match.
PHONE = re.compile(
    r"(?<![\w-])((?:\+\d{1,3}[ -]?|0[ -]?)?\(?\d{3}\)?[ -]?\d{3}[ -]?\d{2}[ -]?\d{2})(?![\w-])"
)
HANDLE = re.compile(r"(?<![\w@])@([A-Za-z0-9_])[A-Za-z0-9_]{2,14}\b")


def mask_email(value: str | None) -> str:
    """`ali.veli@example.com` → `a***@e***.com`."""
    return EMAIL.sub(r"\1***@\2***\3", value or "")


def mask_phone(value: str | None) -> str:
    """Keep the last two digits only: `0 532 123 45 67` → `***67`."""
    return PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(1))[-2:], value or "")


def mask_handle(value: str | None) -> str:
    return HANDLE.sub(r"@\1***", value or "")


def mask(text: str) -> str:
    return mask_handle(mask_phone(mask_email(text)))


class MaskingFilter(logging.Filter):
    """Masks personal data in the final text of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
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
