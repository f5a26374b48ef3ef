"""Fixtures for the ingest tests: a real Dovecot IMAP server on loopback (see dovecot.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import missing
from tests.ingest.dovecot import DovecotError, DovecotServer, available

WHAT = "Dovecot (apt-get install dovecot-imapd)"


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A started Dovecot with users `general` and `ssl`; stopped and removed after the test."""
    if not available():
        missing(WHAT)
    server = DovecotServer()
    try:
        server.start()
    except DovecotError as exc:
        server.close()
        missing(f"{WHAT}: {exc}")
    try:
        yield server
    finally:
        server.close()
