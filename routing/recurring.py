"""Recurring complaints: complaints of one product that describe the same problem, grouped.

Pure (no I/O): the caller loads the complaints of a period (intake/cli/recurring.py) and
gets groups back. The text is folded the Turkish way (`textnorm.fold`: İ/ı casing, then
diacritics), stop words dropped, then compared by character 3–5-gram TF-IDF cosine (word-
bounded, sublinear tf, smoothed idf: what scikit-learn's `char_wb` does, in plain Python)
of the words cut to their first 5 letters, a cheap stand-in for a Turkish stemmer ("F5"
truncation, Can et al. 2008; it lifted pair recall at equal precision in bench/recurring).
Pairs of one product, at most `window_days` apart, above `threshold` are joined by union-find;
a group of `min_group` or more is recurring. Labels are the group's top TF-IDF stems, shown
as the members' own spelling.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from routing.textnorm import fold

NGRAMS = (3, 4, 5)
STEM = 5  # letters of a word kept for labels (F5 truncation)
LABEL_WORDS = 3
MAX_DF = 0.8  # n-grams in most of a product's complaints (its name) say nothing of a problem

# Folded (no diacritics) Turkish function words and the greetings of any complaint.
STOPWORDS = frozenset(
    """
    acaba ama ancak artik aslinda az bana bazi belki ben beni benim bile bir biraz birkac
    biz bize bizim bu buna bunu bunun burada cok cunku da daha de defa degil diye dolayi
    en gibi hala hem hep hepsi her hic icin ile ise iste kadar ki kim mi mu mi mu ne neden
    nasil o olan olarak oldu olmus olsun ona onu onun orada sey siz size sizin son su suan
    sonra tum ve veya ya yani yine zaten hemen lutfen rica ederim merhaba selam sayin
    yetkili iyi gunler calismalar tesekkurler tesekkur ederiz kolay gelsin ilgili konu
    konusunda hakkinda sikayet sikayetim durum durumu var yok bey hanim acil
    """.split()
)

_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class Item:
    """One complaint as the grouping reads it."""

    id: int
    reference: str
    product: str
    received_at: datetime
    subject: str
    body: str


@dataclass(frozen=True)
class Group:
    """Complaints of one product joined by similarity, oldest first."""

    product: str
    label: tuple[str, ...]
    members: tuple[Item, ...]

    @property
    def first(self) -> datetime:
        return self.members[0].received_at

    @property
    def last(self) -> datetime:
        return self.members[-1].received_at

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(m.reference for m in self.members)


@dataclass(frozen=True)
class Grouping:
    """The recurring groups (largest first) and the one-off complaints."""

    groups: tuple[Group, ...]
    one_offs: tuple[Item, ...]

    def group_of(self, reference: str) -> Group | None:
        for group in self.groups:
            if reference in group.references:
                return group
        return None


def turkish_lower(text: str) -> str:
    """Lower case with Turkish i rules: İ→i, I→ı (Python's lower() gives i̇ and i)."""
    return text.replace("İ", "i").replace("I", "ı").lower()


def stems_of(text: str) -> list[str]:
    """The folded content words of `text`, each cut to its first STEM letters (stop words
    and one-letter words dropped): "yenilenmedi", "yenilemesi" and "yenileme" all read "yenil"."""
    return [w[:STEM] for w in _WORD.findall(fold(text)) if w not in STOPWORDS]


def char_grams(words: Iterable[str]) -> Counter[str]:
    """Character 3–5-grams of each word padded with spaces (scikit-learn's `char_wb`)."""
    grams: Counter[str] = Counter()
    for word in words:
        padded = f" {word} "
        for n in NGRAMS:
            for i in range(len(padded) - n + 1):
                grams[padded[i : i + n]] += 1
    return grams


def tfidf(docs: Sequence[Counter[str]]) -> list[dict[str, float]]:
    """L2-normalised sublinear-tf × smoothed-idf vectors; terms in more than MAX_DF of docs dropped."""
    total = len(docs)
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(doc.keys())
    limit = MAX_DF * total if total >= 4 else total
    idf = {t: math.log((1 + total) / (1 + n)) + 1.0 for t, n in df.items() if n <= limit}
    vectors = []
    for doc in docs:
        vec = {t: (1.0 + math.log(c)) * idf[t] for t, c in doc.items() if t in idf}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({t: v / norm for t, v in vec.items()})
    return vectors


def similar_pairs(vectors: Sequence[dict[str, float]], threshold: float) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose cosine is at least `threshold`, through an inverted index."""
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    pairs: list[tuple[int, int]] = []
    for j, vec in enumerate(vectors):
        scores: dict[int, float] = defaultdict(float)
        for term, weight in vec.items():
            for i, other in postings[term]:
                scores[i] += weight * other
            postings[term].append((j, weight))
        pairs.extend((i, j) for i, s in scores.items() if s >= threshold)
    return pairs


class UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def group_product(items: Sequence[Item], window: timedelta, threshold: float) -> list[list[Item]]:
    """Clusters (every size) of one product's complaints, each oldest first."""
    items = sorted(items, key=lambda it: (it.received_at, it.id))
    vectors = tfidf([char_grams(stems_of(f"{it.subject}\n{it.body}")) for it in items])
    sets = UnionFind(len(items))
    for i, j in similar_pairs(vectors, threshold):
        if abs(items[j].received_at - items[i].received_at) <= window:
            sets.union(i, j)
    clusters: dict[int, list[Item]] = defaultdict(list)
    for index, item in enumerate(items):
        clusters[sets.find(index)].append(item)
    return list(clusters.values())


def label_of(members: Sequence[Item], idf: dict[str, float]) -> tuple[str, ...]:
    """The group's most telling words: stems scored by tf-idf summed over the members, shown
    as the members' most common spelling in lower case ("PIN" alone would lower to "pın")."""
    score: dict[str, float] = defaultdict(float)
    spelling: dict[str, Counter[str]] = defaultdict(Counter)
    for item in members:
        text = f"{item.subject}\n{item.body}"
        stems: Counter[str] = Counter()
        for raw in _WORD.findall(text):
            folded = fold(raw)
            if folded in STOPWORDS:
                continue
            stem = folded[:STEM]
            stems[stem] += 1
            spelling[stem][raw] += 1
        for stem, count in stems.items():
            score[stem] += (1.0 + math.log(count)) * idf.get(stem, 1.0)
    ranked = sorted(score, key=lambda s: (-score[s], s))[:LABEL_WORDS]
    return tuple(spelling_of(spelling[s]) for s in ranked)


def spelling_of(forms: Counter[str]) -> str:
    """A word as the members write it: the commonest (then shortest) lower-case form, else
    the commonest form lower-cased the Turkish way."""
    counts = Counter({form: n for form, n in forms.items() if form == turkish_lower(form)})
    if not counts:
        for form, n in forms.items():
            counts[turkish_lower(form)] += n
    return min(counts, key=lambda f: (-counts[f], len(f), f))


def word_idf(items: Sequence[Item]) -> dict[str, float]:
    """Smoothed idf of word stems across the complaints given."""
    df: Counter[str] = Counter()
    for item in items:
        df.update(set(stems_of(f"{item.subject}\n{item.body}")))
    total = len(items)
    return {s: math.log((1 + total) / (1 + n)) + 1.0 for s, n in df.items()}


def find_recurring(
    items: Iterable[Item], *, window_days: int, threshold: float, min_group: int
) -> Grouping:
    """Group complaints by product and text; groups of `min_group` or more are recurring."""
    items = list(items)
    by_product: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_product[item.product].append(item)
    groups: list[Group] = []
    one_offs: list[Item] = []
    for product in sorted(by_product):
        idf = word_idf(by_product[product])  # words of the product's every complaint: no label
        for cluster in group_product(by_product[product], timedelta(days=window_days), threshold):
            if len(cluster) >= min_group:
                groups.append(Group(product, label_of(cluster, idf), tuple(cluster)))
            else:
                one_offs.extend(cluster)
    groups.sort(key=lambda g: (-len(g.members), g.product, g.first))
    one_offs.sort(key=lambda it: (it.received_at, it.id))
    return Grouping(tuple(groups), tuple(one_offs))
