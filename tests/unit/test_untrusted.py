"""zigznote.untrusted: showing outside text safely, and the one JSON parser for input."""

from __future__ import annotations

import json

import pytest

from zigznote.errors import InvalidInput
from zigznote.untrusted import MAX_JSON_DEPTH, decode_text, for_terminal, load_json, storable_text

# -- for_terminal --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J\x1b[31mFAKE", "\\x1b[2J\\x1b[31mFAKE"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("nul\x00 bell\x07 del\x7f", "nul\\x00 bell\\x07 del\\x7f"),
        ("c1 csi \x9b2J", "c1 csi \\x9b2J"),
        ("abc\u202edcba\u2066x\u2069", "abc\\u202edcba\\u2066x\\u2069"),
        ("mark\u200e\u200f\u061c", "mark\\u200e\\u200f\\u061c"),
        ("lone \udc00 surrogate", "lone \\udc00 surrogate"),
        ("plain ünïcødé 😀 [red]x[/red]", "plain ünïcødé 😀 [red]x[/red]"),
    ],
)
def test_for_terminal_shows_controls_visibly(raw: str, shown: str) -> None:
    assert for_terminal(raw) == shown


def test_for_terminal_can_keep_lines_and_tabs() -> None:
    assert for_terminal("a\nb\tc\x1b[0m\r", keep_newlines=True) == "a\nb\tc\\x1b[0m\\r"


def test_for_terminal_output_is_always_printable_and_encodable() -> None:
    everything = "".join(map(chr, range(0x00, 0x3000))) + "\ud800\udfff"
    shown = for_terminal(everything)
    shown.encode("utf-8")  # no lone surrogate left: printing can never crash
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert not any(c in shown for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_storable_text_is_unchanged() -> None:
    assert storable_text(b"ok\x00\xff", max_chars=10) == "ok\ufffd\ufffd"
    assert storable_text("a\udc00b", max_chars=2) == "a\ufffd"
    assert storable_text(None, max_chars=5) is None


# -- decode_text ---------------------------------------------------------------------------


def test_decode_text_names_the_byte_offset() -> None:
    with pytest.raises(InvalidInput, match=r"^data is not UTF-8 \(byte 0xff at offset 3\)$") as info:
        decode_text(b'{"a\xff"}', where="data")
    assert info.value.code == "invalid_encoding"


def test_decode_text_refuses_surrogate_escaped_argv_bytes() -> None:
    # What Python makes of the argument bytes b"ab\xfe" under surrogateescape.
    with pytest.raises(InvalidInput, match=r"^arg contains byte 0xfe that is not UTF-8 at character 2$"):
        decode_text("ab\udcfe", where="arg")
    with pytest.raises(InvalidInput, match=r"^arg contains a lone surrogate \\ud800 at character 0$"):
        decode_text("\ud800", where="arg")


def test_decode_text_drops_a_bom() -> None:
    assert decode_text("\ufeff{}".encode(), where="x") == "{}"


# -- load_json -----------------------------------------------------------------------------


def test_load_json_parses_ordinary_documents() -> None:
    doc = '{"a": [1, 2.5, "x\\u00e9", {"b": null}], "c": "\\ud83d\\ude00", "d": "[not a bracket"}'
    assert load_json(doc.encode(), where="x") == json.loads(doc)
    assert load_json(doc.encode(), where="x")["c"] == "😀"


def test_load_json_accepts_exactly_the_depth_limit() -> None:
    deepest = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert load_json(deepest, where="x") is not None
    with pytest.raises(InvalidInput, match=r"^x is nested deeper than 64 levels at line 1 column 65$") as info:
        load_json("[" + deepest + "]", where="x")
    assert info.value.code == "json_too_deep"


def test_load_json_refuses_40kb_of_brackets_without_recursing() -> None:
    with pytest.raises(InvalidInput, match="nested deeper than 64 levels") as info:
        load_json(b"[" * 40_000, where="event data")
    assert info.value.code == "json_too_deep"


def test_load_json_depth_counts_brackets_outside_strings_only() -> None:
    inside = '["' + "[" * 500 + '", "\\"[[[["]'
    assert load_json(inside, where="x") == ["[" * 500, '"[[[[']


def test_load_json_depth_position_spans_lines() -> None:
    text = '{"a":\n' + "[" * 70
    with pytest.raises(InvalidInput, match=r"at line 2 column 64$"):
        load_json(text, where="x", max_depth=64)


@pytest.mark.parametrize("escape", ["\\udc00", "\\uD800", "\\ud83d x", "\\ude00\\ud83d"])
def test_load_json_refuses_lone_surrogate_escapes(escape: str) -> None:
    with pytest.raises(InvalidInput, match=r"lone surrogate .* at line 1 column 16$") as info:
        load_json('{"meeting_id": "' + escape + '"}', where="event data")
    assert info.value.code == "invalid_encoding"


def test_load_json_refuses_lone_surrogates_in_keys() -> None:
    with pytest.raises(InvalidInput, match="lone surrogate"):
        load_json('{"\\udc00": 1}', where="x")


@pytest.mark.parametrize(("doc", "token", "column"), [("[NaN]", "NaN", 2), ('{"a": -Infinity}', "-Infinity", 7)])
def test_load_json_refuses_nan_and_infinity(doc: str, token: str, column: int) -> None:
    with pytest.raises(
        InvalidInput, match=rf"^x is not valid JSON: {token} is not a JSON number at line 1 column {column}$"
    ):
        load_json(doc, where="x")


def test_load_json_refuses_numbers_no_body_can_carry() -> None:
    with pytest.raises(InvalidInput, match=r"^x is not valid JSON: number 1e400 is out of range$"):
        load_json("[1e400]", where="x")
    with pytest.raises(InvalidInput, match=r"^x is not valid JSON: a number has more than 4300 digits$") as info:
        load_json("1" * 5000, where="x")
    assert info.value.code == "invalid_json"


def test_load_json_syntax_errors_carry_the_position_and_hint() -> None:
    with pytest.raises(InvalidInput, match=r"^x is not valid JSON: Expecting value at line 2 column 5$") as info:
        load_json('{"a":\n [1,, 2]}', where="x", hint="try again")
    assert info.value.hint == "try again"
    with pytest.raises(InvalidInput, match=r"^x is not valid JSON: Unterminated string starting at line 1 column 2$"):
        load_json('["[[[[', where="x")


def test_load_json_refuses_invalid_utf8_with_offset() -> None:
    with pytest.raises(InvalidInput, match=r"^x is not UTF-8 \(byte 0xc3 at offset 7\)$"):
        load_json(b'{"a": "\xc3("}', where="x")


def test_listen_reads_an_event_type_with_the_same_parser() -> None:
    """`webhooks listen` once hit a RecursionError (a 500, no report) on a deeply nested body."""
    from zigznote.webhooks.listen import _event_type

    assert _event_type(b'{"a": ' + b"[" * 100_000) is None
    assert _event_type(b'{"type": "x\\udc00"}') is None
    assert _event_type(b'{"type": "meeting.ended", "data": {}}') == "meeting.ended"
