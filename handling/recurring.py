"""The recurring complaints, read from the store (`routing.recurring` groups them): a period's
for `intake recurring` and the monthly report, and one complaint's own group for its console
page. Here, not in reports/, so that the console may read it too (tests/test_layers.py).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.lifecycle import S
from intake.settings import Settings
from routing.recurring import Group, Grouping, Item, find_recurring
from store.models import ComplaintRow

LEFT_OUT = (S.MERGED, S.NOT_A_COMPLAINT)  # counted once elsewhere, or no complaint at all


def load_items(
    session: Session, start: datetime, end: datetime, product: str | None = None
) -> list[Item]:
    """The complaints received in [start, end) (of `product` only, when given), as the
    grouping reads them."""
    query = (
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
    if product is not None:
        query = query.where(ComplaintRow.product == product)
    return [Item(*row) for row in session.execute(query)]


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


def group_of(session: Session, settings: Settings, complaint: ComplaintRow) -> Group | None:
    """The complaints `complaint` is grouped with (itself among them, any size from two; it is
    recurring from `min_group`), among its product's received within `window_days` either
    side of it: only those are read. None when it stands alone (one-off)."""
    if not complaint.product or complaint.status in [str(s) for s in LEFT_OUT]:
        return None
    s = settings.recurring
    window = timedelta(days=s.window_days)
    start, end = complaint.received_at - window, complaint.received_at + window
    around = load_items(session, start, end + timedelta(microseconds=1), complaint.product)
    grouping = find_recurring(around, window_days=s.window_days, threshold=s.threshold, min_group=2)
    return grouping.group_of(complaint.reference)
