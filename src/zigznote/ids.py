"""Prefixed, time-sortable public IDs: ``org_01JD3…``, ``wh_…``, ``evt_…``.

An ID says what it is (the prefix) and sorts by creation time (a ULID body: 48-bit
millisecond timestamp + 80 random bits, Crockford base32). Within one process IDs are
strictly increasing even inside one millisecond, so ordering by ID is ordering by
creation, which keeps pagination and "newest first" cheap.
"""

from __future__ import annotations

import os
import threading
import time

from zigznote.errors import InvalidInput

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY_LEN = 26

PREFIXES = {
    "org": "organization",
    "mtg": "meeting",
    "wh": "webhook",
    "evt": "event",
    "msg": "webhook delivery",
    "att": "delivery attempt",
}

_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _ulid_int() -> int:
    global _last_ms, _last_rand
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            # Same (or an earlier, clock went back) millisecond: bump the random part
            # so IDs stay strictly increasing within this process.
            now_ms = _last_ms
            rand = _last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last_ms, _last_rand = now_ms, rand & ((1 << 80) - 1)
        return (now_ms << 80) | _last_rand


def new_id(prefix: str) -> str:
    """Return a new ID such as ``org_01JD3Q9V6T1X3Z7B6G2N5K8M4P``."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown ID prefix {prefix!r}")
    return f"{prefix}_{_encode(_ulid_int(), _BODY_LEN)}"


def looks_like(value: str, prefix: str) -> bool:
    """True when ``value`` has the shape of an ID with ``prefix`` (no DB lookup)."""
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and len(body) == _BODY_LEN and all(c in _ALPHABET for c in body)


def require(value: str, prefix: str) -> str:
    """Validate an ID given by a user; a wrong prefix is a clear input error."""
    if not looks_like(value, prefix):
        raise InvalidInput(
            f"{value!r} is not a {PREFIXES[prefix]} ID (expected {prefix}_…)",
            code="invalid_id",
        )
    return value
