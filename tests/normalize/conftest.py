"""Fixtures of the e-mail normaliser tests."""

from __future__ import annotations

import importlib.util

import pytest
from normalize_support import EMAIL_DATA


@pytest.fixture(scope="session")
def make_fixtures_module():
    """tests/data/email/make_fixtures.py, imported by path under a name no one else uses."""
    spec = importlib.util.spec_from_file_location(
        "normalize_make_fixtures", EMAIL_DATA / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
