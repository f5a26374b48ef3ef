"""Fuzz: arbitrary bytes and mutated fixtures; only NotAnEmail may ever escape."""

from __future__ import annotations

import os
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from normalize_support import EMAIL_DATA

from intake.errors import NotAnEmail
from normalize import EmailLimits, normalize_email

FIXTURES = [path.read_bytes() for path in sorted(EMAIL_DATA.glob("*.eml"))]
HEADER = b"From: a@example.com\r\nSubject: fuzz\r\n\r\n"
DEFAULT_LIMITS = EmailLimits()
SMALL_LIMITS = EmailLimits(max_body_chars=2000, max_attachment_bytes=300, max_attachments=2)
# No example database: the suite writes nothing outside tmp dirs. NORMALIZE_FUZZ_EXAMPLES
# raises the effort for a long local run.
FUZZ = settings(
    max_examples=int(os.environ.get("NORMALIZE_FUZZ_EXAMPLES", "400")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def check_result(payload: bytes, limits: EmailLimits = DEFAULT_LIMITS) -> None:
    """Normalise; NotAnEmail is allowed, any other exception fails the test."""
    try:
        result = normalize_email(payload, limits=limits)
    except NotAnEmail:
        return
    complaint = result.complaint
    assert isinstance(complaint.subject, str)
    assert "\n" not in complaint.subject and "\r" not in complaint.subject
    assert complaint.body == unicodedata.normalize("NFC", complaint.body)
    assert len(complaint.body) <= limits.max_body_chars
    assert complaint.received_at.tzinfo is not None
    assert len(complaint.attachments) <= limits.max_attachments


@st.composite
def mutated_fixture(draw) -> bytes:
    """A fixture cut, spliced, overwritten or stuffed with random bytes, a few times over."""
    data = bytearray(draw(st.sampled_from(FIXTURES)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["cut", "delete", "insert", "overwrite", "duplicate"]))
        chunk = draw(st.binary(min_size=1, max_size=40))
        if action == "cut":
            del data[at:]
        elif action == "delete":
            del data[at : at + len(chunk)]
        elif action == "insert":
            data[at:at] = chunk
        elif action == "overwrite":
            data[at : at + len(chunk)] = chunk
        else:
            data[at:at] = data[at : at + 200]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_only_raise_not_an_email(payload):
    check_result(payload)


@FUZZ
@given(st.binary(max_size=3000))
def test_any_body_under_a_header_block_never_raises(body):
    result = normalize_email(HEADER + body)
    assert result.complaint.subject == "fuzz"


@FUZZ
@given(mutated_fixture())
def test_mutated_fixtures_only_raise_not_an_email(payload):
    check_result(payload, SMALL_LIMITS)


@FUZZ
@given(st.text(max_size=400), st.text(max_size=1500))
def test_arbitrary_text_subject_and_body_never_raise(subject, body):
    payload = b"From: a@example.com\r\nSubject: " + subject.encode("utf-8", "surrogatepass")
    check_result(payload + b"\r\n\r\n" + body.encode("utf-8", "surrogatepass"))
