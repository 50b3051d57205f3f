"""The master key: where it lives, what it protects, and rotating it safely.

Rotation never leaves a window where secrets are unreadable: the new key is first
*staged* beside the old one (keyring ``master-key-next`` or ``<key_file>.next``, both
loaded as decrypt-only keys), then every secret is re-encrypted in one transaction,
and only then is the new key promoted. Interrupted anywhere, both keys are still
loadable; running ``keys rotate`` again resumes with the staged key instead of
minting a third one.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zigznote.config import Settings, read_config_file
from zigznote.config_file import write_config_file
from zigznote.errors import ConfigError, VaultError
from zigznote.vault import (
    ENV_MASTER_KEY,
    ENV_MASTER_KEY_PREVIOUS,
    KEYRING_NEXT_USER,
    KEYRING_USER,
    MasterKey,
    Vault,
    decode_key,
    encode_key,
    generate_key,
    keyring_available,
    keyring_delete,
    keyring_get,
    keyring_set,
    load_keys,
    next_key_file,
    require_vault,
    write_key_file,
)

if TYPE_CHECKING:
    from zigznote.store.engine import Database

ENV_NEW_MASTER_KEY = "ZIGZNOTE_MASTER_KEY_NEW"


def _key_file(settings: Settings) -> Path | None:
    return Path(settings.key_file).expanduser() if settings.key_file else None


def available_keys(settings: Settings) -> list[MasterKey]:
    keys = load_keys(settings.env, key_file=_key_file(settings), use_keyring=bool(settings.keyring))
    staged = settings.env.get(ENV_NEW_MASTER_KEY)
    if keys and staged:  # an env-sourced rotation in progress: the new key decrypts too
        new = MasterKey(decode_key(staged, source=ENV_NEW_MASTER_KEY), "env")
        if new.kid not in {k.kid for k in keys}:
            keys.append(new)
    return keys


def open_vault(settings: Settings) -> Vault:
    """The vault over every available key; VaultError ("no master key found") if there is none.

    It re-reads the same key sources when it meets a key ID it does not know, so a process
    that runs for long (``worker run``) keeps decrypting after another process ran ``keys
    rotate`` on a key file or the keyring. Environment keys cannot change under a running
    process; the error then says to restart it with both keys.
    """
    return require_vault(available_keys(settings), reload=lambda: available_keys(settings))


def _secret_rows(db: Database) -> list[tuple[type, Any]]:
    from sqlmodel import select

    from zigznote.store.models import SECRET_FIELDS

    rows: list[tuple[type, Any]] = []
    with db.session() as session:
        for model in SECRET_FIELDS:
            found: list[Any] = list(session.exec(select(model)))
            rows.extend((model, row) for row in found)
    return rows


def count_secrets(db: Database) -> Counter[str]:
    """How many ciphertexts each key ID protects."""
    from zigznote.store.models import SECRET_FIELDS

    counts: Counter[str] = Counter()
    for model, row in _secret_rows(db):
        for field in SECRET_FIELDS[model]:
            token = getattr(row, field)
            if token:
                counts[Vault.token_kid(token)] += 1
    return counts


def status(settings: Settings, db: Database | None) -> dict[str, Any]:
    keys = available_keys(settings)
    counts = count_secrets(db) if db is not None else Counter()
    current = keys[0] if keys else None
    data: dict[str, Any] = {
        "configured": current is not None,
        "source": current.source if current else None,
        "key_id": current.kid if current else None,
        "decrypt_only_keys": [k.kid for k in keys[1:]],
        "secrets": sum(counts.values()),
        "secrets_by_key": dict(counts),
    }
    known = {k.kid for k in keys}
    data["unreadable_secrets"] = sum(n for kid, n in counts.items() if kid not in known)
    return data


def _remember_key_file(settings: Settings, path: Path) -> bool:
    """Record the key file in config.toml so later runs find it; True if changed."""
    config_path = settings.config_path
    assert config_path is not None
    values = read_config_file(config_path)
    if values.get("key_file") == str(path):
        return False
    values["key_file"] = str(path)
    write_config_file(config_path, values)
    return True


def init(settings: Settings, *, file: Path | None = None) -> dict[str, Any]:
    """Create a master key unless one is already available (idempotent)."""
    existing = available_keys(settings)
    if existing:
        changed = False
        if file is not None and existing[0].source == f"file:{file}":
            changed = _remember_key_file(settings, file)
        return {"created": False, "source": existing[0].source, "key_id": existing[0].kid, "config_updated": changed}
    key = generate_key()
    if file is not None:
        file = file.expanduser().resolve()
        write_key_file(file, key)
        _remember_key_file(settings, file)
        return {"created": True, "source": f"file:{file}", "key_id": MasterKey(key, "file").kid, "config_updated": True}
    if not settings.keyring:
        raise VaultError(
            "the OS keyring is turned off (keyring = false / ZIGZNOTE_KEYRING=0), so it cannot hold the master key",
            hint="use `zigznote keys init --file PATH` (a 0600 key file) or set ZIGZNOTE_MASTER_KEY",
        )
    if not keyring_available():
        raise VaultError(
            "no OS keyring is available to hold the master key",
            hint="use `zigznote keys init --file PATH` (a 0600 key file) or set ZIGZNOTE_MASTER_KEY",
        )
    keyring_set(KEYRING_USER, encode_key(key))
    return {"created": True, "source": "keyring", "key_id": MasterKey(key, "keyring").kid, "config_updated": False}


def generate() -> str:
    """A fresh base64 key for operators who keep the key in ZIGZNOTE_MASTER_KEY."""
    return encode_key(generate_key())


def _stage(settings: Settings, current: MasterKey) -> MasterKey:
    """Put the new key where load_keys finds it as decrypt-only; reuse a staged one."""
    if current.source == "env":
        text = settings.env.get(ENV_NEW_MASTER_KEY)
        if not text:
            raise ConfigError(
                "the master key comes from ZIGZNOTE_MASTER_KEY, so zigznote cannot store a new one",
                hint=f"generate one with `zigznote keys generate`, set {ENV_NEW_MASTER_KEY} to it, "
                "run `zigznote keys rotate`, then make it ZIGZNOTE_MASTER_KEY",
            )
        return MasterKey(decode_key(text, source=ENV_NEW_MASTER_KEY), "env")
    if current.source == "keyring":
        staged = keyring_get(KEYRING_NEXT_USER)
        if staged:
            return MasterKey(decode_key(staged, source=f"keyring {KEYRING_NEXT_USER}"), "keyring")
        key = generate_key()
        keyring_set(KEYRING_NEXT_USER, encode_key(key))
        return MasterKey(key, "keyring")
    path = Path(current.source.removeprefix("file:"))
    nxt = next_key_file(path)
    if nxt.exists():
        from zigznote.vault import read_key_file

        return MasterKey(read_key_file(nxt), f"file:{path}")
    key = generate_key()
    write_key_file(nxt, key)
    return MasterKey(key, f"file:{path}")


def _promote(current: MasterKey, new: MasterKey) -> None:
    if current.source == "keyring":
        keyring_set(KEYRING_USER, encode_key(new.key))
        keyring_delete(KEYRING_NEXT_USER)
    elif current.source.startswith("file:"):
        import os

        path = Path(current.source.removeprefix("file:"))
        os.replace(next_key_file(path), path)


def rotate(settings: Settings, db: Database) -> dict[str, Any]:
    """Re-encrypt every secret under a new master key, in one transaction."""
    from sqlmodel import select

    from zigznote.store.models import SECRET_FIELDS

    keys = available_keys(settings)
    if not keys:
        require_vault(keys)
    current = keys[0]
    # Refuse before staging anything if a secret was encrypted with a key that is not loaded
    # (a wrong key): the error then names the loaded key, not the one we would have staged.
    known = {k.kid for k in keys}
    unknown = {kid: n for kid, n in count_secrets(db).items() if kid not in known}
    if unknown:
        raise VaultError(
            f"{sum(unknown.values())} secret(s) were encrypted with master key {', '.join(sorted(unknown))} "
            f"but the current key is {current.kid}; nothing was rotated",
            hint="load the key that encrypted them beside the current one (ZIGZNOTE_MASTER_KEY_PREVIOUS, "
            "the keyring's master-key-next or <key file>.next); `zigznote keys status` shows which keys are loaded",
        )
    new = _stage(settings, current)
    vault = Vault([new, *keys])
    changed = 0
    with db.session() as session:
        for model, fields in SECRET_FIELDS.items():
            table = model.__tablename__  # type: ignore[attr-defined]
            found: list[Any] = list(session.exec(select(model)))
            for row in found:
                for field in fields:
                    token = getattr(row, field)
                    if token:
                        fresh = vault.reencrypt(token, table=table, row=row.id, field=field)
                        if fresh != token:
                            setattr(row, field, fresh)
                            changed += 1
                session.add(row)
    _promote(current, new)
    result = {"old_key_id": current.kid, "new_key_id": new.kid, "reencrypted": changed, "source": current.source}
    if current.source == "env":
        result["action_required"] = (
            f"set {ENV_MASTER_KEY} to the value of {ENV_NEW_MASTER_KEY} now; "
            f"keep the old value as {ENV_MASTER_KEY_PREVIOUS} until every process restarted; "
            f"running workers started without {ENV_NEW_MASTER_KEY} cannot read the re-encrypted secrets "
            "(their deliveries fail) until they are restarted with the new key"
        )
    return result
