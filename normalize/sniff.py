"""Is this an e-mail at all? The cheap check at the door of `normalize_email`.

Empty input, binary data (an Outlook .msg, random bytes), a JSON document or text without an
RFC 5322 header block raise `NotAnEmail`; anything with a header block that names at least
one well-known field goes on to be parsed, however broken its MIME is.
"""

from __future__ import annotations

import re

from intake.errors import NotAnEmail

KNOWN_FIELDS = frozenset(
    b"from sender to cc bcc subject date message-id received return-path mime-version "
    b"content-type reply-to delivered-to in-reply-to references x-mailer user-agent "
    b"x-original-to envelope-to delivery-date auto-submitted content-transfer-encoding "
    b"list-id thread-topic x-sender".split()
)
# RFC 5322 §2.2: a field name is printable US-ASCII except the colon.
FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")
LINE_END = re.compile(rb"\r\n|\r|\n")
BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))[ \t]*(?:\r\n|\n|\r(?!\n))")
LEADING_BLANK_LINES = re.compile(rb"(?:[ \t]*(?:\r\n|\r|\n))+")
SNIFF_BYTES = 256 * 1024


def header_lines(payload: bytes) -> list[bytes]:
    """The lines of the header block: up to the first empty line (RFC 5322 §2.1)."""
    head = payload[:SNIFF_BYTES]
    end = BLANK_LINE.search(head)
    lines = LINE_END.split(head[: end.start()] if end else head)
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]  # an mbox separator line ("From sender date")
    return lines


def check_email(payload: bytes) -> bytes:
    """The payload to parse (leading blank lines dropped); `NotAnEmail` if it is none."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise NotAnEmail(f"expected bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    leading = LEADING_BLANK_LINES.match(payload)
    payload = payload[leading.end() :] if leading else payload  # seen in the wild
    if not payload.strip():
        raise NotAnEmail("empty payload")
    if payload[:1] in (b"{", b"["):
        raise NotAnEmail("a JSON document, not an e-mail")
    lines = header_lines(payload)
    if any(b"\x00" in line for line in lines):
        raise NotAnEmail("binary data, not an e-mail")
    for line in lines:
        match = FIELD.match(line)
        if match and match.group(1).lower() in KNOWN_FIELDS:
            return payload
        if not match and line[:1] not in (b" ", b"\t"):
            break
    raise NotAnEmail("no RFC 5322 header block")
