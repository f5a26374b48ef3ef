"""Helpers shared by the normaliser tests (a uniquely named module, so that no other
package's `conftest` can shadow it on sys.path): the case table and the peer corpus."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from tests.conftest import DATA

EMAIL_DATA = Path(__file__).resolve().parents[1] / "data" / "email"
PEER_MAIL = DATA / "peer-mail"


def load_cases() -> list[dict[str, Any]]:
    """The rows of tests/data/email/cases.toml."""
    with (EMAIL_DATA / "cases.toml").open("rb") as handle:
        return tomllib.load(handle)["case"]


def load_peer_manifest() -> list[dict[str, Any]]:
    """MANIFEST.json of the peer corpus in tests/data/peer-mail (part of the repository)."""
    return json.loads((PEER_MAIL / "MANIFEST.json").read_text(encoding="utf-8"))
