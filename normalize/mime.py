"""Walk the MIME tree of a parsed mail into text segments and attachments.

`mail` parses the bytes (compat32) and calls `collect_parts`; this module decodes each leaf
(Content-Transfer-Encoding via the stdlib, charset via `charset`, format=flowed via
`flowed`), picks one of each multipart/alternative (RFC 2046 §5.1.4) and renders enclosed
message/rfc822 parts as forwarded segments. `body` turns the segments into the body text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from normalize.charset import decode_text
from normalize.flowed import unflow
from normalize.headers import decode_header, decode_value, first, index_headers, to_text

MAX_DEPTH = 25  # deeper nesting is hostile or broken; its parts are skipped
FORWARDED_TYPES = frozenset({"message/rfc822", "message/global", "message/news"})
BODY_TYPES = frozenset({"text/plain", "text/html"})
FORWARD_HEADER = "---------- Forwarded message ---------"
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_ENTITY = re.compile(r"&#?\w{1,10};")
RAW_NAME_PARAM = re.compile(r'(?:file)?name\s*=\s*("[^"]*"|[^;\s]+)', re.IGNORECASE)
# Some clients label HTML as text/plain; such a part is converted like text/html.
HTML_IN_PLAIN = re.compile(r"\s*<(?:!doctype|html|body|div|table|p)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Segment:
    """A piece of body text: `kind` is plain or html; `forwarded` text is kept verbatim."""

    kind: str
    text: str
    forwarded: bool = False


@dataclass(frozen=True)
class RawAttachment:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Parts:
    segments: list[Segment] = field(default_factory=list)
    attachments: list[RawAttachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, other: Parts) -> None:
        self.segments += other.segments
        self.attachments += other.attachments
        self.notes += other.notes


def payload_bytes(part: Message) -> bytes:
    """The decoded payload of a leaf (base64/QP/uuencode); the raw bytes if decoding fails."""
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError, UnicodeError):
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def raw_filename(part: Message) -> str | None:
    """A filename given in raw 8-bit bytes (no RFC 2231/2047), which compat32 would turn
    into U+FFFD: read from the raw header and decoded like any 8-bit header (RFC 6532)."""
    for name, value in part.raw_items():
        if name.lower() in ("content-disposition", "content-type") and not value.isascii():
            match = RAW_NAME_PARAM.search(to_text(value))
            if match:
                return decode_value(match.group(1).strip('"')).strip() or None
    return None


def part_filename(part: Message) -> str | None:
    """The filename, decoded from RFC 2231 (by the stdlib) and RFC 2047 (by `headers`); made
    safe by `attachments.clean_filename` when the attachment is admitted."""
    found = raw_filename(part)
    if found:
        return found
    try:
        name = part.get_filename() or part.get_param("name")
    except (ValueError, TypeError, LookupError, UnicodeError, IndexError):
        return None
    if isinstance(name, tuple):  # an RFC 2231 triple the stdlib could not collapse
        name = name[2]
    if not name:
        return None
    return decode_value(str(name)).strip() or None


def part_text(part: Message, max_chars: int) -> tuple[str, str | None]:
    """A text leaf as str with LF line ends, format=flowed unwrapped (RFC 3676)."""
    data = payload_bytes(part)[: 4 * max_chars]
    text, note = decode_text(data, safe_charset(part))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if (
        part.get_content_subtype() == "plain"
        and str(part.get_param("format", "")).lower() == "flowed"
    ):
        text = unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
    return text, note


def safe_charset(part: Message) -> str | None:
    """The declared charset, or None when the parameter itself is unreadable."""
    try:
        return part.get_content_charset()
    except (ValueError, TypeError, LookupError, UnicodeError):
        return None


def collect_parts(part: Message, max_chars: int, depth: int = 0, in_report: bool = False) -> Parts:
    """Segments and attachments of `part` and everything under it, in document order."""
    parts = Parts()
    if depth > MAX_DEPTH:
        parts.notes.append("mime nesting too deep, inner parts skipped")
        return parts
    ctype = part.get_content_type()
    children = part.get_payload() if part.is_multipart() else None
    if ctype.startswith("message/") and in_report:
        return parts  # RFC 6522: the returned message of a report is not the report's text
    if ctype in FORWARDED_TYPES and isinstance(children, list):
        return collect_forwarded(children, max_chars, depth)
    if isinstance(children, list):
        if ctype == "multipart/alternative":
            return choose_alternative(children, max_chars, depth)
        report = in_report or ctype == "multipart/report"
        for child in children:
            if isinstance(child, Message):
                parts.extend(collect_parts(child, max_chars, depth + 1, report))
        return parts
    collect_leaf(part, ctype, max_chars, parts)
    return parts


def collect_leaf(part: Message, ctype: str, max_chars: int, parts: Parts) -> None:
    """A body text, an attachment, or nothing (delivery-status, rfc822-headers, …)."""
    disposition = part.get_content_disposition()
    filename = part_filename(part)
    if ctype in BODY_TYPES and disposition != "attachment":
        text, note = part_text(part, max_chars)
        kind = "html" if HTML_IN_PLAIN.match(text) and "</" in text else part.get_content_subtype()
        parts.segments.append(Segment(kind, text))
        parts.notes += [note] if note else []
    elif disposition == "attachment" or filename or not is_textual(part):
        parts.attachments.append(RawAttachment(filename, ctype, payload_bytes(part)))


def is_textual(part: Message) -> bool:
    """Text or structure, not content: an unnamed inline text/calendar is no attachment."""
    return part.get_content_maintype() in ("text", "message", "multipart")


def collect_forwarded(children: list, max_chars: int, depth: int) -> Parts:
    """An enclosed message: its main headers as a forward block, then its own content."""
    parts = Parts()
    for inner in (c for c in children if isinstance(c, Message)):
        lines = [FORWARD_HEADER]
        headers = index_headers(inner)
        for name in ("From", "Date", "Subject", "To"):
            value = decode_header(first(headers, name.lower()))
            lines += [f"{name}: {value}"] if value else []
        inner_parts = collect_parts(inner, max_chars, depth + 1)
        parts.segments.append(Segment("plain", "\n".join(lines) + "\n", forwarded=True))
        parts.segments += [Segment(s.kind, s.text, forwarded=True) for s in inner_parts.segments]
        parts.attachments += inner_parts.attachments
        parts.notes += inner_parts.notes
    return parts


def estimate_chars(segment: Segment) -> int:
    """Visible characters, roughly: HTML tags stripped by a regex (no parse, it's cheap)."""
    if segment.kind == "html":
        return len("".join(_ENTITY.sub("x", _TAGS.sub(" ", segment.text)).split()))
    return len("".join(segment.text.split()))


def choose_alternative(children: list, max_chars: int, depth: int) -> Parts:
    """The richest alternative's text; plain text wins unless HTML holds clearly more.

    Attachments (inline images of the HTML branch) are kept from every alternative.
    """
    options = [collect_parts(c, max_chars, depth + 1) for c in children if isinstance(c, Message)]
    chosen = Parts()
    best, best_score = None, -1
    for option in options:
        chars = sum(estimate_chars(s) for s in option.segments)
        has_html = any(s.kind == "html" for s in option.segments)
        score = chars * 10 // 13 if has_html else chars  # HTML must beat plain by ~30 %
        if option.segments and score > best_score:
            best, best_score = option, score
    for option in options:
        chosen.attachments += option.attachments
        chosen.notes += option.notes if option is best else []
    chosen.segments = list(best.segments) if best else []
    return chosen
