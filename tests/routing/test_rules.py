"""The rule table: loading, validation, override by name, and keyword matching semantics."""

import pytest

from intake.errors import ConfigError
from intake.schema import KINDS, PRODUCTS
from intake.settings import RuleSpec
from routing.matcher import match_folded
from routing.rules import load_default_rules, merge_rules, parse_rules
from routing.textnorm import fold


def hits_of(rules, text, subject=""):
    return {hit.rule: hit for hit in match_folded(rules, fold(subject), fold(text))}


def test_default_rules_cover_every_product_and_kind():
    rules = load_default_rules()
    assert {r.product for r in rules if r.product} == set(PRODUCTS)
    assert {r.kind for r in rules if r.kind} == set(KINDS)
    assert len({r.name for r in rules}) == len(rules)


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("imzam çalışmıyor", True),  # keyword "imza" matches with a suffix
        ("İMZAYI atamadım", True),
        ("imzalar", True),
        ("bir mimza", False),  # only at a word start
    ],
)
def test_keywords_match_as_folded_word_prefixes(text, matches):
    rules = (RuleSpec(name="sig", product="nes", keywords=("imza",)),)
    assert ("sig" in hits_of(rules, text)) is matches


@pytest.mark.parametrize(
    ("text", "matches"),
    [("GEM'i takılı", True), ("#GEM arızalı", True), ("gemi ile geldi", False)],
)
def test_dollar_keyword_matches_whole_word_only(text, matches):
    rules = (RuleSpec(name="gem", product="gem", keywords=("gem$",)),)
    assert ("gem" in hits_of(rules, text)) is matches


@pytest.mark.parametrize("text", ["e-imza", "e imza", "#eimza", "E-İMZAM"])
def test_keyword_words_join_with_or_without_punctuation(text):
    rules = (RuleSpec(name="nes", product="nes", keywords=("e-imza",)),)
    assert "nes" in hits_of(rules, text)


def test_longest_keyword_wins_and_consumes_the_shorter():
    rules = (
        RuleSpec(name="nes", product="nes", keywords=("imza",)),
        RuleSpec(name="mobile", product="mobil_nes", keywords=("mobil imza",)),
    )
    assert set(hits_of(rules, "mobil imzam çalışmıyor")) == {"mobile"}


def test_patterns_search_folded_text_and_subject_counts_double():
    rules = (RuleSpec(name="tsa", product="zaman_damgasi", patterns=(r"\btsa\b",), weight=2),)
    in_body = hits_of(rules, "TSA timeout")["tsa"]
    in_subject = hits_of(rules, "timeout", subject="TSA")["tsa"]
    assert in_body.target == "product:zaman_damgasi"
    assert in_subject.score > in_body.score == 2


def test_merge_replaces_by_name_and_appends_new():
    defaults = (
        RuleSpec("a", product="nes", keywords=("x",)),
        RuleSpec("b", product="gem", keywords=("y",)),
    )
    overrides = (
        RuleSpec("b", product="okc", keywords=("z",)),
        RuleSpec("c", kind="request", keywords=("w",)),
    )
    assert [(r.name, r.product or r.kind) for r in merge_rules(defaults, overrides)] == [
        ("a", "nes"),
        ("b", "okc"),
        ("c", "request"),
    ]


@pytest.mark.parametrize(
    "toml",
    [
        '[[rule]]\nname = "x"\nproduct = "nope"\nkeywords = ["a"]',
        '[[rule]]\nname = "x"\nproduct = "nes"\nkind = "request"\nkeywords = ["a"]',
        '[[rule]]\nname = "x"\nproduct = "nes"',
        '[[rule]]\nname = "x"\nproduct = "nes"\npatterns = ["("]',
        '[[rule]]\nname = "x"\nproduct = "nes"\nkeywords = ["a"]\ncolour = "red"',
        '[[rule]]\nname = "x"\nproduct = "nes"\nkeywords = ["a"]\n'
        '[[rule]]\nname = "x"\nproduct = "gem"\nkeywords = ["b"]',
    ],
    ids=[
        "unknown product",
        "two targets",
        "nothing to match",
        "bad regex",
        "unknown key",
        "duplicate name",
    ],
)
def test_parse_rules_refuses_bad_tables(toml):
    with pytest.raises(ConfigError):
        parse_rules(toml)
