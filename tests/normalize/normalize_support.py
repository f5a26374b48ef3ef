"""Helpers shared by the normaliser tests (a uniquely named module, so that no other
package's `conftest` can shadow it on sys.path): the case table and the peer corpus."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

EMAIL_DATA = Path(__file__).resolve().parents[1] / "data" / "email"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
PEER_MAIL = SHARED / "peer-mail"


def load_cases() -> list[dict[str, Any]]:
    """The rows of tests/data/email/cases.toml."""
    with (EMAIL_DATA / "cases.toml").open("rb") as handle:
        return tomllib.load(handle)["case"]


def load_peer_manifest() -> list[dict[str, Any]]:
    """MANIFEST.json of the peer corpus, or [] when shared/ is not there."""
    manifest = PEER_MAIL / "MANIFEST.json"
    if not manifest.is_file():
        return []
    return json.loads(manifest.read_text(encoding="utf-8"))


def require_peer_corpus() -> None:
    """Fail in CI (CI=true) when the shared corpus is missing; elsewhere skip."""
    if (PEER_MAIL / "MANIFEST.json").is_file():
        return
    message = f"peer corpus not found at {PEER_MAIL.resolve()}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
