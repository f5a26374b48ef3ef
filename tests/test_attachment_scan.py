"""Issue 11, defect 10: attachments reach the unit only screened, and scanned when clamd is set.

Given complaints through the one door (a web form, which no mail server scans), the store on
SQLite and a real aiosmtpd relay, when the ticket is delivered (`outbound.delivery.perform`),
then a program, a misnamed or misdeclared file and a kind not allowed stay with the operators
(an `attachment_withheld` event, the blob kept) and the ticket names them with the reason,
while the complaint and its good files go on. With `[attachments] clamd`, a real clamd
(Debian's clamav-daemon, started here on a temporary socket with a one-line signature
database: no virus database is downloaded) scans each file first: the EICAR test file is
withheld with the signature's name, and a clamd that cannot be reached delays the ticket.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from ingest import pipeline
from ingest.channels.email.raw import raw_from_bytes
from intake import clock
from intake.runtime import Runtime
from intake.schema import RawMessage
from outbound import delivery, scan
from outbound.broker import retryable
from outbound.jobs import Job
from store import repo
from store.models import ComplaintRow, EventRow
from tests.conftest import Inbox, free_port, make_settings, missing

CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"
# The EICAR test file, put together here so that no scanner takes this source for it.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-" + b"STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Eicar-Test-Signature"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"PE\x00\x00"
PASSWD = b"root:x:0:0:root:/root:/bin/bash\n"
STREAM_MAX = 2**20  # the StreamMaxLength of our clamd


# --- a clamd of our own ------------------------------------------------------------------------


@dataclass
class Clamd:
    unix: str  # "unix:/…/clamd.sock"
    tcp: str  # "tcp:127.0.0.1:<port>"


def ping(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """clamd in the foreground on a temporary socket and port, with one signature: EICAR's
    MD5 (an .hdb line), as the virus databases cannot be downloaded here."""
    if not os.access(CLAMD, os.X_OK):
        missing("clamd (Debian's clamav-daemon)")
    root = tmp_path_factory.mktemp("clamd")
    (root / "db").mkdir()
    md5 = hashlib.md5(EICAR).hexdigest()  # noqa: S324 - the signature format is MD5
    (root / "db" / "test.hdb").write_text(f"{md5}:{len(EICAR)}:{SIGNATURE}\n")
    sock, port = root / "clamd.sock", free_port()
    (root / "clamd.conf").write_text(
        "Foreground yes\n"
        f"LocalSocket {sock}\n"
        f"TCPSocket {port}\n"
        "TCPAddr 127.0.0.1\n"
        f"DatabaseDirectory {root / 'db'}\n"
        f"TemporaryDirectory {root}\n"
        f"StreamMaxLength {STREAM_MAX // 1024}K\n"
    )
    with (root / "clamd.out").open("wb") as out:
        process = subprocess.Popen(
            [CLAMD, "-c", str(root / "clamd.conf")], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while not ping(str(sock)):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "clamd.out").read_text(errors="replace")
                pytest.fail(f"clamd did not start:\n{log}")
            time.sleep(0.05)
        yield Clamd(f"unix:{sock}", f"tcp:127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the desk ----------------------------------------------------------------------------------


def form(files: list[tuple[str, str, bytes]]) -> RawMessage:
    """A web-form submission with `files` (filename, content type, bytes) as sent."""
    boundary = "b0undary-intake-test"
    fields = {
        "name": "Ayşe Yılmaz",
        "email": "ayse.yilmaz@example.com",
        "subject": "Fatura ekte",
        "message": "E-imza kartım için kestiğiniz faturayı ve ekran görüntüsünü ekledim.",
        "product": "nes",
        "kvkk_consent": "on",
    }
    body = b""
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        body += value.encode() + b"\r\n"
    for filename, content_type, data in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="ek"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return RawMessage(
        channel="webform",
        source_id="sha256:" + hashlib.sha256(body).hexdigest(),
        received_at=clock.now(),
        payload=body,
        transport={"content_type": f"multipart/form-data; boundary={boundary}"},
    )


def desk(tmp_path: Path, port: int, make_runtime, **attachments: object) -> Runtime:  # noqa: ANN001
    settings = make_settings(
        tmp_path, smtp={"host": "127.0.0.1", "port": port}, attachments=attachments
    )
    return make_runtime(settings)


def submit(rt: Runtime, files: list[tuple[str, str, bytes]]) -> int:
    outcome = pipeline.ingest(rt, [form(files)]).outcomes()[0]
    assert outcome.status == "created", outcome
    assert outcome.complaint_id is not None
    return outcome.complaint_id


def ticket(rt: Runtime, inbox: Inbox, complaint_id: int):  # noqa: ANN201
    with rt.sessions() as session:
        row = session.get(ComplaintRow, complaint_id)
        assert row is not None and row.delivery_state == "sent"
        [mail] = inbox.to(rt.settings.unit_named(row.unit).email)
    return mail


def withheld_events(rt: Runtime, complaint_id: int) -> list[dict]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(EventRow.detail)
                .where(
                    EventRow.complaint_id == complaint_id, EventRow.kind == "attachment_withheld"
                )
                .order_by(EventRow.id)
            )
        )


# --- the tests ---------------------------------------------------------------------------------


def test_the_unit_gets_the_complaint_and_its_good_files_and_hears_what_was_withheld(
    tmp_path, smtp, make_runtime
):
    inbox, port = smtp
    rt = desk(tmp_path, port, make_runtime)
    cid = submit(
        rt,
        [
            ("dilekce.pdf", "application/pdf", PDF),
            ("invoice.pdf.exe", "application/pdf", EXE),
            ("../../../../etc/passwd", "text/plain", PASSWD),
            ("a\x00b.pdf", "application/pdf", PDF + b"% another"),
            ("ekran.png", "image/jpeg", PNG),
        ],
    )

    assert delivery.perform(rt, Job.TICKET, cid)

    mail = ticket(rt, inbox, cid)
    parts = list(mail.iter_attachments())
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [
        ("dilekce.pdf", "application/pdf"),
        ("passwd.txt", "text/plain"),
        ("ab.pdf", "application/pdf"),
    ]
    assert [p.get_content() for p in parts] == [PDF, PASSWD.decode(), PDF + b"% another"]
    raw = mail.as_bytes()
    assert b"\x00" not in raw and b"../" not in raw and b"etc/passwd" not in raw
    assert not any(EXE in (p.get_payload(decode=True) or b"") for p in mail.walk())
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "E-imza kartım için" in text
    assert "Withheld attachments" in text
    assert (
        f"- invoice.pdf.exe (application/pdf, {len(EXE)} bayt/bytes): "
        "an executable: a Windows program (MZ)\n"
        f"- ekran.png (image/jpeg, {len(PNG)} bayt/bytes): "
        "declared image/jpeg, but the content is png\n"
    ) in text

    events = withheld_events(rt, cid)
    assert [(e["filename"], e["reason"]) for e in events] == [
        ("invoice.pdf.exe", "an executable: a Windows program (MZ)"),
        ("ekran.png", "declared image/jpeg, but the content is png"),
    ]
    with rt.sessions() as session:  # kept for the operators
        assert repo.get_blob(session, events[0]["sha256"]) == EXE
        assert events[0]["sha256"] == hashlib.sha256(EXE).hexdigest()


def test_a_follow_up_by_mail_is_screened_the_same_way(tmp_path, smtp, make_runtime):
    inbox, port = smtp
    rt = desk(tmp_path, port, make_runtime)
    first = submit(rt, [])
    with rt.sessions() as session:
        reference = session.get(ComplaintRow, first).reference
    later = EmailMessage()
    later["From"], later["To"] = "Ayşe Yılmaz <ayse.yilmaz@example.com>", "sikayet@example.org"
    later["Subject"], later["Message-ID"] = f"Re: [#{reference}] Fatura", "<later-1@example.com>"
    later.set_content("Faturanın kendisi ekte.")
    later.add_attachment(EXE, "application", "pdf", filename="invoice.pdf.exe")
    later.add_attachment(PNG, "image", "png", filename="ekran.png")
    outcome = pipeline.ingest(rt, [raw_from_bytes(later.as_bytes())]).outcomes()[0]
    assert (outcome.status, outcome.complaint_id) == ("followup", first)

    assert delivery.perform(rt, Job.FOLLOWUP, outcome.raw_id)

    [forwarded] = [m for m in inbox.messages if "followup" in m[1]["Message-ID"]]
    mail = forwarded[1]
    assert [p.get_filename() for p in mail.iter_attachments()] == ["ekran.png"]
    assert "- invoice.pdf.exe (application/pdf, " in mail.get_body(("plain",)).get_content()
    assert [(e["job"], e["filename"]) for e in withheld_events(rt, first)] == [
        ("followup", "invoice.pdf.exe")
    ]


@pytest.mark.parametrize("over", ["unix", "tcp"])
def test_a_virus_clamd_finds_is_withheld_with_its_name(tmp_path, smtp, make_runtime, clamd, over):
    inbox, port = smtp
    rt = desk(tmp_path, port, make_runtime, clamd=getattr(clamd, over))
    cid = submit(
        rt, [("dilekce.pdf", "application/pdf", PDF), ("not.txt", "text/plain", EICAR)]
    )  # EICAR is plain text: only the scan tells

    assert delivery.perform(rt, Job.TICKET, cid)

    mail = ticket(rt, inbox, cid)
    assert [p.get_filename() for p in mail.iter_attachments()] == ["dilekce.pdf"]
    assert EICAR not in mail.as_bytes()
    found = f"clamd found {SIGNATURE}.UNOFFICIAL"  # clamd's suffix for a local signature
    assert f"- not.txt (text/plain, {len(EICAR)} bayt/bytes): {found}" in (
        mail.get_body(("plain",)).get_content()
    )
    assert [(e["filename"], e["reason"]) for e in withheld_events(rt, cid)] == [("not.txt", found)]


def test_clamd_out_of_reach_delays_the_ticket_until_it_can_scan(
    tmp_path, smtp, make_runtime, clamd
):
    inbox, port = smtp
    rt = desk(tmp_path, port, make_runtime, clamd=f"unix:{tmp_path / 'no-clamd.sock'}")
    cid = submit(rt, [("dilekce.pdf", "application/pdf", PDF)])

    with pytest.raises(scan.ClamdUnavailable) as raised:
        delivery.perform(rt, Job.TICKET, cid)

    assert retryable(raised.value)  # the broker tries again with backoff
    with rt.sessions() as session:
        row = session.get(ComplaintRow, cid)
        assert (row.delivery_state, row.delivery_claimed_at) == ("pending", None)
    assert inbox.messages == [] or inbox.to("ayse.yilmaz@example.com") == inbox.messages

    rt = desk(tmp_path, port, make_runtime, clamd=clamd.unix)  # clamd is back
    assert delivery.perform(rt, Job.TICKET, cid)
    assert [p.get_filename() for p in ticket(rt, inbox, cid).iter_attachments()] == ["dilekce.pdf"]
    assert withheld_events(rt, cid) == []


def test_a_file_over_clamd_s_stream_limit_is_withheld_and_a_clean_one_passes(clamd):
    assert scan.clamd_scan(clamd.unix, b"x" * (STREAM_MAX + 1), 30) == (
        "too large for clamd to scan (its StreamMaxLength)"
    )
    assert scan.clamd_scan(clamd.tcp, PDF, 30) is None
    assert scan.clamd_scan(clamd.tcp, EICAR, 30) == f"clamd found {SIGNATURE}.UNOFFICIAL"
