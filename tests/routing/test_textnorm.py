"""Folding: Turkish case rules, diacritics and mojibake all reduce to one matchable form."""

import json
from pathlib import Path

import pytest

from routing.textnorm import fold, repair_mojibake

TABLE = Path(__file__).resolve().parents[1] / "data" / "categorize" / "fold_cases.jsonl"
FOLD_CASES = [json.loads(line) for line in TABLE.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("case", FOLD_CASES, ids=[c["why"] for c in FOLD_CASES])
def test_fold(case):
    assert fold(case["text"]) == case["folded"]


def test_keyword_and_message_fold_alike():
    assert fold("çalışmıyor") == fold("CALISMIYOR") == fold("ÇALIŞMIYOR") == "calismiyor"


def test_repair_mojibake_restores_letters_before_folding():
    assert repair_mojibake("Ã§alÄ±ÅŸmÄ±yor") == "çalışmıyor"
    assert repair_mojibake("plain ascii") == "plain ascii"
