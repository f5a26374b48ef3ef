"""Text segments to the complaint body: HTML converted, replies stripped, text repaired.

`mail` hands over the segments `mime` collected; each is converted (`html`), stripped of
reply noise unless it is forwarded content (`reply`), then the whole is repaired
(`mojibake`), cleaned of control characters, NFC-normalised and bounded in size.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from normalize.html import html_to_text
from normalize.mime import Segment
from normalize.mojibake import repair_mojibake
from normalize.reply import split_reply

# Fw:, Fwd:, İLT: (Turkish Outlook), TR: (French), WG: (German), RV: (Spanish), VS: (Finnish)
FORWARD_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|ynt|sv)\s*:\s*)*(?:fw|fwd|ilt|İlt|tr|wg|rv|vs)\s*:", re.I
)
MAX_HTML_CHARS = 1_000_000  # html.parser + bs4 take ~1 s per MB: beyond this the HTML is cut
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Body:
    text: str
    signature: str
    notes: tuple[str, ...]


def is_forward_subject(subject: str) -> bool:
    """The subject marks a forward, so an Outlook header block starts forwarded content."""
    return bool(FORWARD_SUBJECT.match(subject))


def segment_text(segment: Segment, forwarded_subject: bool) -> tuple[str, str]:
    """(visible text, signature) of one segment."""
    text = html_to_text(segment.text[:MAX_HTML_CHARS]) if segment.kind == "html" else segment.text
    if segment.forwarded:
        return text.strip("\n"), ""
    return split_reply(text, forwarded_subject)


def bound_text(text: str, max_chars: int) -> tuple[str, tuple[str, ...]]:
    """At most `max_chars` characters, with a note when cut."""
    if len(text) <= max_chars:
        return text, ()
    return text[:max_chars], (f"body truncated at {max_chars} characters",)


def assemble_body(segments: list[Segment], subject: str, max_chars: int) -> Body:
    """The body text of the complaint from the collected segments."""
    forwarded_subject = is_forward_subject(subject)
    texts, signatures = [], []
    cut_html = any(s.kind == "html" and len(s.text) > MAX_HTML_CHARS for s in segments)
    html_notes = (f"html truncated at {MAX_HTML_CHARS} characters",) if cut_html else ()
    for segment in segments:
        text, signature = segment_text(segment, forwarded_subject)
        texts += [text] if text.strip() else []
        signatures += [signature] if signature else []
    text, notes = repair_mojibake("\n\n".join(texts))
    text = unicodedata.normalize("NFC", CONTROL_CHARS.sub("", text)).strip()
    text, cut = bound_text(text, max_chars)
    return Body(text, "\n".join(signatures), html_notes + notes + cut)
