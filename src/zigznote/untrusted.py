"""Bytes from outside (receivers' responses, provider payloads and errors, request data in
`webhooks listen`, imported records, command-line input) are data, never instructions.

This module is the one place that makes such text safe to *store* (both databases), safe to
*show* on a terminal, and safe to *parse* as JSON:

- :func:`storable_text`: NUL, invalid UTF-8 and lone surrogates replaced, length bounded.
- :func:`for_terminal`: control characters and bidi overrides shown as visible escapes.
- :func:`load_json`: the one JSON parser for input; refuses what a delivery could not send.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from zigznote.errors import InvalidInput

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# Postgres TEXT cannot hold NUL; lone surrogates cannot be encoded as UTF-8 by either driver.
_UNSTORABLE = {0: "\ufffd"}


def storable_text(value: str | bytes | None, *, max_chars: int) -> str | None:
    """Text that both SQLite and Postgres accept, at most ``max_chars`` characters.

    Bytes are decoded as UTF-8 with invalid sequences replaced (U+FFFD); NUL becomes
    U+FFFD; lone surrogates (from ``surrogateescape`` or JSON ``\\udc00``) become U+FFFD.
    ``None`` stays ``None``. Never raises.
    """
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value[: max_chars * 4]).decode("utf-8", errors="replace")
    else:
        text = _SURROGATE_RE.sub("\ufffd", value[: max_chars * 2])
    return text.translate(_UNSTORABLE)[:max_chars]


# -- showing ------------------------------------------------------------------------------

# C0 controls (ESC starts every terminal escape sequence), DEL, C1 controls (U+009B is a
# one-character CSI on some terminals), the bidi embeddings/overrides/isolates that make text
# display in another order than it is stored ("Trojan Source"), the invisible direction
# marks, and lone surrogates (not encodable: printing one would crash).
_NOT_C0 = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_RE = re.compile(f"[\x00-\x1f{_NOT_C0}]")
_UNSAFE_BUT_LINES_RE = re.compile(f"[\x00-\x08\x0b-\x1f{_NOT_C0}]")  # keeps \t and \n
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    named = _NAMED.get(code)
    if named is not None:
        return named
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def for_terminal(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every character a terminal would interpret shown as a visible escape.

    C0/C1 controls and DEL become ``\\x1b``-style escapes; bidi embeddings, overrides and
    isolates (U+202A to U+202E, U+2066 to U+2069) and direction marks become ``\\u202e``-style
    escapes; lone surrogates ``\\udc00``. Newline, tab and carriage return become ``\\n``,
    ``\\t``, ``\\r`` so one value stays on one line (a table cell, a log line), unless
    ``keep_newlines`` is set, which keeps newline and tab (multi-line messages). Backslashes are
    not doubled: ``--json`` is the exact form. Rich markup is a separate matter: the output
    module never renders data as markup. Never raises.
    """
    pattern = _UNSAFE_BUT_LINES_RE if keep_newlines else _UNSAFE_RE
    return pattern.sub(_visible, text) if pattern.search(text) else text


# -- parsing ------------------------------------------------------------------------------

#: Deepest nesting of arrays/objects accepted in any JSON input (documented in the README).
MAX_JSON_DEPTH = 64

# Outside strings only brackets matter for depth, so strings are matched whole (also an
# unterminated one, to its end) and skipped; NaN and Infinity are not JSON and a delivery
# body (built with allow_nan=False) could not carry them.
_TOKEN_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*("?)|[\[\]{}]|-?Infinity|NaN', re.DOTALL)
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")
# The fast path (the token loop above runs in Python per string): everything but brackets
# dropped in C, once strings are cut out (see _deepest).
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")


class _Refused(Exception):
    """A number the JSON decoder must not turn into a value (raised from its hooks)."""


def _position(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line} column {pos - text.rfind(chr(10), 0, pos)}"


def decode_text(raw: bytes | str, *, where: str) -> str:
    """``raw`` as text: bytes must be UTF-8 (a leading BOM is dropped); text must not hold
    lone surrogates (Python decodes undecodable command-line bytes into them).

    Raises InvalidInput (code ``invalid_encoding``) naming the byte offset or character.
    """
    if isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{where} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                code="invalid_encoding",
            ) from None
    else:
        text = raw
        bad = _SURROGATE_RE.search(text)
        if bad is not None:
            code = ord(bad.group())
            what = (
                f"byte 0x{code - 0xDC00:02x} that is not UTF-8"
                if 0xDC80 <= code <= 0xDCFF
                else f"a lone surrogate \\u{code:04x}"
            )
            raise InvalidInput(f"{where} contains {what} at character {bad.start()}", code="invalid_encoding")
    return text.removeprefix("\ufeff")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused(f"number {literal[:40]} is out of range")
    return value


def _deepest(text: str) -> int:
    """How deeply arrays and objects nest in ``text``, brackets inside strings not counted.

    Exact for valid JSON and for the prefix json.loads would parse before its first error
    (it cannot recurse past that); beyond it at worst an over-count, which only sends the
    text to the exact, slower ``_scan``.
    """
    # Without escaped backslashes and quotes, every other '"'-separated piece is a string.
    plain = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(plain.split('"')[0::2])
    depth = deepest = 0
    for bracket in _NOT_BRACKET_RE.sub("", outside):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def _check(text: str, *, where: str, max_depth: int) -> None:
    """Refuse, before json.loads can recurse, nesting deeper than ``max_depth``, NaN/Infinity
    and strings holding lone surrogates; the slow scan that names the position runs only
    when a cheap test says it may find something."""
    suspect = (
        (text.count("[") + text.count("{") > max_depth and _deepest(text) > max_depth)
        or "NaN" in text
        or "Infinity" in text
        or _SURROGATE_ESCAPE_RE.search(text) is not None
    )
    if suspect:
        _scan(text, where=where, max_depth=max_depth)


def _scan(text: str, *, where: str, max_depth: int) -> None:
    """Refuse, before json.loads can recurse, nesting deeper than ``max_depth``, and refuse
    NaN/Infinity and strings holding lone surrogates (escaped ``\\udc00``), with positions."""
    depth = 0
    for match in _TOKEN_RE.finditer(text):
        token = match.group()
        first = token[0]
        if first in "[{":
            depth += 1
            if depth > max_depth:
                raise InvalidInput(
                    f"{where} is nested deeper than {max_depth} levels at {_position(text, match.start())}",
                    code="json_too_deep",
                )
        elif first in "]}":
            depth = max(depth - 1, 0)
        elif first != '"':
            raise InvalidInput(
                f"{where} is not valid JSON: {token} is not a JSON number at {_position(text, match.start())}",
                hint="JSON has no NaN or Infinity; send null or a string",
                code="invalid_json",
            )
        elif match.group(1) and _SURROGATE_ESCAPE_RE.search(token):
            try:
                value = json.loads(token)
            except ValueError:
                continue  # a malformed string: json.loads below reports it with its position
            if _SURROGATE_RE.search(value):
                raise InvalidInput(
                    f"{where} has a string with a lone surrogate (\\ud800-\\udfff not in a pair) "
                    f"at {_position(text, match.start())}",
                    code="invalid_encoding",
                )


def load_json(raw: bytes | str, *, where: str, max_depth: int = MAX_JSON_DEPTH, hint: str | None = None) -> Any:
    """Parse one JSON document from outside, refusing what zigznote could not store or send.

    ``where`` names the input in messages ("event data", "meeting input line 3"). Refused, each
    with InvalidInput (exit 2) and a position, before any value is built: bytes that are not
    UTF-8 and lone surrogates (``invalid_encoding``), nesting deeper than ``max_depth``
    (``json_too_deep``), syntax errors, NaN/Infinity and numbers out of a double's range or
    over Python's digit limit (``invalid_json``, with ``hint`` if given).
    """
    text = decode_text(raw, where=where)
    _check(text, where=where, max_depth=max_depth)
    try:
        # parse_float is called for floats only (1e400 would become inf); an int over
        # Python's digit limit raises ValueError from json.loads itself.
        return json.loads(text, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            # "Unterminated string starting at" already ends in "at".
            f"{where} is not valid JSON: {exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}",
            hint=hint,
            code="invalid_json",
        ) from None
    except _Refused as exc:
        raise InvalidInput(f"{where} is not valid JSON: {exc}", hint=hint, code="invalid_json") from None
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise InvalidInput(
            f"{where} is not valid JSON: a number has more than {sys.get_int_max_str_digits()} digits",
            hint=hint,
            code="invalid_json",
        ) from None
    except RecursionError:  # unreachable after _scan with a sane max_depth; never a crash
        raise InvalidInput(f"{where} is nested too deeply", code="json_too_deep") from None
