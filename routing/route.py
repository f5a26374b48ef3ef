"""Pick the unit and its Dramatiq queue for a categorised complaint (pure).

Every product belongs to exactly one `[[unit]]` of the settings (checked when they load), and
each unit has one queue, so operators can watch each unit's backlog on its own. A data
subject's request (`routing.kvkk`) goes to the data protection contact, `[privacy] unit`,
when the settings name one, whatever its product.
"""

from __future__ import annotations

from functools import lru_cache

from intake.schema import RoutingDecision, RuleHit
from intake.settings import RuleSpec, Settings, UnitSettings
from routing import kvkk
from routing.categorize import Categorisation, categorize
from routing.rules import load_default_rules, merge_rules

PRIVACY_UNIT = "kvkk:privacy_unit"  # decided_by of a request sent to `[privacy] unit`


def route(subject: str, text: str, channel: str, settings: Settings) -> RoutingDecision:
    """Categorise and route one complaint, recording what decided it."""
    result = categorize(
        subject,
        text,
        channel,
        rules=rules_for(settings),
        min_confidence=settings.categorize.min_confidence,
    )
    return decide(result, settings, kvkk.recognize(subject, text))


def decide(
    result: Categorisation, settings: Settings, request: RuleHit | None = None
) -> RoutingDecision:
    """The decision for `result`; `request` is the hit that made it a KVKK request."""
    category = kvkk.CATEGORY if request is not None else None
    unit = unit_for(result.product, category, settings)
    to_privacy = unit.code != settings.unit_for(result.product).code
    return RoutingDecision(
        product=result.product,
        kind=result.kind,
        unit=unit.code,
        queue=unit.queue,
        confidence=result.confidence,
        decided_by=PRIVACY_UNIT if to_privacy else result.decided_by,
        hits=result.hits if request is None else (*result.hits, request),
        category=category,
    )


def unit_for(product: str, category: str | None, settings: Settings) -> UnitSettings:
    """The unit that takes a complaint: a KVKK request the data protection contact's when
    `[privacy] unit` names one, anything else the unit of its product."""
    if category == kvkk.CATEGORY and settings.privacy.unit:
        return settings.unit_named(settings.privacy.unit)
    return settings.unit_for(product)


def rules_for(settings: Settings) -> tuple[RuleSpec, ...]:
    """The shipped rules merged with the `[[rule]]` entries of the settings."""
    return _merged(settings.rule, settings.categorize.replace_default_rules)


@lru_cache(maxsize=8)
def _merged(overrides: tuple[RuleSpec, ...], replace: bool) -> tuple[RuleSpec, ...]:
    return overrides if replace else tuple(merge_rules(load_default_rules(), overrides))
