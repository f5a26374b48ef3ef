"""The categoriser's rule table: the shipped rules, read and merged with the settings' own.

Rules ship in `routing/default_rules.toml`; `[[rule]]` entries in `settings.toml` add to them
or replace one of the same name, so the desk can tune categorisation without a release. The
rule record itself (`RuleSpec`) and its checks belong to the settings.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

from intake.errors import ConfigError
from intake.settings import RuleSpec, check_rule

DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.toml")
_FIELDS = frozenset(f.name for f in fields(RuleSpec))


def parse_rule(entry: Mapping[str, Any]) -> RuleSpec:
    """One `[[rule]]` table as a `RuleSpec`; a `ConfigError` names what is wrong."""
    name = entry.get("name", "?")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise ConfigError(f"rule {name!r}: unknown keys {sorted(unknown)}")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
    spec = RuleSpec(**values)
    check_rule(spec)
    return spec


def parse_rules(text: str) -> tuple[RuleSpec, ...]:
    """The `[[rule]]` array of a TOML document, in order; names must be unique."""
    specs = tuple(parse_rule(entry) for entry in tomllib.loads(text).get("rule", []))
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"rule: duplicate names {duplicates}")
    return specs


@cache
def load_default_rules() -> tuple[RuleSpec, ...]:
    """The shipped rule table (`routing/default_rules.toml`), read once."""
    return parse_rules(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))


def merge_rules(
    defaults: Sequence[RuleSpec], overrides: Sequence[RuleSpec]
) -> tuple[RuleSpec, ...]:
    """Defaults in order, each replaced by an override of the same name; new ones appended."""
    by_name = {spec.name: spec for spec in overrides}
    merged = [by_name.pop(spec.name, spec) for spec in defaults]
    return (*merged, *(spec for spec in overrides if spec.name in by_name))
