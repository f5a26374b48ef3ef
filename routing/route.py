"""Pick the unit and its Dramatiq queue for a categorised complaint (pure).

Every product belongs to exactly one `[[unit]]` of the settings (checked when they load), and
each unit has one queue, so operators can watch each unit's backlog on its own.
"""

from __future__ import annotations

from functools import lru_cache

from intake.schema import RoutingDecision
from intake.settings import RuleSpec, Settings
from routing.categorize import Categorisation, categorize
from routing.rules import load_default_rules, merge_rules


def route(subject: str, text: str, channel: str, settings: Settings) -> RoutingDecision:
    """Categorise and route one complaint, recording what decided it."""
    result = categorize(
        subject,
        text,
        channel,
        rules=rules_for(settings),
        min_confidence=settings.categorize.min_confidence,
    )
    return decide(result, settings)


def decide(result: Categorisation, settings: Settings) -> RoutingDecision:
    unit = settings.unit_for(result.product)
    return RoutingDecision(
        product=result.product,
        kind=result.kind,
        unit=unit.code,
        queue=unit.queue,
        confidence=result.confidence,
        decided_by=result.decided_by,
        hits=result.hits,
    )


def rules_for(settings: Settings) -> tuple[RuleSpec, ...]:
    """The shipped rules merged with the `[[rule]]` entries of the settings."""
    return _merged(settings.rule, settings.categorize.replace_default_rules)


@lru_cache(maxsize=8)
def _merged(overrides: tuple[RuleSpec, ...], replace: bool) -> tuple[RuleSpec, ...]:
    return overrides if replace else tuple(merge_rules(load_default_rules(), overrides))
