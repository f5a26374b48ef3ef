"""Who may speak for a complaint: its complainant, its unit, or no one else.

A message about a known complaint continues it only when it comes from that complaint's
complainant (the same address, the same chat, the same X account) or, as commands, from an
address of the unit that holds it (`email` and `members`). Where `[trust]` asks for it, a
From counts only when our own server's Authentication-Results vouch for it. Anyone else who
names a reference writes a new complaint that mentions the old one.
"""

from __future__ import annotations

from enum import StrEnum

from intake.settings import Settings, UnitSettings
from normalize.records import Normalized
from outbound.budget import normal_address
from store.models import ComplaintRow

EMAIL_CHANNELS = ("email", "email_ssl")


class Speaker(StrEnum):
    COMPLAINANT = "complainant"
    UNIT = "unit"
    STRANGER = "stranger"


def speaker_of(complaint: ComplaintRow, message: Normalized, settings: Settings) -> Speaker:
    """Who `message` is, to `complaint`."""
    incoming = message.complaint
    if incoming.channel in EMAIL_CHANNELS:
        address = incoming.complainant.email
        if not address or not _trusted(message, settings):
            return Speaker.STRANGER
        if _unit_of(complaint, settings).speaks_for(address):
            return Speaker.UNIT
        same = bool(complaint.complainant_email) and normal_address(address) == normal_address(
            complaint.complainant_email or ""
        )
        return Speaker.COMPLAINANT if same else Speaker.STRANGER
    if incoming.channel != complaint.channel:
        return Speaker.STRANGER
    if incoming.channel == "telegram":
        same = message.thread_key is not None and message.thread_key == complaint.thread_key
        return Speaker.COMPLAINANT if same else Speaker.STRANGER
    if incoming.channel == "twitter":  # the account, by id: a handle can change hands
        account = x_account(message.thread_key)
        same = account is not None and account == x_account(complaint.thread_key)
        return Speaker.COMPLAINANT if same else Speaker.STRANGER
    # The web form and desk entries say who they are; nothing proves it: a new complaint.
    return Speaker.STRANGER


def x_account(thread_key: str | None) -> str | None:
    """The X account id in a conversation key (`x:dm:<sender>`, `x:conversation:<id>:<author>`,
    normalize.twitter)."""
    if not thread_key or not thread_key.startswith("x:"):
        return None
    account = thread_key.rpartition(":")[2]
    return account or None


def _trusted(message: Normalized, settings: Settings) -> bool:
    return not settings.trust.require_authentication or message.sender_authenticated is True


def _unit_of(complaint: ComplaintRow, settings: Settings) -> UnitSettings:
    return settings.unit_named(complaint.unit)
