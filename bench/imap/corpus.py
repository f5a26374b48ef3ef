"""Realistic complaint mails for the benchmarks: ~16 KB each, Turkish and English, plain,
HTML alternatives, quoted history, legacy charsets, some attachments. Deterministic by seed.
"""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

SUBJECTS = [
    "E-imza kartımın PIN kodu bloke oldu", "Mobil imza aktivasyonu tamamlanmadı",
    "Mali mühür sertifikası e-Fatura imzalamıyor", "SSL sertifikası doğrulama e-postası gelmedi",
    "Zaman damgası kontörüm yanlış düşülmüş", "Kart okuyucu sürücüsü yüklenmiyor",
    "KEP ve e-Yazışma elektronik mühür hatası", "Certificate problem report: key compromise",
    "Eğitim takvimi hakkında bilgi", "Yazar kasa ÖKC sertifikası yenileme",
]
PARAGRAPH = (
    "Merhaba, {subject} konusunda daha önce çağrı merkezinizi aradım ancak sorun çözülmedi. "
    "İşlem sırasında aldığım hata mesajı ekran görüntüsünde görülmektedir. Başvuru numaram "
    "{n} olup müşteri temsilcisi iki iş günü içinde dönüş yapılacağını söylemişti. Şirketimizin "
    "e-Fatura ve e-Defter işlemleri bu yüzden aksıyor, en kısa sürede yardımcı olmanızı rica ederim. "
)
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
    headers = [
        f"From: Müşteri {n} <musteri{n % 997}@example.com>", "To: sikayet@example.org",
        f"Subject: {subject}", f"Date: {format_datetime(when)}",
        f"Message-ID: <bench-{n}@mail.example.com>", "MIME-Version: 1.0",
    ]
    if kind == 0:
        body = text.encode("utf-8")
        headers += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    elif kind == 1:
        body = text.encode("windows-1254", "replace")
        headers += ["Content-Type: text/plain; charset=windows-1254",
                    "Content-Transfer-Encoding: 8bit"]
    else:
        html = "<html><body>" + "".join(f"<p>{p}</p>" for p in text.split("\n") if p) + "</body></html>"
        parts = [("text/plain", text), ("text/html", html)]
        boundary = f"b{n}"
        body = b""
        for ctype, content in parts:
            body += (f"--{boundary}\r\nContent-Type: {ctype}; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n").encode()
            body += base64.encodebytes(content.encode("utf-8")[: size // 3]) + b"\r\n"
        if kind == 3:
            body += (f"--{boundary}\r\nContent-Type: application/pdf; name=\"ek{n}.pdf\"\r\n"
                     f"Content-Disposition: attachment; filename=\"ek{n}.pdf\"\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n").encode()
            body += base64.encodebytes(b"%PDF-1.4\n" + rng.randbytes(1500)) + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"'
                       if kind == 2 else f'Content-Type: multipart/mixed; boundary="{boundary}"')
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + body


def corpus(count: int, seed: int = 42) -> list[bytes]:
    rng = random.Random(seed)
    return [make_mail(n, rng) for n in range(count)]
