"""The report's tables as CSV files, beside its HTML and PDF (`reports.monthly`).

UTF-8 with a byte-order mark, so that Excel reads the Turkish letters right (as the audit
export). References identify each row; no name, address, phone or handle is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from intake.schema import PRODUCT_NAMES
from routing.clocks import ClockName

if TYPE_CHECKING:
    from reports.figures import Report

COMPLAINT_COLUMNS = (
    "reference",
    "channel",
    "received_at_local",
    "product",
    "kind",
    "unit",
    "category",
    "status",
    "merged_into",
    "counted",
    "recurring_group",
    "reopened",
    "survey_sent",
    "satisfaction",
    *(column for name in ClockName for column in (name.value, f"{name.value}_hours")),
)
SUMMARY_COLUMNS = ("dimension", "value", "name", "count", "previous", "year_before")
RECURRING_COLUMNS = (
    "group",
    "product",
    "product_name",
    "label",
    "size",
    "first_received_local",
    "last_received_local",
    "members",
)


def complaints_csv(report: Report) -> bytes:
    """One row per complaint received in the period, merged and dismissed ones included."""
    zone = ZoneInfo(report.timezone)
    groups = group_numbers(report)
    rows = []
    for line in report.lines:
        row = [
            line.reference,
            line.channel,
            local(line.received_at, zone),
            line.product,
            line.kind,
            line.unit,
            line.category or "",
            line.status,
            line.merged_into or "",
            yes(line.counted),
            str(groups.get(line.reference, "")),
            str(line.reopened),
            yes(line.survey_sent),
            "" if line.satisfaction is None else str(line.satisfaction),
        ]
        for name in ClockName:
            found = line.clocks.get(name)
            row += [found.verdict.value, f"{found.hours:.2f}"] if found else ["", ""]
        rows.append(row)
    return _csv(COMPLAINT_COLUMNS, rows)


def summary_csv(report: Report) -> bytes:
    """The counts of the period beside the period before and the same one a year before:
    the totals first, then each dimension's values (of the counted complaints)."""
    now, before, year_ago = report.intake
    rows = [
        ["total", key, "", *(str(getattr(i, key)) for i in report.intake)]
        for key in ("received", "merged", "not_a_complaint", "counted")
    ]
    for dimension, counts in now.by.items():
        values = sorted(set(counts) | set(before.by[dimension]) | set(year_ago.by[dimension]))
        for value in values:
            name = PRODUCT_NAMES.get(value, "") if dimension == "product" else ""
            rows.append(
                [dimension, value, name, *(str(i.by[dimension][value]) for i in report.intake)]
            )
    return _csv(SUMMARY_COLUMNS, rows)


def recurring_csv(report: Report) -> bytes:
    """One row per recurring group, its members' references in receipt order."""
    zone = ZoneInfo(report.timezone)
    rows = [
        [
            str(number),
            group.product,
            PRODUCT_NAMES.get(group.product, ""),
            " ".join(group.label),
            str(len(group.members)),
            local(group.first, zone),
            local(group.last, zone),
            " ".join(group.references),
        ]
        for number, group in enumerate(report.grouping.groups, 1)
    ]
    return _csv(RECURRING_COLUMNS, rows)


def group_numbers(report: Report) -> dict[str, int]:
    """reference → the number of its recurring group (1: the largest)."""
    return {
        reference: number
        for number, group in enumerate(report.grouping.groups, 1)
        for reference in group.references
    }


def local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return stream.getvalue().encode("utf-8-sig")
