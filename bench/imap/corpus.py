"""Realistic complaint mails for the benchmarks: ~16 KB each, Turkish and English, plain,
HTML alternatives, quoted history, legacy charsets, some attachments. Deterministic by seed.
"""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime

SUBJECTS = [
    "E-imza kartımın PIN kodu bloke oldu",
    "Mobil imza aktivasyonu tamamlanmadı",
    "Mali mühür sertifikası e-Fatura imzalamıyor",
    "SSL sertifikası doğrulama e-postası gelmedi",
    "Zaman damgası kontörüm yanlış düşülmüş",
    "Kart okuyucu sürücüsü yüklenmiyor",
    "KEP ve e-Yazışma elektronik mühür hatası",
    "Certificate problem report: key compromise",
    "Eğitim takvimi hakkında bilgi",
    "Yazar kasa ÖKC sertifikası yenileme",
]
PARAGRAPH = (
    "Merhaba, {subject} konusunda daha önce çağrı merkezinizi aradım ancak sorun çözülmedi. "
    "İşlem sırasında aldığım hata mesajı ekran görüntüsünde görülmektedir. Başvuru numaram "
    "{n} olup müşteri temsilcisi iki iş günü içinde dönüş yapılacağını söylemişti. Şirketimizin "
    "e-Fatura ve e-Defter işlemleri bu yüzden aksıyor, en kısa sürede yardımcı olmanızı rica ederim. "
)
# Real mail carries long header blocks: relays, DKIM/ARC signatures, Exchange's own fields.
RELAY = (
    "Received: from mail{h}.example.net (mail{h}.example.net [192.0.2.{h}])\r\n"
    "\tby mx.example.org (Postfix) with ESMTPS id 4Z{n:08X}\r\n"
    "\tfor <sikayet@example.org>; {date}"
)
SIGNATURE = (
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1;\r\n"
    "\th=from:to:subject:date:message-id:mime-version:content-type;\r\n"
    "\tbh={b64}=;\r\n\tb={b64}{b64}{b64}\r\n\t {b64}{b64}{b64}=="
)
EXCHANGE = [
    "Thread-Topic: {subject}",
    "Thread-Index: AQHa{n:012X}AAAA==",
    "Content-Language: tr-TR",
    "X-MS-Has-Attach: ",
    "X-MS-TNEF-Correlator: ",
    "x-ms-publictraffictype: Email",
    "x-ms-traffictypediagnostic: AM0PR01MB{n:04d}:EE_|DB9PR01MB{n:04d}:EE_",
    "x-ms-office365-filtering-correlation-id: {uuid}",
    "x-microsoft-antispam: BCL:0;ARA:13230040|1800799024|366016|376014|38070700018;",
    "x-forefront-antispam-report: CIP:255.255.255.255;CTRY:;LANG:tr;SCL:1;SRV:;IPV:NLI;SFV:NSPM;"
    "H:AM0PR01MB{n:04d}.eurprd01.prod.exchangelabs.com;PTR:;CAT:NONE;SFS:(13230040);DIR:OUT;SFP:1101;",
    "MIME-Version: 1.0",
    "X-OriginatorOrg: example.com",
    "X-MS-Exchange-CrossTenant-AuthAs: Internal",
    "X-MS-Exchange-CrossTenant-originalarrivaltime: {date}",
    "X-MS-Exchange-CrossTenant-fromentityheader: Hosted",
    "X-MS-Exchange-CrossTenant-id: {uuid}",
    "Authentication-Results: mx.example.org; dkim=pass header.d=example.com; spf=pass "
    "smtp.mailfrom=example.com; dmarc=pass (p=QUARANTINE) header.from=example.com",
    "ARC-Seal: i=1; a=rsa-sha256; s=arcselector; d=microsoft.com; cv=none;\r\n\tb={b64}{b64}",
]
QUOTE = "> Sayın müşterimiz, talebiniz ilgili birime iletilmiştir. Teşekkür ederiz.\n"


def make_mail(n: int, rng: random.Random, size: int = 16_000) -> bytes:
    subject = rng.choice(SUBJECTS)
    when = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(minutes=n)
    text = ""
    while len(text.encode()) < size * 0.55:
        text += PARAGRAPH.format(subject=subject.lower(), n=100000 + n)
    text += "\n\n15 Kas 2026 Paz 10:00 tarihinde Örnek SM <destek@example.org> şunu yazdı:\n"
    text += QUOTE * 20
    kind = n % 4
    headers = transport_headers(n, rng, subject, format_datetime(when)) + [
        f"From: {encoded(f'Müşteri {n}')} <musteri{n % 997}@example.com>",
        "To: sikayet@example.org",
        f"Subject: {encoded(subject)}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <bench-{n}@mail.example.com>",
    ]
    if kind == 0:
        body = text.encode("utf-8")
        headers += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    elif kind == 1:
        body = text.encode("windows-1254", "replace")
        headers += [
            "Content-Type: text/plain; charset=windows-1254",
            "Content-Transfer-Encoding: 8bit",
        ]
    else:
        html = (
            "<html><body>"
            + "".join(f"<p>{p}</p>" for p in text.split("\n") if p)
            + "</body></html>"
        )
        parts = [("text/plain", text), ("text/html", html)]
        boundary = f"b{n}"
        body = b""
        for ctype, content in parts:
            body += (
                f"--{boundary}\r\nContent-Type: {ctype}; charset=utf-8\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n"
            ).encode()
            body += base64.encodebytes(content.encode("utf-8")[: size // 3]) + b"\r\n"
        if kind == 3:
            body += (
                f'--{boundary}\r\nContent-Type: application/pdf; name="ek{n}.pdf"\r\n'
                f'Content-Disposition: attachment; filename="ek{n}.pdf"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\n"
            ).encode()
            body += base64.encodebytes(b"%PDF-1.4\n" + rng.randbytes(1500)) + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        headers.append(
            f'Content-Type: multipart/alternative; boundary="{boundary}"'
            if kind == 2
            else f'Content-Type: multipart/mixed; boundary="{boundary}"'
        )
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + body


def encoded(text: str) -> str:
    """RFC 2047, as mail programs write non-ASCII header text."""
    return Header(text, "utf-8").encode()


def transport_headers(n: int, rng: random.Random, subject: str, date: str) -> list[str]:
    """What relays, signers and Exchange add above the author's headers."""
    b64 = base64.b64encode(rng.randbytes(48)).decode()
    uuid = "%08x-%04x-%04x-%04x-%012x" % tuple(rng.getrandbits(b) for b in (32, 16, 16, 16, 48))
    values = {"n": n, "date": date, "b64": b64, "uuid": uuid, "subject": encoded(subject)}
    relays = [RELAY.format(h=10 + hop, **values) for hop in range(4)]
    return [
        "Return-Path: <musteri@example.com>",
        *relays,
        SIGNATURE.format(**values),
        *(line.format(**values) for line in EXCHANGE),
    ]


def corpus(count: int, seed: int = 42) -> list[bytes]:
    rng = random.Random(seed)
    return [make_mail(n, rng) for n in range(count)]


def big_mail(n: int, megabytes: float, seed: int = 7) -> bytes:
    """A complaint of about `megabytes` MB: a short text and one base64 attachment (a scan)."""
    rng = random.Random(seed + n)
    when = format_datetime(datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(minutes=n))
    boundary = f"big{n}"
    head = (
        f"From: {encoded(f'Müşteri {n}')} <buyuk{n}@example.com>\r\nTo: sikayet@example.org\r\n"
        f"Subject: {encoded(SUBJECTS[n % len(SUBJECTS)])}\r\nDate: {when}\r\n"
        f"Message-ID: <bench-big-{n}@mail.example.com>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{PARAGRAPH.format(subject='tarama', n=n)}\r\n"
        f'--{boundary}\r\nContent-Type: application/pdf; name="tarama{n}.pdf"\r\n'
        f'Content-Disposition: attachment; filename="tarama{n}.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    raw = b"%PDF-1.4\n" + rng.randbytes(int(megabytes * 2**20 * 3 / 4))
    return head + base64.encodebytes(raw).replace(b"\n", b"\r\n") + f"--{boundary}--\r\n".encode()
