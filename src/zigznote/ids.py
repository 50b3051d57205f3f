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
from zigznote.wording import article

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BODY_LEN = 26

PREFIXES = {
    "org": "organization",
    "mtg": "meeting",
    "wh": "webhook",
    "evt": "event",
    "msg": "webhook delivery",
    "att": "delivery attempt",
    "epe": "endpoint event",
    "conn": "integration connection",
    # Billing (store/models/billing.py). Distinct from the providers' own prefixes (Stripe's
    # cus_, sub_, pi_, in_, re_, evt_), so an ID says whose it is.
    "bcus": "billing customer",
    "bpl": "billing plan",
    "bpr": "billing price",
    "bsub": "subscription",
    "pay": "payment",
    "inv": "invoice",
    "ref": "refund",
    "pev": "provider event",
    "bop": "pending billing operation",
}

_lock = threading.Lock()
_last_ms = 0
_last_rand = 0
_RAND_MAX = (1 << 80) - 1
_LOW40 = (1 << 40) - 1

# Every 10-bit value as its two base32 characters: one lookup per 10 bits, and only on
# small ints (the 80 random bits are split into two 40-bit halves first). About 3x faster
# than five bits at a time; event fan-out makes one ID per delivery.
_PAIRS = tuple(hi + lo for hi in _ALPHABET for lo in _ALPHABET)


def _encode(ms: int, rand: int) -> str:
    """The 26-character body: Crockford base32 of ``(ms << 80) | rand``, most significant first.

    ``ms`` < 2**50 (10 characters: the timestamp), ``rand`` < 2**80 (16 characters).
    """
    p = _PAIRS
    hi = rand >> 40
    lo = rand & _LOW40
    return "".join(
        (
            p[ms >> 40],
            p[ms >> 30 & 1023],
            p[ms >> 20 & 1023],
            p[ms >> 10 & 1023],
            p[ms & 1023],
            p[hi >> 30],
            p[hi >> 20 & 1023],
            p[hi >> 10 & 1023],
            p[hi & 1023],
            p[lo >> 30],
            p[lo >> 20 & 1023],
            p[lo >> 10 & 1023],
            p[lo & 1023],
        )
    )


def _next() -> tuple[int, int]:
    """(milliseconds, 80 random bits), strictly increasing within this process."""
    global _last_ms, _last_rand
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            # Same (or an earlier, clock went back) millisecond: bump the random part
            # so IDs stay strictly increasing within this process.
            now_ms = _last_ms
            rand = _last_rand + 1
            if rand > _RAND_MAX:  # the random part ran out: borrow the next millisecond
                now_ms, rand = now_ms + 1, 0
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last_ms, _last_rand = now_ms, rand
        return now_ms, rand


def new_id(prefix: str) -> str:
    """Return a new ID such as ``org_01JD3Q9V6T1X3Z7B6G2N5K8M4P``."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown ID prefix {prefix!r}")
    ms, rand = _next()
    return f"{prefix}_{_encode(ms, rand)}"


def looks_like(value: str, prefix: str) -> bool:
    """True when ``value`` has the shape of an ID with ``prefix`` (no DB lookup)."""
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and len(body) == _BODY_LEN and all(c in _ALPHABET for c in body)


def require(value: str, prefix: str) -> str:
    """Validate an ID given by a user; a wrong prefix is a clear input error."""
    if not looks_like(value, prefix):
        raise InvalidInput(
            f"{value!r} is not {article(PREFIXES[prefix])} {PREFIXES[prefix]} ID (expected {prefix}_…)",
            code="invalid_id",
        )
    return value
