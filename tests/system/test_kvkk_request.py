"""A data subject's request (KVKK art. 11) through the real pipeline: recognised by mail,
categorised `kvkk` with its 30-day `kvkk_answer` clock as the answer due, routed to the data
protection contact (`[privacy] unit`) with the reason on record, a ticket that says what it
is, and a decision that meets the clock; a mail that only carries a KVKK footer stays an
ordinary complaint.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.settings import UnitSettings, validate
from outbound.broker import make_broker
from store.models import ClockRow, RoutingDecisionRow
from tests.conftest import make_settings
from tests.mails import mail, text_of
from tests.system.test_lifecycle import ALI, TUESDAY, arrive, complaint, last_to

pytestmark = pytest.mark.system

PRIVACY_UNIT = "kvkk@example.org"  # the data protection contact, a unit of no product
FOOTER = (
    "Saygılarımızla,\nABC Lojistik A.Ş.\n\nKişisel verileriniz 6698 sayılı Kişisel Verilerin "
    "Korunması Kanunu kapsamında işlenmektedir. KVKK'nın 11. maddesi kapsamındaki haklarınız "
    "için kvkk@abc.com.tr adresine başvurabilirsiniz."
)


@pytest.fixture
def desk(tmp_path: Path, store_url: str, redis_url: str, smtp, make_runtime, clock):
    inbox, port = smtp
    clock.set(TUESDAY)
    settings = make_settings(
        tmp_path,
        store={"url": store_url},
        smtp={"host": "127.0.0.1", "port": port},
        broker={"min_backoff_ms": 100, "max_backoff_ms": 500, "max_retries": 3},
    )
    contact = UnitSettings("data_protection", "Veri Koruma İrtibat Kişisi", PRIVACY_UNIT)
    settings = dataclasses.replace(
        settings,
        unit=(*settings.unit, contact),
        privacy=dataclasses.replace(settings.privacy, unit=contact.code),
    )
    validate(settings)
    broker = make_broker(settings, redis_url)
    rt = make_runtime(settings, broker=broker)
    yield rt, inbox, clock
    broker.close()


def clocks_of(rt, complaint_id: int) -> dict[str, ClockRow]:
    with rt.sessions() as session:
        rows = session.scalars(select(ClockRow).where(ClockRow.complaint_id == complaint_id))
        return {row.name: row for row in rows}


def test_a_kvkk_request_by_mail_gets_its_clock_its_contact_and_its_ticket(desk):
    rt, inbox, clock = desk
    ref = arrive(
        rt,
        mail(
            f"Ali Yılmaz <{ALI}>",
            "Nitelikli e-imza sertifikam",
            "Merhaba,\n\nNitelikli e-imza kartımın sertifikası için verdiğim kimlik "
            "bilgileri dahil tüm kişisel verilerimin\nsilinmesini talep ediyorum.\n\nAli Yılmaz",
        ),
    ).reference
    row = complaint(rt, ref)
    assert (row.category, row.unit) == ("kvkk", "data_protection")
    kvkk = clocks_of(rt, row.id)["kvkk_answer"]
    assert kvkk.due_at == row.received_at + timedelta(days=30)  # calendar days, from receipt
    assert kvkk.measure == "calendar" and not kvkk.pausable
    assert row.due_at == kvkk.due_at  # the answer due is the statutory one
    with rt.sessions() as session:
        decision = session.scalars(
            select(RoutingDecisionRow).where(RoutingDecisionRow.complaint_id == row.id)
        ).one()
    assert decision.decided_by == "kvkk:privacy_unit"
    assert any(hit["rule"] == "kvkk_request" for hit in decision.hits)

    ticket = last_to(inbox, PRIVACY_UNIT)
    assert not inbox.to(rt.settings.unit_for(row.product).email)  # not by product
    assert "KVKK başvurusu / data subject request" in ticket["Subject"]
    first = text_of(ticket).splitlines()[0]
    assert first.startswith("KVKK başvurusu / data subject request — 30 gün")
    assert row.received_at == TUESDAY and "09.04.2026 10:00" in first  # 10 March + 30 days

    clock.set(TUESDAY + timedelta(days=3))
    arrive(rt, mail(PRIVACY_UNIT, f"Re: [#{ref}]", "#resolved Verileriniz silinmiştir."))
    met = clocks_of(rt, row.id)["kvkk_answer"]
    assert met.met_at == TUESDAY + timedelta(days=3) and met.breached_at is None


def test_a_complaint_with_a_kvkk_footer_is_an_ordinary_complaint(desk):
    rt, inbox, _clock = desk
    ref = arrive(
        rt,
        mail(
            "Mehmet Demir <mehmet@abc.com.tr>",
            "e-imza kartım",
            f"Nitelikli e-imza kartım okunmuyor, yardım eder misiniz?\n\n{FOOTER}",
        ),
    ).reference
    row = complaint(rt, ref)
    assert row.category is None and row.unit != "data_protection"  # by product, as ever
    assert row.product == "nes"  # the footer's KVKK words decide nothing
    assert "kvkk_answer" not in clocks_of(rt, row.id) and not inbox.to(PRIVACY_UNIT)
    ticket = last_to(inbox, rt.settings.unit_named(row.unit).email)
    assert "KVKK" not in ticket["Subject"] and "data subject" not in text_of(ticket)
