"""Whether our own mail server vouched for the From: RFC 8601 Authentication-Results.

Anyone upstream can add an Authentication-Results header, so only those stamped with the
authserv-id of the server we trust (named in the settings) count. That server vouches for the
From domain with `dmarc=pass`, or with `dkim=pass` by a signing domain aligned with it (the
same domain or a parent of it). Parsing is forgiving the way a reader must be: comments
(nested), quoted strings, folded whitespace, any case. A value it cannot read is simply not a
pass; nothing here raises.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Token:
    """A word of the header (with its `=` signs), a quoted string, or the `;` separator."""

    text: str
    quoted: bool = False

    @property
    def is_separator(self) -> bool:
        return not self.quoted and self.text == ";"


@dataclass(frozen=True)
class Result:
    """One `method=result` with its properties (`header.d`, `header.from`, `reason`, ...)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


class Malformed(ValueError):
    """The header value does not follow RFC 8601 closely enough to be read."""


_SPECIALS = frozenset(';()"')


def _skip_comment(value: str, i: int) -> int:
    """The index just past the comment opening at `value[i]` (nested, with quoted-pairs)."""
    depth = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            i += 2
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        i += 1
        if depth == 0:
            return i
    raise Malformed("unterminated comment")


def _quoted(value: str, i: int) -> tuple[str, int]:
    """The content of the quoted string opening at `value[i]`, and the index past it."""
    text: list[str] = []
    i += 1
    while i < len(value):
        char = value[i]
        if char == '"':
            return "".join(text), i + 1
        if char == "\\" and i + 1 < len(value):
            i += 1
            char = value[i]
        text.append(char)
        i += 1
    raise Malformed("unterminated quoted string")


def tokens(value: str) -> Iterator[Token]:
    """The header value as tokens; whitespace and comments only separate them."""
    i = 0
    while i < len(value):
        char = value[i]
        if char.isspace():
            i += 1
        elif char == "(":
            i = _skip_comment(value, i)
        elif char == ")":
            raise Malformed("unbalanced ')'")
        elif char == '"':
            text, i = _quoted(value, i)
            yield Token(text, quoted=True)
        elif char == ";":
            i += 1
            yield Token(";")
        else:
            start = i
            while i < len(value) and not value[i].isspace() and value[i] not in _SPECIALS:
                i += 1
            yield Token(value[start:i])


def segments(value: str) -> list[list[Token]]:
    """The tokens between the `;` separators: the authserv-id first, then one per result."""
    found: list[list[Token]] = [[]]
    for token in tokens(value):
        if token.is_separator:
            found.append([])
        else:
            found[-1].append(token)
    return found


def _pairs(segment: list[Token]) -> list[tuple[str, str]]:
    """`key=value` pairs of one result, spaces around `=` allowed; the value may be quoted."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(segment):
        token = segment[i]
        i += 1
        key, equals, value = token.text.partition("=")
        if token.quoted or not key:
            raise Malformed(f"{token.text!r} where a name belongs")
        if not equals:
            if i == len(segment) or segment[i].quoted or not segment[i].text.startswith("="):
                raise Malformed(f"{key!r} has no value")
            value, i = segment[i].text[1:], i + 1
        if not value:
            if i == len(segment):
                raise Malformed(f"{key!r} has no value")
            value, i = segment[i].text, i + 1
        pairs.append((key.lower(), value))
    return pairs


def parse_result(segment: list[Token]) -> Result:
    """One resinfo: `method[/version]=result` then its properties (the first of each wins)."""
    pairs = _pairs(segment)
    if not pairs:
        raise Malformed("an empty result")
    (method, result), rest = pairs[0], pairs[1:]
    properties: dict[str, str] = {}
    for key, value in rest:
        properties.setdefault(key, value)
    return Result(method.partition("/")[0].strip(), result.lower(), properties)


def authserv_id_of(segment: list[Token]) -> str:
    """The authserv-id (an optional version number may follow it)."""
    if len(segment) == 2 and not segment[1].quoted and segment[1].text.isdigit():
        segment = segment[:1]
    if len(segment) != 1 or (not segment[0].quoted and "=" in segment[0].text):
        raise Malformed("no authserv-id")
    return segment[0].text


def _readable(segment: list[Token]) -> Result | None:
    try:
        return parse_result(segment)
    except Malformed:
        return None


def parse(value: str) -> tuple[str, list[Result]]:
    """(authserv-id, the results it could read) of one header value; `none` gives none."""
    first, *rest = segments(value)
    server = authserv_id_of(first)
    if [[token.text.lower() for token in segment] for segment in rest] == [["none"]]:
        return server, []
    return server, [result for result in map(_readable, rest) if result is not None]


def domain(value: str) -> str:
    """A domain in one spelling: lower case, no trailing dot, A-labels for IDNs."""
    name = value.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def aligned(signer: str, from_domain: str) -> bool:
    """Relaxed alignment: the signing domain is the From domain or a parent of it."""
    signer, from_domain = domain(signer), domain(from_domain)
    if "." not in signer:
        return False
    return from_domain == signer or from_domain.endswith("." + signer)


def vouches(result: Result, from_domain: str) -> bool:
    """True for a DMARC pass for this From, or a DKIM pass by an aligned signer."""
    if result.result != "pass":
        return False
    if result.method == "dmarc":
        named = result.properties.get("header.from")
        return named is None or domain(named) == domain(from_domain)
    if result.method == "dkim":
        signer = result.properties.get("header.d")
        if signer is None:
            signer = result.properties.get("header.i", "").rpartition("@")[2]
        return bool(signer) and aligned(signer, from_domain)
    return False


def _trusted_results(value: str, authserv_id: str) -> list[Result]:
    try:
        server, results = parse(value)
    except Malformed:
        return []
    return results if server.lower() == authserv_id.strip().lower() else []


def sender_authenticated(results: Sequence[str], authserv_id: str, from_domain: str) -> bool:
    """Whether a header of our server `authserv_id` vouches for `from_domain` (see above)."""
    if not authserv_id.strip() or not domain(from_domain):
        return False
    return any(
        vouches(result, from_domain)
        for value in results
        for result in _trusted_results(value, authserv_id)
    )
