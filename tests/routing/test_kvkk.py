"""Recognising a data subject's request (KVKK art. 11) among the desk's mail, on a labelled
set: requests and their paraphrases, and what only looks like one — corporate KVKK footers,
web form consent text, complaints that mention KVKK in passing."""

from __future__ import annotations

import pytest

from routing.categorize import categorize
from routing.kvkk import CATEGORY, RULE, recognize, without_notices

FOOTER_TR = (
    "Saygılarımızla,\nMehmet Demir\nABC Lojistik A.Ş.\n\n"
    "Bu e-posta ve ekleri gizlidir, yalnızca muhatabına yöneliktir. "
    "KVKK Aydınlatma: Kişisel verileriniz 6698 sayılı Kişisel Verilerin Korunması Kanunu "
    "kapsamında işlenmektedir. 6698 sayılı KVKK'nın 11. maddesi kapsamındaki haklarınızı "
    "kullanmak için kvkk@abc.com.tr adresine başvurabilirsiniz."
)
FOOTER_TR_2 = (
    "YASAL UYARI: İşbu elektronik posta ve içeriğindeki kişisel veriler 6698 sayılı Kişisel "
    "Verilerin Korunması Kanunu kapsamında korunmaktadır. Kişisel verilerinizin işlenmesine "
    "ilişkin aydınlatma metnine www.example.com.tr/kvkk adresinden ulaşabilirsiniz. İlgili kişi "
    "başvuru formunu doldurarak taleplerinizi iletebilirsiniz."
)
FOOTER_EN = (
    "CONFIDENTIALITY NOTICE: This e-mail is intended only for the named recipient. Your "
    "personal data is processed under Law No. 6698 on the Protection of Personal Data (KVKK) "
    "and the GDPR. You may exercise your rights under GDPR Article 15 by writing to "
    "dpo@example.com."
)
CONSENT = (
    "Kişisel verilerimin KVKK aydınlatma metni kapsamında işlenmesine ve aktarılmasına açık "
    "rıza veriyorum. KVKK aydınlatma metnini okudum, kabul ediyorum."
)
CONSENT_EN = "I consent to the processing of my personal data as described in the privacy notice."

REQUESTS = [
    ("KVKK başvurusu", "Kişisel verilerimin silinmesini talep ediyorum."),
    ("", "Merhaba, hakkımda hangi verileri tutuyorsunuz? Öğrenmek istiyorum."),
    ("KVKK 11. madde kapsamında başvuru", "TC kimlik numaram 12345678901. Gereğini rica ederim."),
    ("İlgili kişi başvuru formu", "Doldurduğum formu ekte gönderiyorum."),
    ("Verilerimin silinmesi", "Müşteriniz değilim artık."),
    ("", "ADRES BİLGİMİN YANLIŞ OLDUĞUNU GÖRDÜM, KİŞİSEL VERİLERİMİN DÜZELTİLMESİNİ İSTİYORUM."),
    ("", "verilerimin duzeltilmesi icin yaziyorum, soyadim degisti"),
    ("", "6698 sayılı Kanun'un 11'inci maddesi uyarınca başvurumdur."),
    ("", "Kişisel verilerimin hangi üçüncü kişilere aktarıldığını bildirmenizi istiyorum."),
    ("", "Açık rızamı geri alıyorum; verilerimin imha edilmesini istiyorum."),
    ("", "Bana ait verilerin işlenip işlenmediğini öğrenmek istiyorum."),
    ("Delete my data", "Please delete my personal data from all your systems."),
    ("Data subject access request", "Under the GDPR I request a copy of my data."),
    ("", "I would like a copy of the personal data you hold about me (right of access)."),
    ("", "I object to the processing of my personal information for marketing."),
    ("", f"Kişisel verilerimin silinmesini talep ediyorum.\n\n{FOOTER_TR}"),
]

NOT_REQUESTS = [
    ("e-imza kartım çalışmıyor", f"Kartım okunmuyor, yardım eder misiniz?\n\n{FOOTER_TR}"),
    ("Fatura", f"Mali mühür faturamız gelmedi.\n\n{FOOTER_TR_2}"),
    ("SSL renewal", f"Our certificate renewal failed twice.\n\n{FOOTER_EN}"),
    ("Web formu", f"Zaman damgası kontörüm bitti.\n\n{CONSENT}"),
    ("Web form", f"My card reader driver does not install.\n\n{CONSENT_EN}"),
    (
        "",
        "KVKK aydınlatma metninize sitede ulaşamıyorum ama asıl sorun e-imza kartımın kilitlenmesi.",
    ),
    ("", "KVKK gereği kimlik fotokopimi istediniz, gönderdim, hâlâ sertifikam çıkmadı."),
    ("", "Yazılımı güncelledim, imzalı belgelerim ve verilerim silindi, geri alabilir miyiz?"),
    ("", "Verilerimizin güvenliği için SSL sertifikası aldık, kurulumda hata var."),
    ("", "Başvuru formunda kişisel bilgilerimi doğru girdim ama sistem hata veriyor."),
    ("", "I cannot access the portal to download my certificate."),
    ("", "Kişisel verilerinizin korunması bizim için önemlidir dediniz ama telefonum susmuyor."),
]


@pytest.mark.parametrize(("subject", "body"), REQUESTS)
def test_a_data_subjects_request_is_recognised(subject: str, body: str) -> None:
    hit = recognize(subject, body)
    assert hit is not None and hit.rule == RULE and hit.target == f"category:{CATEGORY}"
    assert hit.matched  # what matched, for the routing decision


@pytest.mark.parametrize(("subject", "body"), NOT_REQUESTS)
def test_footers_consent_and_passing_mentions_are_not_requests(subject: str, body: str) -> None:
    assert recognize(subject, body) is None


@pytest.mark.parametrize("footer", [FOOTER_TR, FOOTER_TR_2, FOOTER_EN, CONSENT, CONSENT_EN])
def test_no_footer_or_consent_text_alone_is_a_request(footer: str) -> None:
    assert recognize("", footer) is None
    assert recognize("Bilgi", f"Merhaba,\n\nEk'te belgeleri bulabilirsiniz.\n\n{footer}") is None


def test_precision_and_recall_on_the_labelled_set() -> None:
    found = [recognize(s, b) is not None for s, b in REQUESTS]
    false = [recognize(s, b) is not None for s, b in NOT_REQUESTS]
    recall = sum(found) / len(found)
    precision = sum(found) / (sum(found) + sum(false))
    assert (precision, recall) == (1.0, 1.0)


def test_the_turkish_letters_fold_so_capitals_and_ascii_spelling_match() -> None:
    for text in ("KİŞİSEL VERİLERİMİN SİLİNMESİNİ İSTİYORUM", "kisisel verilerimin silinmesini"):
        assert recognize("", text) is not None


@pytest.mark.parametrize("footer", [FOOTER_TR, FOOTER_TR_2, FOOTER_EN, CONSENT])
def test_a_kvkk_footer_under_a_complaint_does_not_decide_its_product(footer: str) -> None:
    body = "Merhaba, e-imza kartım okunmuyor, belgeleri imzalayamıyorum. Yardım eder misiniz?"
    plain = categorize("E-imza sorunu", body, "email")
    signed = categorize("E-imza sorunu", f"{body}\n\n{footer}", "email")
    assert plain.product == signed.product == "nes"
    assert "e-imza kartım" in without_notices(f"{body}\n\n{footer}")


def test_a_request_is_not_taken_for_a_notice_by_the_categoriser() -> None:
    request = "KVKK 11. madde kapsamında kişisel verilerimin silinmesini talep ediyorum."
    assert without_notices(request) == request
    assert any(hit.rule == "genel_kvkk" for hit in categorize("KVKK", request, "email").hits)
