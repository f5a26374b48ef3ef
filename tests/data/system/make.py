"""Writes the system-test mails byte for byte (run: python tests/data/system/make.py).

One mail per case the spine must carry: plain Turkish, HTML, a legacy Turkish charset, an
attachment, an auto-reply and an SSL certificate problem report.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def mail(headers: list[str], body: bytes) -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + body


CASES = {
    "plain_tr.eml": mail(
        [
            "From: =?utf-8?q?Ay=C5=9Fe_Y=C4=B1lmaz?= <ayse.yilmaz@example.com>",
            "To: sikayet@example.org",
            "Subject: =?utf-8?q?E-imza_kart=C4=B1m=C4=B1n_PIN_kilidi_a=C3=A7=C4=B1lm=C4=B1yor?=",
            "Date: Sun, 22 Nov 2026 10:15:00 +0300",
            "Message-ID: <plain-tr-0001@mail.example.com>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        "Merhaba,\n\nNitelikli elektronik sertifikamın (e-imza kartımın) PIN kodu bloke oldu. "
        "PUK ile açmaya çalıştım ama olmadı. e-Devlet'e giriş yapamıyorum.\n\nAyşe Yılmaz\n".encode(
            "utf-8"
        ),
    ),
    "html_only.eml": mail(
        [
            "From: Mehmet Kaya <mehmet.kaya@example.net>",
            "To: sikayet@example.org",
            "Subject: Zaman damgası kontörüm yanlış düşülmüş",
            "Date: Sun, 22 Nov 2026 11:00:00 +0300",
            "Message-ID: <html-only-0002@mail.example.net>",
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        "<html><head><style>p{color:red}</style></head><body><p>Merhaba,</p>"
        "<p>Zaman damgası kontörlerimden <b>500 adet</b> fazla düşülmüş görünüyor. "
        "Zaman damgası hizmeti faturamızla uyuşmuyor.</p><p>Saygılarımla</p></body></html>\n".encode(
            "utf-8"
        ),
    ),
    "legacy_1254.eml": mail(
        [
            "From: =?windows-1254?q?=DEule_=DEahin?= <sule.sahin@example.com.tr>",
            "To: sikayet@example.org",
            "Subject: =?windows-1254?q?Kart_okuyucu_s=FCr=FCc=FCs=FC_y=FCklenmiyor?=",
            "Date: Sun, 22 Nov 2026 12:30:00 +0300",
            "Message-ID: <legacy-1254-0003@mail.example.com.tr>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=windows-1254",
            "Content-Transfer-Encoding: 8bit",
        ],
        "Kart okuyucu cihaz\xfdn\xfdn s\xfcr\xfcc\xfcs\xfc Windows 11 \xfczerinde y\xfcklenmiyor, "
        "USB kart okuyucu tan\xfdnm\xfdyor. Yard\xfdmc\xfd olur musunuz?\n".encode("latin-1"),
    ),
    "with_attachment.eml": mail(
        [
            "From: Can Demir <can.demir@example.org.tr>",
            "To: sikayet@example.org",
            "Subject: Mali mühür sertifikası e-Fatura imzalamıyor",
            "Date: Sun, 22 Nov 2026 13:45:00 +0300",
            "Message-ID: <attach-0004@mail.example.org.tr>",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="b1"',
        ],
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "Mali mühür sertifikamız ile e-Fatura ve e-Defter imzalanamıyor, hata ekran "
        "görüntüsü ekte.\r\n".encode("utf-8")
        + b'--b1\r\nContent-Type: application/pdf; name="hata.pdf"\r\n'
        b'Content-Disposition: attachment; filename="hata.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCg==\r\n"
        b"--b1--\r\n",
    ),
    "auto_reply.eml": mail(
        [
            "From: Ofis <ofis@example.com>",
            "To: sikayet@example.org",
            "Subject: Otomatik yanıt: Başvurunuz",
            "Date: Sun, 22 Nov 2026 14:00:00 +0300",
            "Message-ID: <oof-0005@mail.example.com>",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        "25 Kasım'a kadar ofis dışındayım.\n".encode("utf-8"),
    ),
    "ssl_problem.eml": mail(
        [
            "From: Security Researcher <researcher@example.net>",
            "To: sslproblem@example.org",
            "Subject: Certificate problem report: private key published",
            "Date: Sun, 22 Nov 2026 15:20:00 +0000",
            "Message-ID: <ssl-report-0006@mail.example.net>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii",
        ],
        b"Hello,\n\nThe private key of a certificate issued by your CA for www.example.com "
        b"has been published in a public repository. Please revoke it.\n",
    ),
}

if __name__ == "__main__":
    for name, data in CASES.items():
        (HERE / name).write_bytes(data)
        print(name, len(data))
