"""Raw bytes to text: the first repair of every header and body part of a mail.

`mime` and `headers` hand over the exact bytes with the charset the sender declared; this
module decides what they really are. Valid UTF-8 wins over any declared legacy charset; a
missing, Western or unknown label is read as windows-1254 when that reads as Turkish
(`turkish.reads_more_turkish`), which is what Turkish mail clients mislabel most.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

from normalize.turkish import reads_more_turkish

TURKISH_CODEC = "cp1254"  # windows-1254: ISO-8859-9 plus punctuation in 0x80-0x9F
FALLBACK_CODEC = "cp1252"
STATEFUL_7BIT = ("iso-2022", "iso2022", "csiso2022", "hz")  # 7-bit, yet not ASCII text

# Labels seen on Turkish mail that was really windows-1254 / ISO-8859-9.
HIGH_BYTES = bytes(range(0x80, 0x100))
WEAK_CODECS = frozenset({"ascii", "iso8859_1", "cp1252", "cp1250", "iso8859_2", "utf_8"})
WEAK_LABELS = frozenset({"", "unknown-8bit", "x-unknown", "unknown", "default", "x-user-defined"})

# Labels Python does not know under that name (RFC 1345 / IANA registry aliases).
LABEL_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-8-i": "iso8859_8",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "x-euc-jp": "euc_jp",
    "x-mac-turkish": "mac_turkish",
    "utf8": "utf_8",
}


def clean_label(label: str | None) -> str:
    """The declared charset as a bare lower-case label ('"UTF-8"' → 'utf-8')."""
    if not label:
        return ""
    return label.strip().strip("\"'").strip().lower()


@lru_cache(maxsize=256)
def find_codec(label: str) -> str | None:
    """Python's codec name for a charset label, or None when unknown or not a text codec."""
    name = LABEL_ALIASES.get(label, label)
    if not name or len(name) > 40:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in ("utf-7", "utf_7"):
        return None  # base64/rot13/zlib are byte codecs; UTF-7 is refused in mail
    return info.name.replace("-", "_")


def decode_text(raw: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """Decode `raw` as text; the second item is a note when a repair was made."""
    label = clean_label(declared)
    if raw.isascii() and not label.startswith(STATEFUL_7BIT):
        return raw.decode("ascii"), None
    if raw.isascii():
        return decode_with(raw, find_codec(label) or "ascii"), None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return decode_mostly_utf8(raw) or decode_legacy(raw, label)
    if label and find_codec(label) != "utf_8":
        return text, f"charset {label} declared, utf-8 found"
    return text, None


def decode_mostly_utf8(raw: bytes) -> tuple[str, str] | None:
    """UTF-8 with a few broken sequences (a cut multi-byte character, a stray byte) is still
    UTF-8: legacy 8-bit text almost never forms valid multi-byte sequences by chance."""
    text = raw.decode("utf-8", "replace")
    high_bytes = len(raw) - len(raw.translate(None, HIGH_BYTES))
    errors = text.count("\ufffd")
    if high_bytes >= 8 and errors * 4 <= high_bytes:
        return text, "invalid utf-8 sequences replaced"
    return None


def decode_legacy(raw: bytes, label: str) -> tuple[str, str | None]:
    """Bytes that are not UTF-8: the declared charset, or windows-1254 if that reads Turkish."""
    codec = find_codec(label)
    weak = codec is None or codec in WEAK_CODECS or label in WEAK_LABELS
    baseline = FALLBACK_CODEC if codec in (None, "ascii") else codec
    declared_text = decode_with(raw, baseline)
    if not weak and "\ufffd" not in declared_text:
        return declared_text, None
    turkish_text = decode_with(raw, TURKISH_CODEC)
    if codec not in (TURKISH_CODEC, "iso8859_9") and reads_more_turkish(
        turkish_text, declared_text
    ):
        return turkish_text, f"charset windows-1254 assumed (declared {label or 'none'})"
    if codec is None:
        return declared_text, f"charset {FALLBACK_CODEC} assumed (declared {label or 'none'})"
    return declared_text, None


def decode_with(raw: bytes, codec: str) -> str:
    """Decode without ever raising: undecodable bytes become U+FFFD."""
    try:
        return raw.decode(codec, "replace")
    except (LookupError, TypeError, ValueError):
        return raw.decode(FALLBACK_CODEC, "replace")
