"""The one-regex keyword scan finds exactly what the word-by-word scan it replaced found.

`reference_keyword_matches` is the former implementation of `routing.matcher`: at each word
start not inside the previous match, the first keyword (longest first) of the word's first
letter that matches there. Both are run on shipped messages with the shipped table and with
random tables built to collide (shared prefixes, "$" words, multi-word keywords, ties).
"""

import json
import random
import re
from pathlib import Path

import pytest

from intake.settings import RuleSpec
from routing.matcher import collect_keywords, compile_rules, count_matches
from routing.rules import load_default_rules
from routing.textnorm import fold

DATA = Path(__file__).resolve().parents[2] / "routing" / "data"
TEXTS = [
    fold(f"{row['subject']} \n {row['text']}")
    for line in (DATA / "categorize-dev.jsonl").read_text(encoding="utf-8").splitlines()
    for row in [json.loads(line)]
]


def reference_keyword_matches(specs, folded: str) -> list[tuple[int, int, str]]:
    """(start, rule index, keyword) of every keyword match, the pre-regex-scanner way."""
    groups: dict[str, list] = {}
    for source, index, keyword in collect_keywords(specs):
        letter = re.search(r"\w", fold(keyword)).group(0)
        groups.setdefault(letter, []).append((source, index, keyword))
    compiled = {
        letter: (re.compile("|".join(f"({s})" for s, _, _ in items)), [(i, k) for _, i, k in items])
        for letter, items in groups.items()
    }
    found, end = [], 0
    for start in re.finditer(r"\b\w", folded):
        position = start.start()
        group = compiled.get(folded[position])
        if group is None or position < end:
            continue
        match = group[0].match(folded, position)
        if match:
            found.append((position, *group[1][match.lastindex - 1]))
            end = match.end()
    return found


def scanned_keyword_matches(specs, folded: str) -> list[tuple[int, int, str]]:
    """The same list from the compiled scanner of `routing.matcher`."""
    compiled = compile_rules(tuple(specs))
    return [
        (match.start(), *compiled.keywords[match.lastindex - 1])
        for match in compiled.scanner.finditer(folded)
    ]


def random_table(rng: random.Random, words: list[str]) -> tuple[RuleSpec, ...]:
    """Rules whose keywords overlap a lot: prefixes of one another, joined words, "$"."""
    specs = []
    for n in range(12):
        keywords = []
        for _ in range(rng.randint(3, 15)):
            word = rng.choice(words)
            shape = rng.random()
            if shape < 0.3:
                keyword = word[: rng.randint(1, len(word))]
            elif shape < 0.45:
                keyword = word + "$"
            elif shape < 0.7:
                keyword = f"{word}{rng.choice([' ', '-', '', '/'])}{rng.choice(words)}"
            elif shape < 0.8:
                cut = rng.randint(1, len(word) - 1) if len(word) > 1 else 1
                keyword = f"{word[:cut]} {word[cut:]}".strip()
            else:
                keyword = word
            keywords.append(keyword)
        specs.append(RuleSpec(name=f"r{n}", kind="request", keywords=tuple(keywords)))
    return tuple(specs)


def test_shipped_table_scans_alike():
    specs = load_default_rules()
    for folded in TEXTS:
        assert scanned_keyword_matches(specs, folded) == reference_keyword_matches(specs, folded)


@pytest.mark.parametrize("seed", range(40))
def test_random_colliding_tables_scan_alike(seed):
    rng = random.Random(seed)
    words = sorted({w for text in TEXTS for w in re.findall(r"\w+", text) if not w.isdigit()})
    specs = random_table(rng, words)
    texts = rng.sample(TEXTS, 20) + [" ".join(rng.sample(TEXTS, 15))]
    for folded in texts:
        assert scanned_keyword_matches(specs, folded) == reference_keyword_matches(specs, folded)


def test_table_of_patterns_only_matches_no_keyword():
    specs = (RuleSpec(name="tsa", product="zaman_damgasi", patterns=(r"\btsa\b",)),)
    compiled = compile_rules(specs)
    assert count_matches(compiled, "tsa timeout", 0) == {0: [1, ["tsa"]]}


def test_features_read_subject_twice_then_text():
    # the model folds subject and text apart now; the features must be those of the
    # former single fold of "subject subject text"
    from routing.model import extract_features
    from routing.textnorm import fold

    def tokens(text: str) -> list[str]:
        return re.findall(r"\w+", fold(text))

    def former(subject: str, text: str) -> set[str]:
        words = [w for w in tokens(f"{subject} {subject} {text}") if len(w) > 1]
        words = [w for w in words if not w.isdigit()]
        stems = [w[:5] for w in words]
        pairs = {f"{a}+{b}" for a, b in zip(stems, stems[1:])}
        return set(words) | {"~" + s for s in stems} | pairs

    for line in (DATA / "categorize-dev.jsonl").read_text(encoding="utf-8").splitlines()[:80]:
        row = json.loads(line)
        for subject, text in [(row["subject"], row["text"]), (row["text"][:50].upper(), "")]:
            assert extract_features(subject, text) == former(subject, text)
