"""The categoriser still answers exactly as recorded in tests/data/categorize/golden.jsonl.

The golden file was written by tests/data/categorize/make_golden.py (see its docstring for
the cases: every shipped message, long mails, ALL CAPS, mojibake, no diacritics). Speed work
on routing/ must not change any answer; re-record only for an intended behaviour change.
"""

import importlib.util
import json
from pathlib import Path

import pytest

from routing.categorize import categorize

DATA = Path(__file__).resolve().parents[1] / "data" / "categorize"


def load_maker():
    """The golden-file script as a module (it lives with the data, not in a package)."""
    spec = importlib.util.spec_from_file_location("make_golden", DATA / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = load_maker()
CASES = MAKER.golden_cases()
GOLDEN = [json.loads(line) for line in MAKER.GOLDEN.read_text(encoding="utf-8").splitlines()]


def comparable(answer: dict) -> tuple:
    """The parts that must not change: labels, decider, confidence and model scores to
    4 decimals, and every hit's rule, target, matched keywords and score."""
    hits = answer["hits"]
    return (
        answer["product"],
        answer["kind"],
        answer["decided_by"],
        round(answer["confidence"], 4),
        [(rule, target, matched, round(score, 4)) for rule, target, matched, score in hits],
    )


def test_golden_file_matches_the_cases():
    assert [case["case"] for case in CASES] == [row["case"] for row in GOLDEN]
    assert any(len(case["text"]) > 4000 for case in CASES)


@pytest.mark.parametrize("index", range(len(GOLDEN)), ids=[row["case"] for row in GOLDEN])
def test_categorize_answers_as_recorded(index):
    case, expected = CASES[index], GOLDEN[index]["expected"]
    assert comparable(MAKER.answer(case)) == comparable(expected)


def test_answer_is_what_categorize_returns():
    # the script's JSON form must not hide a field of the real answer
    case = CASES[-1]
    result = categorize(case["subject"], case["text"], case["channel"])
    answer = MAKER.answer(case)
    assert (result.product, result.kind, result.confidence, result.decided_by) == (
        answer["product"],
        answer["kind"],
        answer["confidence"],
        answer["decided_by"],
    )
    assert [h.rule for h in result.hits] == [h[0] for h in answer["hits"]]
