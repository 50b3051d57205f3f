"""Standard Webhooks signing and verification (https://www.standardwebhooks.com/).

We follow the specification exactly so that a receiver can verify our deliveries with any
Standard Webhooks library, and so that ``zigznote webhooks verify`` judges a payload exactly as
such a receiver would:

* a secret is ``whsec_`` followed by the base64 of the raw HMAC key;
* the signed content is ``f"{msg_id}.{timestamp}."`` followed by the raw body bytes;
* a signature is ``v1,`` followed by the base64 of HMAC-SHA256 over that content;
* ``webhook-signature`` is a space-separated list of signatures, which is how secret rotation
  works: during the grace period both the current and the previous secret sign, and a receiver
  holding either one accepts the message.

This module is pure: no I/O besides the clock and the system random source.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets as _secrets
import time
from collections.abc import Mapping, Sequence

from zigznote.errors import InvalidInput, SignatureInvalid

SECRET_PREFIX = "whsec_"
#: Size of a generated key. The spec allows 24 to 64 bytes; 24 is what its reference
#: libraries generate and is far beyond brute force for HMAC-SHA256.
SECRET_BYTES = 24
#: The key-material range the specification allows for a secret (in bytes). Shorter keys are
#: guessable offline from one signed message; the spec's libraries refuse both ends too.
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
#: Default replay window in seconds, the spec's recommendation (five minutes).
DEFAULT_TOLERANCE = 300

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"

# Only plain ASCII digits: ``int()`` would also accept "+12", " 12", "1_2" and non-ASCII digits,
# none of which a conforming sender produces. The length cap keeps absurd input cheap to reject.
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")


def generate_secret() -> str:
    """Return a new random signing secret in the ``whsec_<base64>`` form."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """Return the raw HMAC key of a ``whsec_…`` secret.

    The prefix is optional (the reference libraries accept a bare base64 key too) and missing
    ``=`` padding is tolerated for the same reason; anything else that is not valid base64 is
    refused rather than silently producing a different key. The key must be 24 to 64 bytes
    (the specification's range). Raises :class:`InvalidInput` (exit 2) otherwise.
    """
    if not isinstance(secret, str):
        raise InvalidInput("webhook secret must be a string like whsec_<base64>")
    raw = secret.strip()
    if raw.startswith(SECRET_PREFIX):
        raw = raw[len(SECRET_PREFIX) :]
    if not raw:
        raise InvalidInput(
            "webhook secret is empty",
            hint="a secret looks like whsec_<base64>; `zigznote webhooks rotate-secret` makes one",
        )
    padded = raw + "=" * (-len(raw) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "webhook secret is malformed: expected whsec_ followed by base64",
            hint="copy the secret exactly as `webhooks create` or `rotate-secret` printed it",
        ) from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise InvalidInput(
            f"webhook secret is too {'short' if len(key) < SECRET_MIN_BYTES else 'long'}: it decodes to "
            f"{len(key)} byte{'' if len(key) == 1 else 's'} of key material; Standard Webhooks secrets have "
            f"{SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes",
            hint="copy the whole secret as `webhooks create` or `rotate-secret` printed it",
            code="secret_size",
        )
    return key


def _digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    """HMAC-SHA256 over the spec's signed content: ``id.timestamp.`` + raw body bytes."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + bytes(body)
    return hmac.digest(key, signed, "sha256")  # one-shot: no HMAC object per message


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature of one message under one secret."""
    digest = _digest(decode_secret(secret), msg_id, timestamp, body)
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign_with_key(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``sign`` with an already decoded key (the engine decodes each secret once)."""
    return "v1," + base64.b64encode(_digest(key, msg_id, timestamp, body)).decode("ascii")


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value: one signature per secret, space-separated.

    ``secrets`` is normally ``[current]`` or, during a rotation grace period,
    ``[current, previous]``. Duplicates are dropped so a rotation to the same secret does not
    send the same signature twice.
    """
    if isinstance(secrets, str):
        # A bare string is a Sequence[str] of characters; signing with each character would be
        # a silent disaster, so treat it as the single secret it obviously is.
        secrets = [secrets]
    unique = list(dict.fromkeys(secrets))
    if not unique:
        raise InvalidInput("cannot sign a webhook message without at least one secret")
    return " ".join(sign(s, msg_id, timestamp, body) for s in unique)


def signed_headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Return the three Standard Webhooks headers for one delivery attempt.

    ``msg_id`` stays the same across retries (receivers dedupe on it); ``timestamp`` is the
    attempt's own time, so each retry gets a fresh signature inside the receiver's window.
    """
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(int(timestamp)),
        HEADER_SIGNATURE: signature_header(secrets, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Verify a message the way a Standard Webhooks receiver does; return None on success.

    Raises :class:`SignatureInvalid` naming the first problem found (missing headers, a
    timestamp that is not an integer or is outside ``tolerance`` seconds of ``now`` in either
    direction, or no ``v1`` signature matching). A malformed *secret* is the caller's input
    error and raises :class:`InvalidInput` instead.
    """
    key = decode_secret(secret)

    # HTTP header names are case-insensitive; the last value wins if a mapping has both cases.
    lowered = {str(k).lower(): v for k, v in headers.items()}
    wanted = (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE)
    missing = [name for name in wanted if not str(lowered.get(name) or "").strip()]
    if missing:
        raise SignatureInvalid(
            f"missing required header(s): {', '.join(missing)}",
            hint="a Standard Webhooks message carries webhook-id, webhook-timestamp and webhook-signature",
        )
    msg_id = str(lowered[HEADER_ID]).strip()
    raw_ts = str(lowered[HEADER_TIMESTAMP]).strip()
    sig_header = str(lowered[HEADER_SIGNATURE])

    if not _TIMESTAMP_RE.fullmatch(raw_ts):
        raise SignatureInvalid(f"webhook-timestamp {raw_ts!r} is not an integer number of seconds since the epoch")
    timestamp = int(raw_ts)
    current = time.time() if now is None else now
    # Both directions matter: an old timestamp is a replay, a future one would let a captured
    # message be replayed for longer than the window.
    if timestamp < current - tolerance:
        raise SignatureInvalid(
            f"webhook-timestamp {timestamp} is too old: {int(current - timestamp)} s ago, tolerance is {tolerance} s",
            hint="a replayed or long-delayed message; the sender signs every attempt afresh",
        )
    if timestamp > current + tolerance:
        raise SignatureInvalid(
            f"webhook-timestamp {timestamp} is too far in the future: "
            f"{int(timestamp - current)} s ahead, tolerance is {tolerance} s",
            hint="check the clocks of the sender and the receiver",
        )

    expected = _digest(key, msg_id, timestamp, body)
    saw_v1 = False
    for entry in sig_header.split():
        version, sep, encoded = entry.partition(",")
        # Unknown versions (e.g. v1a asymmetric signatures) are skipped, as the spec requires.
        if not sep or version != "v1":
            continue
        saw_v1 = True
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return
    if not saw_v1:
        raise SignatureInvalid("webhook-signature contains no v1 signature")
    raise SignatureInvalid(
        "no v1 signature matches: the body, webhook-id or webhook-timestamp was altered, or the secret is wrong",
        hint="verify against the raw body bytes exactly as received, with the endpoint's "
        "current (or previous, during rotation) secret",
    )
