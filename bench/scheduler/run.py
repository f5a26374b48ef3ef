"""How long a scheduler pass takes over many open clocks (`python bench/scheduler/run.py`).

Makes N complaints (each with its clocks, as intake makes them: half of them through the SSL
box) in a fresh store, then times three passes of `handling.scheduler.sweep_all`:
- a quiet pass at receipt, when nothing is due (the cost every few seconds, all day);
- a pass at 13 hours, when every SSL clock owes its first reminder (writes N/2 notices);
- the same pass again, when everything is owed already (what a second instance costs).
Znuny looks at 1000 tickets per run at most; this looks at every open clock, every pass.
Prints seconds, clocks per second and notices written; peak RSS of the process at the end.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from handling import clocks  # noqa: E402
from handling.scheduler import sweep_all  # noqa: E402
from intake import clock  # noqa: E402
from intake import settings as settings_module  # noqa: E402
from intake.cli.wiring import runtime_for  # noqa: E402
from store import migrate  # noqa: E402
from store.models import ClockRow, ComplaintRow, NoticeRow, RawMessageRow  # noqa: E402

RECEIVED = datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo("Europe/Istanbul"))


def populate(rt, count: int) -> None:  # noqa: ANN001
    """`count` complaints with their clocks, in bulk."""
    settings = rt.settings
    with rt.sessions.begin() as session:
        for start in range(0, count, 1000):
            batch = range(start, min(count, start + 1000))
            raws = session.execute(
                insert(RawMessageRow).returning(RawMessageRow.id, sort_by_parameter_order=True),
                [
                    {
                        "channel": "email",
                        "source_id": f"<{n}@bench>",
                        "received_at": RECEIVED,
                        "stored_at": RECEIVED,
                        "payload": b"",
                        "size": 0,
                        "transport": {},
                        "status": "processed",
                        "attempts": 1,
                    }
                    for n in batch
                ],
            ).scalars()
            values = []
            for n, raw_id in zip(batch, raws):
                ssl = n % 2 == 0
                values.append(
                    {
                        "reference": f"CMP-2026-{n + 1:06d}",
                        "raw_message_id": raw_id,
                        "channel": "email_ssl" if ssl else "email",
                        "source_id": f"<{n}@bench>",
                        "received_at": RECEIVED,
                        "subject": "bench",
                        "body": "bench",
                        "language": "tr",
                        "product": "ssl" if ssl else "nes",
                        "kind": "complaint",
                        "unit": "ssl_operations" if ssl else "certificate_operations",
                        "queue": "unit.ssl_operations" if ssl else "unit.certificate_operations",
                        "status": "assigned",
                        "delivery_state": "sent",
                        "ack_state": "sent",
                        "created_at": RECEIVED,
                    }
                )
            ids = session.execute(
                insert(ComplaintRow).returning(ComplaintRow.id, sort_by_parameter_order=True),
                values,
            ).scalars()
            rows = []
            for complaint_id, row in zip(ids, values):
                rows += clocks.values_for(
                    complaint_id, row["channel"], RECEIVED, settings, row["unit"]
                )
            session.execute(insert(ClockRow), rows)


def timed_pass(rt, at: datetime, label: str, clocks_open: int) -> None:  # noqa: ANN001
    with rt.sessions() as session:
        before = session.scalar(select(func.count()).select_from(NoticeRow))
    clock.use(clock.FakeClock(at))
    started = time.perf_counter()
    sweep_all(rt.sessions, rt.settings, at)
    seconds = time.perf_counter() - started
    with rt.sessions() as session:
        written = session.scalar(select(func.count()).select_from(NoticeRow)) - before
    print(
        f"{label:<34} {seconds:7.2f} s  {clocks_open / seconds:9.0f} open clocks/s  "
        f"{written:6d} notices written"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="complaints (default 20000)")
    parser.add_argument("--store", default="", help="SQLAlchemy URL (default: a fresh SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.store or f"sqlite:///{folder}/bench.db"
        settings = settings_module.from_mapping(
            {**_shipped(), "store": {"url": url}}, source="(bench)"
        )
        rt = runtime_for(settings)
        migrate.upgrade(rt.engine)
        started = time.perf_counter()
        populate(rt, args.count)
        with rt.sessions() as session:
            open_clocks = session.scalar(select(func.count()).select_from(ClockRow))
        print(
            f"{args.count} complaints, {open_clocks} clocks on {rt.engine.url.get_backend_name()}"
        )
        print(f"{'populate':<34} {time.perf_counter() - started:7.2f} s")
        timed_pass(rt, RECEIVED + timedelta(minutes=5), "quiet pass (nothing due)", open_clocks)
        timed_pass(rt, RECEIVED + timedelta(hours=13), "pass at 13 h (SSL reminders)", open_clocks)
        timed_pass(rt, RECEIVED + timedelta(hours=13), "same pass again (all owed)", open_clocks)
        rt.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


def _shipped() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "settings.toml").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
