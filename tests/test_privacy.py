"""KVKK: addresses, phone numbers and handles never reach a log line in clear."""

from __future__ import annotations

import logging

from intake.privacy import MaskingFilter, mask, mask_email, mask_phone


def test_addresses_phones_and_handles_are_masked():
    assert mask_email("ali.veli@example.com") == "a***@e***.com"
    assert mask_phone("0 532 123 45 67") == "***67"
    assert mask("tel +90 532 123 45 67, @OrnekSM_Destek") == "tel ***67, @O***"


def test_references_dates_and_ids_are_left_alone():
    text = "CMP-2026-000042 raw 12345 at 2026-11-22 03:55:01"
    assert mask(text) == text


def test_every_log_record_is_masked(caplog):
    logger = logging.getLogger("test.privacy")
    caplog.handler.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("ack sent to %s", "ayse.yilmaz@example.com")
    assert "ayse.yilmaz" not in caplog.text and "a***@e***.com" in caplog.text
