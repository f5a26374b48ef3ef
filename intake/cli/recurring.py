"""`intake recurring [--since DATE] [--until DATE] [--json]`: the recurring complaints of a
period, and how many were one-off.

Reads the complaints received in the period from the store (merged ones and those dismissed
as not a complaint left out: they would count one problem twice, or count spam) and hands
them to the pure grouping, routing/recurring.py, with the `[recurring]` settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from intake import clock
from intake.cli.wiring import open_runtime
from intake.settings import Settings
from reports.recurring import recurring_between
from routing.recurring import Grouping

EX_USAGE = 64  # sysexits.h: bad command line


def add_parsers(sub: Any) -> None:
    cmd = sub.add_parser("recurring", help="complaints of one product about the same problem")
    cmd.add_argument("--since", help="first local day, YYYY-MM-DD (default: window_days back)")
    cmd.add_argument("--until", help="last local day, YYYY-MM-DD (default: today)")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=command)


def period(args: argparse.Namespace, settings: Settings) -> tuple[date, date]:
    """--since/--until as dates; by default the `window_days` up to today."""
    today = clock.now().astimezone(ZoneInfo(settings.clock.timezone)).date()
    until = date.fromisoformat(args.until) if args.until else today
    since = (
        date.fromisoformat(args.since)
        if args.since
        else until - timedelta(days=settings.recurring.window_days - 1)
    )
    if since > until:
        raise ValueError(f"--since {since} is after --until {until}")
    return since, until


def to_json(grouping: Grouping, since: date, until: date, tz: str) -> dict[str, Any]:
    zone = ZoneInfo(tz)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "groups": [
            {
                "label": " ".join(g.label),
                "product": g.product,
                "size": len(g.members),
                "first": g.first.astimezone(zone).isoformat(),
                "last": g.last.astimezone(zone).isoformat(),
                "references": list(g.references),
            }
            for g in grouping.groups
        ],
        "recurring": sum(len(g.members) for g in grouping.groups),
        "one_off": len(grouping.one_offs),
    }


def command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        since, until = period(args, settings)
    except ValueError as exc:
        print(f"intake: recurring: {exc}", file=sys.stderr)
        return EX_USAGE
    rt = open_runtime(settings, with_broker=False)
    try:
        with rt.sessions() as session:
            grouping = recurring_between(session, settings, since, until)
    finally:
        rt.close()
    report = to_json(grouping, since, until, settings.clock.timezone)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    print(f"Recurring complaints {since} to {until}:")
    for g in report["groups"]:
        print(
            f"  [{g['product']}] {g['label']}: {g['size']} complaints, "
            f"{g['first'][:10]} to {g['last'][:10]}"
        )
        print(f"    {' '.join(g['references'])}")
    print(
        f"{len(report['groups'])} recurring group(s) with {report['recurring']} complaint(s); "
        f"{report['one_off']} one-off complaint(s)"
    )
    return 0
