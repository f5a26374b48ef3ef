"""Who complained: name and address from the headers, a phone number from the text.

`mail` calls `build_complainant` with the decoded From and the visible reply and
signature. A Turkish number (`0 5xx xxx xx xx`, `+90 …`, `(0312) …`) is taken when there is
one, written in E.164 (`+905321234567`); anything less certain is left None.
"""

from __future__ import annotations

import re

from intake.schema import Complainant
from normalize.headers import HeaderMap, first, parse_address

PHONE_WINDOW = 1500
TURKISH_PHONE = re.compile(
    r"(?<![\d+])(?:\+\s?90|0090|\(?0)[\s.\-/]*\(?([2-58]\d{2})\)?[\s.\-/]*"
    r"(\d{3})[\s.\-/]*(\d{2})[\s.\-/]*(\d{2})(?!\d)"
)


def is_likely_phone(match: re.Match[str]) -> bool:
    """Run-together digits are only trusted for mobiles (05xx…): `04336160264` is more
    often a tax or registry number than a landline."""
    area = match.group(1)
    return area.startswith("5") or not match.group().lstrip("+(").isdigit()


def find_phone(*texts: str) -> str | None:
    """The first Turkish phone number in the texts, in E.164 form."""
    for text in texts:
        for match in TURKISH_PHONE.finditer(text):
            if is_likely_phone(match):
                return "+90" + "".join(match.groups())
    return None


def phone_windows(text: str) -> tuple[str, ...]:
    """Where a number is worth looking for: the end of a long body (a signature without
    the `-- ` separator), then its start."""
    if len(text) <= 2 * PHONE_WINDOW:
        return (text,)
    return text[-PHONE_WINDOW:], text[:PHONE_WINDOW]


def build_complainant(headers: HeaderMap, *texts: str) -> Complainant:
    """The From: the sender's own address. Never Reply-To, which the sender chooses freely:
    our answers to it would make the desk a reflector of mail to anyone."""
    name, address = parse_address(first(headers, "from"))
    windows = [window for text in texts for window in phone_windows(text)]
    return Complainant(name=name, email=address, phone=find_phone(*windows), handle=None)
