"""Contact fields of the web form and the desk API: an address or a phone number that holds a
control character (NUL, CR, LF, TAB) is refused with a field error, since it would reach the
headers of an outgoing mail or the unit's ticket (issue 11, smaller findings)."""

import pytest

from normalize.webform import contact_errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "ali\x00veli@example.com"),
        ("email", "ali@exam\x01ple.com"),
        ("email", "ali@example.com\x7f"),
        ("email", "ali@example.com\r\nBcc: x@example.org"),
        ("phone", "0532 123\n45 67"),
        ("phone", "0532\t123 45 67"),
        ("phone", "0532 123 45 67\r\nX: y"),
    ],
)
def test_a_control_character_in_a_contact_field_is_a_field_error(field, value):
    errors = contact_errors({"message": "şikayet", field: value}, text_field="message")
    assert set(errors) == {field}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "ayse.yilmaz+kart@example.com"),
        ("email", "müşteri@örnek.com.tr"),
        ("phone", "+90 (532) 123-45-67"),
        ("phone", "0532 123 45 67"),
    ],
)
def test_ordinary_contact_fields_are_taken(field, value):
    assert contact_errors({"message": "şikayet", field: value}, text_field="message") == {}
