"""Fixtures of the web-form tests: the secrets in the environment and a started site."""

from __future__ import annotations

import pytest

from tests.ingest.webform.site import ENVIRONMENT, serve


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def start_site(tmp_path, make_runtime, redis_url):
    """`start_site(store_url=None, api_tokens=None, **webform_settings)`: a site, stopped
    after the test."""
    stack = []

    def start(store_url: str | None = None, api_tokens: dict[str, str] | None = None, **webform):
        context = serve(tmp_path, make_runtime, redis_url, store_url, api_tokens, **webform)
        stack.append(context)
        return context.__enter__()

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def site(start_site):
    return start_site()
