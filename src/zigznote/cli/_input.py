"""Reading command input: a file path, ``-`` for stdin, ``@file`` or inline text."""

from __future__ import annotations

import sys
from pathlib import Path

from zigznote.errors import InvalidInput


def read_source(source: str) -> bytes:
    """Bytes from ``-`` (stdin) or a file path."""
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"file {source!r} not found", code="file_not_found") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {source!r}: {exc.strerror}", code="file_unreadable") from None


def read_inline(value: str) -> bytes:
    """``@file`` and ``-`` read a file or stdin; anything else is the text itself."""
    if value == "-":
        return read_source("-")
    if value.startswith("@"):
        return read_source(value[1:])
    # Command-line text holds undecodable bytes as lone surrogates (surrogateescape): give the
    # parser those bytes back, so it refuses them with their offset instead of crashing here.
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")
