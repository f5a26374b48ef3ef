"""The ISO 10002 report to management (ISO 10002 8.4–8.6): what came in over a month or a
year, how each clock was kept, what recurred, what the complainants thought of it.

`build_files` reads the store as of `at` and returns the report (`report.html`, `report.pdf`,
rendered by `reports.render`) and its tables as CSV. "What happened" is read from the
append-only events (reopened, rated, the surveys sent), durations from the `clocks` rows in
each clock's own measure (`routing.clocks.used`: working hours or the wall clock). The
complaints of a period are those received within its local bounds; merged ones and those
dismissed as no complaint are shown on their own lines and kept out of every tally, as
`intake recurring` keeps them out of its groups. No name, address, phone or handle is read
into the report (KVKK minimisation): references identify each line, so an erasure changes
no figure.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from intake.settings import Settings
from reports import render, tables
from reports.figures import collect
from reports.period import Period

__all__ = ["Period", "build_files"]

log = logging.getLogger(__name__)


def build_files(
    session: Session, settings: Settings, period: Period, at: datetime
) -> dict[str, bytes]:
    """{"report.html": ..., "report.pdf": ..., "complaints.csv": ..., "summary.csv": ...,
    "recurring.csv": ...} as of `at`; without "report.pdf" on a machine without pango
    (scripts/bootstrap installs it), logged."""
    report = collect(session, settings, period, at)
    html = render.html(report)
    files = {"report.html": html.encode("utf-8")}
    try:
        files["report.pdf"] = render.pdf(html)
    except OSError as exc:  # WeasyPrint finds no pango: the rest still goes to management
        log.warning("report.pdf left out: WeasyPrint cannot load pango (%s)", exc)
    files["complaints.csv"] = tables.complaints_csv(report)
    files["summary.csv"] = tables.summary_csv(report)
    files["recurring.csv"] = tables.recurring_csv(report)
    return files
