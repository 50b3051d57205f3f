"""Bytes from outside (receivers' responses, provider payloads and errors, request data in
`webhooks listen`, imported records) are data, never instructions.

This module is the one place that makes such text safe to *store* (both databases) and,
later in the file, safe to *show* and safe to *parse*.
"""

from __future__ import annotations

import re

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
