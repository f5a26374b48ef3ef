"""Fixtures for the ingest tests: a real Dovecot IMAP server on loopback (see dovecot.py)."""

from __future__ import annotations

import subprocess
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
    server = None
    try:
        server = DovecotServer()
        server.start()
    except (DovecotError, OSError, subprocess.CalledProcessError) as exc:
        if server is not None:
            server.close()
        missing(f"{WHAT}: {exc}")
    try:
        yield server
    finally:
        server.close()
