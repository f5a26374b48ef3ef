"""`intake privacy export|erase|retain`: KVKK requests of a data subject, and the retention run.

`export --email X | --phone X | --handle X` prints everything held about the person as JSON;
`erase … --yes` anonymises it (`--dry-run` says what would go and changes nothing);
`retain [--at ISO]` drops the raw items and attachment bytes of complaints closed more than
`[privacy] retention_days` ago, as the scheduler does once a day (handling.privacy).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from handling import privacy
from intake import clock
from intake.cli.wiring import open_runtime
from intake.errors import IntakeError
from intake.settings import Settings
from normalize.desk import parse_received_at


def add_parsers(sub: Any) -> None:
    cmd = sub.add_parser("privacy", help="KVKK: export or erase a person's data; retention")
    verbs = cmd.add_subparsers(dest="verb", required=True)
    for verb, text in (
        ("export", "everything held about a person, as JSON"),
        ("erase", "anonymise a person's data (counts, products and events stay)"),
    ):
        one = verbs.add_parser(verb, help=text)
        who = one.add_mutually_exclusive_group(required=True)
        who.add_argument("--email")
        who.add_argument("--phone")
        who.add_argument("--handle", help="@name, tg:<id>, or an X account id")
        if verb == "erase":
            one.add_argument("--yes", action="store_true", help="really erase")
            one.add_argument("--dry-run", action="store_true", help="say what would go")
            one.add_argument("--operator", help="who asks (default: the login name)")
        one.set_defaults(handler=export if verb == "export" else erase)
    one = verbs.add_parser("retain", help="drop expired raw items and attachment bytes now")
    one.add_argument("--at", help="ISO 8601 time to count from (default: now)")
    one.set_defaults(handler=retain)


def _person(args: argparse.Namespace) -> privacy.Person:
    try:
        return privacy.Person(email=args.email, phone=args.phone, handle=args.handle)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


class UsageError(IntakeError):
    pass


def export(args: argparse.Namespace, settings: Settings) -> int:
    person = _person(args)
    rt = open_runtime(settings, with_broker=False)
    try:
        with rt.sessions() as session:
            data = privacy.export(session, person, settings)
    finally:
        rt.close()
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def erase(args: argparse.Namespace, settings: Settings) -> int:
    if not (args.yes or args.dry_run):
        print("intake: privacy erase: add --yes to erase, or --dry-run to see", file=sys.stderr)
        return 2
    person = _person(args)
    by = f"operator:{args.operator or getpass.getuser()}"
    rt = open_runtime(settings, with_broker=False)
    try:
        with rt.sessions.begin() as session:
            done = privacy.erase(session, person, by=by, at=clock.now(), dry_run=args.dry_run)
            if args.dry_run:
                session.rollback()
    finally:
        rt.close()
    verb = "would erase" if args.dry_run else "erased"
    for reference in done.complaints:
        print(f"{reference}: {verb} {', '.join(done.fields[reference]) or 'nothing left'}")
    print(
        f"{len(done.complaints)} complaint(s); {done.raw_payloads} raw payload(s), "
        f"{done.blobs} attachment file(s), {done.texts} text(s) {verb}"
    )
    return 0


def retain(args: argparse.Namespace, settings: Settings) -> int:
    at = parse_received_at(args.at, settings.clock.timezone) if args.at else clock.now()
    rt = open_runtime(settings, with_broker=False)
    try:
        dropped = privacy.retain(rt.sessions, settings, at)
    finally:
        rt.close()
    for item in dropped:
        print(f"{item.reference}: dropped {item.raw_payloads} raw payload(s), {item.blobs} file(s)")
    print(f"{len(dropped)} complaint(s) past {settings.privacy.retention_days} days")
    return 0
