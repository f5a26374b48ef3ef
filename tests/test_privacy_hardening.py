"""Issue 11 defect 7: tracebacks, IDN addresses, phone forms and URL passwords in logs."""

from __future__ import annotations

import io
import logging
import smtplib
from pathlib import Path

import pytest

from intake.cli.supervisor import banner
from intake.privacy import MaskingFilter, make_handler, mask, redact_url
from tests.conftest import make_settings


def _capture(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def _log_refused(logger: logging.Logger) -> None:
    try:
        raise smtplib.SMTPRecipientsRefused({"ali.veli@example.com": (451, b"try later")})
    except smtplib.SMTPRecipientsRefused:
        logger.exception("ack to %s failed", "ali.veli@example.com")


def test_tracebacks_are_masked_by_the_setup_logging_handler():
    stream = io.StringIO()
    _log_refused(_capture("test.privacy.hardening.handler", make_handler(stream)))
    text = stream.getvalue()
    assert "SMTPRecipientsRefused" in text and "Traceback" in text
    assert "ali.veli" not in text and "a***@e***.com" in text


def test_masking_filter_alone_masks_tracebacks_of_foreign_handlers():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # e.g. Dramatiq's, with install_masking's filter
    handler.addFilter(MaskingFilter())
    _log_refused(_capture("test.privacy.hardening.filter", handler))
    text = stream.getvalue()
    assert "SMTPRecipientsRefused" in text and "ali.veli" not in text


def test_stack_info_is_masked():
    record = logging.LogRecord("n", logging.INFO, __file__, 1, "m", None, None)
    record.stack_info = "Stack (most recent call last):\n  send('ali.veli@example.com')"
    MaskingFilter().filter(record)
    assert record.stack_info is not None and "ali.veli" not in record.stack_info


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("to müşteri@örnek.com.tr", "to m***@ö***.tr"),
        ("to ali@örnek.com.tr", "to a***@ö***.tr"),
        ("to ayşe_öz@example.com", "to a***@e***.com"),
    ],
)
def test_idn_addresses_are_masked(text, expected):
    assert mask(text) == expected


@pytest.mark.parametrize(
    "phone",
    ["(0532) 123 45 67", "0532 123 45 67", "+90 (532) 123-45-67", "0 532 123 45 67", "05321234567"],
)
def test_phone_forms_are_masked(phone):
    assert mask(f"tel {phone}, thanks") == "tel ***67, thanks"


@pytest.mark.parametrize(
    "text",
    [
        "CMP-2026-000042 and CMP-2026-1234567890",
        "at 2026-11-22T03:55:01+03:00 and 2026-11-22 03:55:01,123",
        "<5f3a9c1e2b4d4e6f8a0b1c2d3e4f5a6b.20261122035501@intake>",
        "Message-ID part a1b2c3d4e5f6-5321234567 seen",
        "raw 12345, 42 attempts, port 6379, (451)",
    ],
)
def test_references_timestamps_ids_and_small_numbers_stay_intact(text):
    assert mask(text) == text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:S3cret@host:6379/0", "redis://***@host:6379/0"),
        ("postgresql+psycopg://intake:pw@db/intake", "postgresql+psycopg://***@db/intake"),
        ("smtp://ali:p@ss@mail.example.com:587", "smtp://***@mail.example.com:587"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("sqlite:////var/lib/intake/intake.db", "sqlite:////var/lib/intake/intake.db"),
    ],
)
def test_url_credentials_are_redacted(url, expected):
    assert redact_url(f"url {url} ok") == f"url {expected} ok"
    assert mask(f"connecting to {url}") == f"connecting to {expected}"


def test_log_lines_carry_no_url_password():
    stream = io.StringIO()
    logger = _capture("test.privacy.hardening.url", make_handler(stream))
    logger.error("broker %s unreachable", "redis://:S3cret@redis:6379/0")
    assert "S3cret" not in stream.getvalue() and "redis://***@redis:6379/0" in stream.getvalue()


def test_run_banner_hides_store_and_broker_passwords(tmp_path: Path):
    settings = make_settings(tmp_path, store={"url": "postgresql+psycopg://intake:pw@db/intake"})
    text = banner(settings, "redis://:S3cret@redis:6379/0")
    assert "S3cret" not in text and ":pw@" not in text
    assert "postgresql+psycopg://***@db/intake" in text and "redis://***@redis:6379/0" in text
