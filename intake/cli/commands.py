"""The `intake` subcommands that touch the store and the broker.

Each builds a `Runtime` from the settings; a broker that cannot be reached is not an error
here (the store keeps the work and the reconciler enqueues it later), only a note.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError

from intake.cli.wiring import open_daemon_runtime, open_runtime, runtime_for
from intake.errors import ConfigError, IntakeError, NotAnEmail
from intake.settings import Settings, missing_secrets
from store import migrate

log = logging.getLogger(__name__)

# sysexits.h: what an MTA and a supervisor understand.
EX_DATAERR, EX_TEMPFAIL, EX_CONFIG = 65, 75, 78


def run(args: argparse.Namespace, settings: Settings) -> int:
    from intake.cli.supervisor import Supervisor

    return Supervisor(settings).run()


def inject(args: argparse.Namespace, settings: Settings) -> int:
    """Mail handed over as an MTA would, through the same door as IMAP."""
    from ingest import pipeline
    from ingest.channels.email.raw import raw_from_bytes
    from normalize.desk import parse_received_at

    channel = settings.mailbox_named(args.mailbox).channel if args.mailbox else "email"
    try:
        received_at = (
            parse_received_at(args.received_at, settings.clock.timezone)
            if args.received_at
            else None
        )
    except ValueError:
        print(f"intake: --received-at: not an ISO 8601 time: {args.received_at}", file=sys.stderr)
        return EX_DATAERR
    try:
        rt = open_runtime(settings)
    except OperationalError as exc:
        print(f"intake: store unreachable: {exc.orig}", file=sys.stderr)
        return EX_TEMPFAIL
    worst = 0
    for name in args.files:
        payload = read_input(name)
        if len(payload) > settings.limits.max_raw_bytes:
            print(
                f"{name}: refused: {len(payload)} bytes is over limits.max_raw_bytes",
                file=sys.stderr,
            )
            worst = EX_DATAERR
            continue
        raw = raw_from_bytes(
            payload, channel=channel, mailbox=args.mailbox, received_at=received_at
        )
        try:
            outcome = pipeline.ingest(rt, [raw]).outcomes()[0]
        except OperationalError as exc:  # locked or gone after the start: the MTA tries again
            print(f"{name}: not taken, the store failed: {exc.orig}", file=sys.stderr)
            print("intake: stopped; every file is to be handed over again", file=sys.stderr)
            rt.close()
            return EX_TEMPFAIL  # what was stored already is a duplicate next time, not lost
        detail = outcome.reference or outcome.error or ""
        print(f"{name}: {outcome.status} raw={outcome.raw_id} {detail}".rstrip())
    rt.close()
    return worst


def new(args: argparse.Namespace, settings: Settings) -> int:
    """A desk entry through the same path as `POST /api/entries` (no HTTP)."""
    import getpass

    from ingest.channels.desk import InvalidEntry, submit_entry
    from ingest.records import OutcomeStatus

    entry = {
        "channel": args.channel,
        "name": args.name,
        "email": args.email,
        "phone": args.phone,
        "subject": args.subject,
        "text": args.text,
        "product": args.product,
        "petition_number": args.petition,
        "received_at": args.received_at,
    }
    body = json.dumps({k: v for k, v in entry.items() if v}, ensure_ascii=False).encode()
    try:
        rt = open_runtime(settings)
    except OperationalError as exc:
        print(f"intake: store unreachable: {exc.orig}", file=sys.stderr)
        return EX_TEMPFAIL
    try:
        outcome = submit_entry(rt, body, args.operator or getpass.getuser())
    except InvalidEntry as exc:
        for field, why in exc.errors.items():
            print(f"intake: {field}: {why}", file=sys.stderr)
        return EX_DATAERR
    finally:
        rt.close()
    if outcome.reference is None:
        print(
            f"intake: stored as raw {outcome.raw_id}, not yet a complaint: "
            f"{outcome.error or outcome.status} (see `intake retry`)",
            file=sys.stderr,
        )
        return 1
    if outcome.status == OutcomeStatus.DUPLICATE:
        print(f"intake: already entered as {outcome.reference}", file=sys.stderr)
    print(outcome.reference)
    return 0


def db(args: argparse.Namespace, settings: Settings) -> int:
    rt = runtime_for(settings)
    if args.action == "upgrade":
        migrate.upgrade(rt.engine)
    print(
        f"schema revision: {migrate.current_revision(rt.engine)} "
        f"(head {migrate.head_revision(rt.engine)})"
    )
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    from intake.cli.status import collect, render

    rt = open_runtime(settings)
    report = collect(rt)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.reconciler import reconcile as reconcile_once

    rt = open_runtime(settings)
    report = reconcile_once(rt, everything=True)
    print(f"processed {report.raws_processed} raw items, enqueued {report.jobs_enqueued} jobs")
    return 0 if rt.broker is not None or not report.jobs_enqueued else 1


def poll_all(settings: Settings) -> int:
    """Every enabled feed (mailboxes, Telegram, X) in the foreground, until SIGINT/SIGTERM:
    a poller machine's daemon. Each feed holds its lock, so a second machine may stand by."""
    import signal
    import threading

    from ingest import channels, feed
    from ingest.prepare import start_pool

    missing = missing_secrets(settings)
    if missing:
        raise ConfigError("not set in the environment: " + "; ".join(missing))
    rt = open_daemon_runtime(settings)
    rt.pool = start_pool(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    feeds = [f for spec in channels.load() if spec.feeds for f in spec.feeds(rt)]
    threads = feed.start(feeds, stop)
    log.info("polling %s feeds: %s", len(feeds), ", ".join(f.ident.name for f in feeds) or "none")
    while not stop.wait(1.0):
        if threads and not any(thread.is_alive() for thread in threads):
            break  # every feed stopped on a missing setting: say so to systemd
    stop.set()
    for thread in threads:
        thread.join(30)
    rt.close()
    return EX_CONFIG if any(f.stopped_by for f in feeds) else 0


def http(args: argparse.Namespace, settings: Settings) -> int:
    """The HTTP server alone, in the foreground (web form, webhooks, the console, health,
    metrics); uvicorn stops it cleanly on SIGINT/SIGTERM."""
    from console import site
    from ingest.webhooks import HttpServer

    missing = missing_secrets(settings)
    if missing:
        raise ConfigError("not set in the environment: " + "; ".join(missing))
    rt = open_daemon_runtime(settings)
    probes = None
    if settings.console.metrics_listen:
        probes = HttpServer(rt, app=site.probe_app(rt), listen=settings.console.metrics_listen)
        probes.start()
    try:
        HttpServer(rt, app=site.app(rt)).run()
    finally:
        if probes is not None:
            probes.stop()
            probes.join(10)
        rt.close()
    return 0


def poll(args: argparse.Namespace, settings: Settings) -> int:
    """One mailbox in the foreground: one cycle with a progress bar, or until Ctrl-C."""
    import threading

    from ingest import feed
    from ingest.channels.email.poller import MailboxPoller
    from ingest.prepare import start_pool

    if args.all:
        return poll_all(settings)
    if not args.mailbox:
        print("intake: poll needs a mailbox name, or --all", file=sys.stderr)
        return 64
    box = settings.mailbox_named(args.mailbox)
    missing = [m for m in missing_secrets(settings) if f"mailbox {box.name!r}" in m]
    if missing:
        raise ConfigError("not set in the environment: " + "; ".join(missing))
    rt = open_runtime(settings)
    rt.pool = start_pool(settings)  # a first import can be a backlog of thousands
    redis = getattr(rt.broker, "client", None)
    if not args.once:
        stop = threading.Event()
        threads = feed.start(
            [MailboxPoller(rt, box, folder, redis=redis) for folder in box.all_folders], stop
        )
        try:
            while any(t.is_alive() for t in threads):
                threads[0].join(1.0)
        except KeyboardInterrupt:
            stop.set()
        for thread in threads:
            thread.join()
        return 0
    worst = 0
    for folder in box.all_folders:
        with ProgressBar(f"{box.name}/{folder}") as bar:
            poller = MailboxPoller(rt, box, folder, redis=redis, progress=bar.update)
            try:
                report = poller.run_once()
            except Exception as exc:
                print(f"{box.name}/{folder}: failed: {exc}", file=sys.stderr)
                worst = 1
                continue
            finally:
                poller.close()
        print(
            f"{box.name}/{folder}: fetched {report.fetched}, new {report.created}, "
            f"duplicates {report.duplicates}, failed {report.failed}"
            + (", resynced after a UIDVALIDITY change" if report.resynced else "")
            + (f" (skipped: {report.skipped})" if report.skipped else "")
        )
    return worst


class ProgressBar:
    """A tqdm bar that appears only when there is a backlog (more than one fetch batch)."""

    def __init__(self, label: str) -> None:
        self.label, self.bar = label, None

    def update(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None and total > done:
            self.bar = tqdm(total=total, desc=self.label, unit="mail", file=sys.stderr)
        if self.bar is not None:
            self.bar.update(done)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def telegram_webhook(args: argparse.Namespace, settings: Settings) -> int:
    """Tell Telegram where to push updates (with our secret), or stop pushing."""
    from ingest.channels.telegram import set_webhook

    if not args.delete and not args.url:
        print("intake: give the webhook URL, or --delete", file=sys.stderr)
        return 2
    set_webhook(settings.telegram, None if args.delete else args.url)
    print("webhook removed" if args.delete else f"webhook set to {args.url}")
    return 0


def normalize(args: argparse.Namespace, settings: Settings) -> int:
    """Print what the pipeline makes of one mail: the complaint schema, routed (pure)."""
    import dataclasses

    from ingest.channels.email.raw import raw_from_bytes
    from normalize.channels import normalize_raw
    from routing.route import route

    payload = read_input(args.file)
    channel = settings.mailbox_named(args.mailbox).channel if args.mailbox else "email"
    raw = raw_from_bytes(payload, channel=channel, mailbox=args.mailbox)
    try:
        result = normalize_raw(dataclasses.replace(raw, received_at=None), settings)  # type: ignore[arg-type]
    except NotAnEmail as exc:
        print(f"intake: {args.file}: not an e-mail: {exc}", file=sys.stderr)
        return EX_DATAERR
    complaint = result.complaint
    decision = route(complaint.subject, complaint.body, channel, settings)
    complaint = dataclasses.replace(complaint, product=decision.product, kind=decision.kind)
    json.dump(complaint.to_json(), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def categorize(args: argparse.Namespace, settings: Settings) -> int:
    """One output line per input line, same order; a bad line gets an `error` line."""
    from routing.route import route

    stream = open(args.file, encoding="utf-8") if args.file else sys.stdin
    errors = 0
    with stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                decision = route(
                    str(item.get("subject") or ""),
                    str(item.get("text") or ""),
                    str(item.get("channel") or "email"),
                    settings,
                )
            except (ValueError, AttributeError) as exc:
                errors += 1
                print(json.dumps({"id": None, "line": number, "error": str(exc)}), flush=True)
                continue
            print(
                json.dumps(
                    {
                        "id": item.get("id"),
                        "product": decision.product,
                        "kind": decision.kind,
                        "unit": decision.unit,
                        "queue": decision.queue,
                        "confidence": round(decision.confidence, 4),
                        "decided_by": decision.decided_by,
                        "hits": [hit.rule for hit in decision.hits],
                    },
                    ensure_ascii=False,
                )
            )
    return 1 if errors else 0


def read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise IntakeError(f"{name}: {exc.strerror}") from None
