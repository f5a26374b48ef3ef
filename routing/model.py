"""The statistical half of the categoriser: naive Bayes over folded words and word stems.

Trained at first use from the labelled files shipped in `routing/data/` (the dev sample and
the synthetic set written by `bench/categorize/synthesize.py`), so it is reproducible and
needs no artefact. Pure Python: binary word, 5-letter stem and stem-bigram features, with a
temperature that turns the over-confident naive Bayes scores into usable probabilities.

For speed, a `Model` also keeps one joint table, feature → product and kind log likelihoods
side by side, so `predict_both` looks each feature up once and sums columns in C.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import filterfalse
from pathlib import Path
from typing import Any

from intake.schema import KINDS, PRODUCTS
from routing.textnorm import fold

DATA_DIR = Path(__file__).with_name("data")
TRAINING_FILES = ("categorize-dev.jsonl", "synthetic.jsonl")
STEM = 5  # Turkish is agglutinative: "imzalama", "imzalayamıyorum" share "imzal"
ALPHA = 0.5  # additive smoothing
TEMPERATURE = 6.0  # scores / T before softmax; chosen by bench/categorize cross-validation
_LONG_WORD = re.compile(r"\w{2,}")  # the words of `textnorm.tokens` longer than one letter


@dataclass(frozen=True)
class NaiveBayes:
    """Per-label log prior and, per known feature, its per-label log likelihood."""

    labels: tuple[str, ...]
    log_prior: tuple[float, ...]
    weights: Mapping[str, tuple[float, ...]]


@dataclass(frozen=True)
class Model:
    """The product and the kind classifier, and their joint table (built from the two)."""

    product: NaiveBayes
    kind: NaiveBayes
    joint: Mapping[str, tuple[float, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint", joint_weights(self.product, self.kind))


def joint_weights(first: NaiveBayes, second: NaiveBayes) -> dict[str, tuple[float, ...]]:
    """Feature → `first`'s row followed by `second`'s; 0.0 (adds nothing) where unknown."""
    zeros = ((0.0,) * len(first.labels), (0.0,) * len(second.labels))
    return {
        feature: first.weights.get(feature, zeros[0]) + second.weights.get(feature, zeros[1])
        for feature in first.weights.keys() | second.weights.keys()
    }


def extract_features(subject: str, text: str) -> set[str]:
    """Binary features of one message: words, their stems, and adjacent stem pairs."""
    return folded_features(fold(subject), fold(text))


def long_words(folded: str) -> list[str]:
    """The words of folded text that have two letters or more, in order."""
    return _LONG_WORD.findall(folded)


def folded_features(folded_subject: str, folded_text: str) -> set[str]:
    """`extract_features` of subject and text already folded by `textnorm.fold`.

    The subject's words count twice: they are read as "subject subject text"."""
    subject_words = long_words(folded_subject)
    both = subject_words + subject_words + long_words(folded_text)
    found = list(filterfalse(str.isdigit, both))  # numbers are not features
    stems = [w[:STEM] for w in found]
    features = set(found)
    features.update(map("~".__add__, stems))
    features.update(map("{}+{}".format, stems, stems[1:]))
    return features


def train_naive_bayes(samples: Iterable[tuple[set[str], str]], labels: Sequence[str]) -> NaiveBayes:
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


def summed_scores(
    log_prior: Sequence[float], weights: Mapping[str, tuple[float, ...]], features: Iterable[str]
) -> list[float]:
    """Per label: log prior plus the log likelihoods of the known features (of each time
    it is listed, when `features` is not a set)."""
    if isinstance(features, (set, frozenset)):
        known: Iterable[str] = weights.keys() & features  # in C, iterating the smaller
    else:
        known = [feature for feature in features if feature in weights]
    return list(map(sum, zip(log_prior, *map(weights.__getitem__, known))))


def softmax(labels: Sequence[str], scores: Sequence[float]) -> dict[str, float]:
    """Label → probability from summed log scores, flattened by `TEMPERATURE`."""
    top = max(scores)
    exps = [math.exp((s - top) / TEMPERATURE) for s in scores]
    total = sum(exps)
    return {label: e / total for label, e in zip(labels, exps)}


Probabilities = dict[str, float]


def predict_both(model: Model, features: Iterable[str]) -> tuple[Probabilities, Probabilities]:
    """(label → probability of the product model, of the kind model), in one pass over
    `features`; unknown features are ignored."""
    split = len(model.product.labels)
    scores = summed_scores(model.product.log_prior + model.kind.log_prior, model.joint, features)
    return softmax(model.product.labels, scores[:split]), softmax(model.kind.labels, scores[split:])


def read_examples(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Labelled messages from JSON Lines files (fields of data/README.md)."""
    rows: list[dict[str, Any]] = []
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
