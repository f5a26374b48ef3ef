"""Required literals: a pattern is skipped only when it cannot match, never otherwise."""

import json
import re
from pathlib import Path

import pytest

from routing.literals import may_match, required_literals
from routing.rules import load_default_rules
from routing.textnorm import fold

DATA = Path(__file__).resolve().parents[2] / "routing" / "data"
TEXTS = [
    fold(f"{row['subject']} \n {row['text']}")
    for name in ("categorize-dev.jsonl", "synthetic.jsonl")
    for line in (DATA / name).read_text(encoding="utf-8").splitlines()
    for row in [json.loads(line)]
]
SHIPPED = [pattern for spec in load_default_rules() for pattern in spec.patterns]
EXTRA = [
    r"\b(?:yeni|eski) (?:surum|versiyon)\w*",
    r"(?:ab)+c?",
    r"x{2,}y",
    r"(?>ka)rt",
    r"\bimza(?=m)",
    r"(?:lar|ler)(?:i|ı)?\b",
    r"\d{3,}",
    r"(?:kart|)okuyucu",
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\b\w+(?:mi|mu)yor(?:um|uz)?\b", {"yor"}),
        (r"\b(?:olsa|gelse)\b", {"olsa", "gelse"}),
        (r"\b\w+(?:ilmesini|ilmesi) x", {"ilmesi"}),  # "ilmesini" holds "ilmesi"
        (r"a*bc", {"bc"}),
        (r"(?:ab)+", {"ab"}),
        (r"a{0,3}bb", {"bb"}),
        (r"a(?:bc|)d", {"a"}),
    ],
)
def test_required_literals(pattern, expected):
    assert required_literals(pattern) == expected


@pytest.mark.parametrize(
    "pattern", [r"(?i)abc", r"x?", r"\d+", r"(?=abc)", r"[ab]", r"a|\d", "(?!)"]
)
def test_unknown_means_no_prefilter(pattern):
    assert required_literals(pattern) is None
    assert may_match(None, "")


def test_scoped_case_insensitive_part_is_not_required():
    assert required_literals(r"(?i:abc)x") == {"x"}


@pytest.mark.parametrize("pattern", SHIPPED + EXTRA)
def test_every_match_holds_a_required_literal(pattern):
    literals = required_literals(pattern)
    compiled = re.compile(pattern)
    for text in TEXTS:
        matches = list(compiled.finditer(text))
        if literals is not None:
            assert all(any(lit in m.group(0) for lit in literals) for m in matches), pattern
        if not may_match(literals, text):
            assert matches == []
