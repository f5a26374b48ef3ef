"""The daily caps on automatic mail, reserved atomically before each send.

An acknowledgement goes to whoever wrote to us, so a flood of forged mail, or a loop with
an autoresponder nobody foresaw, would make the desk a reflector. Each automatic mail first
reserves one unit of three budgets for the local day: its address (normalised: case and
`+tag`), its domain and the whole desk. A reservation is one conditional UPDATE
(`used < cap`), so concurrent workers on PostgreSQL or SQLite never exceed a cap; the
three are taken in one savepoint, all or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake.settings import AcknowledgeSettings
from store.models import SendBudgetRow


class OverBudget(Exception):
    """A cap is reached: what is over it, for the record."""


def normal_address(address: str) -> str:
    """Lower case, without a `+tag` in the local part."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if local else domain


@dataclass(frozen=True)
class Reservation:
    """One automatic mail taken out of the budgets of `address` on local `day`."""

    address: str  # normalised
    day: str

    def scopes(self) -> tuple[tuple[str, str], ...]:
        return (
            ("address", self.address),
            ("domain", self.address.rpartition("@")[2]),
            ("desk", "*"),
        )


def reserve(
    session: Session, address: str, caps: AcknowledgeSettings, at: datetime, timezone: str
) -> Reservation:
    """Take one automatic mail to `address` out of today's budgets, or raise `OverBudget`
    (and take nothing)."""
    reservation = Reservation(
        normal_address(address), at.astimezone(ZoneInfo(timezone)).date().isoformat()
    )
    caps_by_scope = {
        "address": caps.max_per_address_per_day,
        "domain": caps.max_per_domain_per_day,
        "desk": caps.max_per_desk_per_day,
    }
    with session.begin_nested():  # an exception rolls back what was taken
        for scope, key in reservation.scopes():
            cap = caps_by_scope[scope]
            if not _take(session, scope, key, reservation.day, cap):
                raise OverBudget(f"{cap} automatic mails per {scope} and day reached")
    return reservation


def give_back(session: Session, reservation: Reservation) -> None:
    """Return a reservation whose mail was not sent (the relay deferred or refused it), so
    that retries do not spend the day's budget."""
    for scope, key in reservation.scopes():
        session.execute(
            update(SendBudgetRow)
            .where(
                SendBudgetRow.scope == scope,
                SendBudgetRow.key == key,
                SendBudgetRow.day == reservation.day,
                SendBudgetRow.used > 0,
            )
            .values(used=SendBudgetRow.used - 1)
            .execution_options(synchronize_session=False)
        )


def _take(session: Session, scope: str, key: str, day: str, cap: int) -> bool:
    _ensure(session, scope, key, day)
    result = cast(
        CursorResult[Any],
        session.execute(
            update(SendBudgetRow)
            .where(
                SendBudgetRow.scope == scope,
                SendBudgetRow.key == key,
                SendBudgetRow.day == day,
                SendBudgetRow.used < cap,
            )
            .values(used=SendBudgetRow.used + 1)
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def _ensure(session: Session, scope: str, key: str, day: str) -> None:
    """The day's row, created at 0 the first time (a concurrent creator wins, harmlessly)."""
    try:
        with session.begin_nested():
            session.execute(insert(SendBudgetRow).values(scope=scope, key=key, day=day, used=0))
    except IntegrityError:
        pass
