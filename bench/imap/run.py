"""IMAP ingest benchmark: N realistic mails in a real Dovecot → stored and routed.

    python bench/imap/run.py [--count 5000] [--store sqlite|postgresql]
    python bench/imap/run.py --big 4x43 [--oversize 100]


Prints, for the same mails in the same run: the raw floor (imapclient FETCH + `email` parse
with the default policy down to the body text + a Redis enqueue per mail, nothing stored) and intake's poller
(fetch, store raw, normalise, categorise, route, record, enqueue, move to Processed), each
as seconds, messages/s and peak RSS of its own process. With `--big COUNTxMB`, only intake's
poller on COUNT mails of MB megabytes each (and, with `--oversize MB`, one mail over
`[limits] max_raw_bytes`, to be refused unfetched): its seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.imap.corpus import corpus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        help="[ingest] processes for the second intake run (default 2)",
    )
    parser.add_argument("--big", help="COUNTxMB: the peak RSS of polling a few big mails")
    parser.add_argument(
        "--oversize", type=float, default=0, help="with --big: one more mail of this many MB"
    )
    parser.add_argument("--phase", choices=["floor", "intake"], help=argparse.SUPPRESS)
    parser.add_argument("--env", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        env = json.loads(args.env)
        result = floor(env) if args.phase == "floor" else intake(env)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return 0
    if args.big:
        count, _, megabytes = args.big.partition("x")
        return big(int(count), float(megabytes), args.oversize, args.store)
    return orchestrate(args.count, args.store, args.processes)


def big(count: int, megabytes: float, oversize: float, store: str) -> int:
    """intake's poller on a few big mails (and one too big): seconds and peak RSS."""
    from bench.imap.corpus import big_mail
    from intake.cli.bundled_redis import BundledRedis
    from tests.ingest.dovecot import DovecotServer

    work = Path(tempfile.mkdtemp(prefix="bench-imap-big-"))
    redis_server = BundledRedis(work / "redis")
    redis_url = redis_server.start()
    with DovecotServer(users=("bench",)) as server:
        server.start()
        sizes = [megabytes] * count + ([oversize] if oversize else [])
        client = server.client("bench")
        for n, size in enumerate(sizes):
            client.append("INBOX", big_mail(n, size))  # made one at a time: the loader stays small
        client.logout()
        env = {
            "host": server.host,
            "port": server.imap_port,
            "user": "bench",
            "password": server.users["bench"],
            "redis": redis_url,
            "work": str(work),
            "store": store_url(store, work, "big"),
            "processes": 0,
        }
        result = run_phase("intake", env)
    redis_server.stop()
    label = f"{count} × {megabytes:g} MB" + (f" + 1 × {oversize:g} MB" if oversize else "")
    print(
        f"{label}: {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB; "
        f"{result['created']} handled, {result['duplicates']} duplicates, "
        f"{result['failed']} failed (refused)"
    )
    return 0


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM where Linux has it (ru_maxrss keeps the high-water mark
    of the process before exec, here the orchestrator holding the mails), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def orchestrate(count: int, store: str, processes: int) -> int:
    from intake.cli.bundled_redis import BundledRedis
    from tests.ingest.dovecot import DovecotServer

    work = Path(tempfile.mkdtemp(prefix="bench-imap-"))
    redis_server = BundledRedis(work / "redis")
    redis_url = redis_server.start()
    with DovecotServer(users=("bench",)) as server:
        server.start()
        mails = corpus(count)
        size = sum(map(len, mails)) / len(mails)
        started = time.perf_counter()
        load(server, mails)
        print(
            f"loaded {count} mails of {size / 1024:.1f} KB average into Dovecot "
            f"in {time.perf_counter() - started:.1f} s"
        )
        env = {
            "host": server.host,
            "port": server.imap_port,
            "user": "bench",
            "password": server.users["bench"],
            "redis": redis_url,
            "work": str(work),
            "store": store_url(store, work, "a"),
            "processes": 0,
        }
        results = {"floor": run_phase("floor", env), "intake": run_phase("intake", env)}
        if processes > 1:
            load(server, mails)  # the first run moved them all to Processed
            env.update(store=store_url(store, work, "b"), processes=processes)
            results[f"intake, {processes} processes"] = run_phase("intake", env)
    redis_server.stop()
    report(results, count)
    return 0


def load(server, mails: list[bytes]) -> None:
    """APPEND every mail on one connection (Dovecot indexes as it goes)."""
    client = server.client("bench")
    for payload in mails:
        client.append("INBOX", payload)
    client.logout()


def store_url(kind: str, work: Path, run: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{work / f'intake-{run}.db'}"
    from sqlalchemy import create_engine, text

    admin_url = os.environ.get("INTAKE_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
    name = f"intake_bench_{os.getpid()}_{run}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return admin_url.rsplit("/", 1)[0] + "/" + name


def run_phase(phase: str, env: dict) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--env", json.dumps(env)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def floor(env: dict) -> dict:
    """The least any poller must do: fetch, parse (default policy), enqueue. Nothing kept."""
    import email
    import email.policy

    import redis
    from imapclient import IMAPClient

    queue = redis.Redis.from_url(env["redis"])
    started = time.perf_counter()
    client = IMAPClient(env["host"], port=env["port"], ssl=False, timeout=60)
    client.login(env["user"], env["password"])
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    for start in range(0, len(uids), 500):
        batch = uids[start : start + 500]
        for uid, data in client.fetch(batch, ["BODY.PEEK[]"]).items():
            # Parsing means what any poller needs: the subject and the text of the body.
            message = email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
            body = message.get_body(preferencelist=("plain", "html"))
            text = body.get_content() if body is not None else ""
            queue.rpush(
                "bench:floor",
                json.dumps({"uid": uid, "subject": str(message["Subject"]), "chars": len(text)}),
            )
    client.logout()
    return {"seconds": time.perf_counter() - started, "messages": len(uids)}


def intake(env: dict) -> dict:
    """intake's own poller, from an empty store to every mail stored, routed and moved."""
    import tomllib

    import psutil

    from ingest.channels.email.poller import MailboxPoller
    from ingest.prepare import start_pool
    from intake import settings as settings_module
    from intake.cli.wiring import runtime_for
    from intake.runtime import install
    from outbound.broker import make_broker
    from store import migrate

    data = tomllib.loads((ROOT / "settings.toml").read_text(encoding="utf-8"))
    data["store"]["url"] = env["store"]
    data["broker"]["state_dir"] = str(Path(env["work"]) / "state")
    data["ingest"] = {"processes": env["processes"]}
    data["mailbox"] = [
        {
            "name": "bench",
            "host": env["host"],
            "port": env["port"],
            "security": "plain",
            "username": env["user"],
            "password_env": "BENCH_IMAP_PASSWORD",
            "after_ingest": "move",
            "fetch_batch": 500,
            "timeout_seconds": 120,
        }
    ]
    os.environ["BENCH_IMAP_PASSWORD"] = env["password"]
    settings = settings_module.from_mapping(data)
    runtime = runtime_for(settings, broker=make_broker(settings, env["redis"]))
    migrate.upgrade(runtime.engine)
    install(runtime)
    runtime.pool = pool = start_pool(settings)  # as `intake run` does at start
    poller = MailboxPoller(runtime, settings.mailbox[0], "INBOX")
    started = time.perf_counter()
    report = poller.run_once()
    elapsed = time.perf_counter() - started
    poller.close()
    workers = [psutil.Process(pid) for pid in (pool._processes if pool else {})]
    worker_rss = max((p.memory_info().rss for p in workers), default=0) / 2**20
    runtime.close()
    return {
        "seconds": elapsed,
        "worker_rss_mb": worker_rss,
        "messages": report.fetched,
        "created": report.created,
        "duplicates": report.duplicates,
        "failed": report.failed,
    }


def report(results: dict, count: int) -> None:
    floor_rate = results["floor"]["messages"] / results["floor"]["seconds"]
    print(f"\n{'':30}{'seconds':>9}{'msg/s':>9}{'× floor':>9}{'peak RSS MB':>13}{'per worker':>12}")
    for name, r in results.items():
        rate = r["messages"] / r["seconds"]
        label = "raw floor (no store)" if name == "floor" else name
        workers = f"{r['worker_rss_mb']:>12.0f}" if r.get("worker_rss_mb") else f"{'-':>12}"
        print(
            f"{label:30}{r['seconds']:>9.1f}{rate:>9.0f}{rate / floor_rate:>9.2f}"
            f"{r['peak_rss_mb']:>13.0f}{workers}"
        )
    print(
        "\ngoal: intake ≥ 2× the floor; django-helpdesk get_email ≈ 24 msg/s on this kind of "
        "machine (per the issue)"
    )
    for name, r in results.items():
        if name != "floor":
            print(
                f"{name}: {r['messages']} of {count} stored: {r['created']} handled, "
                f"{r['duplicates']} duplicates, {r['failed']} failed"
            )


if __name__ == "__main__":
    sys.exit(main())
