"""The recurring complaints of a period, read from the store (`routing.recurring` groups
them): for `intake recurring` and the monthly report."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.lifecycle import S
from intake.settings import Settings
from routing.recurring import Grouping, Item, find_recurring
from store.models import ComplaintRow

LEFT_OUT = (S.MERGED, S.NOT_A_COMPLAINT)  # counted once elsewhere, or no complaint at all


def load_items(session: Session, start: datetime, end: datetime) -> list[Item]:
    """The complaints received in [start, end), as the grouping reads them."""
    rows = session.execute(
        select(
            ComplaintRow.id,
            ComplaintRow.reference,
            ComplaintRow.product,
            ComplaintRow.received_at,
            ComplaintRow.subject,
            ComplaintRow.body,
        )
        .where(ComplaintRow.received_at >= start, ComplaintRow.received_at < end)
        .where(ComplaintRow.status.not_in([str(s) for s in LEFT_OUT]))
        .order_by(ComplaintRow.received_at, ComplaintRow.id)
    )
    return [Item(*row) for row in rows]


def local_span(since: date, until: date, tz: str) -> tuple[datetime, datetime]:
    """From the start of local day `since` to the end of local day `until`."""
    zone = ZoneInfo(tz)
    start = datetime.combine(since, time(), zone)
    return start, datetime.combine(until + timedelta(days=1), time(), zone)


def recurring_between(session: Session, settings: Settings, since: date, until: date) -> Grouping:
    """The recurring groups among the complaints received on local days since…until."""
    start, end = local_span(since, until, settings.clock.timezone)
    s = settings.recurring
    return find_recurring(
        load_items(session, start, end),
        window_days=s.window_days,
        threshold=s.threshold,
        min_group=s.min_group,
    )
