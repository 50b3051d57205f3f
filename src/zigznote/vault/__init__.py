"""Secrets at rest: AES-256-GCM under a master key, and where that key comes from.

Every token, API key and signing secret is encrypted before it touches the store. A stored
secret is one string::

    zv1:<kid>:<base64url-nopad(nonce[12] + ciphertext + tag[16])>

* ``zv1`` versions the format, so a future scheme can be told apart without guessing.
* ``kid`` is a fingerprint of the master key that encrypted it. It lets us say *which* key is
  missing ("encrypted with key X, you have key Y") instead of the useless "decryption failed",
  and lets several keys coexist during a rotation.
* The AAD is ``zigznote:v1:<table>:<row>:<field>``: it is authenticated but not stored, so a
  ciphertext copied into another row, field or table fails to decrypt instead of silently
  handing one customer's token to another.

Master keys come, in order of precedence, from ``ZIGZNOTE_MASTER_KEY``, the OS keyring, or a
key file (0600). Extra keys that can only decrypt (``ZIGZNOTE_MASTER_KEY_PREVIOUS``, the keyring's
``master-key-next``, ``<key file>.next``) keep secrets readable while a rotation is in progress.
A Vault given a ``reload`` callable re-reads those sources when it meets a key ID it does not
know, so a running worker survives a ``keys rotate`` made by another process.

Modules: ``encoding`` (key bytes ↔ text, key IDs), ``cipher`` (token format, Vault),
``keyfile``, ``os_keyring``, ``loading`` (which sources, in which order).

Start-up cost matters (``zigznote --help`` must be fast), so ``keyring`` (about 70 ms to import)
and ``cryptography`` are imported inside the functions that need them.
"""

from __future__ import annotations

from zigznote.vault.cipher import AAD_PREFIX, NONCE_BYTES, RELOAD_INTERVAL, TAG_BYTES, TOKEN_VERSION, KeySource, Vault
from zigznote.vault.encoding import KEY_BYTES, MasterKey, decode_key, encode_key, generate_key, key_id
from zigznote.vault.keyfile import next_key_file, read_key_file, write_key_file
from zigznote.vault.loading import ENV_MASTER_KEY, ENV_MASTER_KEY_PREVIOUS, load_keys, require_vault
from zigznote.vault.os_keyring import (
    KEYRING_NEXT_USER,
    KEYRING_SERVICE,
    KEYRING_USER,
    keyring_available,
    keyring_delete,
    keyring_get,
    keyring_set,
)

__all__ = [
    "AAD_PREFIX",
    "ENV_MASTER_KEY",
    "ENV_MASTER_KEY_PREVIOUS",
    "KEYRING_NEXT_USER",
    "KEYRING_SERVICE",
    "KEYRING_USER",
    "KEY_BYTES",
    "NONCE_BYTES",
    "RELOAD_INTERVAL",
    "TAG_BYTES",
    "TOKEN_VERSION",
    "KeySource",
    "MasterKey",
    "Vault",
    "decode_key",
    "encode_key",
    "generate_key",
    "key_id",
    "keyring_available",
    "keyring_delete",
    "keyring_get",
    "keyring_set",
    "load_keys",
    "next_key_file",
    "read_key_file",
    "require_vault",
    "write_key_file",
]
