"""One IMAP poller cycle in a process of its own, which a test can kill -9 at a chosen moment.

`python -m tests.faults.poll_child CONFIG MAILBOX --now ISO [--kill POINT[:N]] [--reconcile]`
builds the runtime from the settings file as `intake poll` does, and runs one `MailboxPoller`
cycle of the mailbox's folder. With `--kill`, the N-th time (default the first) the flow
reaches POINT the process ends with `os._exit(137)`: what a kill -9 leaves, no cleanup, no
commit, no logout. The points, in the order a cycle reaches them:

- `fetched`: the bodies of a FETCH are read, nothing stored yet;
- `uncommitted`: the raw mails are written in the store's transaction, not committed;
- `committed`: raw mails and watermark committed, not yet processed (no complaint yet);
- `processed`: complaints made and their jobs enqueued, the mail not yet \\Seen or moved.

`--reconcile` first runs the reconciler's pass at start, as a restarted `intake run` does.
The report of the cycle is printed as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from ingest import pipeline
from ingest.channels.email import poller as poller_module
from ingest.channels.email.imap import Fetched, ImapFolder
from ingest.reconciler import reconcile
from intake import clock
from intake import settings as settings_module
from intake.cli.wiring import open_daemon_runtime
from intake.clock import FakeClock
from intake.privacy import make_handler
from store import repo

KILLED = 137  # what a shell reports for a process ended by SIGKILL


class Trigger:
    """Ends the process on the `at`-th hit."""

    def __init__(self, at: int) -> None:
        self.at, self.hits = at, 0

    def hit(self) -> None:
        self.hits += 1
        if self.hits == self.at:
            logging.getLogger("poll_child").warning("killed here (-9)")
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(KILLED)


class RepoInTransaction:
    """`store.repo` as the pipeline sees it, but the watermark is the last write of the raw
    mails' transaction: dying there leaves them written and uncommitted."""

    def __init__(self, trigger: Trigger) -> None:
        self._trigger = trigger

    def __getattr__(self, name: str) -> Any:
        return getattr(repo, name)

    def set_watermark(self, *args: Any, **kwargs: Any) -> Any:
        self._trigger.hit()
        return repo.set_watermark(*args, **kwargs)


def arm(point: str) -> None:
    name, _, nth = point.partition(":")
    trigger = Trigger(int(nth or 1))
    if name == "fetched":
        real_fetch = ImapFolder.fetch

        def fetch(self: ImapFolder, uids: list[int]) -> Iterator[Fetched]:
            yield from real_fetch(self, uids)
            trigger.hit()  # every body read by the caller, nothing stored

        ImapFolder.fetch = fetch  # type: ignore[method-assign]
    elif name == "uncommitted":
        pipeline.repo = RepoInTransaction(trigger)  # type: ignore[assignment]
    elif name == "committed":
        real_process: Callable[..., Any] = pipeline.process

        def process(*args: Any, **kwargs: Any) -> Any:
            trigger.hit()
            return real_process(*args, **kwargs)

        pipeline.process = process  # type: ignore[assignment]
    elif name == "processed":
        real_finish = ImapFolder.finish

        def finish(self: ImapFolder, uids: list[int]) -> None:
            if uids:
                trigger.hit()
            real_finish(self, uids)

        ImapFolder.finish = finish  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("mailbox")
    parser.add_argument("--now", required=True, help="the time of the flow (ISO, aware)")
    parser.add_argument("--kill", default="")
    parser.add_argument("--reconcile", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, handlers=[make_handler(sys.stderr)], force=True)
    clock.use(FakeClock(datetime.fromisoformat(args.now), ticking=True))
    settings = settings_module.load(args.config)
    rt = open_daemon_runtime(settings)
    if args.kill:
        arm(args.kill)
    if args.reconcile:
        reconcile(rt, everything=True)
    box = settings.mailbox_named(args.mailbox)
    feed = poller_module.MailboxPoller(
        rt, box, box.folder, redis=getattr(rt.broker, "client", None)
    )
    try:
        report = feed.run_once()
    finally:
        feed.close()
        rt.close()
    print(json.dumps(asdict(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
