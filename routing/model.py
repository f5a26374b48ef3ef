"""The statistical half of the categoriser: naive Bayes over folded words and word stems.

Trained at first use from the labelled files shipped in `routing/data/` (the dev sample and
the synthetic set written by `bench/categorize/synthesize.py`), so it is reproducible and
needs no artefact. Pure Python: binary word, 5-letter stem and stem-bigram features, with a
temperature that turns the over-confident naive Bayes scores into usable probabilities.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from operator import add
from pathlib import Path

from intake.schema import KINDS, PRODUCTS
from routing.textnorm import tokens

DATA_DIR = Path(__file__).with_name("data")
TRAINING_FILES = ("categorize-dev.jsonl", "synthetic.jsonl")
STEM = 5  # Turkish is agglutinative: "imzalama", "imzalayamıyorum" share "imzal"
ALPHA = 0.5  # additive smoothing
TEMPERATURE = 6.0  # scores / T before softmax; chosen by bench/categorize cross-validation


@dataclass(frozen=True)
class NaiveBayes:
    """Per-label log prior and, per known feature, its per-label log likelihood."""

    labels: tuple[str, ...]
    log_prior: tuple[float, ...]
    weights: Mapping[str, tuple[float, ...]]


@dataclass(frozen=True)
class Model:
    product: NaiveBayes
    kind: NaiveBayes


def extract_features(subject: str, text: str) -> set[str]:
    """Binary features of one message: words, their stems, and adjacent stem pairs."""
    words = [w for w in tokens(f"{subject} {subject} {text}") if len(w) > 1 and not w.isdigit()]
    stems = [w[:STEM] for w in words]
    features = set(words)
    features.update("~" + s for s in stems)
    features.update(f"{a}+{b}" for a, b in zip(stems, stems[1:]))
    return features


def train_naive_bayes(
    samples: Iterable[tuple[set[str], str]], labels: Sequence[str]
) -> NaiveBayes:
    """Multinomial naive Bayes on binary features with additive smoothing."""
    doc_count: Counter[str] = Counter()
    feature_count: dict[str, Counter[str]] = {label: Counter() for label in labels}
    for features, label in samples:
        doc_count[label] += 1
        feature_count[label].update(features)
    vocabulary = set().union(*feature_count.values())
    total_docs = sum(doc_count.values())
    log_prior = tuple(math.log((doc_count[l] + 1) / (total_docs + len(labels))) for l in labels)
    denominators = [sum(feature_count[l].values()) + ALPHA * len(vocabulary) for l in labels]
    weights = {
        feature: tuple(
            math.log((feature_count[l][feature] + ALPHA) / d) for l, d in zip(labels, denominators)
        )
        for feature in vocabulary
    }
    return NaiveBayes(tuple(labels), log_prior, weights)


def predict_proba(model: NaiveBayes, features: Iterable[str]) -> dict[str, float]:
    """Label → probability; unknown features are ignored."""
    scores = list(model.log_prior)
    weights = model.weights
    for feature in features:
        row = weights.get(feature)
        if row is not None:
            scores = list(map(add, scores, row))
    top = max(scores)
    exps = [math.exp((s - top) / TEMPERATURE) for s in scores]
    total = sum(exps)
    return {label: e / total for label, e in zip(model.labels, exps)}


def read_examples(paths: Iterable[Path]) -> list[dict]:
    """Labelled messages from JSON Lines files (fields of data/README.md)."""
    rows = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            rows.extend(json.loads(line) for line in lines if line.strip())
    return rows


def train_model(examples: Sequence[Mapping[str, str]]) -> Model:
    """Both classifiers (product, kind) from labelled messages."""
    featured = [(extract_features(e["subject"], e["text"]), e) for e in examples]
    return Model(
        product=train_naive_bayes(((f, e["product"]) for f, e in featured), PRODUCTS),
        kind=train_naive_bayes(((f, e["kind"]) for f, e in featured), KINDS),
    )


@cache
def default_model() -> Model:
    """The model trained on everything shipped in `routing/data/` (built once, ~0.5 s)."""
    return train_model(read_examples(DATA_DIR / name for name in TRAINING_FILES))
