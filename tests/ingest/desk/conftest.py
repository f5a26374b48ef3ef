"""Fixtures of the desk tests: the same site as the web-form tests (one HTTP receiver)."""

from tests.ingest.webform.conftest import secrets, site, start_site  # noqa: F401
