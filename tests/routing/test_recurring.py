"""Recurring complaints (routing/recurring.py): the same problem of one product, grouped by
text within the window; a group of three or more is recurring, each with a readable label."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.recurring import (
    Item,
    char_grams,
    find_recurring,
    stems_of,
    turkish_lower,
)

START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)

PIN = (
    "E-imzamın PIN kodunu üç kez yanlış girdim, kart bloke oldu. PIN blokesini kaldırın.",
    "ELEKTRONİK İMZA PİN KODUM BLOKE OLMUŞ, ÜÇ DEFA YANLIŞ GİRİNCE KİLİTLENDİ.",
    "pin kodumu yanlis girdigim icin bloke oldu, pin blokesi kaldirma icin yardim",
    "Birkaç kez hatalı PIN girdim, şimdi e-imza bloke diyor. Blokeyi kaldırır mısınız?",
)
UNRELATED = (
    "E-imza başvurumu on gün önce yaptım, kargo hâlâ elime ulaşmadı.",
    "Faturamdaki şirket unvanı yanlış yazılmış, düzeltilmiş fatura istiyorum.",
    "Çağrı merkezini üç gündür arıyorum, kimse telefonu açmıyor.",
)


def items(product: str, bodies, *, start: int = 0, step_days: int = 3, first_day: int = 0):
    return [
        Item(
            start + n,
            f"CMP-2026-{start + n:06d}",
            product,
            START + timedelta(days=first_day + n * step_days),
            "",
            body,
        )
        for n, body in enumerate(bodies)
    ]


def group(found, **kw):
    return find_recurring(found, **({"window_days": 90, "threshold": 0.25, "min_group": 3} | kw))


def test_turkish_casing_of_dotted_and_dotless_i():
    assert turkish_lower("İMZA IŞIK") == "imza ışık"
    assert "İ".lower() != "i"  # why: Python's own gives i + combining dot
    assert stems_of("İMZAM ÇALIŞMIYOR") == stems_of("imzam calismiyor") == ["imzam", "calis"]
    assert stems_of("KIRIK") == stems_of("kırık") == ["kirik"]


def test_diacritics_and_suffixes_fold_to_the_same_grams():
    assert char_grams(stems_of("Ödeme yenilenmedi")) == char_grams(stems_of("odeme yenilemesi"))


def test_paraphrases_are_one_recurring_group_and_unrelated_ones_stay_one_off():
    found = group(items("nes", PIN + UNRELATED))
    [pin] = found.groups
    assert pin.references == tuple(f"CMP-2026-{n:06d}" for n in range(4))
    assert pin.product == "nes"
    assert {it.reference for it in found.one_offs} == {f"CMP-2026-{n:06d}" for n in (4, 5, 6)}
    assert found.group_of("CMP-2026-000002") is pin
    assert found.group_of("CMP-2026-000005") is None


def test_the_label_is_the_groups_telling_words_in_turkish():
    [pin] = group(items("nes", PIN + UNRELATED)).groups
    assert pin.label[:2] == ("bloke", "pin")  # "PIN" alone would lower to "pın"
    assert len(pin.label) == 3


def test_products_are_never_mixed():
    mixed = items("nes", PIN[:2]) + items("kart_okuyucu", PIN[2:], start=10)
    found = group(mixed)
    assert found.groups == ()
    assert len(found.one_offs) == 4


def test_a_group_of_two_is_not_recurring():
    found = group(items("nes", PIN[:2] + UNRELATED))
    assert found.groups == ()
    assert len(found.one_offs) == 5
    assert len(group(items("nes", PIN[:2]), min_group=2).groups) == 1


def test_complaints_further_apart_than_the_window_are_not_joined():
    spread = items("nes", PIN[:3], step_days=100)  # day 0, 100, 200: no pair within 90
    assert group(spread).groups == ()
    [joined] = group(spread, window_days=100).groups
    assert joined.first == START and joined.last == START + timedelta(days=200)


def test_the_threshold_decides():
    assert group(items("nes", PIN), threshold=0.99).groups == ()
