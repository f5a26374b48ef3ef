"""The small pure steps of the e-mail normaliser, table-driven."""

from __future__ import annotations

import base64

import pytest

from normalize import normalize_email
from normalize.charset import decode_text
from normalize.complainant import find_phone
from normalize.flowed import unflow
from normalize.headers import decode_header, parse_address, parse_date, parse_ids
from normalize.html import html_to_text
from normalize.language import detect_language
from normalize.mojibake import repair_mojibake
from normalize.reference import find_ticket_ref
from normalize.reply import split_reply

TR = "Şikâyetim var: e-imza çalışmıyor, yardımcı olur musunuz? İyi günler, ğüşıöç"


@pytest.mark.parametrize(
    ("encoding", "label"),
    [
        ("cp1254", None),
        ("cp1254", "iso-8859-1"),
        ("cp1254", "windows-1252"),
        ("cp1254", "windows-1250"),
        ("cp1254", "us-ascii"),
        ("cp1254", "x-unknown"),
        ("cp1254", "no-such-charset"),
        ("cp1254", "utf-8"),
        ("iso-8859-9", "unknown-8bit"),
        ("utf-8", "windows-1254"),
        ("utf-8", "iso-8859-9"),
    ],
)
def test_turkish_bytes_decode_whatever_the_label(encoding, label):
    assert decode_text(TR.encode(encoding), label)[0] == TR


@pytest.mark.parametrize(
    ("text", "encoding", "label"),
    [
        ("Příliš žluťoučký kůň úpěl ďábelské ódy, který byl", "cp1250", "windows-1250"),
        ("Erdős Pál szerint ő nem jön el, a levél készült", "iso-8859-2", "iso-8859-2"),
        ("Grüße aus München, schöne Straße, übermäßig", "latin-1", "iso-8859-1"),
        ("Ça été très agréable, où est le café", "latin-1", None),
        ("Þetta er ýmislegt. Ég veit það", "latin-1", "iso-8859-1"),
    ],
)
def test_other_languages_keep_their_declared_or_western_reading(text, encoding, label):
    assert decode_text(text.encode(encoding), label)[0] == text


def test_seven_bit_iso_2022_is_decoded_with_its_codec():
    assert decode_text("まみむめも".encode("iso-2022-jp"), "iso-2022-jp")[0] == "まみむめも"


@pytest.mark.parametrize(
    "garbled",
    [
        TR.encode().decode("cp1252", "replace"),
        TR.encode().decode("cp1254", "replace"),
        TR.encode().decode("latin-1"),
        TR.encode("cp1254").decode("latin-1"),
        TR.encode("cp1254").decode("cp1250"),
    ],
    ids=["utf8-as-1252", "utf8-as-1254", "utf8-as-latin1", "1254-as-latin1", "1254-as-1250"],
)
def test_mojibake_is_repaired(garbled):
    repaired, notes = repair_mojibake(garbled)
    assert repaired == TR and notes


@pytest.mark.parametrize(
    "text",
    [
        "Erdős Pál szerint ő nem jön el, a levél készült",
        "Příliš žluťoučký kůň úpěl ďábelské ódy, který",
        "Þetta er ýmislegt. Ég veit það, Þórður",
        "Grüße aus München, Café Müller – “ok” naïve",
        "ŞİRKETİ’NİN yazılımı çalışıyor",
        "Tisztelt Ügyfélszolgálat! Erdős Pál vagyok",
    ],
)
def test_real_text_is_left_alone(text):
    assert repair_mojibake(text) == (text, ())


def test_o_acute_stands_for_s_cedilla_in_turkish():
    text = "Őikâyetleri ele alma sürecinde sađlanan destek, müőteri memnuniyeti"
    assert (
        repair_mojibake(text)[0]
        == "Şikâyetleri ele alma sürecinde sağlanan destek, müşteri memnuniyeti"
    )


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?utf-8?q?=C5=9Eik=C3=A2yet?=", "Şikâyet"),
        ("=?UTF-8?B?xZ5pa8Oi?=\r\n =?UTF-8?B?eWV0?=", "Şikâyet"),
        ("=?iso-8859-9?q?=DEikayet?= =?windows-1254?q?_=FDmza?=", "Şikayet ımza"),
        ("a\r\n\tb   c\td", "a b c d"),
        ("=?utf-8?B?xZ5pa2F5ZXQ?=", "Şikayet"),  # padding missing
        ("=?unknown?q?abc?= x", "abc x"),
        ("", ""),
    ],
)
def test_header_decoding(raw, decoded):
    assert decode_header(raw) == decoded


def test_header_split_mid_character():
    data = "Şikâyet: çalışmıyor".encode()
    words = [base64.b64encode(data[i : i + 5]).decode() for i in range(0, len(data), 5)]
    raw = "\r\n ".join(f"=?utf-8?b?{w}?=" for w in words)
    assert decode_header(raw) == "Şikâyet: çalışmıyor"


def test_addresses_dates_and_ids():
    assert parse_address('"Yılmaz, Ayşe" <ayse@example.com>') == (
        "Yılmaz, Ayşe",
        "ayse@example.com",
    )
    assert parse_address("undisclosed-recipients:;") == (None, None)
    assert parse_date("Tue, 3 Feb 2026 10:00:00 -0000").tzinfo is not None
    assert parse_date("not a date") is None
    assert parse_ids("<a@b>\r\n <c@d> junk") == ("a@b", "c@d")


@pytest.mark.parametrize(
    ("text", "delsp", "expected"),
    [
        ("bir \r\niki\r\n", False, "bir iki\n"),
        ("bir\r\niki", False, "bir\niki"),
        ("tak \r\nılı", True, "takılı"),
        ("> alıntı \r\n> devamı\r\nyanıt", False, "> alıntı devamı\nyanıt"),
        ("-- \r\nimza", False, "-- \nimza"),
        (" From stuffed", False, "From stuffed"),
    ],
)
def test_format_flowed(text, delsp, expected):
    assert unflow(text, delsp) == expected


def test_html_to_text_keeps_structure_and_drops_invisible_parts():
    html = (
        "<style>x{}</style><script>alert(1)</script><p>Bir &amp; iki</p><div>a<br>b</div>"
        "<table><tr><td>c</td><td>d</td></tr></table><blockquote>eski</blockquote>"
    )
    assert html_to_text(html) == "Bir & iki\n\na\nb\nc d\n> eski"


@pytest.mark.parametrize(
    ("text", "visible"),
    [
        ("Tamam.\n\nOn Mon, 2 Feb 2026, Desk <d@x.tr> wrote:\n> old", "Tamam."),
        ("Tamam.\n\n2 Şub 2026 Pzt, 10:15 tarihinde Desk <d@x.tr> şunu yazdı:\n> eski", "Tamam."),
        ("Tamam.\nKimden: Desk\nGönderildi: Pazartesi\nKime: Ben\nKonu: Eski\n\neski", "Tamam."),
        ("Tamam.\n-----Original Message-----\nFrom: x", "Tamam."),
        ("Tamam.\n\n-- \nAyşe\n0532", "Tamam."),
        ("Tamam.\n\nSent from my iPhone", "Tamam."),
        ("Tamam.\n\niPhone'umdan gönderildi", "Tamam."),
        ("> soru\ncevap", "cevap"),
        ("Bak.\n\n---------- Forwarded message ---------\nFrom: M\n\nŞikâyet", None),
    ],
)
def test_reply_noise_is_stripped(text, visible):
    assert split_reply(text)[0] == (text if visible is None else visible)


def test_outlook_header_block_is_kept_when_the_subject_is_a_forward():
    text = "Bilginize.\nKimden: Müşteri\nGönderildi: Pazartesi\nKime: Biz\nKonu: Şikâyet\n\nmetin"
    assert split_reply(text, forwarded=True)[0] == text


def test_ticket_ref_sources():
    ours = "CMP-2026-000042.ack.9f@desk.example"
    assert find_ticket_ref("Re: [#CMP-2026-000001] x", (ours,), (), "CMP") == "CMP-2026-000001"
    assert find_ticket_ref("Re: x", (ours,), (), "CMP") == "CMP-2026-000042"
    assert find_ticket_ref("Re: x", (), ("CMP-2026-000001.a.1@d", ours), "CMP") == "CMP-2026-000042"
    assert find_ticket_ref("Re: CMP-2026-000042", ("CMP-2026-000042@elsewhere",), (), "CMP") is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Merhaba, sertifikam çalışmıyor, yardımcı olur musunuz?", "tr"),
        ("Hello, my certificate does not work, can you please help me?", "en"),
        ("Sehr geehrte Damen und Herren, das ist nicht in Ordnung und ich bin sauer", "de"),
        ("Это письмо создано автоматически", "ru"),
        ("12345", "tr"),
    ],
)
def test_language(text, code):
    assert detect_language(text) == code


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Tel: 0 532 123 45 67", "+905321234567"),
        ("+90 (312) 555 12 34", "+903125551234"),
        ("GSM 05321234567", "+905321234567"),
        ("P.IVA 04336160264", None),
        ("TCKN 12345678901", None),
    ],
)
def test_turkish_phone(text, phone):
    assert find_phone(text) == phone


def nested_multipart(levels: int) -> bytes:
    head = b"From: a@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    parts = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(levels)
    )
    return head + parts + b"Content-Type: text/plain\r\n\r\nhello\r\n"


@pytest.mark.parametrize("levels", [3, 60, 2000])
def test_hostile_mime_nesting_is_survived(levels):
    result = normalize_email(nested_multipart(levels))
    assert result.complaint.subject == "deep"
    assert result.complaint.body == ("hello" if levels < 20 else "")
    assert bool(result.notes) is (levels >= 20)


def test_hostile_html_nesting_does_not_overflow_the_stack():
    # Speed is measured in bench/, not asserted here; this proves there is no recursion limit.
    payload = b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n" + b"<div>" * 20000 + b"x"
    assert normalize_email(payload).complaint.body == "x"


def test_raw_8bit_filename_is_decoded():
    payload = (
        "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nek\r\n--b\r\n"
        'Content-Type: application/pdf; name="şikâyet.pdf"\r\n'
        'Content-Disposition: attachment; filename="şikâyet.pdf"\r\n\r\n%PDF\r\n--b--\r\n'
    ).encode()
    assert normalize_email(payload).complaint.attachments[0].filename == "şikâyet.pdf"


def test_mostly_utf8_with_a_broken_byte_stays_utf8():
    raw = "Şikâyetim: sertifika çalışmıyor, lütfen yardım edin".encode() + b"\xc5"
    text, note = decode_text(raw, None)
    assert text.startswith("Şikâyetim: sertifika çalışmıyor") and note


def test_html_labelled_as_plain_is_converted():
    payload = (
        b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"<div>Merhaba</div><div><br></div><div>Sertifika</div>"
    )
    assert normalize_email(payload).complaint.body == "Merhaba\n\nSertifika"


def test_every_channel_of_the_schema_has_a_normaliser_and_a_stranger_is_refused():
    from datetime import datetime, timezone

    from intake.errors import PermanentError
    from intake.schema import CHANNELS, RawMessage
    from intake.settings import Settings
    from normalize.channels import NORMALIZERS, normalize_raw

    assert set(NORMALIZERS) == set(CHANNELS)
    fax = RawMessage("fax", "f-1", datetime(2026, 3, 10, tzinfo=timezone.utc), b"...")
    with pytest.raises(PermanentError, match="no normaliser for channel 'fax'"):
        normalize_raw(fax, Settings())
