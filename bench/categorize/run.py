"""Accuracy and speed benchmark of the categoriser (`python bench/categorize/run.py`).

5-fold cross-validation (fixed seed) over the dev sample: each fold's model is trained on the
synthetic set plus the other four folds, never on the dev items it is tested on. Also scores
the hand-written fresh set of tests/data/categorize/ with the shipped model, and the speed.
With `--store URL`, also the operators' corrections kept in that store (the console's
"correct product"): how the shipped model does on what it got wrong in production.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from routing.categorize import categorize  # noqa: E402
from routing.model import DATA_DIR, default_model, read_examples, train_model  # noqa: E402

FOLDS = 5
SEED = 7
FRESH = ROOT / "tests" / "data" / "categorize" / "fresh.jsonl"


def split_folds(rows: list[dict], folds: int, seed: int) -> list[list[dict]]:
    """`folds` disjoint test folds, the same ones on every run."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return [[rows[i] for i in order[k::folds]] for k in range(folds)]


def score(rows, model) -> list[tuple[dict, object]]:
    """Each labelled row with its categorisation by `model`."""
    return [(r, categorize(r["subject"], r["text"], r["channel"], model=model)) for r in rows]


def cross_validate(dev: list[dict], synthetic: list[dict]) -> list[tuple[dict, object]]:
    """Predictions for every dev row by a model that never saw it."""
    results = []
    for test in split_folds(dev, FOLDS, SEED):
        held_out = {row["id"] for row in test}
        training = synthetic + [row for row in dev if row["id"] not in held_out]
        results.extend(score(test, train_model(training)))
    return results


def report(title: str, results) -> None:
    """Product and kind accuracy and the most frequent confusions."""
    n = len(results)
    product_ok = sum(r["product"] == c.product for r, c in results)
    kind_ok = sum(r["kind"] == c.kind for r, c in results)
    print(f"{title}: {n} messages")
    print(f"  product accuracy {product_ok / n:6.1%}   kind accuracy {kind_ok / n:6.1%}")
    for axis in ("product", "kind"):
        pairs = Counter(
            (r[axis], getattr(c, axis)) for r, c in results if r[axis] != getattr(c, axis)
        )
        shown = ", ".join(f"{g}→{p} ×{k}" for (g, p), k in pairs.most_common(6)) or "none"
        print(f"  top {axis} confusions (gold→predicted): {shown}")


def measure_speed(rows: list[dict], rounds: int = 10) -> float:
    """Messages per second through `categorize` with the shipped model, on one core."""
    default_model()  # trained once at first use; not part of the per-message cost
    start = time.perf_counter()
    for _ in range(rounds):
        for r in rows:
            categorize(r["subject"], r["text"], r["channel"])
    return rounds * len(rows) / (time.perf_counter() - start)


def corrections(url: str) -> list[dict]:
    """The operators' corrections in the store at `url`, as labelled examples (the kind is
    the complaint's, which the operator did not change)."""
    from sqlalchemy import create_engine, select

    from store.models import ComplaintRow, CorrectionRow

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    CorrectionRow.subject,
                    CorrectionRow.text,
                    CorrectionRow.channel,
                    CorrectionRow.product,
                    ComplaintRow.kind,
                )
                .join(ComplaintRow, ComplaintRow.id == CorrectionRow.complaint_id)
                .order_by(CorrectionRow.id)
            ).all()
    finally:
        engine.dispose()
    return [
        {"subject": s, "text": t, "channel": c, "product": p, "kind": k} for s, t, c, p, k in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="", help="also score the corrections in this store")
    args = parser.parse_args()
    dev = read_examples([DATA_DIR / "categorize-dev.jsonl"])
    synthetic = read_examples([DATA_DIR / "synthetic.jsonl"])
    report(
        f"dev sample, {FOLDS}-fold cross-validation (seed {SEED})", cross_validate(dev, synthetic)
    )
    report("fresh hand-written set (never trained on)", score(read_examples([FRESH]), None))
    if args.store:
        corrected = corrections(args.store)
        if corrected:
            report("operators' corrections (what production got wrong)", score(corrected, None))
        else:
            print("operators' corrections: none in that store")
    print(f"speed: {measure_speed(dev):,.0f} messages/s")


if __name__ == "__main__":
    main()
