"""Issue 11 B: poison attachment names and types are cleaned in normalisation, once, for every
channel (e-mail, web form, Telegram), so composing the ticket mail never raises on them."""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import datetime, timezone
from email.message import EmailMessage

import pytest

from intake.schema import Attachment
from normalize import normalize_email
from normalize.attachments import (
    DEFAULT_CONTENT_TYPE,
    MAX_FILENAME_CHARS,
    clean_content_type,
    clean_filename,
)
from normalize.telegram import normalize_telegram
from normalize.webform import normalize_webform
from outbound.compose import TicketView, ticket_mail
from tests.conftest import make_settings
from tests.ingest.telegram.conftest import update

WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
PDF = b"%PDF-1.4 fatura"
LONG = "fatura_" + "x" * 300 + ".pdf"

# (raw filename, what every channel must make of it)
NAMES = [
    ("a\x0bb.pdf", "ab.pdf"),
    ("a\x1cb.pdf", "ab.pdf"),
    ("a\x00b.pdf", "ab.pdf"),
    ("fa\x85tura\u2028.pdf", "fatura.pdf"),
    ("../../../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    (".htaccess", "htaccess"),
    ("\x00\x0b", None),
    (LONG, LONG[: MAX_FILENAME_CHARS - 4] + ".pdf"),
]
# (raw content type, what every channel must make of it)
TYPES = [
    ("application/p\x0bdf", DEFAULT_CONTENT_TYPE),
    ("image/png\x00", DEFAULT_CONTENT_TYPE),
    ("image/pn\x1cg", DEFAULT_CONTENT_TYPE),
    ("application/<pdf>", DEFAULT_CONTENT_TYPE),
]
NAME_IDS = [repr(raw)[:24] for raw, _ in NAMES]
TYPE_IDS = [repr(raw) for raw, _ in TYPES]


def has_no_controls(text: str) -> bool:
    return not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


# --- the helper ------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "clean"), NAMES, ids=NAME_IDS)
def test_filenames_are_cleaned(raw, clean):
    name, notes = clean_filename(raw)
    assert name == clean
    assert notes if clean else True


def test_a_good_filename_is_kept_without_a_note():
    assert clean_filename("Fatura Şubat 2026.pdf") == ("Fatura Şubat 2026.pdf", ())
    assert clean_filename("s\u0327ikayet.pdf") == ("şikayet.pdf", ())  # NFC, no note
    assert clean_filename(None) == (None, ())
    assert clean_filename("") == (None, ())


def test_a_long_name_without_an_extension_is_cut():
    name, notes = clean_filename("y" * 1000)
    assert name == "y" * MAX_FILENAME_CHARS
    assert notes == (f"attachment filename cut to {MAX_FILENAME_CHARS} characters",)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("application/pdf", "application/pdf"),
        ("Image/JPEG", "image/jpeg"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document; x=1", None),
        ("text/plain; charset=utf-8", "text/plain"),
        (None, DEFAULT_CONTENT_TYPE),
        (42, DEFAULT_CONTENT_TYPE),
        ("pdf", DEFAULT_CONTENT_TYPE),
        ("a/b/c", DEFAULT_CONTENT_TYPE),
        ("/pdf", DEFAULT_CONTENT_TYPE),
        *TYPES,
    ],
)
def test_content_types_are_type_slash_subtype_or_octet_stream(raw, clean):
    expected = clean or raw.split(";")[0]
    assert clean_content_type(raw)[0] == expected


# --- e-mail ----------------------------------------------------------------------------------


def mail(filename: str | None = None, content_type: str | None = None) -> bytes:
    """A mail with one PDF attached, its raw filename or Content-Type put in as given."""
    msg = EmailMessage()
    msg["From"] = "Ayşe Yılmaz <ayse@example.com>"
    msg["To"] = "sikayet@example.org"
    msg["Subject"] = "Fatura ekte"
    msg["Message-ID"] = "<ek-1@example.com>"
    msg.set_content("Merhaba, faturam ekte.")
    msg.add_attachment(
        PDF, maintype="application", subtype="x-placeholder", filename="placeholder.pdf"
    )
    raw = msg.as_bytes()
    if filename is not None:
        raw = raw.replace(b'filename="placeholder.pdf"', f'filename="{filename}"'.encode())
    if content_type is not None:
        raw = raw.replace(b"application/x-placeholder", content_type.encode())
    return raw


@pytest.mark.parametrize(("raw", "clean"), NAMES, ids=NAME_IDS)
def test_email_attachment_names_are_cleaned(raw, clean):
    result = normalize_email(mail(filename=raw))
    [attachment] = result.complaint.attachments
    assert attachment.filename == clean
    assert attachment.content_type == "application/x-placeholder"
    assert any(note.startswith("attachment filename") for note in result.notes)


@pytest.mark.parametrize(("raw", "clean"), TYPES, ids=TYPE_IDS)
def test_email_attachment_types_are_cleaned(raw, clean):
    result = normalize_email(mail(content_type=raw))
    [attachment] = result.complaint.attachments
    assert (attachment.filename, attachment.content_type) == ("placeholder.pdf", clean)
    assert any(note.startswith("attachment content type") for note in result.notes)


def test_a_clean_email_attachment_makes_no_note():
    result = normalize_email(mail())
    [attachment] = result.complaint.attachments
    assert (attachment.filename, attachment.content_type) == (
        "placeholder.pdf",
        "application/x-placeholder",
    )
    assert not any(note.startswith("attachment") for note in result.notes)


def test_a_control_character_in_an_rfc2231_name_is_removed():
    raw = mail().replace(b'filename="placeholder.pdf"', b"filename*=utf-8''fa%0Btura%1C%00.pdf")
    [attachment] = normalize_email(raw).complaint.attachments
    assert attachment.filename == "fatura.pdf"


# --- the web form ----------------------------------------------------------------------------


def form(filename: str, content_type: str) -> tuple[bytes, str]:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="message"\r\n\r\n'
        "Faturam ekte.\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="ek"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    body += PDF + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(("raw", "clean"), NAMES, ids=NAME_IDS)
def test_webform_attachment_names_are_cleaned(raw, clean):
    result = normalize_webform(*form(raw, "application/pdf"), received_at=WHEN)
    [attachment] = result.complaint.attachments
    assert (attachment.filename, attachment.content_type) == (clean, "application/pdf")
    assert any(note.startswith("attachment filename") for note in result.notes)


@pytest.mark.parametrize(("raw", "clean"), TYPES, ids=TYPE_IDS)
def test_webform_attachment_types_are_cleaned(raw, clean):
    result = normalize_webform(*form("fatura.pdf", raw), received_at=WHEN)
    [attachment] = result.complaint.attachments
    assert (attachment.filename, attachment.content_type) == ("fatura.pdf", clean)
    assert any(note.startswith("attachment content type") for note in result.notes)


# --- Telegram --------------------------------------------------------------------------------


def telegram(filename: str, mime_type: str, refused: bool = False) -> bytes:
    item = {"file_id": "doc-1", "file_name": filename, "mime_type": mime_type}
    if refused:
        item.update(file_size=99_000_000, refused="over the attachment size limit")
    else:
        item["content_b64"] = base64.b64encode(PDF).decode()
    return json.dumps({"update": update("document"), "files": [item]}).encode()


@pytest.mark.parametrize(("raw", "clean"), NAMES, ids=NAME_IDS)
def test_telegram_attachment_names_are_cleaned(raw, clean):
    result = normalize_telegram(telegram(raw, "application/pdf"))
    [attachment] = result.complaint.attachments
    assert (attachment.filename, attachment.content_type) == (clean, "application/pdf")
    assert any(note.startswith("attachment filename") for note in result.notes)


@pytest.mark.parametrize(("raw", "clean"), TYPES, ids=TYPE_IDS)
def test_telegram_attachment_types_are_cleaned(raw, clean):
    result = normalize_telegram(telegram("fatura.pdf", raw))
    [attachment] = result.complaint.attachments
    assert (attachment.filename, attachment.content_type) == ("fatura.pdf", clean)
    assert any(note.startswith("attachment content type") for note in result.notes)


def test_a_refused_telegram_file_is_recorded_cleaned():
    result = normalize_telegram(telegram("../a\x0bb.mp4", "video/mp\x0b4", refused=True))
    [refused] = result.refused_attachments
    assert (refused.filename, refused.content_type) == ("ab.mp4", DEFAULT_CONTENT_TYPE)


# --- the ticket mail -------------------------------------------------------------------------


def cleaned_attachments() -> list[Attachment]:
    """Every poison name and type, through every channel."""
    found: list[Attachment] = []
    for raw, _ in NAMES:
        found += normalize_email(mail(filename=raw)).complaint.attachments
        found += normalize_webform(
            *form(raw, "application/pdf"), received_at=WHEN
        ).complaint.attachments
        found += normalize_telegram(telegram(raw, "application/pdf")).complaint.attachments
    for raw, _ in TYPES:
        found += normalize_email(mail(content_type=raw)).complaint.attachments
        found += normalize_webform(*form("fatura.pdf", raw), received_at=WHEN).complaint.attachments
        found += normalize_telegram(telegram("fatura.pdf", raw)).complaint.attachments
    return found


def test_the_ticket_mail_attaches_every_cleaned_attachment(tmp_path):
    found = cleaned_attachments()
    assert all(has_no_controls(a.filename or "") and has_no_controls(a.content_type) for a in found)
    view = TicketView(
        reference="CMP-2026-000042",
        channel="email",
        mailbox=None,
        received_at=WHEN,
        due_at=None,
        name="Ayşe Yılmaz",
        email="ayse@example.com",
        phone=None,
        handle=None,
        subject="Fatura ekte",
        body="Merhaba, faturam ekte.",
        language="tr",
        product="nes",
        kind="complaint",
        unit_name="Destek",
        decided_by="rules",
        confidence=1.0,
        message_id="<ek-1@example.com>",
    )

    msg = ticket_mail(
        view,
        "destek@example.org",
        make_settings(tmp_path),
        [(a.filename, a.content_type, PDF) for a in found],
    )

    raw = msg.as_bytes()  # serialising is where a VT or FS in a header raised
    attached = [part for part in msg.iter_attachments()]
    assert len(attached) == len(found)
    assert b"passwd" in raw and b"../" not in raw
