"""Deliveries that can never succeed fail once, for the record, instead of being retried
for ever (issue 11, defect 4): a mail that cannot be composed, and an international address
on a relay without SMTPUTF8. With SMTPUTF8 the international address is delivered."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from intake.errors import PermanentError
from outbound import delivery
from outbound.jobs import Job
from store import repo
from store.models import AttachmentRow, ComplaintRow, EventRow
from tests.conftest import Inbox, free_port, make_settings
from tests.mails import mail

IDN = "müşteri@örnek.com.tr"


def complaint_from(rt, sender: str) -> int:
    payload = mail(sender, "e-imza kartım", "Kartım okunmuyor.", utf8=True)
    raw = raw_from_bytes(payload, channel="email")
    return pipeline.ingest(rt, [raw]).outcomes()[0].complaint_id


def settings_for(tmp_path: Path, port: int):
    return make_settings(tmp_path, smtp={"host": "127.0.0.1", "port": port})


def relay(smtputf8: bool):
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    return inbox, port, controller


def test_an_international_address_on_a_relay_without_smtputf8_fails_once_for_good(
    tmp_path, make_runtime
):
    inbox, port, controller = relay(smtputf8=False)
    try:
        rt = make_runtime(settings_for(tmp_path, port))
        complaint_id = complaint_from(rt, IDN)
        with rt.sessions() as session:
            assert session.get(ComplaintRow, complaint_id).complainant_email == IDN
        with pytest.raises(PermanentError, match="SMTPUTF8"):
            delivery.perform(rt, Job.ACK, complaint_id)
    finally:
        controller.stop()
    with rt.sessions() as session:
        assert session.get(ComplaintRow, complaint_id).ack_state == "failed"
    assert inbox.to(IDN) == []


def test_an_international_address_is_delivered_by_a_relay_with_smtputf8(tmp_path, make_runtime):
    inbox, port, controller = relay(smtputf8=True)
    try:
        rt = make_runtime(settings_for(tmp_path, port))
        complaint_id = complaint_from(rt, IDN)
        assert delivery.perform(rt, Job.ACK, complaint_id)
    finally:
        controller.stop()
    assert len(inbox.to(IDN)) == 1


def test_a_ticket_that_cannot_be_composed_is_recorded_failed_not_retried(
    tmp_path, smtp, make_runtime
):
    inbox, port = smtp
    rt = make_runtime(settings_for(tmp_path, port))
    complaint_id = complaint_from(rt, "ali@example.com")
    with rt.sessions.begin() as session:  # as stored before names were cleaned at intake
        repo.put_blobs(session, {"0" * 64: b"%PDF-1.4"})
        session.add(
            AttachmentRow(
                complaint_id=complaint_id,
                filename="fatura\x0b.pdf",
                content_type="application/pdf",
                size=8,
                sha256="0" * 64,
            )
        )
    with pytest.raises(PermanentError, match="could not be composed"):
        delivery.perform(rt, Job.TICKET, complaint_id)
    with rt.sessions() as session:
        assert session.get(ComplaintRow, complaint_id).delivery_state == "failed"
        failed = session.scalars(
            select(EventRow).where(
                EventRow.complaint_id == complaint_id, EventRow.kind == "ticket_failed"
            )
        ).one()
    assert "composed" in failed.detail["error"]
    assert inbox.messages == [] or all("X-Intake-Ref" not in m for _, m in inbox.messages)
