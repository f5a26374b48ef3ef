"""The daily caps on acknowledgements (outbound.budget): per address, per domain, per desk.

Each acknowledgement reserves one unit of its address's (case and `+tag` ignored), its
domain's and the desk's budget for the local day before it is sent; over a cap it is
suppressed, recorded, and not sent. The reservation is atomic, so workers sending at the same
moment never exceed a cap, on SQLite as on PostgreSQL. Complaints come in through the real
pipeline (no broker: their acknowledgements stay pending), the test does the jobs with
`delivery.perform` against a real aiosmtpd relay, and the time is the test's (`clock`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from intake.errors import TemporaryError
from outbound import delivery
from outbound.jobs import Job
from store.models import ComplaintRow, EventRow
from tests.conftest import make_settings

IST = ZoneInfo("Europe/Istanbul")


def mail(sender: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "sikayet@example.org"
    msg["Subject"] = "e-imza kartım çalışmıyor"
    msg["Message-ID"] = make_msgid(domain="mail.example.net")
    msg.set_content("Nitelikli e-imza kartım okunmuyor.")
    return msg.as_bytes()


def complaints_from(rt, senders: list[str]) -> list[int]:
    """One new complaint per sender (their acknowledgements pending); their ids."""
    raws = [raw_from_bytes(mail(sender)) for sender in senders]
    outcomes = pipeline.ingest(rt, raws).outcomes()
    assert [o.status for o in outcomes] == ["created"] * len(senders)
    return [o.complaint_id for o in outcomes if o.complaint_id is not None]


def ack_states(rt, ids: list[int]) -> Counter:
    with rt.sessions() as session:
        rows = session.scalars(select(ComplaintRow).where(ComplaintRow.id.in_(ids)))
        return Counter(row.ack_state for row in rows)


def acknowledge_each(rt, ids: list[int]) -> list[bool]:
    return [delivery.perform(rt, Job.ACK, complaint_id) for complaint_id in ids]


def acknowledge_all_at_once(rt, ids: list[int]) -> dict[int, bool]:
    """The acknowledgement jobs of `ids`, each in its own thread, released together."""
    barrier = threading.Barrier(len(ids))
    results: dict[int, bool] = {}
    errors: list[BaseException] = []

    def work(complaint_id: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[complaint_id] = delivery.perform(rt, Job.ACK, complaint_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return results


@pytest.fixture
def desk(tmp_path: Path, store_url: str, smtp, make_runtime, clock) -> Iterator:
    """`desk(**acknowledge)`: a runtime on the store under test, no broker, mail to aiosmtpd."""
    inbox, port = smtp

    def build(**acknowledge):
        settings = make_settings(
            tmp_path,
            store={"url": store_url},
            smtp={"host": "127.0.0.1", "port": port},
            acknowledge=acknowledge,
        )
        return make_runtime(settings), inbox

    yield build


ALI_VARIANTS = [
    "ali@example.com",
    "Ali@Example.com",
    "ALI@EXAMPLE.COM",
    "ali+1@example.com",
    "Ali+2@Example.com",
    "ali+desk@EXAMPLE.com",
    "ali@example.com",
    "Ali+x@example.COM",
    "ali+3@Example.Com",
    "ALI+Y@example.com",
]


@pytest.mark.parametrize(
    "senders", [ALI_VARIANTS, ["ali@example.com"] * 10], ids=["case-and-tag-variants", "same"]
)
def test_ten_concurrent_acks_to_one_address_send_exactly_the_cap(desk, senders):
    rt, inbox = desk(max_per_address_per_day=5)
    ids = complaints_from(rt, senders)

    results = acknowledge_all_at_once(rt, ids)

    assert sorted(results.values()) == [False] * 5 + [True] * 5
    assert len(inbox.messages) == 5
    assert ack_states(rt, ids) == Counter({"sent": 5, "suppressed": 5})
    with rt.sessions() as session:
        suppressed = session.scalars(
            select(EventRow).where(
                EventRow.kind == "ack_suppressed", EventRow.complaint_id.in_(ids)
            )
        ).all()
    assert len(suppressed) == 5 and all("address" in e.detail["error"] for e in suppressed)


def test_the_domain_cap_stops_acks_to_one_domain_and_not_to_others(desk):
    rt, inbox = desk(max_per_address_per_day=100, max_per_domain_per_day=3)
    same_domain = [f"user{i}@Example.COM" if i % 2 else f"user{i}@example.com" for i in range(5)]
    ids = complaints_from(rt, [*same_domain, "other@example.net"])

    sent = acknowledge_each(rt, ids)

    assert sent == [True, True, True, False, False, True]
    assert [rcpts[0].lower() for rcpts, _m in inbox.messages] == [
        "user0@example.com",
        "user1@example.com",
        "user2@example.com",
        "other@example.net",
    ]
    assert ack_states(rt, ids) == Counter({"sent": 4, "suppressed": 2})


def test_the_desk_cap_stops_every_ack_once_reached(desk):
    rt, inbox = desk(
        max_per_address_per_day=100, max_per_domain_per_day=100, max_per_desk_per_day=4
    )
    ids = complaints_from(rt, [f"person@domain{i}.example" for i in range(6)])

    results = acknowledge_all_at_once(rt, ids)

    assert sorted(results.values()) == [False] * 2 + [True] * 4
    assert len(inbox.messages) == 4
    assert ack_states(rt, ids) == Counter({"sent": 4, "suppressed": 2})


def test_a_suppressed_ack_takes_nothing_from_the_other_budgets(desk):
    """All three budgets are taken together or not at all: an address over its cap does not
    use up its domain's budget for the others."""
    rt, inbox = desk(max_per_address_per_day=1, max_per_domain_per_day=2)
    ids = complaints_from(rt, ["ali@example.com", "Ali+2@example.com", "veli@example.com"])

    assert acknowledge_each(rt, ids) == [True, False, True]
    assert len(inbox.messages) == 2


def test_the_caps_are_per_local_day_and_sends_resume_after_local_midnight(desk, clock):
    rt, inbox = desk(max_per_address_per_day=2)
    clock.set(datetime(2026, 3, 10, 23, 30, tzinfo=IST))  # 20:30 UTC
    ids = complaints_from(rt, ["ali@example.com"] * 3)
    assert acknowledge_each(rt, ids) == [True, True, False]

    clock.set(datetime(2026, 3, 11, 0, 30, tzinfo=IST))  # an hour on: a new day in Istanbul
    later = complaints_from(rt, ["ali@example.com"] * 3)
    assert acknowledge_each(rt, later) == [True, True, False]
    assert len(inbox.messages) == 4


def test_the_day_of_a_cap_does_not_end_at_midnight_utc(desk, clock):
    rt, inbox = desk(max_per_address_per_day=2)
    start = datetime(2026, 3, 11, 2, 0, tzinfo=IST)  # 23:00 UTC on the 10th
    clock.set(start)
    ids = complaints_from(rt, ["ali@example.com"] * 2)
    assert acknowledge_each(rt, ids) == [True, True]

    clock.set(start + timedelta(hours=2))  # 01:00 UTC on the 11th: the same day in Istanbul
    later = complaints_from(rt, ["ali@example.com"])
    assert acknowledge_each(rt, later) == [False]
    assert len(inbox.messages) == 2


def test_an_ack_the_relay_deferred_does_not_spend_the_budget_on_each_retry(desk):
    """A cap counts mails sent, not attempts: two deferrals by the relay must not leave the
    complainant (and everyone else at that address) without an acknowledgement for the day."""
    rt, inbox = desk(max_per_address_per_day=2)
    first, second = complaints_from(rt, ["ali@example.com"] * 2)
    inbox.refuse["ali@example.com"] = ["451 4.3.0 try again later"] * 2 + ["250 OK"]
    for _attempt in range(2):
        with pytest.raises(TemporaryError):
            delivery.perform(rt, Job.ACK, first)
    assert inbox.messages == []

    assert acknowledge_each(rt, [first, second]) == [True, True]
    assert len(inbox.messages) == 2
    assert ack_states(rt, [first, second]) == Counter({"sent": 2})
