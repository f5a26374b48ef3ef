"""Categorisation: which product a complaint is about, and whether it complains, asks or suggests.

Rule votes (routing/default_rules.toml, overridable by name) and the naive Bayes model are
combined log-linearly: log P_model(label) + BETA × rule votes, then renormalised. The SSL
problem address decides by channel; below `min_confidence` the product falls back to `genel`
for customer relations to review. Every rule hit and the model's top scores are recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from intake.schema import RuleHit
from intake.settings import RuleSpec
from routing.kvkk import without_notices
from routing.matcher import match_folded
from routing.model import Model, default_model, folded_features, predict_both
from routing.rules import load_default_rules
from routing.textnorm import fold

BETA = 1.0  # how many nats one unit of rule weight is worth against the model
MODEL_TOP = 3  # model scores recorded in the hits
FORCED_CHANNELS = {"email_ssl": "ssl"}  # the SSL problem address (BR 4.9.5): always SSL
FALLBACK_PRODUCT = "genel"


@dataclass(frozen=True)
class Categorisation:
    """The categoriser's answer and why: `decided_by` names the rule, model or fallback."""

    product: str
    kind: str
    confidence: float
    decided_by: str
    hits: tuple[RuleHit, ...]


def combine(model_proba: Mapping[str, float], votes: Mapping[str, float]) -> dict[str, float]:
    """Renormalised exp(log P_model + BETA × votes) over the model's labels."""
    logits = {
        label: math.log(max(p, 1e-12)) + BETA * votes.get(label, 0.0)
        for label, p in model_proba.items()
    }
    top = max(logits.values())
    exps = {label: math.exp(v - top) for label, v in logits.items()}
    total = sum(exps.values())
    return {label: e / total for label, e in exps.items()}


def tally_votes(hits: Sequence[RuleHit], axis: str) -> dict[str, float]:
    """Sum of rule scores per label on one axis ("product" or "kind")."""
    votes: dict[str, float] = {}
    for hit in hits:
        target_axis, _, label = hit.target.partition(":")
        if target_axis == axis:
            votes[label] = votes.get(label, 0.0) + hit.score
    return votes


def best_rule(hits: Sequence[RuleHit], target: str) -> str | None:
    """The name of the highest-scoring rule for `target` (first in table order on ties)."""
    candidates = [hit for hit in hits if hit.target == target]
    return max(candidates, key=lambda hit: hit.score).rule if candidates else None


def model_hits(proba: Mapping[str, float], axis: str, top: int) -> tuple[RuleHit, ...]:
    """The model's `top` labels on one axis as hits, for the record."""
    ranked = sorted(proba.items(), key=lambda item: -item[1])[:top]
    return tuple(RuleHit("model", f"{axis}:{label}", "", round(p, 4)) for label, p in ranked)


# What a long mail is about is said at its start; matching the rest only costs time.
MAX_TEXT_CHARS = 4000


def decide_product(
    combined: Mapping[str, float], hits: Sequence[RuleHit], channel: str, min_confidence: float
) -> tuple[str, float, str]:
    """(product, confidence, decided_by) from the combined scores and the channel."""
    if channel in FORCED_CHANNELS:
        return FORCED_CHANNELS[channel], 1.0, f"channel:{channel}"
    product = max(combined, key=combined.__getitem__)
    confidence = combined[product]
    if confidence < min_confidence:
        return FALLBACK_PRODUCT, confidence, "fallback:low_confidence"
    rule = best_rule(hits, f"product:{product}")
    return product, confidence, f"rule:{rule}" if rule else "model"


def categorize(
    subject: str,
    text: str,
    channel: str,
    *,
    rules: Sequence[RuleSpec] | None = None,
    min_confidence: float = 0.35,
    model: Model | None = None,
) -> Categorisation:
    """Product and kind of one message; `rules=None` means the shipped default table."""
    model = model or default_model()
    text = without_notices(text[:MAX_TEXT_CHARS])  # a KVKK footer tells no product
    folded_subject, folded_text = fold(subject), fold(text)  # folded once
    rules = load_default_rules() if rules is None else rules
    hits = match_folded(rules, folded_subject, folded_text)
    features = folded_features(folded_subject, folded_text)
    product_proba, kind_proba = predict_both(model, features)
    products = combine(product_proba, tally_votes(hits, "product"))
    kinds = combine(kind_proba, tally_votes(hits, "kind"))
    product, confidence, decided_by = decide_product(products, hits, channel, min_confidence)
    return Categorisation(
        product=product,
        kind=max(kinds, key=kinds.__getitem__),
        confidence=round(confidence, 4),
        decided_by=decided_by,
        hits=hits
        + model_hits(product_proba, "product", MODEL_TOP)
        + model_hits(kind_proba, "kind", 1),
    )
