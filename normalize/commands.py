"""What units and complainants write back: a unit's commands, a complainant's answer.

A unit acts by replying to its ticket mail. Each command stands on its own line, starting with
`#` and a word (`#eta 2026-12-10`, `#reply ...`); the rest of the mail is an internal note. A
command that is unknown or malformed becomes a `Problem`, so the unit can be answered with
`usage()` rather than ignored. A complainant answers our decision with one word on the first
line (`KABUL`, `RET`, ...) and the survey with one digit; anything else is a follow-up.

Keywords are matched with every I folded to `i` (İ, I, ı, i alike), so a Turkish keyboard's
`#REASSİGN` and an English `HAYIR` both read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from normalize.reference import canonical

COMMANDS = ("eta", "status", "reply", "resolved", "reassign", "merge", "note")
TEXT_COMMANDS = frozenset({"reply", "resolved", "note"})

STATUS_WORDS = {
    "investigating": "investigating",
    "inceleniyor": "investigating",
    "waiting": "waiting",
    "waiting_on_complainant": "waiting",
    "bekleniyor": "waiting",
    "bekliyor": "waiting",
}

_COMMAND_LINE = re.compile(r"^\s*#([^\W\d_]\w*)(.*)$")
_DATE = r"(?:(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})|(?P<d2>\d{1,2})\.(?P<m2>\d{1,2})\.(?P<y2>\d{4}))"
_ETA = re.compile(rf"{_DATE}(?:\s+(?P<hh>\d{{1,2}}):(?P<mm>\d{{2}}))?")
_UNIT_CODE = re.compile(r"[a-z0-9_]+")
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060\ufeff]")
_SCORE = re.compile(r"([1-5])(?:\s*/\s*5|\.)?")


@dataclass(frozen=True)
class Command:
    """One command of a unit: `text` is its argument as written (or its whole text)."""

    name: str
    text: str
    line: int
    eta: datetime | None = None
    status: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class Problem:
    """A command line that could not be read: where, what was written, and why not."""

    line: int
    given: str
    reason: str


@dataclass(frozen=True)
class UnitMail:
    """A unit's mail, read: its commands in order, its problems, and the note left over."""

    commands: tuple[Command, ...]
    problems: tuple[Problem, ...]
    note: str


class Answer(StrEnum):
    """A complainant's answer to our decision."""

    ACCEPT = "accept"
    REJECT = "reject"


def fold(text: str) -> str:
    """Lower case with every I alike (İ, I, ı → i): how keywords are compared."""
    return text.replace("İ", "i").replace("I", "i").replace("ı", "i").lower()


def _lines(body: str) -> list[str]:
    return body.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def command_word(line: str) -> tuple[str, str] | None:
    """(the word after `#`, the rest of the line) when `line` is a command line."""
    match = _COMMAND_LINE.match(line)
    if match is None:
        return None
    return fold(match.group(1)), match.group(2).strip().removeprefix(":").strip()


def _text_end(lines: list[str], start: int) -> int:
    """The index of the blank line or command line that ends a text begun above `start`."""
    end = start
    while end < len(lines) and lines[end].strip() and command_word(lines[end]) is None:
        end += 1
    return end


# --- one command's argument -----------------------------------------------------------------


def read_eta(given: str, timezone: str, closes: time) -> datetime | str:
    """The aware datetime `given` names (a bare date: `closes` that day), else the reason."""
    match = _ETA.fullmatch(given)
    if match is None:
        return "expected YYYY-MM-DD [HH:MM] or DD.MM.YYYY [HH:MM]"
    zone = ZoneInfo(timezone)
    year, month, day = (int(match[part] or match[part + "2"]) for part in "ymd")
    try:
        at = time(int(match["hh"]), int(match["mm"])) if match["hh"] else closes
    except ValueError:
        return "invalid time"
    try:
        return datetime(year, month, day, at.hour, at.minute, tzinfo=zone)
    except ValueError:
        return "invalid date"


def read_status(given: str) -> str | None:
    """`investigating` or `waiting`, from English or Turkish; None for anything else."""
    return STATUS_WORDS.get(fold(given))


def read_unit_code(given: str) -> str | None:
    code = fold(given)
    return code if _UNIT_CODE.fullmatch(code) else None


@lru_cache(maxsize=16)
def _merge_pattern(prefix: str) -> re.Pattern[str]:
    reference = rf"{re.escape(prefix)}-\d{{4}}-\d{{6}}"
    return re.compile(rf"\[#({reference})\]|#?({reference})", re.IGNORECASE)


def read_reference(given: str, prefix: str) -> str | None:
    """The canonical reference `given` names (`CMP-…`, `#CMP-…` or `[#CMP-…]`), else None."""
    match = _merge_pattern(prefix).fullmatch(given.replace("ı", "i").replace("İ", "I"))
    if match is None:
        return None
    return canonical(match.group(1) or match.group(2), prefix)


def read_command(
    name: str, given: str, line: int, prefix: str, timezone: str, closes: time
) -> Command | str:
    """The command `#name given` on `line`, or the reason it cannot be read."""
    if name in TEXT_COMMANDS:
        return Command(name, given, line) if given else "missing text"
    if name == "eta":
        eta = read_eta(given, timezone, closes)
        return Command(name, given, line, eta=eta) if isinstance(eta, datetime) else eta
    if name == "status":
        status = read_status(given)
        return (
            Command(name, given, line, status=status)
            if status
            else "expected investigating or waiting"
        )
    if name == "reassign":
        code = read_unit_code(given)
        return Command(name, given, line, target=code) if code else "expected one unit code"
    if name == "merge":
        ref = read_reference(given, prefix)
        return (
            Command(name, given, line, target=ref)
            if ref
            else f"expected a reference like {prefix}-2026-000012"
        )
    return "unknown command"


# --- a unit's mail --------------------------------------------------------------------------


def tidy(lines: list[str]) -> str:
    """Lines without trailing spaces, runs of blank lines made one, blank edges dropped."""
    kept: list[str] = []
    for line in (line.rstrip() for line in lines):
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()


def parse_unit_mail(
    body: str,
    *,
    prefix: str = "CMP",
    timezone: str = "Europe/Istanbul",
    closes: time = time(17, 30),
) -> UnitMail:
    """The commands, problems and note of a unit's reply to its ticket (see the module)."""
    lines = _lines(body)
    commands: list[Command] = []
    problems: list[Problem] = []
    note: list[str] = []
    i = 0
    while i < len(lines):
        found = command_word(lines[i])
        if found is None:
            note.append(lines[i])
            i += 1
            continue
        name, given = found
        end = _text_end(lines, i + 1) if name in TEXT_COMMANDS else i + 1
        if name in TEXT_COMMANDS:
            given = tidy([given, *lines[i + 1 : end]])
        read = read_command(name, given, i + 1, prefix, timezone, closes)
        if isinstance(read, Command):
            commands.append(read)
        else:
            problems.append(Problem(i + 1, lines[i].strip(), read))
        i = end
    return UnitMail(tuple(commands), tuple(problems), tidy(note))


def usage(*, prefix: str = "CMP") -> str:
    """The valid commands, in Turkish and English, for a unit that wrote a wrong one."""
    return "\n".join(
        (
            "Komutlar, her biri kendi satırında / Commands, each on its own line:",
            "#eta 2026-12-10 [15:00]   tahmini çözüm zamanı / estimated resolution time"
            " (10.12.2026 [15:00] de olur / also works)",
            "#status inceleniyor | bekleniyor   durum / status: investigating | waiting",
            "#reply <metin>   şikâyetçiye yanıt / a reply to the complainant",
            "#resolved <metin>   karar; şikâyet çözüldü / the decision; resolved",
            "#reassign <birim kodu>   başka birime aktar / hand over to another unit (unit code)",
            f"#merge {prefix}-2026-000012   bu şikâyetin mükerrer olduğu kayıt / duplicate of",
            "#note <metin>   iç not, şikâyetçiye gitmez / an internal note, not sent",
            "Metin, boş satıra ya da sonraki komuta kadar sürer; komut olmayan satırlar iç nottur."
            " / A text runs to a blank line or the next command; other lines are an internal note.",
        )
    )


# --- a complainant's answer -----------------------------------------------------------------

_ANSWERS = {
    **dict.fromkeys(
        ("kabul", "evet", "accept", "accepted", "yes", "kabul ediyorum", "i accept"), Answer.ACCEPT
    ),
    **dict.fromkeys(
        ("ret", "red", "hayir", "reject", "rejected", "no", "reddediyorum", "ret ediyorum",
         "i reject"),
        Answer.REJECT,
    ),
}  # fmt: skip


def _visible_lines(text: str) -> list[str]:
    """The complainant's own lines: no quoted ones, no invisible characters, none blank."""
    lines = (_INVISIBLE.sub("", line).strip() for line in _lines(text))
    return [line for line in lines if line and not line.startswith(">")]


def decision_answer(text: str) -> Answer | None:
    """ACCEPT or REJECT when the first line is just that answer; None for anything else."""
    lines = _visible_lines(text)
    if not lines:
        return None
    words = " ".join(_EDGE_PUNCTUATION.sub("", fold(lines[0])).split())
    return _ANSWERS.get(words)


def survey_score(text: str) -> int | None:
    """1–5 when the whole text is that digit (`4`, `4.`, `4/5`); None otherwise."""
    match = _SCORE.fullmatch("\n".join(_visible_lines(text)))
    return int(match.group(1)) if match else None
