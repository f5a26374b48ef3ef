"""Write the synthetic training messages of the categoriser: `routing/data/synthetic.jsonl`.

Product phrases come from `phrases.toml`; greetings, durations, closings and the channel
styles (e-mail, web form, tweet, Telegram lines, third-person call-centre notes, English,
no diacritics, ALL CAPS) are product-neutral frames here. Fixed seed: rerunning reproduces
the file byte for byte (`python bench/categorize/synthesize.py`).
"""

from __future__ import annotations

import json
import random
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parents[1] / "routing" / "data" / "synthetic.jsonl"
SEED = 20240517
PER_PRODUCT = 64
KINDS = (("complaint", 0.55), ("request", 0.3), ("suggestion", 0.15))
CHANNELS = ("email", "webform", "twitter", "telegram", "phone")
NAMES = ("Ali Vural", "Seda Kara", "Murat Öztürk", "Ebru Şimşek", "İsmail Çakır", "Gizem Uğur")

GREETINGS = ("Merhaba,", "Sayın Yetkili,", "İyi günler,", "Sayın İlgili,", "")
DURATIONS = (
    "",
    "İki gündür bekliyoruz.",
    "Bir haftadır çözüm yok.",
    "3 gündür kimse dönüş yapmadı.",
    "Bu konuda üçüncü kez yazıyorum.",
)
ESCALATIONS = (
    "",
    "Acilen çözülmesini talep ediyorum.",
    "Bu durumu kabul etmiyoruz.",
    "Zararımızı kim karşılayacak?",
    "Lütfen acil dönüş yapın.",
    "Çok mağdur olduk.",
)
REQUEST_TAILS = (
    "",
    "Bilgi verirseniz sevinirim.",
    "Teşekkürler.",
    "Yardımcı olursanız seviniriz.",
    "Dönüşünüzü rica ederim.",
)
SUGGESTION_TAILS = (
    "",
    "Teşekkürler.",
    "Değerlendirmenizi rica ederim.",
    "Birçok kullanıcının işine yarayacağını düşünüyorum.",
)
SUBJECTS = {
    "complaint": ("{topic} sorunu", "{topic} hakkında şikayet", "Acil: {topic}", "{topic}"),
    "request": ("{topic} hakkında bilgi talebi", "{topic}", "Soru: {topic}"),
    "suggestion": ("{topic} için öneri", "Öneri: {topic}", "{topic} hakkında"),
}
EN_SUBJECTS = {
    "complaint": "Problem with {topic}",
    "request": "Question about {topic}",
    "suggestion": "Suggestion: {topic}",
}
PHONE = {
    "complaint": (
        'Müşteri aradı. {topic} ile ilgili "{body}" diyerek şikayetçi oldu. '
        "Kayıt açıldı, ilgili birime iletildi."
    ),
    "request": 'Arayan kişi "{body}" diye sordu. Bilgi verildi, kayıt kapatıldı.',
    "suggestion": 'Müşteri şu öneride bulundu: "{body}" Öneri kaydı oluşturuldu.',
}
PHRASES = {"complaint": "problem", "request": "request", "suggestion": "suggestion"}
PLAIN = str.maketrans("çÇğĞıİöÖşŞüÜâî", "cCgGiIoOsSuUai")


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def upper_tr(text: str) -> str:
    """Turkish upper case: i → İ, ı → I."""
    return text.replace("i", "İ").replace("ı", "I").upper()


def pick_kind(rng: random.Random) -> str:
    return rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]


def compose_turkish(rng, bank, kind, channel) -> tuple[str, str]:
    """(subject, text) of one Turkish message of `kind` on `channel`."""
    topic, body = rng.choice(bank["topic"]), capitalise(rng.choice(bank[PHRASES[kind]]))
    if kind == "complaint":
        body = " ".join(x for x in (body, rng.choice(DURATIONS), rng.choice(ESCALATIONS)) if x)
    tail = {"request": REQUEST_TAILS, "suggestion": SUGGESTION_TAILS}.get(kind, ("",))
    if channel == "phone":
        return "", PHONE[kind].format(topic=capitalise(topic), body=body)
    if channel == "twitter":
        tag = rng.choice(("", " #öneri" if kind == "suggestion" else " #rezalet", " 🙏"))
        return "", f"@OrnekSM {body}{tag}"
    if channel == "telegram":
        return "", "merhaba\n" + body.replace(", ", "\n", 1) + (" 🙏" if rng.random() < 0.3 else "")
    subject = rng.choice(SUBJECTS[kind]).format(topic=capitalise(topic))
    name = rng.choice(NAMES)
    body = " ".join(x for x in (body, rng.choice(tail)) if x)
    text = f"{rng.choice(GREETINGS)}\n\n{body}\n\nSaygılarımla,\n{name}"
    return (subject if channel in ("email", "webform") else ""), text.strip()


def compose_english(rng, bank, kind, channel) -> tuple[str, str]:
    """(subject, text) of one English message; tweets and chats have no subject."""
    body = capitalise(rng.choice(bank["en_" + PHRASES[kind]]))
    if channel in ("twitter", "telegram", "phone"):
        return "", f"@OrnekSM {body}" if channel == "twitter" else body
    subject = EN_SUBJECTS[kind].format(topic=rng.choice(bank["en_topic"]))
    return subject, f"Hello,\n\n{body}\n\nKind regards,\n{rng.choice(NAMES)}"


def restyle(rng, subject: str, text: str, channel: str) -> tuple[str, str]:
    """Sometimes drop the diacritics (phone keyboards) or shout (tweets, web forms)."""
    roll = rng.random()
    if roll < 0.2:
        return subject.translate(PLAIN), text.translate(PLAIN)
    if roll < 0.3 and channel in ("twitter", "webform", "telegram"):
        return upper_tr(subject), upper_tr(text)
    return subject, text


def synthesize(banks: dict) -> list[dict]:
    """PER_PRODUCT messages per product, reproducibly shuffled."""
    rng = random.Random(SEED)
    rows = []
    for product, bank in banks.items():
        for n in range(PER_PRODUCT):
            kind, channel = pick_kind(rng), rng.choice(CHANNELS)
            compose = compose_english if rng.random() < 0.15 else compose_turkish
            subject, text = restyle(rng, *compose(rng, bank, kind, channel), channel)
            rows.append(
                {
                    "id": f"s-{product}-{n:03d}",
                    "channel": channel,
                    "subject": subject,
                    "text": text,
                    "product": product,
                    "kind": kind,
                }
            )
    rng.shuffle(rows)
    return rows


def main() -> None:
    banks = tomllib.loads((HERE / "phrases.toml").read_text(encoding="utf-8"))
    rows = synthesize(banks)
    OUTPUT.parent.mkdir(exist_ok=True)
    with OUTPUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} messages to {OUTPUT}")


if __name__ == "__main__":
    main()
