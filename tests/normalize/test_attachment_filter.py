"""Issue 11, defect 10: what of a complaint's attachments may go on to its unit.

`screen_attachment` is pure: the bytes decide the kind (programs never go), the name's
extension and the declared type must agree with it, and the kind must be allowed by
`[attachments] allowed_types`. The hostile three of the report, as intake leaves them
(`clean_attachment`), and good files of each default kind."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone

import pytest

from intake.errors import ConfigError
from intake.settings import (
    ATTACHMENT_TYPES,
    DEFAULT_ALLOWED_ATTACHMENT_TYPES,
)
from normalize.attachments import Withheld, clean_attachment, screen_attachment
from normalize.sniff import KINDS, extension_of
from outbound.compose import TicketView, ticket_mail
from tests.conftest import make_settings

ALLOWED = DEFAULT_ALLOWED_ATTACHMENT_TYPES
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"PE\x00\x00"
PASSWD = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
DEFAULT = "application/octet-stream"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


def zipped(*names: str, mimetype: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        if mimetype:
            archive.writestr("mimetype", mimetype)
        for name in names:
            archive.writestr(name, "<x/>")
    return out.getvalue()


def ole(stream: str) -> bytes:
    return OLE + stream.encode("utf-16-le") + b"\x00" * 64


def screened(filename: str, content_type: str, data: bytes, allowed=ALLOWED):
    """As the pipeline does it: cleaned at intake, screened on the way to the unit."""
    name, ctype, _ = clean_attachment(filename, content_type)
    return screen_attachment(name, ctype, data, allowed)


# --- the three of the report ----------------------------------------------------------------


def test_a_program_named_and_declared_as_a_pdf_is_withheld():
    verdict = screened("invoice.pdf.exe", "application/pdf", EXE)
    assert verdict.reason == "an executable: a Windows program (MZ)"
    assert verdict.filename == "invoice.pdf.exe"  # named as it came, for the ticket's list


def test_a_path_traversal_name_goes_as_its_basename_with_its_kind_s_extension():
    verdict = screened("../../../../etc/passwd", "text/plain", PASSWD)
    assert (verdict.filename, verdict.content_type, verdict.reason) == (
        "passwd.txt",
        "text/plain",
        None,
    )


def test_a_path_traversal_name_on_bytes_of_no_kind_is_withheld():
    verdict = screened("../../../../etc/passwd", "application/octet-stream", b"\x00\x01\x02\xff")
    assert (verdict.filename, verdict.reason) == ("passwd", "content of a kind not known here")


def test_a_nul_in_a_name_is_gone_and_the_pdf_goes():
    verdict = screened("a\x00b.pdf", "application/pdf", PDF)
    assert (verdict.filename, verdict.content_type, verdict.reason) == (
        "ab.pdf",
        "application/pdf",
        None,
    )


# --- good files of each default kind ----------------------------------------------------------

GOOD = [
    ("dilekce.pdf", "application/pdf", PDF, "pdf"),
    ("ekran.png", "image/png", PNG, "png"),
    ("foto.JPG", "image/jpeg", JPEG, "jpeg"),
    ("foto.jpeg", "application/octet-stream", JPEG, "jpeg"),
    ("anim.gif", "image/gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "gif"),
    ("img.webp", "image/webp", b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
    ("IMG_0001.HEIC", "image/heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "heic"),
    ("tarama.tif", "image/tiff", b"II*\x00\x08\x00\x00\x00", "tiff"),
    ("not.txt", "text/plain", "Kartım okunmuyor, sürücü yüklü.\r\n".encode("cp1254"), "txt"),
    ("liste.csv", "application/vnd.ms-excel", b"ad;soyad\nAli;Veli\n", "csv"),
    ("liste.csv", "text/csv", "ad,soyad\n".encode("utf-16"), "csv"),
    ("site.pem", "application/x-pem-file", b"-----BEGIN CERTIFICATE-----\nMIIB\n", "cert"),
    ("site.cer", "application/pkix-cert", b"\x30\x82\x03\x0a\x30\x82\x01\xf2", "cert"),
    (
        "rapor.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        zipped("[Content_Types].xml", "word/document.xml"),
        "docx",
    ),
    ("tablo.xlsx", "application/zip", zipped("[Content_Types].xml", "xl/workbook.xml"), "xlsx"),
    ("sunum.pptx", DEFAULT, zipped("[Content_Types].xml", "ppt/presentation.xml"), "pptx"),
    (
        "yazi.odt",
        "application/vnd.oasis.opendocument.text",
        zipped("content.xml", mimetype="application/vnd.oasis.opendocument.text"),
        "odt",
    ),
    (
        "tablo.ods",
        DEFAULT,
        zipped("content.xml", mimetype="application/vnd.oasis.opendocument.spreadsheet"),
        "ods",
    ),
    ("eski.doc", "application/msword", ole("WordDocument"), "doc"),
    ("eski.xls", "application/vnd.ms-excel", ole("Workbook"), "xls"),
    ("eski.ppt", "application/vnd.ms-powerpoint", ole("PowerPoint Document"), "ppt"),
]


@pytest.mark.parametrize(("name", "ctype", "data", "kind"), GOOD, ids=[g[0] for g in GOOD])
def test_good_files_go_under_their_kind_s_own_type(name, ctype, data, kind):
    verdict = screened(name, ctype, data)
    assert (verdict.kind, verdict.reason) == (kind, None)
    assert (verdict.filename, verdict.content_type) == (name, KINDS[kind].content_types[0])


def test_a_name_without_an_extension_gets_its_kind_s():
    assert screened("Dilekçe 12.03.2026", "application/pdf", PDF).filename == (
        "Dilekçe 12.03.2026.pdf"
    )
    assert screened("", "image/png", PNG).filename == "ek.png"
    assert screened(None, "image/jpeg", JPEG).filename == "ek.jpg"
    assert extension_of("a.tar.gz") == "gz" and extension_of("v1.2") == ""


# --- withheld ---------------------------------------------------------------------------------

WITHHELD = [
    (
        "a Linux program",
        "rapor.pdf",
        "application/pdf",
        b"\x7fELF\x02\x01\x01" + b"\x00" * 9,
        "an executable: a Linux program (ELF)",
    ),
    (
        "a macOS program",
        "foto.jpg",
        "image/jpeg",
        b"\xcf\xfa\xed\xfe\x07\x00\x00\x01",
        "an executable: a macOS program (Mach-O)",
    ),
    ("a script", "not.txt", "text/plain", b"#!/bin/sh\nrm -rf ~\n", "an executable: a script (#!)"),
    ("a pdf named .exe", "fatura.pdf.exe", DEFAULT, PDF, "named .exe, but the content is pdf"),
    (
        "a script by extension",
        "fatura.js",
        "text/plain",
        b"WScript.Echo(1)",
        "named .js, but the content is txt",
    ),
    (
        "html as text",
        "sayfa.html",
        "text/html",
        b"<html><script>x()</script>",
        "named .html, but the content is txt",
    ),
    (
        "a png declared a jpeg",
        "foto.png",
        "image/jpeg",
        PNG,
        "declared image/jpeg, but the content is png",
    ),
    ("a jpeg named .png", "foto.png", "image/png", JPEG, "named .png, but the content is jpeg"),
    (
        "a pdf declared text",
        "dilekce.pdf",
        "text/plain",
        PDF,
        "declared text/plain, but the content is pdf",
    ),
    (
        "text declared a pdf",
        "dilekce",
        "application/pdf",
        b"just text",
        "declared application/pdf, but the content is txt",
    ),
    (
        "a zip",
        "ekler.zip",
        "application/zip",
        zipped("a.exe"),
        "zip files are not allowed ([attachments] allowed_types)",
    ),
    (
        "a jar",
        "oyun.jar",
        "application/java-archive",
        zipped("META-INF/MANIFEST.MF"),
        "zip files are not allowed ([attachments] allowed_types)",
    ),
    (
        "an rtf",
        "belge.rtf",
        "application/rtf",
        b"{\\rtf1\\ansi x}",
        "rtf files are not allowed ([attachments] allowed_types)",
    ),
    (
        "a mail",
        "ileti.eml",
        "message/rfc822",
        b"From: a@example.com\r\nSubject: x\r\n\r\nx",
        "eml files are not allowed ([attachments] allowed_types)",
    ),
    (
        "an installer named .doc",
        "kur.doc",
        "application/msword",
        ole("\x05SummaryInformation"),
        "a compound (OLE) file that is no Word, Excel, PowerPoint or Outlook file",
    ),
    (
        "a shortcut",
        "belge.lnk",
        DEFAULT,
        b"L\x00\x00\x00\x01\x14\x02\x00",
        "content of a kind not known here",
    ),
]


@pytest.mark.parametrize(
    ("name", "ctype", "data", "reason"), [w[1:] for w in WITHHELD], ids=[w[0] for w in WITHHELD]
)
def test_what_does_not_fit_is_withheld_with_the_reason(name, ctype, data, reason):
    assert screened(name, ctype, data).reason == reason


def test_a_kind_off_by_default_goes_when_the_settings_allow_it():
    mail = b"From: a@example.com\r\nSubject: x\r\n\r\nx"
    assert screened("ileti.eml", "message/rfc822", mail, (*ALLOWED, "eml")).reason is None
    not_a_mail = screened("ileti.eml", "message/rfc822", b"just text", (*ALLOWED, "eml"))
    assert not_a_mail.reason == "named .eml, but the content is txt"
    assert screened("dilekce.pdf", "application/pdf", PDF, ("png",)).reason == (
        "pdf files are not allowed ([attachments] allowed_types)"
    )


# --- settings and the ticket ------------------------------------------------------------------


def test_the_settings_know_every_kind_and_refuse_what_they_do_not(tmp_path):
    assert set(KINDS) == set(ATTACHMENT_TYPES)
    assert make_settings(tmp_path).attachments.allowed_types == ALLOWED
    with pytest.raises(ConfigError, match="attachments.allowed_types: unknown \\['exe'\\]"):
        make_settings(tmp_path, attachments={"allowed_types": ["pdf", "exe"]})
    for address in ("unix:/run/clamav/clamd.ctl", "tcp:127.0.0.1:3310", "tcp:[::1]:3310", ""):
        assert make_settings(tmp_path, attachments={"clamd": address}).attachments.clamd == address
    for address in ("/run/clamav/clamd.ctl", "tcp:127.0.0.1", "http://clamd:3310"):
        with pytest.raises(ConfigError, match="attachments.clamd"):
            make_settings(tmp_path, attachments={"clamd": address})


def test_the_ticket_names_what_was_withheld_and_why(tmp_path):
    view = TicketView(
        reference="CMP-2026-000042",
        channel="webform",
        mailbox=None,
        received_at=datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc),
        due_at=None,
        name="Ayşe Yılmaz",
        email="ayse@example.com",
        phone=None,
        handle=None,
        subject="Fatura ekte",
        body="Faturam ekte.",
        language="tr",
        product="nes",
        kind="complaint",
        unit_name="Destek",
        decided_by="rules",
        confidence=1.0,
        message_id=None,
    )
    held = Withheld("invoice.pdf.exe", "application/pdf", 64, "0" * 64, "an executable: x")
    msg = ticket_mail(
        view,
        "destek@example.org",
        make_settings(tmp_path),
        [("ab.pdf", "application/pdf", PDF)],
        [held],
    )

    assert [p.get_filename() for p in msg.iter_attachments()] == ["ab.pdf"]
    text = msg.get_body(("plain",)).get_content()
    assert "Withheld attachments" in text
    assert "- invoice.pdf.exe (application/pdf, 64 bayt/bytes): an executable: x" in text
