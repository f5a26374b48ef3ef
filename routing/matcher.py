"""Rule matching: compile a `RuleSpec` table once, then find which rules a message hits.

All keywords of a table become one regex over folded text, longest keyword first, so at any
position the most specific keyword wins and matches never overlap ("mobil imza" consumes its
"imza"). Keywords are word prefixes unless they end in "$". Each hit is a `RuleHit`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from intake.schema import RuleHit
from routing.rules import RuleSpec
from routing.textnorm import fold

SUBJECT_FACTOR = 2  # a match in the subject counts this many times: it names the topic
MAX_COUNT = 4  # more matches than this add nothing: long mails repeat their words
_WORD_STARTS = re.compile(r"\b\w")


@dataclass(frozen=True)
class CompiledRules:
    """A rule table ready to match: the specs, one keyword regex, each rule's patterns."""

    specs: tuple[RuleSpec, ...]
    # first letter → (regex of the keywords starting with it, group → (rule index, keyword))
    keywords: dict[str, tuple[re.Pattern[str], tuple[tuple[int, str], ...]]]
    patterns: tuple[tuple[int, re.Pattern[str]], ...]


def keyword_regex(keyword: str) -> str:
    """The regex source of one keyword: folded words joined by optional punctuation."""
    exact = keyword.endswith("$")
    words = re.findall(r"\w+", fold(keyword.rstrip("$")))
    body = r"[\W_]*".join(re.escape(word) for word in words)
    return body + (r"\b" if exact else r"\w*")


def collect_keywords(specs: Sequence[RuleSpec]) -> list[tuple[str, int, str]]:
    """(regex source, rule index, keyword) for every distinct keyword, longest first."""
    seen: set[str] = set()
    found = []
    for index, spec in enumerate(specs):
        for keyword in spec.keywords:
            source = keyword_regex(keyword)
            if source not in seen and re.search(r"\w", keyword):
                seen.add(source)
                found.append((source, index, keyword))
    found.sort(key=lambda item: -len(fold(item[2])))
    return found


def group_keywords(keywords: list[tuple[str, int, str]]) -> dict:
    """One regex per first letter: a message is scanned only at word starts, and each start
    tries only the keywords that begin with its letter (one big alternation is 100× slower)."""
    groups: dict[str, list[tuple[str, int, str]]] = {}
    for item in keywords:
        first_letter = re.search(r"\w", fold(item[2])).group(0)  # type: ignore[union-attr]
        groups.setdefault(first_letter, []).append(item)
    return {
        letter: (
            re.compile("|".join(f"({source})" for source, _, _ in items)),
            tuple((index, keyword) for _, index, keyword in items),
        )
        for letter, items in groups.items()
    }


@lru_cache(maxsize=16)
def compile_rules(specs: tuple[RuleSpec, ...]) -> CompiledRules:
    """Compile a rule table (cached: tables are immutable tuples of frozen specs)."""
    return CompiledRules(
        specs=specs,
        keywords=group_keywords(collect_keywords(specs)),
        patterns=tuple(
            (index, re.compile(pattern))
            for index, spec in enumerate(specs)
            for pattern in spec.patterns
        ),
    )


def count_matches(compiled: CompiledRules, folded: str, subject_end: int) -> dict:
    """Per rule index: [weighted match count, matched keywords in order of appearance]."""
    counts: dict[int, list] = {}

    def record(index: int, matched: str, start: int) -> None:
        entry = counts.setdefault(index, [0, []])
        entry[0] += SUBJECT_FACTOR if start < subject_end else 1
        if matched not in entry[1]:
            entry[1].append(matched)

    end = 0
    for start in _WORD_STARTS.finditer(folded):
        position = start.start()
        group = compiled.keywords.get(folded[position])
        if group is None or position < end:
            continue
        match = group[0].match(folded, position)
        if match:
            index, keyword = group[1][match.lastindex - 1]
            record(index, keyword, position)
            end = match.end()
    for index, pattern in compiled.patterns:
        for match in pattern.finditer(folded):
            record(index, match.group(0), match.start())
    return counts


def match_rules(specs: Sequence[RuleSpec], subject: str, text: str) -> tuple[RuleHit, ...]:
    """Every rule that matches subject or text, in table order, scored by weight and count."""
    compiled = compile_rules(tuple(specs))
    folded_subject = fold(subject)
    folded = f"{folded_subject} \n {fold(text)}" if folded_subject else fold(text)
    subject_end = len(folded_subject) if folded_subject else 0
    counts = count_matches(compiled, folded, subject_end)
    return tuple(
        make_hit(compiled.specs[index], *counts[index]) for index in sorted(counts)
    )


def make_hit(spec: RuleSpec, count: int, matched: list[str]) -> RuleHit:
    """A `RuleHit` whose score grows with the match count: 1×, 1.5×, 2×, 2.5× the weight."""
    target = f"product:{spec.product}" if spec.product else f"kind:{spec.kind}"
    score = spec.weight * (1 + 0.5 * (min(count, MAX_COUNT) - 1))
    return RuleHit(rule=spec.name, target=target, matched=", ".join(matched), score=score)
