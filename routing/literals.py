"""Required literals of a regex: strings one of which every match must contain.

`required_literals(r"\\b\\w+(?:mi|mu)yor\\b")` is `{"yor"}`: a text without "yor" cannot match,
so the matcher skips that pattern's `finditer` with a C-speed `in` test. Most rule patterns
find nothing in a short message, and that scan was their whole cost.

The analysis reads the parse tree of Python's own regex parser (`re._parser`) and is
conservative: whatever it does not understand (case-insensitive flags, lookarounds, back
references, an unknown node) contributes nothing, and `None` means "no prefilter, always
scan". A wrong answer could only come from claiming a string is required when it is not,
which the rules below never do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# typeshed's stub for `re` is a single module and does not declare these private submodules,
# which CPython 3.11+ has (re/_constants.py, re/_parser.py).
try:  # the parser is private; without it there is simply no prefilter
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python versions
    _parser = None

Literals = frozenset[str]


def required_literals(pattern: str) -> Literals | None:
    """Strings one of which is in every match of `pattern`; `None` if none are known."""
    if _parser is None:
        return None
    try:
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError):
        return None
    if parsed.state.flags & (re.IGNORECASE | re.LOCALE):
        return None
    try:
        return _required(parsed)
    except (TypeError, ValueError, AttributeError):  # a node shaped as not expected
        return None


def _required(sequence: Iterable) -> Literals | None:
    """The best required set of a sequence of parse nodes: the one with the longest
    shortest string (rarest in text). Adjacent literal characters form one string."""
    candidates: list[Literals] = []
    run: list[str] = []
    for op, argument in sequence:
        if op is _c.LITERAL:
            run.append(chr(argument))
            continue
        if run:
            candidates.append(frozenset(["".join(run)]))
            run = []
        found = _node_required(op, argument)
        if found:
            candidates.append(found)
    if run:
        candidates.append(frozenset(["".join(run)]))
    if not candidates:
        return None
    return max(candidates, key=lambda literals: (min(map(len, literals)), -len(literals)))


def _node_required(op, argument) -> Literals | None:
    """The required set of one non-literal node (groups, alternations, repeats)."""
    if op is _c.SUBPATTERN:
        _group, add_flags, del_flags, body = argument
        return None if add_flags or del_flags else _required(body)
    if op is _c.ATOMIC_GROUP:
        return _required(argument)
    if op is _c.BRANCH:
        found = [_required(alternative) for alternative in argument[1]]
        if any(literals is None for literals in found):
            return None
        return shortest(frozenset().union(*found))  # type: ignore[arg-type]
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low, _high, body = argument
        return _required(body) if low >= 1 else None
    return None  # character sets, anchors, lookarounds, back references, ...


def shortest(literals: Literals) -> Literals:
    """The set without strings that contain another of it ("ilmesini" holds "ilmesi")."""
    return frozenset(
        literal
        for literal in literals
        if not any(other != literal and other in literal for other in literals)
    )


def may_match(literals: Literals | None, text: str) -> bool:
    """False only when `text` lacks every required literal, so the pattern cannot match."""
    if literals is None:
        return True
    for literal in literals:  # a plain loop: cheaper than any() over a generator
        if literal in text:
            return True
    return False
