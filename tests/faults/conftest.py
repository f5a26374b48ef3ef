"""Fixtures of the fault tests: the real Dovecot of the ingest tests."""

from tests.ingest.conftest import dovecot  # noqa: F401
