"""Master keys as bytes and as text: generation, base64 encoding, fingerprints."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field

from zigznote.errors import VaultError
from zigznote.vault._hints import HINT_NEW_KEY

KEY_BYTES = 32  # AES-256

# Domain-separates the fingerprint from any other hash of the key, so the kid we display can
# never be mistaken for (or reused as) something derived from the key for another purpose.
_KID_LABEL = b"zigznote-master-key-id:v1\x00"


def generate_key() -> bytes:
    """A fresh random 256-bit master key."""
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """Standard base64: what operators paste into ZIGZNOTE_MASTER_KEY or a key file."""
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, *, source: str) -> bytes:
    """Parse a base64 master key; ``source`` names where it came from, for the error message.

    Raises VaultError for empty text, invalid base64 or a length other than 32 bytes. The
    message never echoes ``text``: a key that is merely mistyped is still mostly a key.
    """
    cleaned = text.strip()
    if not cleaned:
        raise VaultError(f"master key from {source} is empty", hint=HINT_NEW_KEY)
    try:
        # validate=True: without it b64decode silently drops stray characters, so a corrupted
        # key could decode to *some* 32 bytes and surface later as "wrong key".
        key = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII input
        raise VaultError(f"master key from {source} is not valid base64", hint=HINT_NEW_KEY) from None
    if len(key) != KEY_BYTES:
        raise VaultError(
            f"master key from {source} is {len(key)} bytes; expected {KEY_BYTES}",
            hint=HINT_NEW_KEY,
        )
    return key


def key_id(key: bytes) -> str:
    """A short fingerprint of ``key`` (16 hex chars), safe to print and store."""
    return hashlib.sha256(_KID_LABEL + key).hexdigest()[:16]


@dataclass(frozen=True)
class MasterKey:
    """One master key and where it came from (``source``: "env", "keyring" or "file:<path>").

    Raises VaultError if ``key`` is not 32 bytes. Never shows the key in its repr.
    """

    key: bytes = field(repr=False)
    source: str

    def __post_init__(self) -> None:
        # Catch a wrong-sized key here rather than as an obscure cryptography error later.
        if not isinstance(self.key, bytes) or len(self.key) != KEY_BYTES:
            raise VaultError(f"master key from {self.source} must be {KEY_BYTES} bytes", hint=HINT_NEW_KEY)

    @property
    def kid(self) -> str:
        """The key's fingerprint (see ``key_id``)."""
        return key_id(self.key)

    def __repr__(self) -> str:
        # Written by hand (not just field(repr=False)) so no future field can leak the key
        # into a traceback, log line or debugger view.
        return f"MasterKey(kid={self.kid!r}, source={self.source!r})"

    __str__ = __repr__
