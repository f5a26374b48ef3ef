"""Precision, recall and speed of the recurring-complaint grouping (`python bench/recurring/run.py`).

Reads the hand-labelled set beside this file (bench/recurring/labelled.toml) and, for each
threshold, scores the pair-wise decision "these two are in the same recurring group" and the
groups themselves (a found group matches a labelled one when their Jaccard overlap is ≥ 0.5).
Then times the grouping on 1000 complaints made by perturbing the labelled ones.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tomllib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from intake.settings import RecurringSettings  # noqa: E402
from routing.recurring import Item, find_recurring  # noqa: E402

LABELLED = Path(__file__).with_name("labelled.toml")
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def load(path: Path = LABELLED) -> tuple[list[Item], dict[str, str]]:
    """The labelled complaints and each one's true group ("" for a one-off)."""
    rows = tomllib.loads(path.read_text(encoding="utf-8"))["complaint"]
    items, truth = [], {}
    for n, row in enumerate(rows, 1):
        ref = f"CMP-2026-{n:06d}"
        received = START + timedelta(days=row["day"], hours=n % 7)
        items.append(Item(n, ref, row["product"], received, row["subject"], row["body"]))
        truth[ref] = row["group"]
    return items, truth


def recurring_truth(truth: dict[str, str], min_group: int) -> list[set[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for ref, group in truth.items():
        if group:
            groups[group].add(ref)
    return [g for g in groups.values() if len(g) >= min_group]


def pair_set(groups: list[set[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in combinations(sorted(g), 2)}


def ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def evaluate(items: list[Item], truth: dict[str, str], threshold: float, s: RecurringSettings):
    found = find_recurring(
        items, window_days=s.window_days, threshold=threshold, min_group=s.min_group
    )
    predicted = [set(g.references) for g in found.groups]
    expected = recurring_truth(truth, s.min_group)
    tp_pairs = pair_set(predicted) & pair_set(expected)
    pair_p = ratio(len(tp_pairs), len(pair_set(predicted)))
    pair_r = ratio(len(tp_pairs), len(pair_set(expected)))

    def matches(a: set[str], b: set[str]) -> bool:
        return len(a & b) / len(a | b) >= 0.5

    group_p = ratio(sum(any(matches(p, e) for e in expected) for p in predicted), len(predicted))
    group_r = ratio(sum(any(matches(e, p) for p in predicted) for e in expected), len(expected))
    return pair_p, pair_r, group_p, group_r, found


def perturbed(items: list[Item], count: int, seed: int = 7) -> list[Item]:
    """`count` complaints over 90 days: labelled ones with a third of their words dropped."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        base = items[n % len(items)]
        words = [w for w in base.body.split() if rng.random() > 0.33] or base.body.split()
        day = timedelta(days=rng.randrange(90), minutes=n)
        out.append(Item(n, f"X-{n}", base.product, START + day, base.subject, " ".join(words)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", action="store_true", help="print the groups at the default")
    args = parser.parse_args()
    s = RecurringSettings()
    items, truth = load()
    print(f"{len(items)} labelled complaints, {len(recurring_truth(truth, s.min_group))} recurring")
    print("threshold  pair-P  pair-R  group-P  group-R")
    for threshold in THRESHOLDS:
        pp, pr, gp, gr, _ = evaluate(items, truth, threshold, s)
        mark = "  <- default" if abs(threshold - s.threshold) < 1e-9 else ""
        print(f"{threshold:9.2f}  {pp:6.2f}  {pr:6.2f}  {gp:7.2f}  {gr:7.2f}{mark}")
    if args.groups:
        found = evaluate(items, truth, s.threshold, s)[4]
        for g in found.groups:
            print(g.product, " ".join(g.label), [truth[r] or "-" for r in g.references])
    bulk = perturbed(items, 1000)
    started = time.perf_counter()
    runs = 3
    for _ in range(runs):
        find_recurring(bulk, window_days=s.window_days, threshold=s.threshold, min_group=3)
    per_run = (time.perf_counter() - started) / runs
    print(f"time per 1000 complaints: {per_run * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
