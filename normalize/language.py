"""Which language a complaint is written in, from its subject and visible body.

The last step of `mail`: Turkish letters and stopwords against English (and a few other
languages' stopwords, or a non-Latin script when it is obvious). The desk is Turkish, so an
undecidable text is "tr".
"""

from __future__ import annotations

import re

from normalize.turkish import TURKISH_WORDS, count_turkish_letters

SAMPLE_CHARS = 2000
STOPWORDS = {
    "en": frozenset(
        "the and to of in is it you that for on with this my have be are was not your "
        "please can me we our but from as at will would could do does dear hello hi thanks "
        "regards".split()
    ),
    "de": frozenset("und der die das ist nicht ich sie mit für ein eine zu den von auf".split()),
    "fr": frozenset("le la les et est je vous pour une des dans pas que qui avec sur".split()),
    "es": frozenset("el los las y es por una para con que del se mi su muy pero".split()),
}
WORD = re.compile(r"\w+")
LETTER = re.compile(r"[^\W\d_]")
NON_LATIN = re.compile(r"[\u0400-\u04ff\u0600-\u06ff\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")
SCRIPTS = (
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
)


def script_language(sample: str) -> str | None:
    """A non-Latin script that makes up most of the letters (Cyrillic, kana, Hangul, …)."""
    if not NON_LATIN.search(sample):
        return None
    letters = len(LETTER.findall(sample)) or 1
    for code, pattern in SCRIPTS:
        if len(pattern.findall(sample)) * 2 >= letters:
            return code
    return None


def detect_language(text: str) -> str:
    """An ISO 639-1 code; "tr" when nothing is clearly ahead."""
    sample = text[:SAMPLE_CHARS]
    script = script_language(sample)
    if script:
        return script
    words = WORD.findall(sample.replace("İ", "i").replace("I", "ı").lower())
    latin_words = WORD.findall(sample.lower())
    scores = {code: sum(1 for w in latin_words if w in stop) for code, stop in STOPWORDS.items()}
    scores["tr"] = (
        sum(1 for w in words if w in TURKISH_WORDS) + min(count_turkish_letters(sample), 20) // 2
    )
    best = max(scores, key=lambda code: scores[code])
    runner_up = max(score for code, score in scores.items() if code != best)
    if scores[best] >= 2 and scores[best] > runner_up * 1.5:
        return best
    return "tr"
