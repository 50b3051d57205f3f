"""Vault(keys, reload=…): an unknown key ID re-reads the key sources, rate-limited and thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from zigznote.errors import VaultError
from zigznote.vault import RELOAD_INTERVAL, MasterKey, Vault, generate_key, load_keys, write_key_file
from zigznote.vault import cipher as cipher_module

WHERE = {"table": "webhook", "row": "wh_01", "field": "secret_enc"}


class Sources:
    """A reload callable whose answer the test sets, counting its calls."""

    def __init__(self, *keys: MasterKey) -> None:
        self.keys: list[MasterKey] = list(keys)
        self.calls = 0
        self.error: VaultError | None = None
        self.delay = 0.0

    def __call__(self) -> Sequence[MasterKey]:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return list(self.keys)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A hand-moved monotonic clock for the vault's reload rate limit."""
    now = [1000.0]
    monkeypatch.setattr(cipher_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def key(source: str = "file:/k") -> MasterKey:
    return MasterKey(generate_key(), source)


def sealed(mk: MasterKey, text: str = "whsec_x") -> str:
    return Vault([mk]).encrypt(text, **WHERE)


def test_without_reload_an_unknown_key_fails_at_once_with_the_key_sources_hint() -> None:
    old, new = key(), key()
    with pytest.raises(VaultError, match=f"encrypted with master key {new.kid} but the current key is {old.kid}") as e:
        Vault([old]).decrypt(sealed(new), **WHERE)
    assert e.value.hint is not None and "ZIGZNOTE_MASTER_KEY_PREVIOUS" in e.value.hint


def test_unknown_key_reloads_adopts_the_new_current_key_and_keeps_the_old_one() -> None:
    old, new = key(), key()
    sources = Sources(old)
    vault = Vault([old], reload=sources)
    before = sealed(old, "before")
    sources.keys = [new]  # what a `keys rotate` on the key file leaves behind
    assert vault.decrypt(sealed(new, "after"), **WHERE) == "after"
    assert sources.calls == 1
    assert [k.kid for k in vault.keys] == [new.kid, old.kid]
    assert vault.current.kid == new.kid
    assert Vault.token_kid(vault.encrypt("x", **WHERE)) == new.kid  # new secrets under the new key
    assert vault.decrypt(before, **WHERE) == "before"  # and the old key still decrypts
    assert vault.decrypt(sealed(new, "again"), **WHERE) == "again"
    assert sources.calls == 1  # a known key never reloads


def test_reload_is_limited_to_once_per_key_id_per_interval(clock: list[float]) -> None:
    old, missing, other = key(), key(), key()
    sources = Sources(old)
    vault = Vault([old], reload=sources)
    token = sealed(missing)
    for _ in range(3):
        with pytest.raises(VaultError, match=f"encrypted with master key {missing.kid}"):
            vault.decrypt(token, **WHERE)
    assert sources.calls == 1
    # Another unknown key ID has its own allowance.
    with pytest.raises(VaultError, match=f"encrypted with master key {other.kid}"):
        vault.decrypt(sealed(other), **WHERE)
    assert sources.calls == 2
    clock[0] += RELOAD_INTERVAL - 0.01
    with pytest.raises(VaultError, match="encrypted with master key"):
        vault.decrypt(token, **WHERE)
    assert sources.calls == 2
    clock[0] += 0.01
    sources.keys = [old, missing]  # the key was put back, as a decrypt-only key
    assert vault.decrypt(token, **WHERE) == "whsec_x"
    assert sources.calls == 3
    assert vault.current.kid == old.kid


def test_a_key_no_source_has_names_the_reload_in_the_hint() -> None:
    old, missing = key(), key()
    vault = Vault([old], reload=Sources(old))
    with pytest.raises(VaultError, match=f"master key {missing.kid} but the current key is {old.kid}") as e:
        vault.decrypt(sealed(missing), **WHERE)
    assert e.value.hint is not None
    assert e.value.hint.startswith("no key source has that key (they were re-read just now)")
    assert "keys status" in e.value.hint


def test_env_key_error_says_to_restart_with_both_keys() -> None:
    old, missing = key("env"), key()
    vault = Vault([old], reload=Sources(old))
    with pytest.raises(VaultError, match=f"master key {missing.kid}") as e:
        vault.decrypt(sealed(missing), **WHERE)
    hint = e.value.hint or ""
    assert "cannot re-read it while running: restart it with the key that encrypted the secret" in hint
    assert "ZIGZNOTE_MASTER_KEY set to the new key, ZIGZNOTE_MASTER_KEY_PREVIOUS to the old one" in hint


def test_a_broken_source_keeps_the_keys_held_and_says_why(clock: list[float]) -> None:
    old, missing = key(), key()
    sources = Sources(old)
    sources.error = VaultError("key file /k is accessible by group or others (mode 0644); it must be 0600")
    vault = Vault([old], reload=sources)
    with pytest.raises(VaultError, match=f"master key {missing.kid}") as e:
        vault.decrypt(sealed(missing), **WHERE)
    assert (e.value.hint or "").startswith(
        "reloading the key sources failed (key file /k is accessible by group or others (mode 0644); "
        "it must be 0600); no key source has that key"
    )
    assert vault.decrypt(sealed(old, "still"), **WHERE) == "still"
    assert [k.kid for k in vault.keys] == [old.kid]
    # Sources that find no key at all (the file moved away) leave the vault as it was, too.
    sources.error = None
    sources.keys = []
    clock[0] += RELOAD_INTERVAL
    with pytest.raises(VaultError, match=f"master key {missing.kid}") as e:
        vault.decrypt(sealed(missing), **WHERE)
    assert (e.value.hint or "").startswith("reloading the key sources found no master key; ")
    assert [k.kid for k in vault.keys] == [old.kid]


def test_threads_meeting_the_same_new_key_cause_one_reload() -> None:
    old, new = key(), key()
    sources = Sources(new)
    sources.delay = 0.2  # a slow source (a keyring over D-Bus): every thread arrives during it
    vault = Vault([old], reload=sources)
    token = sealed(new, "shared")
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def decrypt() -> None:
        start.wait()
        try:
            results.append(vault.decrypt(token, **WHERE))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=decrypt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and results == ["shared"] * 8
    assert sources.calls == 1


def test_key_file_rotation_is_picked_up_through_load_keys(tmp_path: Path) -> None:
    """The reload the services pass: re-read the same key file (and its .next) as at start."""
    path = tmp_path / "master.key"
    write_key_file(path, generate_key())

    def reload() -> list[MasterKey]:
        return load_keys({}, key_file=path, use_keyring=False)

    vault = Vault(reload(), reload=reload)
    old_kid = vault.current.kid
    rotated = generate_key()
    write_key_file(path, rotated, overwrite=True)
    token = Vault([MasterKey(rotated, "test")]).encrypt("fresh", **WHERE)
    assert vault.decrypt(token, **WHERE) == "fresh"
    assert [k.kid for k in vault.keys] == [MasterKey(rotated, "x").kid, old_kid]
    assert vault.current.source == f"file:{path}"
