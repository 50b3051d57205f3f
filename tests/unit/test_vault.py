"""Tests for zigznote.vault: encryption format, AAD binding, key files, keyring, key loading."""

from __future__ import annotations

import base64
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.null
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

from zigznote import vault
from zigznote.errors import ConfigError, VaultError
from zigznote.vault import (
    ENV_MASTER_KEY,
    ENV_MASTER_KEY_PREVIOUS,
    KEYRING_NEXT_USER,
    KEYRING_SERVICE,
    KEYRING_USER,
    MasterKey,
    Vault,
    decode_key,
    encode_key,
    generate_key,
    key_id,
    keyring_available,
    keyring_delete,
    keyring_get,
    keyring_set,
    load_keys,
    read_key_file,
    require_vault,
    write_key_file,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")

WHERE = {"table": "integration", "row": "int_01HX", "field": "access_token"}


# ---------------------------------------------------------------------------------------------
# Test keyring backends. They define no `priority`, so keyring never considers them viable and
# cannot pick one up on its own; they are only ever installed with keyring.set_keyring().
# ---------------------------------------------------------------------------------------------


class MemoryKeyring(KeyringBackend):
    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.store[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None


class DroppingKeyring(MemoryKeyring):
    """Accepts writes and forgets them, like some misconfigured backends do."""

    def set_password(self, service: str, username: str, password: str) -> None:
        return None


class HangingKeyring(MemoryKeyring):
    """Blocks every read until released, like a locked Secret Service waiting on a prompt."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.calls = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.calls += 1
        self.release.wait(30)
        return None


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("locked")


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every test gets an empty in-memory keyring, so none can touch the real OS keyring."""
    original = keyring.core._keyring_backend  # may be None (not yet initialised); restore as is
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.core._keyring_backend = original


@pytest.fixture
def key() -> bytes:
    return generate_key()


@pytest.fixture
def vlt(key: bytes) -> Vault:
    return Vault([MasterKey(key, "env")])


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


def test_generate_key_is_32_random_bytes() -> None:
    a, b = generate_key(), generate_key()
    assert len(a) == 32 and len(b) == 32
    assert a != b


def test_encode_decode_round_trip(key: bytes) -> None:
    text = encode_key(key)
    assert base64.b64decode(text) == key  # standard base64, not urlsafe
    assert decode_key(text, source="env") == key
    assert decode_key(f"  {text}\n", source="env") == key  # files end with a newline


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ("not base64!!", "not valid base64"),
        ("ключ", "not valid base64"),
        (base64.b64encode(b"x" * 16).decode(), "is 16 bytes; expected 32"),
        (base64.b64encode(b"x" * 33).decode(), "is 33 bytes; expected 32"),
    ],
)
def test_decode_key_errors_name_the_source(text: str, expect: str) -> None:
    with pytest.raises(VaultError) as info:
        decode_key(text, source="file:/etc/zz.key")
    assert expect in info.value.message
    assert "file:/etc/zz.key" in info.value.message
    assert info.value.hint
    assert info.value.exit_code == 6
    assert isinstance(info.value, ConfigError)


def test_decode_key_rejects_stray_characters(key: bytes) -> None:
    # Lenient base64 would skip the '*' and still yield 32 bytes: a corrupted key that only
    # surfaces later as "wrong key". Strict decoding says what is actually wrong.
    text = encode_key(key)
    with pytest.raises(VaultError, match="not valid base64"):
        decode_key(text[:10] + "*" + text[10:], source="env")


def test_decode_key_error_never_echoes_the_key(key: bytes) -> None:
    # One character short of a valid key: almost all of the secret is still there.
    text = encode_key(key)[:-2]
    with pytest.raises(VaultError) as info:
        decode_key(text, source="env")
    assert text not in str(info.value) and text[:20] not in str(info.value.to_dict())


def test_key_id_is_a_stable_16_hex_fingerprint(key: bytes) -> None:
    kid = key_id(key)
    assert len(kid) == 16 and int(kid, 16) >= 0
    assert kid == key_id(key)
    assert kid != key_id(generate_key())
    assert kid not in key.hex()  # labelled hash, not a slice of the key


def test_master_key_repr_does_not_leak_key(key: bytes) -> None:
    mk = MasterKey(key, "keyring")
    for text in (repr(mk), str(mk), f"{mk}", repr([mk]), repr(Vault([mk]))):
        assert mk.kid in text
        assert repr(key) not in text
        assert key.hex() not in text
        assert encode_key(key) not in text


def test_master_key_rejects_wrong_size() -> None:
    with pytest.raises(VaultError, match="must be 32 bytes"):
        MasterKey(b"short", "env")


# ---------------------------------------------------------------------------------------------
# Encryption
# ---------------------------------------------------------------------------------------------


def test_round_trip(vlt: Vault) -> None:
    for plaintext in ("xoxb-123-abc", "", "üñíçødé ✓ " * 50):
        token = vlt.encrypt(plaintext, **WHERE)
        assert vlt.decrypt(token, **WHERE) == plaintext


def test_token_format(vlt: Vault) -> None:
    token = vlt.encrypt("secret", **WHERE)
    version, kid, body = token.split(":")
    assert version == "zv1"
    assert kid == vlt.current.kid == Vault.token_kid(token)
    assert "=" not in body and "+" not in body and "/" not in body  # base64url, no padding
    blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert len(blob) == 12 + len(b"secret") + 16  # nonce + ciphertext + tag
    assert "secret" not in token


def test_nonce_differs_each_call(vlt: Vault) -> None:
    tokens = {vlt.encrypt("same", **WHERE) for _ in range(50)}
    assert len(tokens) == 50
    nonces = {base64.urlsafe_b64decode(t.split(":")[2] + "==")[:12] for t in tokens}
    assert len(nonces) == 50


@pytest.mark.parametrize(
    "other",
    [
        {"row": "int_OTHER"},
        {"field": "refresh_token"},
        {"table": "webhook"},
    ],
    ids=["other-row", "other-field", "other-table"],
)
def test_aad_binds_table_row_field(vlt: Vault, other: dict[str, str]) -> None:
    token = vlt.encrypt("xoxb-secret", **WHERE)
    moved = {**WHERE, **other}
    with pytest.raises(VaultError) as info:
        vlt.decrypt(token, **moved)
    assert "failed authentication" in info.value.message
    assert "copied from another row" in info.value.message
    assert f"{moved['table']}.{moved['field']} of {moved['row']}" in info.value.message


def test_aad_rejects_ambiguous_names(vlt: Vault) -> None:
    # ("a:b", row "c") and ("a", row "b:c") would otherwise produce the same AAD.
    with pytest.raises(ValueError, match=r"table|colon|:"):
        vlt.encrypt("x", table="a:b", row="c", field="f")
    with pytest.raises(ValueError, match=r"field|empty"):
        vlt.encrypt("x", table="t", row="r", field="")
    token = vlt.encrypt("x", table="a", row="b:c", field="f")  # colons in row are fine
    assert vlt.decrypt(token, table="a", row="b:c", field="f") == "x"


def test_wrong_key_with_same_kid_is_a_vault_error(key: bytes) -> None:
    # A kid collision cannot be produced honestly, so forge one: relabel a token from another
    # key with this vault's kid. Decryption must fail as VaultError, not cryptography's InvalidTag.
    token = Vault([MasterKey(generate_key(), "env")]).encrypt("s", **WHERE)
    mine = Vault([MasterKey(key, "env")])
    forged = f"zv1:{mine.current.kid}:{token.split(':')[2]}"
    with pytest.raises(VaultError) as info:
        mine.decrypt(forged, **WHERE)
    assert "failed authentication" in info.value.message


def test_unknown_kid_names_both_keys(key: bytes) -> None:
    old = Vault([MasterKey(generate_key(), "env")])
    token = old.encrypt("s", **WHERE)
    new = Vault([MasterKey(key, "keyring")])
    with pytest.raises(VaultError) as info:
        new.decrypt(token, **WHERE)
    assert info.value.message == (
        f"secret was encrypted with master key {old.current.kid} but the current key is {new.current.kid}"
    )
    assert info.value.hint is not None
    assert "ZIGZNOTE_MASTER_KEY" in info.value.hint
    assert "keys status" in info.value.hint


def test_any_loaded_key_decrypts_but_current_encrypts(key: bytes) -> None:
    old_key = generate_key()
    old_token = Vault([MasterKey(old_key, "env")]).encrypt("legacy", **WHERE)
    both = Vault([MasterKey(key, "env"), MasterKey(old_key, "env")])
    assert both.current.kid == key_id(key)
    assert both.decrypt(old_token, **WHERE) == "legacy"
    assert Vault.token_kid(both.encrypt("new", **WHERE)) == key_id(key)
    rotated = both.reencrypt(old_token, **WHERE)
    assert Vault.token_kid(rotated) == key_id(key)
    assert Vault([MasterKey(key, "env")]).decrypt(rotated, **WHERE) == "legacy"
    assert both.reencrypt(rotated, **WHERE) == rotated


def _flip(text: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    swapped = alphabet[(alphabet.index(text[index]) + 1) % len(alphabet)]
    return text[:index] + swapped + text[index + 1 :]


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
def test_tampered_token_fails_authentication(vlt: Vault, where: str) -> None:
    token = vlt.encrypt("a reasonably long secret value", **WHERE)
    prefix, body = token.rsplit(":", 1)
    index = {"nonce": 2, "ciphertext": 24, "tag": len(body) - 3}[where]
    with pytest.raises(VaultError) as info:
        vlt.decrypt(f"{prefix}:{_flip(body, index)}", **WHERE)
    assert "failed authentication" in info.value.message


@pytest.mark.parametrize(
    "token",
    [
        "",
        "plaintext-token",
        "zv2:0123456789abcdef:AAAA",
        "zv1:nothex!!nothex!:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "zv1:0123456789abcdef",
        "zv1:0123456789abcdef:not base64 at all",
        "zv1:0123456789abcdef:AAAA",  # shorter than nonce + tag
    ],
)
def test_malformed_token(vlt: Vault, token: str) -> None:
    with pytest.raises(VaultError) as info:
        vlt.decrypt(token, **WHERE)
    assert "not a zigznote ciphertext" in info.value.message
    with pytest.raises(VaultError, match="not a zigznote ciphertext"):
        Vault.token_kid(token)


def test_vault_needs_a_key() -> None:
    with pytest.raises(VaultError, match="no master key found"):
        Vault([])


# ---------------------------------------------------------------------------------------------
# Key files
# ---------------------------------------------------------------------------------------------


@posix_only
def test_key_file_created_0600(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "deep" / "dir" / "master.key"
    old_umask = os.umask(0)  # even with a permissive umask the file must be born 0600
    try:
        write_key_file(path, key)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path) == key


@posix_only
def test_key_file_refused_when_group_or_world_readable(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, key)
    path.chmod(0o644)
    with pytest.raises(VaultError) as info:
        read_key_file(path)
    assert "0644" in info.value.message
    assert info.value.hint == f"run `chmod 600 {path}`"
    path.chmod(0o640)
    with pytest.raises(VaultError, match=r"readable|permission|0600|mode"):
        read_key_file(path)
    path.chmod(0o400)
    assert read_key_file(path) == key


def test_key_file_refuses_overwrite(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, key)
    with pytest.raises(VaultError) as info:
        write_key_file(path, generate_key())
    assert "already exists" in info.value.message
    assert read_key_file(path) == key  # untouched


@posix_only
def test_key_file_overwrite_replaces_atomically_0600(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, generate_key())
    write_key_file(path, key, overwrite=True)
    assert read_key_file(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.key"]  # no temp file left


def test_read_key_file_errors(tmp_path: Path) -> None:
    with pytest.raises(VaultError) as info:
        read_key_file(tmp_path / "missing.key")
    assert "does not exist" in info.value.message
    assert info.value.hint and "keys init --file" in info.value.hint

    with pytest.raises(VaultError) as info:
        read_key_file(tmp_path)  # a directory
    assert str(tmp_path) in info.value.message

    bad = tmp_path / "bad.key"
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"definitely not a key\n")
    os.close(fd)
    with pytest.raises(VaultError) as info:
        read_key_file(bad)
    assert f"file:{bad}" in info.value.message


def test_read_key_file_unreadable(tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated rather than chmod 000: the tests may run as root, which reads anything.
    path = tmp_path / "master.key"
    write_key_file(path, key)
    real_open = os.open

    def deny(file: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(VaultError) as info:
        read_key_file(path)
    assert info.value.message == f"cannot read key file {path}: Permission denied"


def test_write_key_file_rejects_wrong_size(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="refusing to write a 5-byte master key"):
        write_key_file(tmp_path / "k", b"short")
    assert not (tmp_path / "k").exists()


# ---------------------------------------------------------------------------------------------
# load_keys / require_vault
# ---------------------------------------------------------------------------------------------


def test_load_keys_none_found(tmp_path: Path) -> None:
    assert load_keys({}, key_file=tmp_path / "absent.key") == []
    assert load_keys({}, key_file=None) == []
    assert load_keys({ENV_MASTER_KEY: ""}, key_file=None) == []  # empty means unset
    with pytest.raises(VaultError) as info:
        require_vault([])
    assert info.value.message == "no master key found"
    assert info.value.hint and "zigznote keys init" in info.value.hint


def test_load_keys_env_beats_file(tmp_path: Path) -> None:
    env_key, file_key = generate_key(), generate_key()
    path = tmp_path / "master.key"
    write_key_file(path, file_key)
    keys = load_keys({ENV_MASTER_KEY: encode_key(env_key)}, key_file=path)
    assert [(k.key, k.source) for k in keys] == [(env_key, "env")]
    # Without the env var, the file is the current key.
    keys = load_keys({}, key_file=path)
    assert [(k.key, k.source) for k in keys] == [(file_key, f"file:{path}")]


def test_load_keys_keyring_beats_file_and_env_beats_keyring(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    env_key, ring_key, file_key = generate_key(), generate_key(), generate_key()
    path = tmp_path / "master.key"
    write_key_file(path, file_key)
    memory_keyring.store[(KEYRING_SERVICE, KEYRING_USER)] = encode_key(ring_key)

    keys = load_keys({}, key_file=path)
    assert [(k.key, k.source) for k in keys] == [(ring_key, "keyring")]

    keys = load_keys({}, key_file=path, use_keyring=False)
    assert [k.key for k in keys] == [file_key]

    keys = load_keys({ENV_MASTER_KEY: encode_key(env_key)}, key_file=path)
    assert [k.key for k in keys] == [env_key]


def test_load_keys_previous_key_decrypts_old_ciphertext() -> None:
    old_key, new_key = generate_key(), generate_key()
    old_token = require_vault(load_keys({ENV_MASTER_KEY: encode_key(old_key)}, key_file=None))
    token = old_token.encrypt("hubspot-token", **WHERE)

    rotated_env = {
        ENV_MASTER_KEY: encode_key(new_key),
        ENV_MASTER_KEY_PREVIOUS: encode_key(old_key),
    }
    vlt = require_vault(load_keys(rotated_env, key_file=None))
    assert vlt.current.key == new_key
    assert vlt.decrypt(token, **WHERE) == "hubspot-token"

    # And without the previous key the same token is a clear unknown-kid error.
    only_new = require_vault(load_keys({ENV_MASTER_KEY: encode_key(new_key)}, key_file=None))
    with pytest.raises(VaultError, match=f"master key {key_id(old_key)}"):
        only_new.decrypt(token, **WHERE)


def test_load_keys_rotation_extras_in_order_and_deduplicated(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    current, previous, ring_next, file_next = (generate_key() for _ in range(4))
    path = tmp_path / "master.key"
    write_key_file(vault.next_key_file(path), file_next)
    memory_keyring.store[(KEYRING_SERVICE, KEYRING_NEXT_USER)] = encode_key(ring_next)
    env = {
        ENV_MASTER_KEY: encode_key(current),
        ENV_MASTER_KEY_PREVIOUS: encode_key(previous),
    }
    keys = load_keys(env, key_file=path)
    assert [k.key for k in keys] == [current, previous, ring_next, file_next]
    assert keys[3].source == f"file:{path}.next"

    # The same key from two sources appears once, at its highest-precedence position.
    env[ENV_MASTER_KEY_PREVIOUS] = encode_key(current)
    memory_keyring.store[(KEYRING_SERVICE, KEYRING_NEXT_USER)] = encode_key(file_next)
    keys = load_keys(env, key_file=path)
    assert [k.key for k in keys] == [current, file_next]
    assert keys[1].source == "keyring"


def test_load_keys_decrypt_only_keys_alone_are_not_enough() -> None:
    assert load_keys({ENV_MASTER_KEY_PREVIOUS: encode_key(generate_key())}, key_file=None) == []


def test_load_keys_broken_source_is_an_error_not_a_fallthrough(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, generate_key())
    with pytest.raises(VaultError, match=ENV_MASTER_KEY):
        load_keys({ENV_MASTER_KEY: "garbage!"}, key_file=path)
    memory_keyring.store[(KEYRING_SERVICE, KEYRING_USER)] = "dG9vIHNob3J0"
    with pytest.raises(VaultError, match="keyring master-key is 9 bytes"):
        load_keys({}, key_file=path)


@posix_only
def test_load_keys_refuses_world_readable_key_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    write_key_file(path, generate_key())
    path.chmod(0o644)
    with pytest.raises(VaultError, match="must be 0600"):
        load_keys({}, key_file=path)


# ---------------------------------------------------------------------------------------------
# Keyring
# ---------------------------------------------------------------------------------------------


def test_keyring_set_get_delete_round_trip(memory_keyring: MemoryKeyring) -> None:
    assert keyring_available(timeout=1)
    assert keyring_get() is None
    keyring_set(KEYRING_USER, "value-1")
    assert memory_keyring.store[(KEYRING_SERVICE, KEYRING_USER)] == "value-1"
    assert keyring_get() == "value-1"
    assert keyring_get(KEYRING_NEXT_USER) is None
    assert keyring_delete(KEYRING_USER) is True
    assert keyring_get() is None
    assert keyring_delete(KEYRING_USER) is False  # already gone: not an error


def test_load_keys_from_keyring(memory_keyring: MemoryKeyring, key: bytes) -> None:
    keyring_set(KEYRING_USER, encode_key(key))
    keys = load_keys({}, key_file=None)
    assert [(k.key, k.source) for k in keys] == [(key, "keyring")]


def test_keyring_set_detects_silently_dropped_write() -> None:
    keyring.set_keyring(DroppingKeyring())
    with pytest.raises(VaultError) as info:
        keyring_set(KEYRING_USER, "value")
    assert "did not store it" in info.value.message
    assert info.value.hint and "--file" in info.value.hint


def test_hanging_keyring_times_out_fast() -> None:
    backend = HangingKeyring()
    keyring.set_keyring(backend)
    try:
        started = time.monotonic()
        assert keyring_get(timeout=0.2) is None
        assert keyring_available(timeout=0.2) is False
        # load_keys makes one keyring round (both entries, one timeout), then falls back.
        assert load_keys({}, key_file=None, keyring_timeout=0.2) == []
        with pytest.raises(VaultError, match=r"did not answer within 0\.2s"):
            keyring_set(KEYRING_USER, "v", timeout=0.2)
        elapsed = time.monotonic() - started
        assert elapsed < 4.0, elapsed  # four 0.2 s waits, with room for a loaded machine
        # get, available, load_keys (one round for both entries), set's read-back.
        assert backend.calls == 4
    finally:
        backend.release.set()


def test_null_backend_counts_as_unavailable() -> None:
    keyring.set_keyring(keyring.backends.null.Keyring())
    assert keyring_available(timeout=1) is False
    assert keyring_get(timeout=1) is None
    with pytest.raises(VaultError, match="no usable OS keyring"):
        keyring_set(KEYRING_USER, "v", timeout=1)
    with pytest.raises(VaultError, match=r"keyring"):
        keyring_delete(KEYRING_USER, timeout=1)


def test_fail_backend_counts_as_unavailable() -> None:
    import keyring.backends.fail

    keyring.set_keyring(keyring.backends.fail.Keyring())
    assert keyring_available(timeout=1) is False
    assert keyring_get(timeout=1) is None
    with pytest.raises(VaultError, match=r"keyring"):
        keyring_set(KEYRING_USER, "v", timeout=1)


def test_keyring_errors_count_as_unavailable(tmp_path: Path, key: bytes) -> None:
    keyring.set_keyring(LockedKeyring())
    assert keyring_available(timeout=1) is False
    assert keyring_get(timeout=1) is None
    with pytest.raises(VaultError, match="locked"):
        keyring_set(KEYRING_USER, "v", timeout=1)
    # An unavailable keyring is skipped: the key file still provides the key.
    path = tmp_path / "master.key"
    write_key_file(path, key)
    assert [k.key for k in load_keys({}, key_file=path)] == [key]


def test_no_keyring_error_counts_as_unavailable() -> None:
    class NoKeyring(MemoryKeyring):
        def get_password(self, service: str, username: str) -> str | None:
            raise keyring.errors.NoKeyringError("none")

    keyring.set_keyring(NoKeyring())
    assert keyring_available(timeout=1) is False
    assert keyring_get(timeout=1) is None
