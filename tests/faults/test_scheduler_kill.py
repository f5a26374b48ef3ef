"""kill -9 of the scheduler in the middle of a pass: the notices it wrote are in the store,
so the next pass sends the ones left unsent, and none is written or owed twice. The one
being written to the relay (here the outbox) at the kill may go out twice: sending is at
least once (README)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.scheduler.run import RECEIVED, populate
from intake.cli.wiring import runtime_for
from store import migrate
from store.models import NoticeRow
from tests.conftest import make_settings

INTAKE = [sys.executable, "-m", "intake.cli"]
COMPLAINTS = 3000  # half through the SSL box: 1500 reminders at 13 hours


def notices(rt, *where) -> int:  # noqa: ANN001
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(NoticeRow).where(*where))


def test_a_pass_killed_half_way_is_finished_by_the_next_and_nothing_is_owed_twice(tmp_path):
    settings = make_settings(tmp_path, broker={"claim_lease_seconds": 4})
    config = tmp_path / "settings.toml"
    text = (Path(__file__).parents[2] / "settings.toml").read_text(encoding="utf-8")
    config.write_text(
        text.replace('url = "sqlite:///var/intake.db"', f'url = "{settings.store.url}"')
        .replace('outbox_dir = "var/outbox"', f'outbox_dir = "{tmp_path}/outbox"')
        .replace('state_dir = "var"', f'state_dir = "{tmp_path}/state"')
        .replace("claim_lease_seconds = 90", "claim_lease_seconds = 4"),
        encoding="utf-8",
    )
    rt = runtime_for(settings)
    migrate.upgrade(rt.engine)
    populate(rt, COMPLAINTS)
    at = (RECEIVED + timedelta(hours=13)).isoformat()
    command = [*INTAKE, "--config", str(config), "scheduler", "--once", "--at", at]

    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while notices(rt, NoticeRow.state == "sent") < 20:
        assert first.poll() is None and time.monotonic() < deadline, "the pass ended first"
        time.sleep(0.01)
    first.kill()
    first.wait(10)
    written, sent = notices(rt), notices(rt, NoticeRow.state == "sent")
    assert written == COMPLAINTS // 2 and 0 < sent < written  # killed half-way through

    later = (RECEIVED + timedelta(hours=13, minutes=1)).isoformat()  # the dead claim lapsed
    command[-1] = later
    second = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr

    assert notices(rt) == COMPLAINTS // 2  # none written twice
    assert notices(rt, NoticeRow.state == "sent") == COMPLAINTS // 2  # every one sent
    assert "left unsent" in second.stdout
    outbox = list((tmp_path / "outbox").iterdir())
    assert COMPLAINTS // 2 <= len(outbox) <= COMPLAINTS // 2 + 1  # the one in flight, twice
    rt.close()
