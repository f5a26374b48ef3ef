"""`intake report (--month YYYY-MM | --year YYYY) [--out DIR]`: the ISO 10002 report to
management, written as files.

`reports.monthly` builds it from the store as of now: `report.html` (one file, charts
inline), `report.pdf` (the same), `complaints.csv`, `summary.csv` and `recurring.csv`. They
go to DIR (default `reports/<label>` in the state folder, `var/`), and each path written is
printed. The scheduler mails the same files on the first working day of the month
(`reports.mailing`); `--mail` sends them to `[report] management_email` now, as when the
scheduled mail was refused or management asks for it again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from intake import clock
from intake.cli.wiring import open_runtime
from intake.privacy import mask_email
from intake.settings import Settings
from reports import mailing
from reports.monthly import Period, build_files

EX_USAGE = 64  # sysexits.h: bad command line
EX_TEMPFAIL = 75
EX_CONFIG = 78


def add_parsers(sub: Any) -> None:
    cmd = sub.add_parser("report", help="the ISO 10002 report to management: HTML, PDF, CSV")
    which = cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--month", help="a local month, YYYY-MM")
    which.add_argument("--year", help="a whole year, YYYY")
    cmd.add_argument("--out", help="folder to write the files to (default: var/reports/LABEL)")
    cmd.add_argument(
        "--mail", action="store_true", help="also mail it to [report] management_email now"
    )
    cmd.set_defaults(handler=command)


def command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        period = Period.parse(args.month or args.year)
        if (period.month is None) != (args.month is None):
            raise ValueError(f"not a {'month' if args.month else 'year'}: {period.label}")
    except ValueError as exc:
        print(f"intake: report: {exc}", file=sys.stderr)
        return EX_USAGE
    if args.mail and not settings.report.management_email:
        print("intake: report: --mail: [report] management_email is not set", file=sys.stderr)
        return EX_CONFIG
    rt = open_runtime(settings, with_broker=False)
    try:
        now = clock.now()
        with rt.sessions() as session:
            files = build_files(session, settings, period, now)
        folder = Path(args.out or Path(settings.broker.state_dir) / "reports" / period.label)
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            path = folder / name
            path.write_bytes(content)
            print(path)
        if not args.mail:
            return 0
        outcome = mailing.send_now(rt.sessions, settings, period, now, files)
    finally:
        rt.close()
    print(f"mail to {mask_email(settings.report.management_email)}: {outcome}")
    if outcome.startswith("waiting"):
        return EX_TEMPFAIL  # the relay is away: try again later
    return 0 if outcome == "sent" else 1
