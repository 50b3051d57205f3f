"""Reading structured input: a JSON object, a JSON array, or JSON Lines.

Every record keeps its location ("line 3", "index 2") so a bad record can be named
precisely, and nothing from a batch is written unless every record is good.
"""

from __future__ import annotations

import json
from typing import Any

from zigznote.errors import InvalidInput


def decode_utf8(raw: bytes, *, what: str = "input") -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{what} is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            code="invalid_encoding",
        ) from None
    return text.removeprefix("\ufeff")


def parse_records(raw: bytes, *, what: str = "input") -> list[tuple[str, Any]]:
    """Return ``[(location, value), …]`` from a JSON document or JSON Lines."""
    text = decode_utf8(raw, what=what)
    if not text.strip():
        raise InvalidInput(f"{what} is empty", code="empty_input")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as whole_error:
        lines = [ln for ln in text.splitlines()]
        if sum(1 for ln in lines if ln.strip()) < 2:
            raise InvalidInput(
                f"{what} is not valid JSON: {whole_error.msg} at line {whole_error.lineno} column {whole_error.colno}",
                code="invalid_json",
            ) from None
        return parse_jsonl(text, what=what)
    if isinstance(doc, list):
        return [(f"index {i}", item) for i, item in enumerate(doc)]
    return [("record 1", doc)]


def parse_jsonl(text: str, *, what: str = "input") -> list[tuple[str, Any]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{what} line {number} is not valid JSON: {exc.msg} (column {exc.colno})",
                code="invalid_json",
            ) from None
    return records
