"""Header fields to clean values: the first step after parsing a mail in `mail`.

Values are read raw from the compat32 parser (8-bit bytes surrogate-escaped), unfolded
(RFC 5322 §2.2.3), decoded from raw UTF-8 (RFC 6532) or a legacy charset via `charset`, and
from encoded-words (RFC 2047), joining adjacent words of one charset so that a character split
across two words survives. Message-IDs, dates and addresses are parsed leniently.

A value is cut to `MAX_HEADER_CHARS` of raw text before any of that (a Subject or From is one
line; megabytes of encoded-words are an attack on the CPU), and decoding is linear in what
is left.
"""

from __future__ import annotations

import binascii
import re
import unicodedata
from datetime import datetime, timezone
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from normalize.charset import decode_text

HeaderMap = dict[str, tuple[str, ...]]

# RFC 2047 §2: =?charset?encoding?encoded-text?= (charset may carry an RFC 2231 *language).
ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([bBqQ])\?([^?\s]*)\?=")
FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
SPACES = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
MSG_ID = re.compile(r"<([^<>\s]+)>")
MAX_HEADER_CHARS = 16 * 1024  # raw text decoded of one Subject, From or filename
MAX_WORD_CHARS = 75  # RFC 2047 §2: an encoded-word is at most 75 characters


def index_headers(msg: Message) -> HeaderMap:
    """Every field by lower-case name, values raw as parsed, in order of appearance."""
    fields: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        fields.setdefault(name.strip().lower(), []).append(str(value))
    return {name: tuple(values) for name, values in fields.items()}


def first(headers: HeaderMap, name: str) -> str | None:
    """The first value of a field, or None."""
    values = headers.get(name)
    return values[0] if values else None


def to_text(value: str) -> str:
    """A raw header value as text: surrogate-escaped 8-bit bytes decoded (RFC 6532)."""
    if value.isascii():
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return decode_text(raw)[0]


def decode_word(charset: str, encoding: str, payload: str) -> tuple[str, bytes]:
    """One encoded-word as (charset, bytes); bad Base64 padding is repaired, never fatal."""
    charset = charset.split("*", 1)[0]  # RFC 2231 §5: charset*language
    if encoding in "qQ":
        return charset, binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)
    data = payload.rstrip("=")
    if len(data) % 4 == 1:
        data = data[:-1]  # a lone trailing sextet carries no whole byte
    try:
        return charset, binascii.a2b_base64((data + "=" * (-len(data) % 4)).encode("ascii"))
    except (binascii.Error, UnicodeEncodeError):
        return charset, payload.encode("ascii", "replace")


def join_words(words: list[tuple[str, bytes]]) -> str:
    """Decode a run of adjacent encoded-words, joining the bytes of words of one charset."""
    out: list[str] = []
    i = 0
    while i < len(words):
        charset = words[i][0]
        chunks = [words[i][1]]
        i += 1
        while i < len(words) and words[i][0].lower() == charset.lower():
            chunks.append(words[i][1])
            i += 1
        out.append(decode_text(b"".join(chunks), charset)[0])
    return "".join(out)


def decode_encoded_words(text: str) -> str:
    """Decode RFC 2047 encoded-words; whitespace between two of them is dropped (§6.2)."""
    if "=?" not in text:
        return text
    out: list[str] = []
    run: list[tuple[str, bytes]] = []
    pos = 0
    for match in ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        if gap and not (run and gap.isspace()):
            out.append(join_words(run))
            out.append(gap)
            run = []
        run.append(decode_word(*match.groups()))
        pos = match.end()
    out.append(join_words(run))
    out.append(text[pos:])
    return "".join(out)


def one_line(text: str) -> str:
    """Collapse line breaks, tabs and control characters to single spaces; NFC."""
    return unicodedata.normalize("NFC", SPACES.sub(" ", text).strip())


def cap_raw(value: str, limit: int = MAX_HEADER_CHARS) -> tuple[str, bool]:
    """At most `limit` characters of a raw value, cut at whitespace when one is near the end
    so that no encoded-word is split; True when something was cut."""
    if len(value) <= limit:
        return value, False
    cut = value[:limit]
    space = max(cut.rfind(" "), cut.rfind("\t"), cut.rfind("\n"))
    return (cut[:space] if space >= limit - 2 * MAX_WORD_CHARS else cut), True


def decode_capped_header(value: str | None, name: str) -> tuple[str, tuple[str, ...]]:
    """`decode_header`, and a note naming the field when its raw value was cut."""
    if not value:
        return "", ()
    text, cut = cap_raw(value)
    note = (f"{name} cut to {MAX_HEADER_CHARS} characters before decoding",) if cut else ()
    return decode_header(text), note


def decode_value(value: str) -> str:
    """A header value (or parameter) decoded, of at most `MAX_HEADER_CHARS` raw characters,
    its control characters left for the caller (a filename drops them, `one_line` spaces)."""
    return decode_encoded_words(to_text(FOLD.sub("", cap_raw(value)[0])))


def decode_header(value: str | None) -> str:
    """A header value as one decoded line of NFC text ('' for None)."""
    return one_line(decode_value(value)) if value else ""


def parse_ids(value: str | None) -> tuple[str, ...]:
    """Message-IDs of Message-ID/In-Reply-To/References, without brackets (RFC 5322 §3.6.4)."""
    if not value:
        return ()
    ids = MSG_ID.findall(value)
    if ids:
        return tuple(ids)
    return tuple(token for token in value.split() if "@" in token)


def parse_message_id(value: str | None) -> str | None:
    """The Message-ID without brackets; a bare token when the brackets are missing."""
    ids = parse_ids(value)
    if ids:
        return ids[0]
    token = (value or "").strip()
    return token if token and " " not in token and token.isprintable() else None


def parse_date(value: str | None) -> datetime | None:
    """The Date header as an aware datetime; `-0000` and missing zones are read as UTC."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(one_line(value))
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def parse_address(value: str | None) -> tuple[str | None, str | None]:
    """(display name, address) of the first mailbox in an address header, decoded, NFC."""
    if not value:
        return None, None
    text = to_text(FOLD.sub("", cap_raw(value)[0]))
    try:
        pairs = getaddresses([text])
    except (TypeError, ValueError, IndexError):
        pairs = []
    name, address = next(((n, a) for n, a in pairs if "@" in a), ("", ""))
    if not address:
        name = next((n for n, _ in pairs if n), "")
    name = one_line(decode_encoded_words(name)).strip("\"' ")
    return (name or None), (one_line(address) or None)
