"""Reading structured input: a JSON object, a JSON array, or JSON Lines.

Every record keeps its location ("line 3", "index 2") so a bad record can be named
precisely, and nothing from a batch is written unless every record is good. Parsing is
:func:`zigznote.untrusted.load_json`: invalid Unicode, NaN/Infinity and nesting deeper than
``MAX_JSON_DEPTH`` are refused (exit 2) with their position.
"""

from __future__ import annotations

from typing import Any

from zigznote.errors import InvalidInput
from zigznote.untrusted import decode_text, load_json


def decode_utf8(raw: bytes, *, what: str = "input") -> str:
    """``raw`` as UTF-8 text without a BOM; InvalidInput (``invalid_encoding``) with the offset."""
    return decode_text(raw, where=what)


def parse_records(raw: bytes, *, what: str = "input") -> list[tuple[str, Any]]:
    """Return ``[(location, value), …]`` from a JSON document or JSON Lines."""
    text = decode_utf8(raw, what=what)
    if not text.strip():
        raise InvalidInput(f"{what} is empty", code="empty_input")
    try:
        doc = load_json(text, where=what)
    except InvalidInput as whole_error:
        # Not one document: JSON Lines if there are several lines (each then says where it fails).
        if whole_error.code != "invalid_json" or sum(1 for ln in text.split("\n") if ln.strip()) < 2:
            raise
        return parse_jsonl(text, what=what)
    if isinstance(doc, list):
        return [(f"index {i}", item) for i, item in enumerate(doc)]
    return [("record 1", doc)]


def parse_jsonl(text: str, *, what: str = "input") -> list[tuple[str, Any]]:
    """One record per non-blank line: ``[("line N", value), …]``; the first bad line raises."""
    records = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 is JSON text
        if line.strip():
            records.append((f"line {number}", load_json(line, where=f"{what} line {number}")))
    return records
