"""`intake audit ssl --from DATE --to DATE [--out FILE] [--unmasked]`: the BR 4.9.5 evidence.

One CSV row per report received on the SSL problem address on those local days (both
included), built by `reports.audit` from the append-only events. A file is written as UTF-8
with a byte-order mark, so that Excel (the auditor's usual tool) reads the Turkish letters
right; without `--out` the CSV goes to stdout without one. The reporter's address is masked
unless `--unmasked` is given: the file leaves the desk, and the reference and Message-IDs
trace each row without it; unmask when the auditor asks to check a sample with the reporter.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from intake import clock
from intake.cli.wiring import open_runtime
from intake.settings import Settings
from reports import audit

EX_USAGE = 64


def add_parsers(sub: Any) -> None:
    cmd = sub.add_parser("audit", help="audit evidence: `ssl`, the BR 4.9.5 24-hour answers")
    cmd.add_argument("what", choices=["ssl"])
    cmd.add_argument("--from", dest="since", required=True, help="first local day, YYYY-MM-DD")
    cmd.add_argument("--to", dest="until", required=True, help="last local day, YYYY-MM-DD")
    cmd.add_argument("--out", help="CSV file to write (UTF-8 with BOM; default: stdout)")
    cmd.add_argument(
        "--unmasked", action="store_true", help="the reporters' addresses in full (masked else)"
    )
    cmd.set_defaults(handler=command)


def command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        since, until = date.fromisoformat(args.since), date.fromisoformat(args.until)
    except ValueError as exc:
        print(f"intake: audit: not a date (YYYY-MM-DD): {exc}", file=sys.stderr)
        return EX_USAGE
    if since > until:
        print(f"intake: audit: --from {since} is after --to {until}", file=sys.stderr)
        return EX_USAGE
    rt = open_runtime(settings, with_broker=False)
    try:
        with rt.sessions() as session:
            rows = audit.ssl_rows(
                session, settings, since, until, clock.now(), unmasked=args.unmasked
            )
    finally:
        rt.close()
    tz = settings.clock.timezone
    if args.out:
        with Path(args.out).open("w", encoding="utf-8-sig", newline="") as stream:
            audit.write_csv(rows, stream, tz)
    else:
        audit.write_csv(rows, sys.stdout, tz)
    counts = Counter(row.verdict.value for row in rows)
    summary = ", ".join(f"{counts[v.value]} {v.value}" for v in audit.Verdict)
    where = f" → {args.out}" if args.out else ""
    print(
        f"{len(rows)} SSL problem report(s) {since} to {until}: {summary}{where}", file=sys.stderr
    )
    return 0
