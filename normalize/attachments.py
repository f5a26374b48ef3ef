"""An attachment's filename and content type as every channel hands them on: made safe once.

Whatever a sender wrote (a mail's Content-Disposition, a web form's upload, a Telegram
document) is cleaned here, so the store, the console and the ticket mail we compose never see
a path, a control character (a VT or FS in a name makes composing the ticket mail raise) or a
content type that is not an RFC 2045 `type/subtype`. Before a ticket goes to its unit,
`screen_attachment` compares each file's bytes with its name and declared type and with the
kinds allowed (`[attachments] allowed_types`): what does not fit is withheld, not forwarded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from normalize.sniff import KINDS, executable, extension_of, sniff_kind

MAX_FILENAME_CHARS = 150
MAX_EXTENSION_CHARS = 16  # a longer "extension" is just part of the name
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# RFC 6838 §4.2 restricted-name characters (a subset of RFC 2045 tokens), at most 127 each.
_NAME = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
CONTENT_TYPE = re.compile(f"{_NAME}/{_NAME}")
# Controls (NUL included), lone surrogates, line/paragraph separators, bidi overrides.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _keep(ch: str) -> bool:
    return unicodedata.category(ch) not in _DROPPED_CATEGORIES and ch not in _BIDI_CONTROLS


def cap_filename(name: str, limit: int = MAX_FILENAME_CHARS) -> str:
    """`name` cut to `limit` characters, keeping a short extension (`.pdf`) at the end."""
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and len(ext) <= MAX_EXTENSION_CHARS:
        return stem[: limit - len(ext) - 1].rstrip() + "." + ext
    return name[:limit].rstrip()


def clean_filename(name: object) -> tuple[str | None, tuple[str, ...]]:
    """A bare, printable, NFC filename of at most 150 characters (None when nothing is left),
    and the notes of what was changed."""
    if not isinstance(name, str):
        return None, ()
    text = "".join(ch for ch in name if _keep(ch))
    text = re.split(r"[/\\]", text)[-1]  # basename: no directory, on either convention
    text = unicodedata.normalize("NFC", text).strip().lstrip(".").strip()
    notes: list[str] = []
    if text != unicodedata.normalize("NFC", name.strip()):
        notes.append("attachment filename cleaned (path or control characters removed)")
    if len(text) > MAX_FILENAME_CHARS:
        text = cap_filename(text)
        notes.append(f"attachment filename cut to {MAX_FILENAME_CHARS} characters")
    return text or None, tuple(notes)


def clean_content_type(value: object) -> tuple[str, tuple[str, ...]]:
    """A lower-case `type/subtype` without parameters, else application/octet-stream."""
    text = value.split(";", 1)[0].strip().lower() if isinstance(value, str) else ""
    if CONTENT_TYPE.fullmatch(text):
        return text, ()
    if not text:
        return DEFAULT_CONTENT_TYPE, ()
    return DEFAULT_CONTENT_TYPE, (f"attachment content type invalid, {DEFAULT_CONTENT_TYPE} used",)


def clean_attachment(
    filename: object, content_type: object
) -> tuple[str | None, str, tuple[str, ...]]:
    """(filename, content type, notes): the one place every channel's attachments pass."""
    name, name_notes = clean_filename(filename)
    ctype, type_notes = clean_content_type(content_type)
    return name, ctype, name_notes + type_notes


# --- what goes on to the unit: the bytes, the name and the declared type agree ----------------

# A declared type that says nothing (browsers, mail clients and bots fall back to these).
GENERIC_TYPES = frozenset(
    {
        DEFAULT_CONTENT_TYPE,
        "binary/octet-stream",
        "application/binary",
        "application/unknown",
        "application/x-download",
        "application/download",
        "application/force-download",
    }
)
UNKNOWN = "content of a kind not known here"
OTHER_OLE = "a compound (OLE) file that is no Word, Excel, PowerPoint or Outlook file"


@dataclass(frozen=True)
class Verdict:
    """What becomes of one attachment on its way to the unit: the name and type it goes under
    (`kind`'s), or the `reason` it is withheld (it stays stored for the operators)."""

    filename: str
    content_type: str
    kind: str | None
    reason: str | None = None


@dataclass(frozen=True)
class Withheld:
    """An attachment kept from the unit, as its ticket and the complaint's events list it."""

    filename: str | None
    content_type: str
    size: int
    sha256: str
    reason: str


def _declared_fits(declared: str, kind: str) -> bool:
    if declared in GENERIC_TYPES or declared in KINDS[kind].content_types:
        return True
    return KINDS[kind].text and declared.startswith("text/")  # sent on as the kind's own type


def screen_attachment(
    filename: object, content_type: object, data: bytes, allowed: Collection[str]
) -> Verdict:
    """Whether one attachment may go on to the unit, under which name and type (the name as
    `clean_attachment` left it at intake: it is cleaned once, there).

    Withheld: a program (MZ, ELF, Mach-O, #!), content of no known kind or of a kind not
    `allowed`, a name whose extension is not of the content's kind (`invoice.pdf.exe`), a
    declared type that is neither the kind's nor generic. Forwarded: the name (with
    the kind's extension added when it has none) and the kind's own content type."""
    name = filename if isinstance(filename, str) and filename else None
    declared, _ = clean_content_type(content_type)
    shown = name or "ek"

    def withheld(kind: str | None, reason: str) -> Verdict:
        return Verdict(shown, declared, kind, reason)

    program = executable(data)
    if program:
        return withheld(None, f"an executable: {program}")
    kind = sniff_kind(data, name, declared)
    if kind is None or kind not in KINDS:
        return withheld(None, UNKNOWN if kind is None else OTHER_OLE)
    if kind not in allowed:
        return withheld(kind, f"{kind} files are not allowed ([attachments] allowed_types)")
    extension, own = extension_of(name), KINDS[kind]
    if extension and extension not in own.extensions:
        return withheld(kind, f"named .{extension}, but the content is {kind}")
    if not _declared_fits(declared, kind):
        return withheld(kind, f"declared {declared}, but the content is {kind}")
    if not extension:
        shown = cap_filename(f"{shown}.{own.extensions[0]}")
    return Verdict(shown, own.content_types[0], kind)
