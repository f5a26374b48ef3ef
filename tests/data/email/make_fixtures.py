"""Write the byte-exact e-mail fixtures of tests/normalize (run: python make_fixtures.py).

Every .eml here comes from this script, so the bytes are reproducible and reviewable;
`cases.toml` beside it holds the expected outcome of each. The test suite regenerates the
files in a temporary directory and checks they still match, byte for byte.
"""

from __future__ import annotations

import base64
import quopri
import sys
from pathlib import Path

CRLF = b"\r\n"
TR_TEXT = (
    "Merhaba,\n\nŞikâyetim şu: e-imza sertifikam çalışmıyor, kart okuyucu takılı olduğu "
    "halde imzalama sırasında hata alıyorum. Yardımcı olur musunuz?\n\nİyi günler,\nAyşe Yılmaz"
)
TR_SHORT = "Şikâyetim var: e-imza sertifikam çalışmıyor. Yardımcı olur musunuz? İyi günler."


def header_block(
    *fields: tuple[str, bytes | str], date: bool = True, msgid: str | None = "x"
) -> bytes:
    """A header block with the usual fields first; values are str (ASCII) or raw bytes."""
    base: list[tuple[str, bytes | str]] = [
        ("From", "=?utf-8?q?Ay=C5=9Fe_Y=C4=B1lmaz?= <ayse@example.com.tr>")
    ]
    base.append(("To", "sikayet@kamusm.example"))
    if date:
        base.append(("Date", "Tue, 03 Feb 2026 10:15:00 +0300"))
    if msgid:
        base.append(("Message-ID", f"<{msgid}@mail.example.com.tr>"))
    names = {name.lower() for name, _ in fields}
    base = [(n, v) for n, v in base if n.lower() not in names]
    out = b""
    for name, value in [*base, *fields]:
        out += (
            name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()) + CRLF
        )
    return out


def text_mail(
    body: bytes,
    *fields: tuple[str, bytes | str],
    ctype: str = "text/plain; charset=utf-8",
    cte: str = "8bit",
    **kw,
) -> bytes:
    """A single-part mail."""
    mime = [("MIME-Version", "1.0"), ("Content-Type", ctype), ("Content-Transfer-Encoding", cte)]
    return header_block(*mime, *fields, **kw) + CRLF + body


def crlf(text: str, charset: str = "utf-8") -> bytes:
    return text.encode(charset).replace(b"\n", CRLF)


def multipart(
    subtype: str,
    parts: list[bytes],
    *fields: tuple[str, bytes | str],
    boundary: str = "==b0undary==",
    close: bool = True,
    **kw,
) -> bytes:
    """A multipart mail from ready part bytes (each: part headers, blank line, body)."""
    head = header_block(
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/{subtype}; boundary="{boundary}"'),
        *fields,
        **kw,
    )
    body = b"This is a multi-part message in MIME format." + CRLF
    for part in parts:
        body += CRLF + b"--" + boundary.encode() + CRLF + part
    if close:
        body += CRLF + b"--" + boundary.encode() + b"--" + CRLF
    return head + CRLF + body


def part(ctype: str, body: bytes, cte: str = "8bit", extra: str = "") -> bytes:
    head = f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n{extra}"
    return head.encode() + CRLF + body


def b64(data: bytes, width: int = 76) -> bytes:
    raw = base64.b64encode(data)
    return CRLF.join(raw[i : i + width] for i in range(0, len(raw), width))


def charset_fixtures() -> dict[str, bytes]:
    subject = ("Subject", "=?utf-8?q?=C5=9Eik=C3=A2yet?=")
    cp = lambda text: crlf(text, "cp1254")  # noqa: E731
    return {
        "tr-cp1254-declared.eml": text_mail(
            cp(TR_TEXT), subject, ctype="text/plain; charset=windows-1254"
        ),
        "tr-iso8859-9-qp.eml": text_mail(
            quopri.encodestring(crlf(TR_TEXT, "iso-8859-9")),
            subject,
            ctype="text/plain; charset=ISO-8859-9",
            cte="quoted-printable",
        ),
        "tr-no-charset.eml": text_mail(cp(TR_TEXT), subject, ctype="text/plain"),
        "tr-no-content-type.eml": header_block(subject) + CRLF + cp(TR_TEXT),
        "tr-mislabelled-latin1.eml": text_mail(
            cp(TR_TEXT), subject, ctype="text/plain; charset=iso-8859-1"
        ),
        "tr-mislabelled-1252.eml": text_mail(
            cp(TR_TEXT), subject, ctype="text/plain; charset=windows-1252"
        ),
        "tr-mislabelled-1250.eml": text_mail(
            cp(TR_TEXT), subject, ctype="text/plain; charset=windows-1250"
        ),
        "tr-us-ascii-8bit.eml": text_mail(
            cp(TR_TEXT), subject, ctype="text/plain; charset=us-ascii"
        ),
        "tr-unknown-8bit.eml": text_mail(
            cp(TR_TEXT), subject, ctype="text/plain; charset=unknown-8bit"
        ),
        "tr-unknown-charset.eml": text_mail(
            cp(TR_TEXT), subject, ctype='text/plain; charset="x-no-such-charset"'
        ),
        "tr-utf8-labelled-1254.eml": text_mail(
            crlf(TR_TEXT), subject, ctype="text/plain; charset=windows-1254"
        ),
        "tr-mojibake-utf8-as-1254.eml": text_mail(
            crlf(TR_TEXT.encode().decode("cp1254", "replace")), subject
        ),
        "tr-mojibake-utf8-as-1252.eml": text_mail(
            crlf(TR_TEXT.encode().decode("cp1252", "replace")), subject
        ),
        "tr-mojibake-1254-as-latin1.eml": text_mail(
            crlf(TR_TEXT.encode("cp1254").decode("latin-1")), subject
        ),
        "tr-mojibake-1254-as-1250.eml": text_mail(
            crlf(TR_TEXT.encode("cp1254").decode("cp1250")), subject
        ),
        "tr-mojibake-o-for-s.eml": text_mail(
            crlf(
                "Őikâyetleri ele alma sürecinde sađlanan destek yetersiz. "
                "Müőteri memnuniyeti için lütfen dönüş yapın."
            ),
            subject,
        ),
        "hu-latin2.eml": text_mail(
            crlf(
                "Tisztelt Ügyfélszolgálat! Erdős Pál vagyok, a levél tárgya: "
                "a tanúsítvány nem működik, kérem segítsenek.",
                "iso-8859-2",
            ),
            ("Subject", "Panasz"),
            ctype="text/plain; charset=iso-8859-2",
        ),
        "hu-unlabelled.eml": text_mail(
            crlf(
                "Tisztelt Ügyfélszolgálat! Erdős Pál vagyok, a levél tárgya: "
                "a tanúsítvány nem működik, kérem segítsenek.",
                "iso-8859-2",
            ),
            ("Subject", "Panasz"),
            ctype="text/plain",
        ),
        "cs-1250.eml": text_mail(
            crlf(
                "Dobrý den, příliš žluťoučký kůň úpěl ďábelské ódy. Certifikát "
                "nefunguje, který byl vydán včera.",
                "cp1250",
            ),
            ("Subject", "Stiznost"),
            ctype="text/plain; charset=windows-1250",
        ),
        "de-latin1.eml": text_mail(
            crlf(
                "Sehr geehrte Damen und Herren, das Zertifikat für München "
                "funktioniert nicht. Grüße aus der Straße, Jürgen Müßig",
                "latin-1",
            ),
            ("Subject", "Beschwerde"),
            ctype="text/plain; charset=iso-8859-1",
        ),
        "fr-unlabelled.eml": text_mail(
            crlf(
                "Bonjour, le certificat ne fonctionne pas. J'ai déjà essayé "
                "à plusieurs reprises, où est le problème ? Cordialement, "
                "François",
                "latin-1",
            ),
            ("Subject", "Réclamation".encode("latin-1")),
            ctype="text/plain",
        ),
        "is-latin1.eml": text_mail(
            crlf(
                "Góðan daginn, skírteinið virkar ekki. Þetta er ýmislegt "
                "sem ég þarf að laga. Kveðja, Þórður",
                "latin-1",
            ),
            ("Subject", "Kvörtun"),
            ctype="text/plain; charset=iso-8859-1",
        ),
    }


def header_fixtures() -> dict[str, bytes]:
    text = "Şikâyet: sertifikam çalışmıyor".encode()
    word1 = base64.b64encode(text[:9]).decode()  # ends in the middle of "â"
    word2 = base64.b64encode(text[9:]).decode()
    split = f"=?UTF-8?B?{word1}?=\r\n =?UTF-8?B?{word2}?="
    mixed = "Re: =?iso-8859-9?Q?=DEikayet?= =?utf-8?q?_=C3=A7al=C4=B1=C5=9Fm=C4=B1yor?=\r\n\t(acil)"
    body = crlf("Konu başlığı test ediliyor.")
    return {
        "subject-rfc2047-split.eml": text_mail(body, ("Subject", split)),
        "subject-rfc2047-mixed.eml": text_mail(body, ("Subject", mixed)),
        "subject-bad-encoded-word.eml": text_mail(
            body, ("Subject", "=?utf-8?B?xZ5pa2F5ZXQ?= =?x-bogus?Q?abc?=")
        ),
        "headers-8bit-utf8.eml": text_mail(
            body,
            ("Subject", "Şikâyet: imza çalışmıyor".encode()),
            ("From", "Ayşe Yılmaz <ayse@example.com.tr>".encode()),
        ),
        "headers-8bit-cp1254.eml": text_mail(
            body,
            ("Subject", "Şikâyet: imza çalışmıyor".encode("cp1254")),
            ("From", "Ayşe Yılmaz <ayse@example.com.tr>".encode("cp1254")),
        ),
        "reply-to.eml": text_mail(
            body,
            ("Subject", "Test"),
            ("From", "Çağrı Merkezi <cagri@example.com>"),
            ("Reply-To", "=?utf-8?q?Mehmet_=C3=96z?= <mehmet@example.org>"),
        ),
        "no-from.eml": header_block(("Subject", "Kimden yok"), ("From", "undisclosed-recipients:;"))
        + CRLF
        + body,
        "no-date-no-id.eml": text_mail(body, ("Subject", "Tarih yok"), date=False, msgid=None),
        "bad-date.eml": text_mail(body, ("Subject", "Tarih bozuk"), ("Date", "31 Şubat yesterday")),
        "ticket-ref-subject.eml": text_mail(
            body,
            ("Subject", "Re: [#CMP-2026-000042] Başvurunuz alındı"),
            ("In-Reply-To", "<CMP-2026-000007.ack.ab12@kamusm.example>"),
        ),
        "ticket-ref-in-reply-to.eml": text_mail(
            body,
            ("Subject", "Re: Başvurunuz"),
            ("In-Reply-To", "<CMP-2026-000042.ack.9f3c@kamusm.example>"),
            ("References", "<a@b.example> <CMP-2026-000042.ack.9f3c@kamusm.example>"),
        ),
        "ticket-ref-references.eml": text_mail(
            body,
            ("Subject", "Re: Re: Başvurunuz"),
            ("In-Reply-To", "<someone@else.example>"),
            (
                "References",
                "<CMP-2025-000001.ack.1@kamusm.example>\r\n"
                " <CMP-2026-000099.update.77@kamusm.example> <someone@else.example>",
            ),
        ),
    }


def structure_fixtures() -> dict[str, bytes]:
    html = (
        "<html><head><style>p {color: red}</style><title>Başlık</title>"
        "<script>alert('x')</script></head><body><p>Merhaba,</p><p>Sertifikam &quot;çalışmıyor&quot; "
        "&amp; imza atamıyorum.</p><div>Satır bir<br>Satır iki</div><table><tr><td>Ürün</td>"
        "<td>NES</td></tr><tr><td>Seri</td><td>12345</td></tr></table><p>İyi günler</p></body></html>"
    )
    flowed = (
        "Merhaba, e-imza sertifikam dün akşamdan beri çalışmıyor ve kart okuyucu tak \r\n"
        "ılı olduğu halde  \r\nhata alıyorum.\r\nİkinci paragraf.\r\n\r\n> alıntı satırı \r\n> devamı\r\n"
    )
    long_qp = ("Merhaba, " + "sertifikam çalışmıyor " * 12).encode()
    bad_qp = quopri.encodestring(long_qp).replace(b"=\n", b"") + b"=\r\nkalan =ZZ bozuk =C3 son"
    bad_b64 = base64.b64encode(crlf(TR_SHORT)).rstrip(b"=")
    bad_b64 = b"\r\n".join([bad_b64[:50], bad_b64[50:61], bad_b64[61:]])
    plain_stub = b"Bu iletiyi gormek icin HTML destekleyen bir program kullanin."
    return {
        "html-only.eml": text_mail(
            html.encode(), ("Subject", "HTML"), ctype="text/html; charset=utf-8"
        ),
        "alternative.eml": multipart(
            "alternative",
            [
                part(
                    "text/plain; charset=utf-8",
                    crlf("Merhaba,\n\nSertifikam çalışmıyor & imza atamıyorum.\n\nİyi günler"),
                ),
                part(
                    "text/html; charset=utf-8",
                    b"<p>Merhaba,</p><p>Sertifikam \xc3\xa7al\xc4\xb1\xc5\x9fm\xc4\xb1yor &amp; imza atam\xc4\xb1yorum.</p><p>\xc4\xb0yi g\xc3\xbcnler</p>",
                ),
            ],
            ("Subject", "Alternatif"),
        ),
        "alternative-html-richer.eml": multipart(
            "alternative",
            [
                part("text/plain; charset=us-ascii", plain_stub, "7bit"),
                part("text/html; charset=utf-8", html.encode()),
            ],
            ("Subject", "Alternatif HTML"),
        ),
        "flowed-delsp.eml": text_mail(
            flowed.encode(),
            ("Subject", "flowed"),
            ctype="text/plain; charset=utf-8; format=flowed; delsp=yes",
        ),
        "qp-bad-lines.eml": text_mail(bad_qp, ("Subject", "QP"), cte="quoted-printable"),
        "base64-bad-lines.eml": text_mail(bad_b64, ("Subject", "B64"), cte="base64"),
        "no-closing-boundary.eml": multipart(
            "mixed",
            [
                part("text/plain; charset=utf-8", crlf(TR_SHORT)),
                part(
                    'application/pdf; name="dilekce.pdf"',
                    b64(b"%PDF-1.4 kesik"),
                    "base64",
                    'Content-Disposition: attachment; filename="dilekce.pdf"\r\n',
                ),
            ],
            ("Subject", "Kapanmayan sınır".encode()),
            close=False,
        ),
        "attachment-rfc2231.eml": multipart(
            "mixed",
            [
                part("text/plain; charset=utf-8", crlf(TR_SHORT)),
                part(
                    "application/pdf",
                    b64(b"%PDF-1.4 dilekce"),
                    "base64",
                    "Content-Disposition: attachment;\r\n filename*=utf-8''%C5%9Eik%C3%A2yet%20dilek%C3%A7esi.pdf\r\n",
                ),
                part(
                    'image/jpeg; name="=?utf-8?B?xZ5pa8OieWV0IGfDtnJzZWxpLmpwZw==?="',
                    b64(b"\xff\xd8\xff\xe0 jpeg"),
                    "base64",
                    'Content-Disposition: attachment; filename="=?utf-8?B?xZ5pa8OieWV0IGfDtnJzZWxpLmpwZw==?="\r\n',
                ),
                part(
                    "application/octet-stream",
                    b64(b"continued"),
                    "base64",
                    "Content-Disposition: attachment;\r\n filename*0*=iso-8859-9''%DEikayet%20;\r\n filename*1=ek.bin\r\n",
                ),
            ],
            ("Subject", "Ekler"),
        ),
        "attachment-over-limit.eml": multipart(
            "mixed",
            [
                part("text/plain; charset=utf-8", crlf(TR_SHORT)),
                part(
                    "application/pdf",
                    b64(b"x" * 3000),
                    "base64",
                    'Content-Disposition: attachment; filename="buyuk.pdf"\r\n',
                ),
                part(
                    "application/pdf",
                    b64(b"y" * 500),
                    "base64",
                    'Content-Disposition: attachment; filename="kucuk.pdf"\r\n',
                ),
            ],
            ("Subject", "Büyük ek".encode()),
        ),
        "inline-image-html.eml": multipart(
            "related",
            [
                part(
                    "text/html; charset=utf-8",
                    "<p>Ekran görüntüsü ektedir.</p><img src='cid:img1'>".encode(),
                ),
                part(
                    "image/png",
                    b64(b"\x89PNG\r\n\x1a\n fake"),
                    "base64",
                    "Content-ID: <img1>\r\nContent-Disposition: inline\r\n",
                ),
            ],
            ("Subject", "Görüntü".encode()),
        ),
        "long-body.eml": text_mail(
            crlf("Şikâyet satırı tekrar ediyor.\n" * 400), ("Subject", "Uzun")
        ),
    }


def reply_fixtures() -> dict[str, bytes]:
    s = ("Subject", "Re: [#CMP-2026-000042] Başvurunuz".encode())
    return {
        "outlook-tr-reply.eml": text_mail(
            crlf(
                "Merhaba,\n\nSorun hâlâ devam ediyor, lütfen acil dönüş yapın.\n\nAyşe Yılmaz\n\n"
                "________________________________\nKimden: Kamu SM <sikayet@kamusm.example>\n"
                "Gönderildi: 3 Şubat 2026 Salı 10:15\nKime: Ayşe Yılmaz <ayse@example.com.tr>\n"
                "Konu: [#CMP-2026-000042] Başvurunuz\n\nSayın Ayşe Yılmaz,\nBaşvurunuz alınmıştır.\n"
            ),
            s,
        ),
        "outlook-en-reply.eml": text_mail(
            crlf(
                "Hello,\n\nThe problem is still there, please help.\n\nJohn\n\n"
                "-----Original Message-----\nFrom: Kamu SM [mailto:sikayet@kamusm.example]\n"
                "Sent: Tuesday, February 3, 2026 10:15 AM\nTo: John Smith\nSubject: Your complaint\n\n"
                "Dear John Smith,\nyour complaint has been received.\n"
            ),
            ("Subject", "RE: Your complaint"),
        ),
        "outlook-tr-ozgun-ileti.eml": text_mail(
            crlf(
                "Tekrar yazıyorum, sertifika hâlâ çalışmıyor.\n\n-----Özgün İleti-----\n"
                "Kimden: Kamu SM\nGönderildi: Salı, 3 Şubat 2026 10:15\nKonu: Başvurunuz\n\nEski metin.\n"
            ),
            s,
        ),
        "gmail-tr-reply.eml": text_mail(
            crlf(
                "Merhaba,\n\nHâlâ yanıt alamadım, imza atamıyorum.\n\n"
                "3 Şub 2026 Sal, 10:15 tarihinde Kamu SM <sikayet@kamusm.example> şunu\nyazdı:\n\n"
                "> Sayın Ayşe Yılmaz,\n> başvurunuz alınmıştır.\n"
            ),
            s,
        ),
        "gmail-en-reply.eml": text_mail(
            crlf(
                "Hi,\n\nStill no answer from you.\n\nOn Tue, Feb 3, 2026 at 10:15 AM Kamu SM <sikayet@kamusm.example> wrote:\n\n"
                "> Dear John,\n> your complaint has been received.\n> \n> -- \n> Kamu SM\n"
            ),
            ("Subject", "Re: complaint"),
        ),
        "inline-reply.eml": text_mail(
            crlf(
                "On Tue, Feb 3, 2026 at 10:15 AM Kamu SM <sikayet@kamusm.example> wrote:\n"
                "> Seri numaranız nedir?\n\nSeri numaram 12345.\n\n> Hangi ürün?\n\nMali mühür.\n"
            ),
            s,
        ),
        "signature-mobile.eml": text_mail(
            crlf("Merhaba, mobil imzam çalışmıyor.\n\niPhone'umdan gönderildi\n"),
            ("Subject", "Mobil imza"),
        ),
        "signature-dashes.eml": text_mail(
            crlf(
                "Merhaba, zaman damgası hizmeti yanıt vermiyor.\n\n-- \nAyşe Yılmaz\nACME A.Ş. Bilgi İşlem\n"
                "Tel: 0 532 123 45 67\n"
            ),
            ("Subject", "Zaman damgası"),
        ),
        "sent-from-iphone-en.eml": text_mail(
            crlf("My certificate does not work, please help.\n\nSent from my iPhone\n"),
            ("Subject", "help"),
        ),
    }


def forward_fixtures() -> dict[str, bytes]:
    inner = text_mail(
        crlf(
            "Sayın yetkili,\n\nSSL sertifikamın özel anahtarı ele geçirildi, iptal edilmesini istiyorum.\n"
        ),
        ("Subject", "=?utf-8?q?SSL_iptal_talebi?="),
        ("From", "Müşteri <musteri@example.net>".encode()),
        msgid="inner",
    )
    return {
        "forward-rfc822.eml": multipart(
            "mixed",
            [
                part(
                    "text/plain; charset=utf-8",
                    crlf("Çağrı merkezine gelen şikâyeti iletiyorum.\n"),
                ),
                part("message/rfc822", inner, "7bit", "Content-Disposition: inline\r\n"),
            ],
            ("Subject", "Fwd: SSL iptal talebi"),
            ("From", "Çağrı Merkezi <cagri@kamusm.example>".encode()),
        ),
        "forward-inline-gmail.eml": text_mail(
            crlf(
                "Bilginize.\n\n---------- Forwarded message ---------\nFrom: Müşteri <musteri@example.net>\n"
                "Date: Tue, 3 Feb 2026 at 09:00\nSubject: Kart okuyucu\nTo: <cagri@kamusm.example>\n\n"
                "Kart okuyucum bilgisayarda görünmüyor.\n"
            ),
            ("Subject", "Fwd: Kart okuyucu"),
        ),
        "forward-inline-tr.eml": text_mail(
            crlf(
                "İletiyorum.\n\n---------- İletilen ileti ----------\nGönderen: Müşteri <musteri@example.net>\n"
                "Tarih: 3 Şub 2026 Sal, 09:00\nKonu: Kart okuyucu\n\nKart okuyucum çalışmıyor.\n"
            ),
            ("Subject", "İlt: Kart okuyucu".encode()),
        ),
        "forward-outlook-ilt.eml": text_mail(
            crlf(
                "Aşağıdaki şikâyeti iletiyorum.\n\n________________________________\nKimden: Müşteri <musteri@example.net>\n"
                "Gönderildi: 3 Şubat 2026 Salı 09:00\nKime: Çağrı Merkezi\nKonu: Mali mühür\n\n"
                "Mali mühür sertifikam yenilenmedi.\n"
            ),
            ("Subject", "İLT: Mali mühür".encode()),
        ),
    }


def auto_fixtures() -> dict[str, bytes]:
    body = crlf("Ofis dışındayım, 10 Şubat'ta döneceğim.\n")
    report = multipart(
        "report",
        [
            part(
                "text/plain; charset=us-ascii",
                b"Delivery to the following recipient failed: ayse@example.com.tr",
                "7bit",
            ),
            part(
                "message/delivery-status",
                b"Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; ayse@example.com.tr\r\nAction: failed\r\nStatus: 5.1.1\r\n",
                "7bit",
            ),
            part(
                "message/rfc822",
                text_mail(crlf("orijinal"), ("Subject", "orijinal"), msgid="orig"),
                "7bit",
            ),
        ],
        ("Subject", "Delivery Status Notification (Failure)"),
        ("From", "Mail Delivery Subsystem <mailer-daemon@example.com>"),
    )
    report = report.replace(
        b"multipart/report; boundary", b"multipart/report; report-type=delivery-status; boundary"
    )
    return {
        "auto-submitted.eml": text_mail(
            body, ("Subject", "Re: Başvurunuz".encode()), ("Auto-Submitted", "auto-replied")
        ),
        "auto-submitted-no.eml": text_mail(
            crlf(TR_SHORT), ("Subject", "Normal"), ("Auto-Submitted", "no")
        ),
        "x-autoreply.eml": text_mail(
            body, ("Subject", "Re: Başvurunuz".encode()), ("X-Autoreply", "yes")
        ),
        "x-autorespond.eml": text_mail(
            body, ("Subject", "Re: Başvurunuz".encode()), ("X-Autorespond", "Ofis disinda")
        ),
        "oof-exchange.eml": text_mail(
            body,
            ("Subject", "=?utf-8?q?Otomatik_yan=C4=B1t=3A_Ba=C5=9Fvurunuz?="),
            ("X-Auto-Response-Suppress", "All"),
        ),
        "precedence-bulk.eml": text_mail(body, ("Subject", "Kampanya"), ("Precedence", "bulk")),
        "list-id.eml": text_mail(
            body, ("Subject", "Bülten".encode()), ("List-Id", "<duyuru.example.com>")
        ),
        "subject-otomatik-yanit.eml": text_mail(
            body, ("Subject", "Otomatik Yanıt: Başvurunuz".encode())
        ),
        "subject-ofis-disinda.eml": text_mail(body, ("Subject", "Ofis dışında".encode())),
        "subject-out-of-office.eml": text_mail(
            crlf("I am out of the office."), ("Subject", "Out of Office: your complaint")
        ),
        "subject-iletilemedi.eml": text_mail(body, ("Subject", "İletilemedi: Başvurunuz".encode())),
        "mailer-daemon.eml": text_mail(
            crlf("Mail delivery failed."),
            ("Subject", "failure notice"),
            ("From", "MAILER-DAEMON@mx.example.com"),
        ),
        "return-path-empty.eml": text_mail(
            crlf("Returned."), ("Subject", "notice"), ("Return-Path", "<>")
        ),
        "bounce-report.eml": report,
        "own-message-id.eml": text_mail(
            crlf("[#CMP-2026-000042] kaydınız alındı."),
            ("Subject", "[#CMP-2026-000042] Başvurunuz alındı".encode()),
            ("Message-ID", "<CMP-2026-000042.ack.0a1b2c@kamusm.example>"),
            msgid=None,
        ),
        "x-intake-ref.eml": text_mail(
            crlf("Bilgilendirme."), ("Subject", "Bilgi"), ("X-Intake-Ref", "CMP-2026-000042")
        ),
    }


def all_fixtures() -> dict[str, bytes]:
    return {
        **charset_fixtures(),
        **header_fixtures(),
        **structure_fixtures(),
        **reply_fixtures(),
        **forward_fixtures(),
        **auto_fixtures(),
    }


def write_fixtures(directory: Path) -> list[Path]:
    paths = []
    for name, data in sorted(all_fixtures().items()):
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    print(f"{len(write_fixtures(target))} fixtures written to {target}")
