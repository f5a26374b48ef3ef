"""How Turkish a piece of text reads: the yardstick of every charset guess and repair.

`charset` (which legacy decoding of raw bytes) and `mojibake` (which repair of text that arrived
garbled) both keep a candidate only when it scores higher here than the input did, so real
Hungarian, Czech, German or French text is left alone. `language` reuses the word lists.
"""

from __future__ import annotations

import re

# Letters of the Turkish alphabet beyond ASCII, plus the circumflexed vowels of loanwords.
TURKISH_LETTERS = frozenset("çğıöşüÇĞİÖŞÜâîûÂÎÛ")

# Frequent letter pairs with a Turkish letter, counted on the desk's own procedure texts.
TURKISH_BIGRAMS = frozenset(
    "ın şt mü rı üş kâ ây lı ür ır nı ön ıl tü sı şi üz dı çi iş tı iç uş üm yö aş dü şl ün rü sü "
    "çe eğ yı ım mı ış ğe ça ık öz pı gö şk aç eş ağ eç şm ği fı ör yü cı rç ğı ğl gü zı ığ zü öl "
    "lç ıt çö ıy çm kı iğ üs kü üt ız şa şı bü çı lü çü çl nü üb ıd şv ıc ıs şu ük uç oğ ğu rş ğr "
    "dö üy tç bı uğ üv hü tö şe çt gı ök öd üh ıp ös üd ço ğa üç üğ ğü ğı şk ıy öy öl ço".split()
)

TURKISH_WORDS = frozenset(
    "ve bir bu için ile da de ne çok daha olarak olan gibi ama ancak değil var yok ben biz siz "
    "sayın merhaba teşekkür teşekkürler ederim rica iyi günler şikayet şikâyet şikayetim "
    "sertifika sertifikası imza imzam elektronik mühür kart okuyucu başvuru başvurum hala hâlâ "
    "neden nasıl lütfen yardımcı olur musunuz mı mi mu mü kadar sonra önce gün saat tarafından "
    "tarihinde yazdı gönderildi kimden kime konu şu şunu bana size sizin bizim çünkü ya veya "
    "hiçbir hiç yanıt cevap işlem talep ediyorum istiyorum olmuyor çalışmıyor alamıyorum".split()
)

_WORD_RE = re.compile(r"\w+")
_TURKISH_LETTER_RE = re.compile("[" + "".join(sorted(TURKISH_LETTERS)) + "]")
_NON_ASCII_LETTER_RE = re.compile(r"[^\W\d_\x00-\x7f]")
_NON_ASCII_WORD_RE = re.compile(r"\w*[^\x00-\x7f]\w*")
_SAMPLE_CHARS = 200_000


def count_turkish_letters(text: str) -> int:
    """How many letters of the Turkish-only set the text holds."""
    return len(_TURKISH_LETTER_RE.findall(text))


def count_foreign_letters(text: str) -> int:
    """Non-ASCII letters outside the Turkish alphabet (é, ř, ő, ä, ß, þ, ...)."""
    return len(_NON_ASCII_LETTER_RE.findall(text)) - count_turkish_letters(text)


def count_turkish_bigrams(text: str) -> int:
    """Letter pairs that are common in Turkish and contain a Turkish letter."""
    lowered = text.replace("İ", "i").lower()
    return sum(1 for i in range(len(lowered) - 1) if lowered[i : i + 2] in TURKISH_BIGRAMS)


def count_turkish_words(text: str) -> int:
    """Frequent Turkish words, matched whole and case-folded the Turkish way (İ → i)."""
    lowered = text.replace("İ", "i").replace("I", "ı").lower()
    return sum(1 for word in _WORD_RE.findall(lowered) if word in TURKISH_WORDS)


def score_turkish(text: str) -> int:
    """Higher when the text reads as Turkish; letters foreign to Turkish count against."""
    if text.isascii():
        return count_turkish_words(text)
    return (
        count_turkish_bigrams(text)
        + 2 * count_turkish_words(text)
        - 3 * count_foreign_letters(text)
        - 3 * text.count("\ufffd")
    )


def sample_non_ascii(text: str) -> str:
    """The words holding non-ASCII characters: where two decodings of one text differ."""
    return " ".join(_NON_ASCII_WORD_RE.findall(text, 0, _SAMPLE_CHARS))


def reads_more_turkish(candidate: str, original: str) -> bool:
    """True when `candidate` is plausibly Turkish and scores above `original`.

    "Plausibly Turkish" means it has Turkish letters and almost no letters foreign to Turkish
    (one per twenty, for a name or a loanword), so a Czech or Hungarian text never qualifies.
    """
    candidate, original = sample_non_ascii(candidate), sample_non_ascii(original)
    turkish = count_turkish_letters(candidate)
    if turkish == 0 or count_foreign_letters(candidate) * 20 > turkish:
        return False
    return score_turkish(candidate) > score_turkish(original)
