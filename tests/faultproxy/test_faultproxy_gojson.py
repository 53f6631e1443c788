"""Go-compatible JSON details the API depends on (number layout, error wording, escaping)."""

from __future__ import annotations

import pytest

from harness.faultproxy.gojson import BodyError, Pairs, decode_body, dumps, format_float32, lookup


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (0.1, "0.1"),
        (-1.0, "-1"),
        (1.5, "1.5"),
        (0.0, "0"),
        (1e-7, "1e-07"),
        (3e21, "3e+21"),
        (123456.0, "123456"),
        (0.3, "0.3"),
    ],
)
def test_float32_layout(value: float, text: str) -> None:
    assert format_float32(value) == text


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "EOF"),
        (b"   \n", "EOF"),
        (b"{", "unexpected EOF"),
        (b'{"a":', "unexpected EOF"),
        (b'{"a', "unexpected EOF"),
        (b"{not json", "invalid character 'n' looking for beginning of object key string"),
        # Go: "invalid character 'o' in literal null (expecting 'u')": only the shape matches.
        (b"nope", "invalid character"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a":1 "b"}', "invalid character '\"' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"NaN", "invalid character 'N' looking for beginning of value"),
    ],
)
def test_decode_errors_read_like_go(raw: bytes, message: str) -> None:
    with pytest.raises(BodyError) as err:
        decode_body(raw)
    if message == "invalid character":
        assert str(err.value).startswith(message)
    else:
        assert str(err.value) == message


def test_first_value_only_and_members_in_order() -> None:
    value = decode_body(b'{"Name":"a","name":"b"} trailing garbage')
    assert isinstance(value, Pairs)
    assert lookup(value, "NAME") == (True, "b")
    assert lookup(value, "missing") == (False, None)


def test_lone_surrogates_become_replacement_characters() -> None:
    assert lookup(decode_body(b'{"n":"\\ud800x"}'), "n") == (True, "\ufffdx")


def test_dumps_escapes_like_go() -> None:
    assert dumps({"a": "<&>\u2028é"}) == '{"a":"\\u003c\\u0026\\u003e\\u2028é"}'
