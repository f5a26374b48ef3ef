"""Normalise: pure functions from what a channel received to the one complaint schema.

`normalize_email` turns the raw bytes of a mail into a `Normalized` (the `Complaint`
plus attachment bytes, thread ids and the notes of every repair made); see `mail`.
"""

from normalize.mail import normalize_email
from normalize.records import EmailLimits, Normalized, RefusedAttachment

__all__ = ["EmailLimits", "Normalized", "RefusedAttachment", "normalize_email"]
