"""The stored-secret format and the Vault that encrypts and decrypts it.

A stored secret is one string ``zv1:<kid>:<base64url-nopad(nonce[12] + ciphertext + tag[16])>``
(see the package docstring). A Vault holds one or more master keys: the first encrypts, any
of them decrypts, chosen by the token's kid.

Long-running processes (``worker run``) must survive a ``keys rotate`` made by another
process: the secrets are then under a key this process never loaded. A Vault built with a
``reload`` callable re-reads its key sources when it meets an unknown kid (at most once per
kid per ``RELOAD_INTERVAL`` seconds), adopts what it finds, and retries once before raising.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zigznote.errors import VaultError, ZigznoteError
from zigznote.vault._hints import (
    HINT_ENV_RESTART,
    HINT_KEY_SOURCES,
    HINT_KEY_SOURCES_RELOADED,
    HINT_REWRITE,
    NO_KEY_HINT,
)
from zigznote.vault.encoding import MasterKey

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("zigznote.vault")

NONCE_BYTES = 12  # 96-bit nonce: the size GCM is specified and analysed for
TAG_BYTES = 16
TOKEN_VERSION = "zv1"
AAD_PREFIX = "zigznote:v1"

# The shortest time between two reloads for the same unknown kid: a secret that no source
# has is met on every endpoint load (every few seconds per webhook), and a keyring lookup
# can take seconds, so the sources are not re-read each time.
RELOAD_INTERVAL = 5.0
# Bounds the memory of "when did we last look for kid X": kids come from stored tokens,
# which are outside input, so the table must not grow with whatever the store holds.
_RELOAD_MEMORY = 1024

_KID_RE = re.compile(r"[0-9a-f]{16}")

KeySource = Callable[[], Sequence[MasterKey]]


def _b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(table: str, row: str, field_name: str) -> bytes:
    # The AAD is ':'-joined. With no ':' in table or field, every AAD parses one way only
    # (table up to the first ':', field after the last), so ("a:b", "c") and ("a", "b:c")
    # cannot collide. Rows are IDs and may contain anything.
    for label, value in (("table", table), ("field", field_name)):
        if not value or ":" in value:
            raise ValueError(f"vault {label} must be non-empty and contain no ':': {value!r}")
    if not row:
        raise ValueError("vault row must be non-empty")
    return f"{AAD_PREFIX}:{table}:{row}:{field_name}".encode()


def _split_token(token: str) -> tuple[str, bytes]:
    """(kid, nonce+ciphertext) of a token, or ValueError saying what is wrong with it."""
    if not isinstance(token, str):
        raise ValueError(f"expected a string, got {type(token).__name__}")
    version, _, rest = token.partition(":")
    if version != TOKEN_VERSION:
        raise ValueError("it does not start with 'zv1:'")
    kid, sep, body = rest.partition(":")
    if not sep or not _KID_RE.fullmatch(kid):
        raise ValueError("its key id is malformed")
    try:
        blob = _b64url_decode(body)
    except (binascii.Error, ValueError):
        raise ValueError("its body is not base64url") from None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise ValueError("it is too short")
    return kid, blob


@dataclass(frozen=True)
class _KeySet:
    """The keys a Vault holds, replaced as a whole on reload so readers never see half of one."""

    keys: tuple[MasterKey, ...]
    ciphers: Mapping[str, AESGCM]

    @staticmethod
    def of(keys: Sequence[MasterKey]) -> _KeySet:
        # Imported here, not at module level: `zigznote --help` must not pay for cryptography.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        ciphers: dict[str, AESGCM] = {}
        unique: list[MasterKey] = []
        for mk in keys:
            # On a duplicate kid the earlier (higher-precedence) key wins.
            if mk.kid not in ciphers:
                ciphers[mk.kid] = AESGCM(mk.key)
                unique.append(mk)
        return _KeySet(tuple(unique), ciphers)


class Vault:
    """Encrypts with the current master key; decrypts with any loaded key, chosen by kid.

    ``keys``: the current (encrypting) key first, then decrypt-only keys; VaultError if empty.
    ``reload``: optional; returns the key sources' keys as ``load_keys`` does (current first).
    On an unknown kid it is called (at most once per kid per ``RELOAD_INTERVAL`` s); its keys
    become the vault's keys, and the keys held before stay as decrypt-only keys. It may raise
    ZigznoteError (a broken source); the decrypt then fails with that reason. Thread-safe.
    """

    def __init__(self, keys: Sequence[MasterKey], reload: KeySource | None = None) -> None:
        if not keys:
            raise VaultError("no master key found", hint=NO_KEY_HINT)
        self._set = _KeySet.of(keys)
        self._reload = reload
        self._lock = threading.Lock()
        self._looked_for: dict[str, float] = {}  # kid → time.monotonic() of its last reload

    def __repr__(self) -> str:
        return f"Vault(keys={list(self._set.keys)!r})"

    @property
    def current(self) -> MasterKey:
        """The key new secrets are encrypted with."""
        return self._set.keys[0]

    @property
    def keys(self) -> tuple[MasterKey, ...]:
        """Every loaded key, the current one first."""
        return self._set.keys

    def encrypt(self, plaintext: str, *, table: str, row: str, field: str) -> str:
        """Encrypt ``plaintext`` for one field of one row (the AAD binds all three)."""
        aad = _aad(table, row, field)
        keyset = self._set  # one snapshot: the kid written must be the key used
        current = keyset.keys[0]
        # A fresh random nonce per call. Nonce reuse under one GCM key is catastrophic; with
        # random 96-bit nonces the bound is ~2^32 encryptions per key, far beyond our volume.
        nonce = os.urandom(NONCE_BYTES)
        sealed = keyset.ciphers[current.kid].encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{TOKEN_VERSION}:{current.kid}:{_b64url_nopad(nonce + sealed)}"

    def decrypt(self, token: str, *, table: str, row: str, field: str) -> str:
        """The plaintext of ``token``; VaultError saying what is wrong and what to do."""
        from cryptography.exceptions import InvalidTag

        aad = _aad(table, row, field)
        where = f"{table}.{field} of {row}"
        try:
            kid, blob = _split_token(token)
        except ValueError as exc:
            raise VaultError(f"secret for {where} is not a zigznote ciphertext ({exc})", hint=HINT_REWRITE) from None
        cipher = self._cipher(kid)
        try:
            plaintext = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            # The kid matched, so the key is (almost surely) right: what failed is the AAD
            # (the value was copied from elsewhere) or the bytes were tampered with.
            raise VaultError(
                f"secret for {where} failed authentication (wrong master key, or copied from another row)",
                hint="set the secret again; if many secrets fail, check which master key is "
                "loaded with `zigznote keys status`",
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            # Authentic but not text: written by something other than encrypt().
            raise VaultError(f"secret for {where} is not UTF-8 text", hint="set the secret again") from None

    def _cipher(self, kid: str) -> AESGCM:
        """The cipher for ``kid``, reloading the key sources once if it is unknown."""
        cipher = self._set.ciphers.get(kid)
        if cipher is not None:
            return cipher
        if self._reload is None:
            raise self._unknown_key(kid, HINT_KEY_SOURCES)
        problem = ""
        # One reload at a time: the engine decrypts in its DB thread while other threads may
        # too, and two threads meeting the same new kid should cost one reload, not two.
        with self._lock:
            cipher = self._set.ciphers.get(kid)  # another thread may have just loaded it
            if cipher is not None:
                return cipher
            now = time.monotonic()
            last = self._looked_for.get(kid)
            if last is None or now - last >= RELOAD_INTERVAL:
                self._remember_lookup(kid, now)
                problem = self._reload_keys()
                cipher = self._set.ciphers.get(kid)
                if cipher is not None:
                    log.info("master key %s loaded from the key sources", kid)
                    return cipher
        hint = HINT_ENV_RESTART if self.current.source == "env" else HINT_KEY_SOURCES_RELOADED
        raise self._unknown_key(kid, f"{problem}; {hint}" if problem else hint)

    def _reload_keys(self) -> str:
        """Re-read the key sources into this vault; a description of what went wrong, or ""."""
        assert self._reload is not None
        try:
            fresh = list(self._reload())
        except ZigznoteError as exc:
            # A broken source (say, a key file replaced by something unreadable) must not
            # take away the keys we already hold: keep them and report why reloading failed.
            log.warning("reloading the master keys failed: %s", exc.message)
            return f"reloading the key sources failed ({exc.message})"
        if not fresh:
            return "reloading the key sources found no master key"
        old = self._set
        # The sources' current key becomes ours (so anything encrypted from now on uses the
        # key the store is moving to); every key held before stays usable for decryption.
        self._set = _KeySet.of([*fresh, *old.keys])
        if self._set.keys[0].kid != old.keys[0].kid:
            log.info("current master key is now %s (was %s)", self._set.keys[0].kid, old.keys[0].kid)
        return ""

    def _remember_lookup(self, kid: str, now: float) -> None:
        if len(self._looked_for) >= _RELOAD_MEMORY:
            # Forget lookups old enough that they no longer limit anything.
            self._looked_for = {k: t for k, t in self._looked_for.items() if now - t < RELOAD_INTERVAL}
            if len(self._looked_for) >= _RELOAD_MEMORY:
                self._looked_for.clear()
        self._looked_for[kid] = now

    def _unknown_key(self, kid: str, hint: str) -> VaultError:
        return VaultError(
            f"secret was encrypted with master key {kid} but the current key is {self.current.kid}", hint=hint
        )

    def reencrypt(self, token: str, *, table: str, row: str, field: str) -> str:
        """Re-encrypt ``token`` under the current key (for ``keys rotate``); a no-op if it already is."""
        if self.token_kid(token) == self.current.kid:
            return token
        plaintext = self.decrypt(token, table=table, row=row, field=field)
        return self.encrypt(plaintext, table=table, row=row, field=field)

    @staticmethod
    def token_kid(token: str) -> str:
        """The kid of the key that encrypted ``token`` (no key needed); VaultError if malformed."""
        try:
            kid, _ = _split_token(token)
        except ValueError as exc:
            raise VaultError(f"stored secret is not a zigznote ciphertext ({exc})", hint=HINT_REWRITE) from None
        return kid
