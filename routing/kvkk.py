"""Is this message a data subject's request under KVKK art. 11 (Law 6698)? Pure.

A request asks for one of the art. 11 rights about the writer's own data: to learn whether
and what is processed, to whom it went, a copy, correction, erasure, objection. It gets the
category `kvkk` and the 30-day `kvkk_answer` clock (art. 13). Turkish mail is full of KVKK
text that asks for nothing: corporate footers ("kişisel verileriniz 6698 sayılı Kanun
kapsamında işlenmektedir … başvurabilirsiniz"), consent checkboxes of web forms, a passing
"aydınlatma metni". Those speak in the second person, impersonally or consent, so each
sentence is read alone and one that reads like them is skipped.
"""

from __future__ import annotations

import re

from intake.schema import KVKK, RuleHit
from routing.textnorm import fold

CATEGORY = KVKK  # `complaints.category` of a data subject's request
RULE = "kvkk_request"

# A sentence ends at ! or ?, at a full stop not after a digit ("11. madde" stays whole), or
# at a blank line; a hard-wrapped line goes on.
_SENTENCES = re.compile(r"(?<=[!?])\s+|(?<=[^\d\s][.])\s+|\n\s*\n")

# Named outright: the statute's article 11, its request form, the GDPR's terms.
_NAMED = re.compile(
    r"ilgili kisi basvuru|veri sahibi basvuru"
    r"|(?:kvkk|6698|kisisel verilerin korunmasi)\S*(?: \S+){0,6}? 11\s?(?:\.|'?i?nci)? ?madde"
    r"|madde(?:si)? 11\b"
    r"|\bkvkk (?:kapsaminda )?(?:basvurusu|basvurum|talebi|talebim|talebidir)\b"
    r"|kisisel veri (?:silme|imha|erisim|duzeltme) (?:talebi|basvurusu)"
    r"|data subject (?:access )?request|subject access request|\bdsar\b"
    r"|right (?:of access|to erasure|to be forgotten|to rectification)"
    r"|\bgdpr\W+(?:art(?:icle)?\.?\s*)?(?:15|16|17|21)\b|article (?:15|16|17|21) (?:of the )?gdpr"
)

# The writer's own data ("verilerimiz" is a company's, not the writer's).
_OWN_DATA = re.compile(
    r"\bverilerim(?!iz)|\bkisisel bilgilerim(?!iz)|\bhakkimda\b|\bbana ait (?:kisisel )?veri"
    r"|\bmy personal (?:data|information)\b"
    r"|\b(?:personal )?(?:data|information) (?:that )?(?:you hold |you have |you process |held )?"
    r"(?:about|on|concerning) me\b"
)

# One of the art. 11 rights, in the forms that ask for it ("silinmesini", not "silindi").
_RIGHT = re.compile(
    r"silin(?:mesi\b|mesini|meli)|\bsiliniz|silmenizi|(?:imha|yok) edil(?:mesi\b|mesini)"
    r"|anonim hale getiril|duzeltil(?:mesi\b|mesini)|guncellen(?:mesi\b|mesini)"
    r"|islenip islenmedig|isleniyor mu|isliyor musunuz|tutuyor musunuz|tutuyorsunuz|tuttugunuz"
    r"|hangi (?:kisisel )?(?:veri|bilgi)|kimlere aktar|aktarildig|ogrenmek isti|kopyasi"
    r"|itiraz ed|(?:iletil|gonderil)(?:mesi\b|mesini)"
    r"|\bdelet|\beras|\bremov|\brectif|\bcorrect|\baccess\b|\bcopy\b|\bobject\b|\brestrict"
    r"|\bportab|\bwhat (?:personal )?(?:data|information)|\bwhich (?:personal )?(?:data|information)"
)

# What a footer, a notice or a consent says: addressed to the reader, or consenting.
_NOT_A_REQUEST = re.compile(
    r"verileriniz|haklariniz|bilirsiniz\b|basvurulariniz|talepleriniz|\bbu (?:e-?posta|ileti|mesaj)"
    r"|muhatab|\byour (?:personal )?(?:data|rights|information)\b|\byou (?:may|can)\b"
    r"|\bcan be (?:sent|submitted|made)\b|\bthis (?:e-?mail|message)\b|intended recipient"
    r"|confidential"
)
_CONSENT = re.compile(
    r"\briza|onay (?:veriyorum|veririm)|onayliyorum|kabul ediyorum|okudum|\bi (?:consent|agree|accept)"
    r"|consent to"
)
_WITHDRAWN = re.compile(r"geri (?:al|cek)|iptal|withdraw")


# A sentence about personal data at all (what a footer and the categoriser's genel_kvkk share).
_PRIVACY = re.compile(
    r"kvkk|6698|kisisel veri|veri sorumlusu|aydinlatma metni|ilgili kisi basvuru|gdpr"
    r"|personal data|data protection"
)


# The impersonal voice of a legal footer ("İşbu elektronik posta … korunmaktadır").
_FOOTER = re.compile(
    r"\bisbu\b|yasal uyari|islenmektedir|korunmaktadir|islenebilir|ulasabilirsiniz"
    r"|elektronik posta|disclaimer|legal notice|privacy notice"
)


def is_notice(folded: str) -> bool:
    """Whether one folded sentence is a privacy notice that asks for nothing: a footer, a
    consent, the reader's rights (what a corporate mail carries under every complaint)."""
    if not _PRIVACY.search(folded):
        return False
    consent = _CONSENT.search(folded) and not _WITHDRAWN.search(folded)
    return bool(_NOT_A_REQUEST.search(folded) or _FOOTER.search(folded) or consent)


def without_notices(text: str) -> str:
    """`text` without its privacy-notice sentences, for the categoriser: a KVKK footer under
    an e-imza complaint says nothing of its product."""
    if not _PRIVACY.search(fold(text)):
        return text  # most mail: nothing to read sentence by sentence
    kept = [part for part in _SENTENCES.split(text) if not is_notice(fold(part))]
    return "\n".join(kept)


def sentences(subject: str, body: str) -> list[str]:
    """The subject and each sentence of the body, folded (routing.textnorm)."""
    parts = [subject, *_SENTENCES.split(body)]
    return [folded for part in parts if (folded := fold(part))]


def asks(sentence: str) -> str | None:
    """What in one folded sentence asks for an art. 11 right, or None."""
    if _NOT_A_REQUEST.search(sentence):
        return None
    if _CONSENT.search(sentence) and not _WITHDRAWN.search(sentence):
        return None
    named = _NAMED.search(sentence)
    if named is not None:
        return named.group(0)
    own, right = _OWN_DATA.search(sentence), _RIGHT.search(sentence)
    if own is not None and right is not None:
        return f"{own.group(0)} … {right.group(0)}"
    return None


def recognize(subject: str, body: str) -> RuleHit | None:
    """The rule hit that makes the message a data subject's request (what matched, for the
    routing decision), or None when it asks for no art. 11 right."""
    for sentence in sentences(subject, body):
        matched = asks(sentence)
        if matched is not None:
            return RuleHit(RULE, f"category:{CATEGORY}", matched, 1.0)
    return None
