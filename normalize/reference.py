"""Complaint references in a mail: which existing complaint a message continues.

`mail` asks here for `ticket_ref` (the `[#CMP-2026-000042]` tag in the subject, else one of
OUR outgoing Message-IDs in In-Reply-To/References) and `autoreply` asks whether a mail is
our own outgoing mail coming back. Our Message-IDs look like
`<CMP-2026-000042.<purpose>.<hex>@<domain>>`: the local part starts with the reference.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=16)
def subject_pattern(prefix: str) -> re.Pattern[str]:
    """`[#PREFIX-YYYY-NNNNNN]` anywhere in a subject."""
    return re.compile(rf"\[#({re.escape(prefix)}-\d{{4}}-\d{{6}})\]", re.IGNORECASE)


@lru_cache(maxsize=16)
def message_id_pattern(prefix: str) -> re.Pattern[str]:
    """The local part of our outgoing Message-IDs: `PREFIX-YYYY-NNNNNN.` then more, then @."""
    return re.compile(rf"^({re.escape(prefix)}-\d{{4}}-\d{{6}})\.[^@\s]+@\S+$")


def canonical(reference: str, prefix: str) -> str:
    """The reference with our spelling of the prefix (a client may have changed its case)."""
    return prefix + reference[len(prefix) :]


def ref_in_text(text: str, prefix: str) -> str | None:
    """A complaint reference written in a post, a chat or a form (`CMP-2026-000042`, with or
    without the tag's brackets), with our spelling."""
    match = re.search(
        rf"(?<![\w-])({re.escape(prefix)}-\d{{4}}-\d{{6}})(?![\w-])", text, re.IGNORECASE
    )
    return canonical(match.group(1), prefix) if match else None


def ref_from_subject(subject: str, prefix: str) -> str | None:
    """The first reference tag in the subject, or None."""
    match = subject_pattern(prefix).search(subject)
    return canonical(match.group(1), prefix) if match else None


def ref_from_message_id(message_id: str | None, prefix: str) -> str | None:
    """The reference inside one of our own Message-IDs (no brackets), or None."""
    match = message_id_pattern(prefix).match(message_id or "")
    return match.group(1) if match else None


def find_ticket_ref(
    subject: str, in_reply_to: tuple[str, ...], references: tuple[str, ...], prefix: str
) -> str | None:
    """Subject tag first; then In-Reply-To; then References, newest (last) first (RFC 5322
    §3.6.4 lists the thread oldest first)."""
    found = ref_from_subject(subject, prefix)
    for message_id in (*in_reply_to, *reversed(references)):
        found = found or ref_from_message_id(message_id, prefix)
    return found
