"""The `intake` command: run the daemons, feed mail in, look at what the pipeline makes of it.

Errors the user can fix print one line and exit non-zero; no traceback for bad input.
`intake inject` exits 75 (EX_TEMPFAIL) when the store is unreachable, so an MTA retries.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from intake import settings as settings_module
from intake.cli import audit, commands, recurring, repair, report, scheduler, tickets, users
from intake.cli import privacy as privacy_cli
from intake.errors import ConfigError, IntakeError
from intake.privacy import setup_logging


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        settings = settings_module.load(args.config)
        return int(args.handler(args, settings) or 0)
    except ConfigError as exc:
        print(f"intake: configuration: {exc}", file=sys.stderr)
        return commands.EX_CONFIG
    except IntakeError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="settings file (default: $INTAKE_CONFIG or settings.toml)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    cmd = sub.add_parser("run", help="start the broker, workers and reconciler; stop on SIGTERM")
    cmd.set_defaults(handler=commands.run)

    cmd = sub.add_parser("inject", help="hand raw mail to the pipeline as an MTA would")
    cmd.add_argument("files", nargs="+", help="RFC 5322 files; - reads one mail from stdin")
    cmd.add_argument("--mailbox", help="the [[mailbox]] it arrived in (sets the channel)")
    cmd.add_argument(
        "--received-at",
        default="",
        help="ISO 8601 time of receipt, for importing old mail with the clocks it "
        "had (default: now; no zone: local time)",
    )
    cmd.set_defaults(handler=commands.inject)

    cmd = sub.add_parser("normalize", help="print the complaint JSON of one mail (no store)")
    cmd.add_argument("file")
    cmd.add_argument("--mailbox", help="the [[mailbox]] it arrived in (sets the channel)")
    cmd.set_defaults(handler=commands.normalize)

    cmd = sub.add_parser(
        "categorize", help="JSON Lines {id, channel, subject, text} in, decisions out"
    )
    cmd.add_argument("file", nargs="?", help="input file (default: stdin)")
    cmd.set_defaults(handler=commands.categorize)

    cmd = sub.add_parser("db", help="database schema")
    cmd.add_argument("action", choices=["upgrade", "current"])
    cmd.set_defaults(handler=commands.db)

    cmd = sub.add_parser("status", help="queues, complaints, failures, dead letters")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=commands.status)

    cmd = sub.add_parser("retry", help="reprocess failed raw items (all, or the ids given)")
    cmd.add_argument("ids", nargs="*", type=int)
    cmd.add_argument("--dead-letters", action="store_true", help="re-enqueue dead letters")
    cmd.add_argument(
        "--deliveries",
        action="store_true",
        help="send permanently failed deliveries and acknowledgements again",
    )
    cmd.set_defaults(handler=repair.retry)

    cmd = sub.add_parser("dead-letters", help="list queue messages that failed for good")
    cmd.set_defaults(handler=repair.dead_letters)

    cmd = sub.add_parser("poll", help="poll one mailbox (or --all feeds) in the foreground")
    cmd.add_argument("mailbox", nargs="?")
    cmd.add_argument("--once", action="store_true", help="one cycle, then exit")
    cmd.add_argument(
        "--all", action="store_true", help="every enabled mailbox, Telegram and X, until stopped"
    )
    cmd.set_defaults(handler=commands.poll)

    cmd = sub.add_parser(
        "new",
        help="enter a complaint taken by phone, in person, or from "
        "CİMER/TÜBİMER; prints its reference",
    )
    cmd.add_argument(
        "--channel", required=True, choices=["phone", "face_to_face", "cimer", "tubimer"]
    )
    cmd.add_argument("--text", required=True, help="the complaint as the complainant put it")
    cmd.add_argument("--name", default="")
    cmd.add_argument("--email", default="", help="acknowledged by e-mail when given")
    cmd.add_argument("--phone", default="")
    cmd.add_argument("--subject", default="")
    cmd.add_argument("--product", default="", help="product code, when the caller named one")
    cmd.add_argument("--petition", default="", help="CİMER/TÜBİMER petition number (required)")
    cmd.add_argument(
        "--received-at",
        default="",
        help="ISO 8601 time it was received (default: now; no zone: local time)",
    )
    cmd.add_argument("--operator", help="who entered it (default: the login name)")
    cmd.set_defaults(handler=commands.new)

    cmd = sub.add_parser(
        "telegram-webhook", help="register [http] URL of /webhooks/telegram with Telegram"
    )
    cmd.add_argument("url", nargs="?", help="public https URL ending in /webhooks/telegram")
    cmd.add_argument("--delete", action="store_true", help="remove the webhook (polling mode)")
    cmd.set_defaults(handler=commands.telegram_webhook)

    cmd = sub.add_parser("http", help="the HTTP server alone: web form, webhooks, console")
    cmd.set_defaults(handler=commands.http)

    cmd = sub.add_parser("reconcile", help="enqueue everything owed, now")
    cmd.set_defaults(handler=commands.reconcile)

    tickets.add_parsers(sub)
    recurring.add_parsers(sub)
    audit.add_parsers(sub)
    report.add_parsers(sub)
    privacy_cli.add_parsers(sub)
    users.add_parsers(sub)

    cmd = sub.add_parser("scheduler", help="keep the clocks: reminders, ETAs, breaches")
    cmd.add_argument("--once", action="store_true", help="one pass, sending what it owes")
    cmd.add_argument("--at", default="", help="with --once: the pass as of this ISO 8601 time")
    cmd.set_defaults(handler=scheduler.command)
    return parser
