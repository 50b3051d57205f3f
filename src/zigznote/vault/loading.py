"""Finding the master keys: environment, OS keyring, key file, in that order."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from zigznote.errors import VaultError
from zigznote.vault._hints import NO_KEY_HINT
from zigznote.vault.cipher import KeySource, Vault
from zigznote.vault.encoding import MasterKey, decode_key
from zigznote.vault.keyfile import next_key_file, read_key_file
from zigznote.vault.os_keyring import KEYRING_NEXT_USER, KEYRING_USER, _keyring_get_many, _KeyringUnavailable

log = logging.getLogger("zigznote.vault")

ENV_MASTER_KEY = "ZIGZNOTE_MASTER_KEY"
ENV_MASTER_KEY_PREVIOUS = "ZIGZNOTE_MASTER_KEY_PREVIOUS"


def _env_value(env: Mapping[str, str], name: str) -> str | None:
    # `ZIGZNOTE_MASTER_KEY=` (set but empty) is how shells and compose files unset a variable.
    value = env.get(name)
    return value if value and value.strip() else None


def load_keys(
    env: Mapping[str, str],
    *,
    key_file: Path | None,
    use_keyring: bool = True,
    keyring_timeout: float = 3.0,
) -> list[MasterKey]:
    """All master keys available, the current (encrypting) one first; [] if there are none.

    Current key: ZIGZNOTE_MASTER_KEY, else keyring ``master-key``, else ``key_file``. Then
    decrypt-only keys: ZIGZNOTE_MASTER_KEY_PREVIOUS, keyring ``master-key-next``,
    ``<key_file>.next``. A source that is present but broken raises VaultError rather than
    being skipped: silently falling through to another key would encrypt new secrets under
    the wrong one.
    """
    current: MasterKey | None = None
    previous: MasterKey | None = None
    keyring_next: MasterKey | None = None
    file_next: MasterKey | None = None

    env_current = _env_value(env, ENV_MASTER_KEY)
    if env_current is not None:
        current = MasterKey(decode_key(env_current, source=ENV_MASTER_KEY), "env")
    env_previous = _env_value(env, ENV_MASTER_KEY_PREVIOUS)
    if env_previous is not None:
        previous = MasterKey(decode_key(env_previous, source=ENV_MASTER_KEY_PREVIOUS), "env")

    if use_keyring:
        # Ask for master-key only if it could become the current key; both lookups run under
        # one timeout, so a hung keyring costs one timeout, not two.
        users = [KEYRING_NEXT_USER] if current is not None else [KEYRING_USER, KEYRING_NEXT_USER]
        try:
            found = _keyring_get_many(users, keyring_timeout)
        except _KeyringUnavailable as exc:
            log.debug("keyring unavailable: %s", exc)
            found = {}
        stored = found.get(KEYRING_USER)
        if current is None and stored:
            current = MasterKey(decode_key(stored, source=f"keyring {KEYRING_USER}"), "keyring")
        stored_next = found.get(KEYRING_NEXT_USER)
        if stored_next:
            keyring_next = MasterKey(decode_key(stored_next, source=f"keyring {KEYRING_NEXT_USER}"), "keyring")

    if key_file is not None:
        if current is None and key_file.exists():
            current = MasterKey(read_key_file(key_file), f"file:{key_file}")
        next_file = next_key_file(key_file)
        if next_file.exists():
            file_next = MasterKey(read_key_file(next_file), f"file:{next_file}")

    if current is None:
        # Decrypt-only keys alone cannot make a vault: nothing would say which key encrypts.
        return []

    keys: list[MasterKey] = []
    seen: set[str] = set()
    for mk in (current, previous, keyring_next, file_next):
        if mk is not None and mk.kid not in seen:
            seen.add(mk.kid)
            keys.append(mk)
    return keys


def require_vault(keys: list[MasterKey], reload: KeySource | None = None) -> Vault:
    """A Vault over ``keys`` (re-reading its sources through ``reload`` on an unknown key ID),
    or the standard "no master key" VaultError if ``keys`` is empty."""
    if not keys:
        raise VaultError("no master key found", hint=NO_KEY_HINT)
    return Vault(keys, reload=reload)
