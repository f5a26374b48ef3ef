"""Rule matching: compile a `RuleSpec` table once, then find which rules a message hits.

All keywords of a table become one regex over folded text, longest keyword first, so at any
position the most specific keyword wins and matches never overlap ("mobil imza" consumes its
"imza"). Keywords are word prefixes unless they end in "$". Each hit is a `RuleHit`.

The keyword regex is scanned by `finditer` in C. It tries words only where they start
(`(?<!\\w)`), dispatches on the first letter, then tries that letter's keywords in the table's
longest-first order; an empty group closes each keyword, so `match.lastindex` names it.
A rule pattern is scanned only when the message holds one of its required literals
(`routing.literals`): without them it cannot match, and most patterns miss most messages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from intake.schema import RuleHit
from intake.settings import RuleSpec
from routing.literals import Literals, may_match, required_literals
from routing.textnorm import fold

SUBJECT_FACTOR = 2  # a match in the subject counts this many times: it names the topic
MAX_COUNT = 4  # more matches than this add nothing: long mails repeat their words


@dataclass(frozen=True)
class CompiledRules:
    """A rule table ready to match: the specs, one keyword regex, each rule's patterns."""

    specs: tuple[RuleSpec, ...]
    scanner: re.Pattern[str]  # every keyword; group n closes keyword n (1-based)
    keywords: tuple[tuple[int, str], ...]  # keyword n - 1 → (rule index, keyword)
    # (rule index, pattern, strings one of which every match contains, or None)
    patterns: tuple[tuple[int, re.Pattern[str], Literals | None], ...]


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


def first_letter(keyword: str) -> str:
    """The letter a keyword's matches start with: the first word character of its fold."""
    return re.search(r"\w", fold(keyword)).group(0)  # type: ignore[union-attr]


def build_scanner(keywords: list[tuple[str, int, str]]) -> tuple[re.Pattern[str], tuple]:
    """One regex for all keywords and the (rule index, keyword) each of its groups closes.

    `(?<!\\w)(?:a(?:…()|…())|b(?:…())|…)`: at a word start, the branch of the first letter
    tries that letter's keywords in the given (longest-first) order and the first that
    matches wins, exactly as one alternation per letter would. Branches of different
    letters never compete, so their order does not matter; a branch that starts with a
    literal is skipped by the regex engine in one comparison.
    """
    by_letter: dict[str, list[tuple[str, int, str]]] = {}
    for item in keywords:
        by_letter.setdefault(first_letter(item[2]), []).append(item)
    branches, found = [], []
    for letter, items in by_letter.items():
        head = re.escape(letter)
        tails = []
        for source, index, keyword in items:
            assert source.startswith(head), (keyword, source)
            tails.append(source[len(head) :] + "()")
            found.append((index, keyword))
        branches.append(f"{head}(?:{'|'.join(tails)})")
    if not branches:
        return re.compile("(?!)"), ()  # a table of patterns only: never matches
    return re.compile(rf"(?<!\w)(?:{'|'.join(branches)})"), tuple(found)


@lru_cache(maxsize=16)
def compile_rules(specs: tuple[RuleSpec, ...]) -> CompiledRules:
    """Compile a rule table (cached: tables are immutable tuples of frozen specs)."""
    scanner, keywords = build_scanner(collect_keywords(specs))
    return CompiledRules(
        specs=specs,
        scanner=scanner,
        keywords=keywords,
        patterns=tuple(
            (index, re.compile(pattern), required_literals(pattern))
            for index, spec in enumerate(specs)
            for pattern in spec.patterns
        ),
    )


_last_compiled: tuple[object, CompiledRules | None] = (None, None)


def compiled_for(specs: Sequence[RuleSpec]) -> CompiledRules:
    """`compile_rules(tuple(specs))`, without even hashing the table when `specs` is the
    very tuple compiled last (the shipped table, every time: hashing it costs ~20 µs)."""
    global _last_compiled
    last_specs, last = _last_compiled
    if last is not None and specs is last_specs:
        return last
    compiled = compile_rules(tuple(specs))
    if isinstance(specs, tuple):  # immutable, so the same object is the same table
        _last_compiled = (specs, compiled)
    return compiled


def record(counts: dict, index: int, matched: str, in_subject: bool) -> None:
    """Count one match of rule `index` (twice in the subject) and note what it matched."""
    entry = counts.get(index)
    if entry is None:
        counts[index] = [SUBJECT_FACTOR if in_subject else 1, [matched]]
        return
    entry[0] += SUBJECT_FACTOR if in_subject else 1
    if matched not in entry[1]:
        entry[1].append(matched)


def count_matches(compiled: CompiledRules, folded: str, subject_end: int) -> dict:
    """Per rule index: [weighted match count, matched keywords in order of appearance]."""
    counts: dict[int, list] = {}
    keywords = compiled.keywords
    for match in compiled.scanner.finditer(folded):
        index, keyword = keywords[match.lastindex - 1]  # type: ignore[operator]
        record(counts, index, keyword, match.start() < subject_end)
    for index, pattern, literals in compiled.patterns:
        if not may_match(literals, folded):
            continue
        for match in pattern.finditer(folded):
            record(counts, index, match.group(0), match.start() < subject_end)
    return counts


def match_folded(
    specs: Sequence[RuleSpec], folded_subject: str, folded_text: str
) -> tuple[RuleHit, ...]:
    """Every rule that matches subject or text (already folded by `textnorm.fold`), in table
    order, scored by weight and count."""
    compiled = compiled_for(specs)
    if folded_subject:
        folded = f"{folded_subject} \n {folded_text}"
    else:
        folded = folded_text
    counts = count_matches(compiled, folded, len(folded_subject))
    return tuple(make_hit(compiled.specs[index], *counts[index]) for index in sorted(counts))


def make_hit(spec: RuleSpec, count: int, matched: list[str]) -> RuleHit:
    """A `RuleHit` whose score grows with the match count: 1×, 1.5×, 2×, 2.5× the weight."""
    target = f"product:{spec.product}" if spec.product else f"kind:{spec.kind}"
    score = spec.weight * (1 + 0.5 * (min(count, MAX_COUNT) - 1))
    return RuleHit(rule=spec.name, target=target, matched=", ".join(matched), score=score)
