"""Our own server's Authentication-Results, read the RFC 8601 way, decide whether the From
domain is vouched for; everyone else's headers, and anything unreadable, do not count."""

from __future__ import annotations

import pytest

from normalize.authresults import aligned, parse, sender_authenticated

OURS = "mail.desk.example.gov.tr"

GMAIL = (
    "mx.google.com;\r\n"
    "       dkim=pass header.i=@example.com header.s=20230601 header.b=AbCd+Ef1;\r\n"
    "       arc=pass (i=1 spf=pass spfdomain=example.com dkim=pass dkdomain=example.com);\r\n"
    "       spf=pass (google.com: domain of alice@example.com designates 203.0.113.5 as "
    "permitted sender) smtp.mailfrom=alice@example.com;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com"
)
# Exchange Online writes no authserv-id at all: not a header of any server we could trust.
MICROSOFT = (
    "spf=pass (sender IP is 203.0.113.5) smtp.mailfrom=example.com; dkim=pass (signature was "
    "verified) header.d=example.com;dmarc=pass action=none header.from=example.com;"
    "compauth=pass reason=100"
)
MICROSOFT_VERSIONED = (
    "mx.microsoft.com 1; spf=pass smtp.mailfrom=example.com; dkim=pass (signature was\r\n"
    " verified) header.d=example.com; dmarc=pass (p=none sp=none pct=100) action=none\r\n"
    " header.from=example.com; arc=none"
)
OPENDKIM = (
    f"{OURS};\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.com "
    "header.i=@example.com header.a=rsa-sha256 header.s=default header.b=AbCdEf12"
)
OPENDMARC_PASS = f"{OURS}; dmarc=pass (p=none dis=none) header.from=example.com"
OPENDMARC_FAIL = f"{OURS}; dmarc=fail (p=reject dis=none) header.from=example.com"
SPF_ONLY = f"{OURS}; spf=pass (sender SPF authorized) smtp.mailfrom=example.com"


@pytest.mark.parametrize(
    ("headers", "authserv_id"),
    [
        ([GMAIL], "mx.google.com"),
        ([MICROSOFT_VERSIONED], "mx.microsoft.com"),
        ([OPENDKIM], OURS),
        ([OPENDMARC_PASS], OURS),
        ([SPF_ONLY, OPENDMARC_FAIL, OPENDKIM], OURS),
    ],
)
def test_realistic_passing_headers(headers, authserv_id):
    assert sender_authenticated(headers, authserv_id, "example.com")


def test_a_microsoft_header_has_no_authserv_id_and_never_counts():
    assert not sender_authenticated([MICROSOFT], "spf=pass", "example.com")
    assert not sender_authenticated([MICROSOFT], OURS, "example.com")


def test_a_header_from_another_server_is_not_ours():
    assert not sender_authenticated([GMAIL], OURS, "example.com")
    forged = f"{OURS}.evil.example; dmarc=pass header.from=example.com"
    assert not sender_authenticated([forged], OURS, "example.com")
    upstream = "other.example; dkim=pass header.d=example.com"
    assert not sender_authenticated([upstream, SPF_ONLY], OURS, "example.com")


def test_the_authserv_id_matches_regardless_of_case_quoting_and_version():
    for server in (OURS.upper(), f'"{OURS}"', f"{OURS} 1", f"{OURS}(our relay) 1"):
        value = f"{server}; dkim=pass header.d=example.com"
        assert sender_authenticated([value], OURS, "example.com"), server


def test_spf_alone_and_dmarc_fail_do_not_vouch_for_the_from():
    assert not sender_authenticated([SPF_ONLY], OURS, "example.com")
    assert not sender_authenticated([OPENDMARC_FAIL], OURS, "example.com")
    for result in ("fail", "none", "neutral", "temperror", "permerror", "policy"):
        value = f"{OURS}; dkim={result} header.d=example.com; dmarc={result}"
        assert not sender_authenticated([value], OURS, "example.com"), result


def test_dmarc_pass_must_name_this_from_when_it_names_one():
    assert not sender_authenticated([OPENDMARC_PASS], OURS, "other.example")
    assert sender_authenticated([f"{OURS}; dmarc=pass"], OURS, "other.example")


@pytest.mark.parametrize(
    ("signer", "from_domain", "expected"),
    [
        ("example.com", "example.com", True),
        ("EXAMPLE.COM.", "example.com", True),
        ("example.com", "mail.example.com", True),
        ("mail.example.com", "example.com", False),
        ("ample.com", "example.com", False),
        ("mcsv.net", "example.com", False),
        ("com", "example.com", False),
        ("xn--rnek-4qa.com.tr", "örnek.com.tr", True),
    ],
)
def test_dkim_alignment_is_relaxed_to_parent_domains(signer, from_domain, expected):
    value = f"{OURS}; dkim=pass header.d={signer} header.s=s1"
    assert sender_authenticated([value], OURS, from_domain) is expected
    assert aligned(signer, from_domain) is expected


def test_a_dkim_pass_for_another_domain_does_not_count():
    value = f"{OURS}; dkim=pass header.d=sendgrid.net header.i=@example.com"
    assert not sender_authenticated([value], OURS, "example.com")


def test_the_identity_stands_in_when_the_signing_domain_is_missing():
    assert sender_authenticated(
        [f"{OURS}; dkim=pass header.i=alice@example.com"], OURS, "example.com"
    )
    assert sender_authenticated([f"{OURS}; dkim=pass header.i=@Example.com"], OURS, "example.com")
    assert not sender_authenticated([f"{OURS}; dkim=pass header.s=s1"], OURS, "example.com")


def test_results_inside_comments_are_not_results():
    value = (
        f"{OURS}; spf=pass (outer (inner; dkim=pass header.d=example.com) still) smtp.mailfrom=x"
    )
    assert not sender_authenticated([value], OURS, "example.com")
    nested = f"{OURS} (a (b) c); dkim=pass (x (y; z) w) header.d=example.com"
    assert sender_authenticated([nested], OURS, "example.com")
    escaped = f"{OURS}; dkim=pass (a \\) b) header.d=example.com"
    assert sender_authenticated([escaped], OURS, "example.com")


def test_quoted_strings_may_hold_separators_and_parentheses():
    value = f'{OURS}; dkim=pass reason="bad (sig; x" header.d="example.com"; dmarc=fail'
    assert sender_authenticated([value], OURS, "example.com")
    server, results = parse(value)
    assert server == OURS
    assert [(r.method, r.result) for r in results] == [("dkim", "pass"), ("dmarc", "fail")]
    assert results[0].properties["reason"] == "bad (sig; x"
    assert sender_authenticated(
        [f'{OURS}; dmarc=pass header.from="example.com"'], OURS, "example.com"
    )


def test_case_whitespace_method_versions_and_spaces_around_equals():
    value = f"{OURS};\r\n\tDKIM/1 = PASS\r\n\tHeader.D= EXAMPLE.com"
    assert sender_authenticated([value], OURS, "Example.COM")
    assert parse(value)[1][0].method == "dkim"


def test_none_means_no_results():
    assert parse(f"{OURS}; none") == (OURS, [])
    assert parse(f"{OURS} 1; none (nothing checked)") == (OURS, [])
    assert not sender_authenticated([f"{OURS}; none"], OURS, "example.com")


@pytest.mark.parametrize(
    "value",
    [
        "",
        ";",
        "   ",
        f"{OURS}",
        f"{OURS};",
        f"{OURS}; dkim=pass (unterminated header.d=example.com",
        f'{OURS}; dkim=pass reason="unterminated header.d=example.com',
        f"{OURS}; dkim=pass ) header.d=example.com",
        f"{OURS}; dkim=pass header.d=example.com \\",
        f"{OURS} extra words; dkim=pass header.d=example.com",
        f"{OURS}; dkim= ",
        f"{OURS}; =pass header.d=example.com",
        f'{OURS}; "dkim"=pass header.d=example.com',
        "\x00\udcff((((",
    ],
)
def test_malformed_values_never_raise_and_never_pass(value):
    assert sender_authenticated([value], OURS, "example.com") is False


def test_an_unreadable_result_leaves_the_others_readable():
    value = f"{OURS}; garbage; dkim=pass header.d=example.com"
    assert sender_authenticated([value], OURS, "example.com")


def test_an_unreadable_header_leaves_the_others_readable():
    assert sender_authenticated([f"{OURS}; (", OPENDKIM], OURS, "example.com")


def test_no_headers_no_server_or_no_domain_is_not_authenticated():
    assert not sender_authenticated([], OURS, "example.com")
    assert not sender_authenticated([OPENDKIM], "", "example.com")
    assert not sender_authenticated([OPENDKIM], OURS, "")
