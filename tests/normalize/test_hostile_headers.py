"""Issue 11 A: one mail must not burn minutes of CPU in RFC 2047 decoding.

No times are asserted: the decoded value is bounded by the cap, the decoding work is
counted, and the timeout marker fails a quadratic regression by timing out.
"""

from __future__ import annotations

import base64

import pytest

from normalize import headers, normalize_email
from normalize.headers import MAX_HEADER_CHARS, decode_encoded_words, decode_header, join_words

WORD = "=?utf-8?b?" + base64.b64encode("şikâyet ".encode()).decode() + "?="


def mail_with_subject(subject: str) -> bytes:
    return (
        "From: Ayşe <ayse@example.com>\r\nTo: sikayet@example.org\r\n"
        f"Subject: {subject}\r\nMessage-ID: <hostile@example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nMerhaba.\r\n"
    ).encode()


@pytest.mark.timeout(20)
def test_a_five_megabyte_encoded_subject_is_capped_before_decoding(monkeypatch):
    subject = " ".join([WORD] * (5 * 2**20 // (len(WORD) + 1)))
    calls = 0
    real = headers.decode_word

    def counting(*args: str) -> tuple[str, bytes]:
        nonlocal calls
        calls += 1
        return real(*args)

    monkeypatch.setattr(headers, "decode_word", counting)

    result = normalize_email(mail_with_subject(subject))

    decoded = result.complaint.subject
    assert 0 < len(decoded) <= MAX_HEADER_CHARS
    assert decoded.startswith("şikâyet şikâyet")
    assert "=?" not in decoded  # cut between two words, none left half-encoded
    assert f"subject cut to {MAX_HEADER_CHARS} characters before decoding" in result.notes
    assert calls <= MAX_HEADER_CHARS // len(WORD) + 1  # only the capped text was decoded


@pytest.mark.timeout(20)
def test_a_long_from_and_filename_are_capped_too():
    name = " ".join([WORD] * (2 * 2**20 // (len(WORD) + 1)))
    raw = (
        f"From: {name} <ayse@example.com>\r\nTo: sikayet@example.org\r\nSubject: ek\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nMerhaba.\r\n"
        f'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="{name}.pdf"\r\n\r\n'
        "%PDF\r\n--b--\r\n"
    ).encode()

    complaint = normalize_email(raw).complaint

    assert len(complaint.complainant.name or "") <= MAX_HEADER_CHARS
    [attachment] = complaint.attachments
    assert attachment.filename is not None and len(attachment.filename) <= 150


def test_a_short_subject_is_not_cut():
    result = normalize_email(mail_with_subject(WORD + " " + WORD))
    assert result.complaint.subject == "şikâyet şikâyet"
    assert not any("cut" in note for note in result.notes)


@pytest.mark.timeout(20)
def test_joining_one_long_run_of_words_is_linear():
    # 1 500 000 adjacent words of one charset: the bytes are joined once, not re-concatenated.
    words = [("utf-8", "ş".encode())] * 1_500_000
    assert join_words(words) == "ş" * 1_500_000


def test_a_character_split_across_two_words_survives():
    first, second = "ş".encode()[:1], "ş".encode()[1:]
    text = "=?utf-8?b?{}?= =?utf-8?b?{}?=".format(
        base64.b64encode(first).decode(), base64.b64encode(second).decode()
    )
    assert decode_encoded_words(text) == "ş"
    assert decode_header(text) == "ş"
