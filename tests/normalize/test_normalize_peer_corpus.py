"""The peer corpus (tests/data/peer-mail): 145 real mails nobody here wrote.

Every file is normalised without an exception escaping (only the two that are no e-mail at
all raise NotAnEmail); where the source project states the visible reply, the body must
start with it, for at least the number of files we measured.
"""

from __future__ import annotations

import hashlib

import pytest
from normalize_support import PEER_MAIL, load_peer_manifest

from intake.errors import NotAnEmail
from normalize import normalize_email

MANIFEST = load_peer_manifest()
NOT_EMAIL = {
    "spamscope-mail-parser/mail_outlook_1",  # an Outlook .msg (CDFV2 binary)
    "cpython/msg_19.txt",  # a digest's body without any header block
}
# Measured: 31 of 33. The two misses are deliberate: talon keeps "Sent from my iPhone" and
# a `-- ` signature in the reply text (iphone.eml, sparrow.eml); the desk drops both.
EXPECTED_REPLY_FLOOR = 31
HEADERS_FOR_BODY_ONLY = b"From: peer@example.com\r\nSubject: peer fixture\r\n\r\n"


def read_peer(entry: dict) -> bytes:
    """The file's bytes; body-only reply-parser fixtures get a minimal header block."""
    data = (PEER_MAIL / entry["file"]).read_bytes()
    if "-email-reply-parser/" in entry["file"]:
        return HEADERS_FOR_BODY_ONLY + data
    return data


def test_peer_corpus_is_present_and_byte_exact():
    assert len(MANIFEST) >= 145
    changed = [
        e["file"]
        for e in MANIFEST
        if hashlib.sha256((PEER_MAIL / e["file"]).read_bytes()).hexdigest() != e["sha256"]
    ]
    assert not changed, changed


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_peer_mail_normalises_without_escaping_exception(entry):
    payload = read_peer(entry)
    if entry["file"] in NOT_EMAIL:
        with pytest.raises(NotAnEmail):
            normalize_email(payload)
        return
    complaint = normalize_email(payload).complaint
    assert isinstance(complaint.subject, str) and "\n" not in complaint.subject
    assert complaint.received_at.tzinfo is not None


def test_peer_expected_replies_reach_the_measured_floor():
    expected = [e for e in MANIFEST if e["expected_reply"] is not None]
    matched = [
        e["file"]
        for e in expected
        if normalize_email(read_peer(e)).complaint.body.startswith(e["expected_reply"].strip())
    ]
    assert len(expected) == 33
    assert len(matched) >= EXPECTED_REPLY_FLOOR, sorted(
        {e["file"] for e in expected} - set(matched)
    )
