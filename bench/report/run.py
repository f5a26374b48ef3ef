"""Time and memory of the report to management (`python bench/report/run.py`).

Seeds a fresh store with N complaints received over 2026-10, through the real door
(`ingest.pipeline.ingest`, in hourly batches, on a controlled clock): Turkish mails on every
product of the categoriser's phrase bank (`bench/categorize/phrases.toml`), most of them told
in the same few phrasings so that recurring groups form, 40 % one-off word salads; SSL
ones through the SSL box. A share lives on through `handling.actions`, each act at its own
time: an ETA set, a decision, accepted (closed, the survey sent through `outbound.delivery`
into the outbox folder) or rejected, a score; a few dismissed. The rest stay open.

Then, in a fresh process (so that its peak RSS is the report's, not the seeding's), builds the
report of 2026-10 as of 2026-11-02 09:00 (and of 2026 with `--year`), as the scheduler does:
times `collect` (and its recurring grouping), the HTML (and its charts), the PDF, the CSVs and
the whole `build_files`, and prints the peak RSS and each file's size.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402

from bench.categorize.synthesize import compose_turkish, pick_kind  # noqa: E402
from handling import actions  # noqa: E402
from handling.actions import Act  # noqa: E402
from ingest import pipeline  # noqa: E402
from ingest.channels.email.raw import raw_from_bytes  # noqa: E402
from intake import clock  # noqa: E402
from intake import settings as settings_module  # noqa: E402
from intake.cli.wiring import runtime_for  # noqa: E402
from intake.lifecycle import Actor  # noqa: E402
from intake.runtime import Runtime  # noqa: E402
from outbound import delivery  # noqa: E402
from outbound.jobs import Job  # noqa: E402
from reports import render, tables  # noqa: E402
from reports.figures import collect  # noqa: E402
from reports.monthly import build_files  # noqa: E402
from reports.period import Period  # noqa: E402
from reports.recurring import recurring_between  # noqa: E402
from store import migrate  # noqa: E402
from store.models import ComplaintRow, EventRow, NoticeRow  # noqa: E402

IST = ZoneInfo("Europe/Istanbul")
MONTH = Period(2026, 10)
START = datetime(2026, 10, 1, tzinfo=IST)
AT = datetime(2026, 11, 2, 9, 0, tzinfo=IST)  # the first working day after: the scheduler's
PHRASES = ROOT / "bench" / "categorize" / "phrases.toml"
SEED = 20261102
ONE_OFF = 0.4  # of the complaints: words drawn from every phrase, in no known phrasing
SSL_BOX = 0.5  # of the SSL ones: through the SSL box (channel email_ssl)
HOUR = timedelta(hours=1)


@dataclass(order=True)
class Step:
    """One thing that happens to complaint `n` at `at`, in the order they happen."""

    at: datetime
    n: int
    verb: str = field(compare=False)  # "arrive" or a verb of `act`
    value: Any = field(default=None, compare=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=3000, help="N (default 3000)")
    parser.add_argument(
        "--store",
        default="",
        help="a PostgreSQL URL to create (and drop) a database beside (default: a fresh SQLite)",
    )
    parser.add_argument("--year", action="store_true", help="also the report of 2026")
    parser.add_argument("--no-lifecycle", action="store_true", help="only arrivals, no acts")
    parser.add_argument("--out", default="", help="write the report's files into this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, store(args.store, folder) as url:
        data = settings_data(url, folder)
        rt = runtime_for(settings_module.from_mapping(data, source="(bench)"))
        migrate.upgrade(rt.engine)
        started = time.perf_counter()
        seeded = seed(rt, args.complaints, lifecycle=not args.no_lifecycle)
        rt.close()
        print(
            f"{args.complaints} complaints over {MONTH.label} on {url.split(':')[0]}: "
            f"seeded in {time.perf_counter() - started:.0f} s ({seeded})"
        )
        periods = [MONTH.label] + (["2026"] if args.year else [])
        spawn = multiprocessing.get_context("spawn")
        for period in periods:
            with spawn.Pool(1) as pool:  # a fresh process: the report's own peak RSS
                figures = pool.apply(measure, (data, period, args.out))
            show(period, figures)
    return 0


@contextmanager
def store(admin_url: str, folder: str) -> Iterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL database beside `admin_url`, dropped after."""
    if not admin_url:
        yield f"sqlite:///{folder}/bench.db"
        return
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"intake_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def settings_data(url: str, folder: str) -> dict[str, Any]:
    """The shipped settings on `url`, the outbox and state in `folder` (no relay, no Redis)."""
    data = tomllib.loads((ROOT / "settings.toml").read_text(encoding="utf-8"))
    data["store"]["url"] = url
    data["broker"]["state_dir"] = f"{folder}/state"
    data["smtp"]["outbox_dir"] = f"{folder}/outbox"
    return data


# --- seeding ------------------------------------------------------------------------------


def seed(rt: Runtime, count: int, *, lifecycle: bool) -> str:
    """Every step of every complaint, hour by hour: the hour's mails in one `ingest`, then
    its acts in one transaction, each on the clock of its own moment."""
    rng = random.Random(SEED)
    banks = tomllib.loads(PHRASES.read_text(encoding="utf-8"))
    pool = sorted({w for bank in banks.values() for p in bank["problem"] for w in p.split()})
    steps = sorted(step for n in range(count) for step in story(rng, n, lifecycle))
    fake = clock.FakeClock(START)
    previous = clock.use(fake)
    references: dict[int, str] = {}
    done: dict[str, int] = {}
    try:
        for hour in hours(steps):
            arrivals = [s for s in hour if s.verb == "arrive"]
            if arrivals:
                fake.set(arrivals[-1].at)
                raws = [mail_of(rng, banks, pool, s) for s in arrivals]
                for s, outcome in zip(arrivals, pipeline.ingest(rt, raws).outcomes()):
                    references[s.n] = outcome.reference or ""
            acts = [s for s in hour if s.verb != "arrive" and references.get(s.n)]
            for verb, n in act_all(rt, fake, acts, references).items():
                done[verb] = done.get(verb, 0) + n
    finally:
        clock.use(previous)
    return ", ".join(f"{verb} {n}" for verb, n in sorted(done.items())) or "no acts"


def story(rng: random.Random, n: int, lifecycle: bool) -> list[Step]:
    """Complaint `n`'s arrival somewhere in the month and what happens to it before AT."""
    arrived = START + timedelta(seconds=rng.randrange(31 * 24 * 3600))
    steps = [Step(arrived, n, "arrive")]
    roll = rng.random()
    if not lifecycle or roll >= 0.67:  # a third: nothing yet, still open
        return steps
    if roll < 0.02:
        return [*steps, Step(arrived + HOUR, n, "dismiss")]
    at = arrived + timedelta(hours=rng.uniform(0.5, 40))
    steps.append(Step(at, n, "set_eta", at + timedelta(days=3)))
    at = arrived + timedelta(hours=rng.uniform(4, 14 * 24))
    steps.append(Step(at, n, "resolve"))
    answer = rng.random()
    if answer < 0.1:
        steps.append(Step(at + timedelta(days=1), n, "reject"))
    elif answer < 0.85:
        at += timedelta(hours=rng.uniform(2, 72))
        steps.append(Step(at, n, "accept"))
        if rng.random() < 0.7:
            score = rng.choices(range(1, 6), weights=(1, 1, 2, 4, 4))[0]
            steps.append(Step(at + timedelta(hours=rng.uniform(1, 48)), n, "rate", score))
    return [s for s in steps if s.at <= AT]


def hours(steps: list[Step]) -> Iterator[list[Step]]:
    """The steps (in time order) cut into clock hours."""
    batch: list[Step] = []
    for step in steps:
        if batch and step.at - batch[0].at.replace(minute=0, second=0) >= HOUR:
            yield batch
            batch = []
        batch.append(step)
    if batch:
        yield batch


def mail_of(rng: random.Random, banks: dict, pool: list[str], step: Step) -> Any:
    """The mail of complaint `step.n`: a phrase-bank complaint, or a one-off."""
    product = rng.choice(sorted(banks))
    bank = banks[product]
    if rng.random() < ONE_OFF:
        subject = rng.choice(bank["topic"])
        body = f"{subject}: " + " ".join(rng.sample(pool, 9))
    else:
        subject, body = compose_turkish(rng, bank, pick_kind(rng), "email")
    msg = EmailMessage()
    msg["From"] = f"Başvuran {step.n} <kisi{step.n}@posta{step.n % 97}.example.com>"
    msg["To"] = "sikayet@example.org"
    msg["Subject"] = subject or body[:60]
    msg["Message-ID"] = make_msgid(domain="mail.example.net")
    msg.set_content(body)
    ssl = product == "ssl" and rng.random() < SSL_BOX
    return raw_from_bytes(
        msg.as_bytes(),
        channel="email_ssl" if ssl else "email",
        mailbox="ssl" if ssl else None,
        received_at=step.at,
    )


ACTORS = {
    "dismiss": Actor.OPERATOR,
    "set_eta": Actor.UNIT,
    "resolve": Actor.UNIT,
    "reject": Actor.COMPLAINANT,
    "accept": Actor.COMPLAINANT,
    "rate": Actor.COMPLAINANT,
}


def act_all(rt: Runtime, fake: clock.FakeClock, steps: list[Step], refs: dict[int, str]) -> dict:
    """The hour's acts in one transaction, then the surveys they owe sent (into the outbox):
    the report counts a survey as sent by its `notice_sent` event."""
    if not steps:
        return {}
    done: dict[str, int] = {}
    owed = []
    with rt.sessions.begin() as session:
        wanted = {refs[s.n] for s in steps}
        rows = session.scalars(select(ComplaintRow).where(ComplaintRow.reference.in_(wanted)))
        by_ref = {row.reference: row for row in rows}
        for step in steps:
            fake.set(step.at)
            complaint = by_ref[refs[step.n]]
            act = Act(
                session,
                rt.settings,
                complaint,
                ACTORS[step.verb],
                f"{ACTORS[step.verb]}:bench",
                source=f"bench:{step.verb}:{step.n}",
                at=step.at,
            )
            try:
                if step.verb == "set_eta":
                    actions.set_eta(act, step.value)
                elif step.verb == "resolve":
                    actions.resolve(act, "Sorununuz giderildi; ayrıntılar ekte.")
                elif step.verb == "rate":
                    actions.rate(act, step.value)
                elif step.verb == "dismiss":
                    actions.dismiss(act, "reklam")
                else:
                    getattr(actions, step.verb)(act)
            except actions.Refused:  # e.g. an ETA after the decision: skipped, as a unit is told
                continue
            done[step.verb] = done.get(step.verb, 0) + 1
            owed += [w.target_id for w in act.work if w.job is Job.NOTICE]
        session.flush()
        surveys = session.scalars(
            select(NoticeRow.id).where(NoticeRow.id.in_(owed), NoticeRow.purpose == "survey")
        ).all()
    for notice_id in surveys:
        delivery.perform(rt, Job.NOTICE, notice_id)
    if surveys:
        done["survey sent"] = len(surveys)
    return done


# --- measuring (in a fresh process) ---------------------------------------------------------


def measure(data: dict[str, Any], label: str, out: str = "") -> dict[str, Any]:
    """Each stage of the report of `label` as of AT, then the whole `build_files` (its files
    written into `out`, when given)."""
    settings = settings_module.from_mapping(data, source="(bench)")
    rt = runtime_for(settings)
    period = Period.parse(label)
    clock.use(clock.FakeClock(AT))
    baseline = peak_mb()
    seconds: dict[str, float] = {}
    with rt.sessions() as session:
        with timer(seconds, "collect"):
            report = collect(session, settings, period, AT)
        with timer(seconds, "  of which recurring grouping"):
            recurring_between(session, settings, period.first_day, period.last_day)
        with timer(seconds, "html"):
            document = render.html(report)
        with timer(seconds, "  of which charts"):
            render.charts(report)
        with timer(seconds, "pdf"):
            render.pdf(document)
        with timer(seconds, "csv (all three)"):
            tables.complaints_csv(report)
            tables.summary_csv(report)
            tables.recurring_csv(report)
        with timer(seconds, "build_files (second time: warm)"):
            files = build_files(session, settings, period, AT)
        events = len(session.scalars(select(EventRow.id)).all())
    rt.close()
    for name, body in files.items() if out else ():
        folder = Path(out) / label
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(body)
    return {
        "seconds": seconds,
        "sizes": {name: len(body) for name, body in files.items()},
        "lines": len(report.lines),
        "groups": len(report.grouping.groups),
        "recurring": sum(len(g.members) for g in report.grouping.groups),
        "events": events,
        "verdicts": {c.name: c.counts for c in report.clocks},
        "surveys": (report.surveys_sent, sum(report.scores.values()), report.mean_score),
        "baseline_mb": baseline,
        "peak_mb": peak_mb(),
    }


@contextmanager
def timer(into: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    into[name] = time.perf_counter() - started


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def show(label: str, figures: dict[str, Any]) -> None:
    print(
        f"\nreport {label}: {figures['lines']} complaints, {figures['events']} events in the "
        f"store, {figures['groups']} recurring groups ({figures['recurring']} complaints)"
    )
    sent, rated, score = figures["surveys"]
    print(f"  surveys sent {sent}, rated {rated}, mean {score or 0:.2f}; clocks:", end="")
    print("; ".join(f" {c} {dict(v)}" for c, v in figures["verdicts"].items()))
    for name, seconds in figures["seconds"].items():
        print(f"  {name:<34} {seconds:7.2f} s")
    print(f"  {'peak RSS':<34} {figures['peak_mb']:7.0f} MB", end="")
    print(f"  ({figures['baseline_mb']:.0f} MB before the first build)")
    for name, size in figures["sizes"].items():
        print(f"  {name:<34} {size / 1024:7.0f} KB")


if __name__ == "__main__":
    raise SystemExit(main())
