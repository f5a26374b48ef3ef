"""JSON nested deeper than the decoder's recursion limit is a malformed payload (a clear,
permanent error the receiver answers 400 or records), never a RecursionError that reaches
the daemon as a 500 or a crash."""

import pytest

from normalize.desk import parse_entry
from normalize.telegram import MalformedUpdate, normalize_telegram
from normalize.twitter import MalformedPayload, normalize_twitter
from normalize.webform import MalformedForm, parse_json

DEEP = b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"


@pytest.mark.parametrize(
    ("parse", "error"),
    [
        (parse_json, MalformedForm),
        (parse_entry, MalformedForm),
        (normalize_telegram, MalformedUpdate),
        (normalize_twitter, MalformedPayload),
    ],
)
def test_deeply_nested_json_is_a_malformed_payload(parse, error):
    with pytest.raises(error):
        parse(DEEP)
