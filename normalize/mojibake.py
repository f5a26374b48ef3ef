"""Repair Turkish text that arrived already garbled, after `charset` decoded the bytes.

Upstream systems decode with the wrong table and re-encode, so the damage is in the text:
UTF-8 read as windows-1254/1252 (`Ã§`, `Ä±`, `ÅŸ`), windows-1254 read as Latin-1 (`þ ý ð`)
or as windows-1250 (`đ ţ`), and `Ő/ő` standing for `Ş/ş` (the desk's own documents). Each
repair is kept only when the result reads more Turkish (`turkish.reads_more_turkish`).
"""

from __future__ import annotations

import re

from normalize.turkish import reads_more_turkish

_LEGACY_CODECS = ("cp1254", "cp1252", "latin-1")

# Single letters that windows-1254 text turns into under Latin-1, windows-1250 and the ő font.
LETTER_SWAPS = str.maketrans(
    {
        "þ": "ş", "Þ": "Ş", "ý": "ı", "Ý": "İ", "ð": "ğ", "Ð": "Ğ",  # read as Latin-1
        "đ": "ğ", "Đ": "Ğ", "ţ": "ş", "Ţ": "Ş",  # read as windows-1250
        "ő": "ş", "Ő": "Ş",  # the Ő-for-Ş substitution of the desk's documents
    }
)  # fmt: skip
_SWAP_SUSPECTS = frozenset("þÞýÝðÐđĐţŢőŐ")
# Every UTF-8 lead byte of Latin text (C2-C5) read as windows-125x/Latin-1: Â Ã Ä Å.
GARBLE_HINT = re.compile("[ÂÃÄÅ]")


def build_byte_table() -> dict[str, int]:
    """Each character a legacy codec produces for a byte ≥ 0x80, mapped back to that byte."""
    table: dict[str, int] = {}
    for byte in range(0x80, 0x100):
        for codec in _LEGACY_CODECS:
            try:
                table.setdefault(bytes([byte]).decode(codec), byte)
            except UnicodeDecodeError:
                continue
    return table


BYTE_OF = build_byte_table()


def build_utf8_pattern() -> re.Pattern[str]:
    """Runs of characters that re-encode to well-formed UTF-8 sequences (RFC 3629 §4)."""

    def char_class(low: int, high: int) -> str:
        chars = "".join(ch for ch, byte in BYTE_OF.items() if low <= byte <= high)
        return "[" + re.escape(chars) + "]"

    lead2, lead3, lead4 = char_class(0xC2, 0xDF), char_class(0xE0, 0xEF), char_class(0xF0, 0xF4)
    cont = char_class(0x80, 0xBF)
    return re.compile(f"(?:{lead2}{cont}|{lead3}{cont}{{2}}|{lead4}{cont}{{3}})+")


UTF8_AS_LEGACY = build_utf8_pattern()


def is_plausible(decoded: str) -> bool:
    """Latin letters and common punctuation only: `İ’` must not become an Arabic letter."""
    return all("\u00a0" <= ch <= "\u024f" or "\u2010" <= ch <= "\u2122" for ch in decoded)


def undo_utf8_as_legacy(text: str) -> str:
    """Re-encode each garbled run with the legacy table and decode it as the UTF-8 it was."""

    def repair(match: re.Match[str]) -> str:
        run = match.group()
        try:
            decoded = bytes(BYTE_OF[ch] for ch in run).decode("utf-8")
        except UnicodeDecodeError:
            return run
        return decoded if is_plausible(decoded) else run

    # windows-1254 has no character for 0x9E, so `Ş`/`Ğ` (C5 9E / C4 9E) often arrive as
    # `Å`/`Ä` + U+FFFD; those two are by far the likeliest readings in Turkish text.
    text = text.replace("Å\ufffd", "Å\x9e").replace("Ä\ufffd", "Ä\x9e")
    return UTF8_AS_LEGACY.sub(repair, text)


def repair_mojibake(text: str) -> tuple[str, tuple[str, ...]]:
    """The repaired text and a note per repair made; the input when nothing reads better."""
    if text.isascii():
        return text, ()
    notes: list[str] = []
    candidate = undo_utf8_as_legacy(text) if GARBLE_HINT.search(text) else text
    if candidate != text and reads_more_turkish(candidate, text):
        text = candidate
        notes.append("mojibake repaired: utf-8 read as windows-1254/1252")
    if not _SWAP_SUSPECTS.isdisjoint(text):
        candidate = text.translate(LETTER_SWAPS)
        if reads_more_turkish(candidate, text):
            text = candidate
            notes.append("mojibake repaired: windows-1254 read as latin-1/windows-1250")
    return text, tuple(notes)
