"""`zigznote keys`: creating, inspecting and rotating the master key.

Secrets are inserted straight through the vault and the SQLModel ``Webhook`` model (the same
path the webhooks service uses), so these tests depend only on the store and the vault.
"""

from __future__ import annotations

import base64
import os
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.backends.null
import keyring.errors
import pytest

from tests.conftest import Cli
from tests.support.snapshot import file_digest, rows
from zigznote.errors import VaultError
from zigznote.vault import MasterKey, Vault, key_id, next_key_file

Plain = dict[str, dict[str, str]]  # webhook id -> field -> plaintext


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An OS keyring that lives in a dict (the real one needs D-Bus and a session)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


@pytest.fixture
def memory_keyring(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    """A working keyring, ZIGZNOTE_KEYRING=1, and no key in the environment."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    monkeypatch.setenv("ZIGZNOTE_KEYRING", "1")
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def null_keyring(env: dict[str, str]) -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.null.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def sqlite_cli(env: dict[str, str], tmp_path: Path) -> Cli:
    """A migrated SQLite database, for tests where the backend does not matter."""
    runner = Cli(f"sqlite:///{tmp_path / 'data' / 'zigznote' / 'zigznote.db'}")
    assert runner("db", "upgrade").exit_code == 0
    return runner


def config_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "zigznote" / "config.toml"


def use_key_file(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Switch from the fixture's env key to a fresh key file."""
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    path = (tmp_path / "keys" / "master.key").resolve()
    assert cli.ok("keys", "init", "--file", str(path))["created"] is True
    return path


def file_key(path: Path) -> bytes:
    return base64.b64decode(path.read_text().strip())


def env_key() -> bytes:
    return base64.b64decode(os.environ["ZIGZNOTE_MASTER_KEY"])


def add_webhooks(db_url: str, count: int = 3) -> Plain:
    """Insert ``count`` webhooks (one org) whose secrets the configured vault encrypts."""
    from sqlmodel import select

    from zigznote.config import load_settings
    from zigznote.ids import new_id
    from zigznote.services.keys import open_vault
    from zigznote.store.engine import Database
    from zigznote.store.models import Organization, Webhook

    vault = open_vault(load_settings({"db_url": db_url}))
    db = Database(db_url)
    plain: Plain = {}
    try:
        with db.session() as session:
            org = session.exec(select(Organization)).first()
            if org is None:
                org = Organization(id=new_id("org"), slug="acme", name="Acme")
                session.add(org)
                session.flush()
            for i in range(count):
                wid = new_id("wh")
                fields = {"secret_enc": "whsec_" + base64.b64encode(os.urandom(24)).decode()}
                if i % 2 == 0:
                    fields["headers_enc"] = f'{{"Authorization": "Bearer token-{i}"}}'
                encrypted: dict[str, Any] = {
                    f: vault.encrypt(v, table="webhook", row=wid, field=f) for f, v in fields.items()
                }
                session.add(
                    Webhook(
                        id=wid,
                        org_id=org.id,
                        name=f"hook {i}",
                        url="https://example.com/hook",
                        event_types=["*"],
                        **encrypted,
                    )
                )
                plain[wid] = fields
    finally:
        db.dispose()
    return plain


def tokens(db_url: str) -> Plain:
    """The stored ciphertexts, by webhook id and field."""
    from sqlmodel import select

    from zigznote.store.engine import Database
    from zigznote.store.models import Webhook

    db = Database(db_url)
    try:
        with db.session() as session:
            found = list(session.exec(select(Webhook)))
            return {
                w.id: {f: getattr(w, f) for f in ("secret_enc", "previous_secret_enc", "headers_enc") if getattr(w, f)}
                for w in found
            }
    finally:
        db.dispose()


def decrypt_all(db_url: str, vault: Vault) -> Plain:
    return {
        wid: {f: vault.decrypt(t, table="webhook", row=wid, field=f) for f, t in fields.items()}
        for wid, fields in tokens(db_url).items()
    }


def only(key: bytes) -> Vault:
    return Vault([MasterKey(key, "test")])


def configured_vault(db_url: str) -> Vault:
    """The vault every command would open right now (same settings, same key sources)."""
    from zigznote.config import load_settings
    from zigznote.services.keys import open_vault

    return open_vault(load_settings({"db_url": db_url}))


def secret_count(plain: Plain) -> int:
    return sum(len(fields) for fields in plain.values())


# --------------------------------------------------------------------------------------------
# keys init
# --------------------------------------------------------------------------------------------


def test_init_file_creates_a_0600_file_and_records_it(
    sqlite_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    path = (tmp_path / "secret" / "master.key").resolve()
    first = sqlite_cli.ok("keys", "init", "--file", str(path))
    assert first == {
        "created": True,
        "source": f"file:{path}",
        "key_id": key_id(file_key(path)),
        "config_updated": True,
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(file_key(path)) == 32
    assert tomllib.loads(config_file(tmp_path).read_text())["key_file"] == str(path)

    key_bytes, config_bytes = path.read_bytes(), config_file(tmp_path).read_bytes()
    again = sqlite_cli.ok("keys", "init", "--file", str(path))
    assert again == {"created": False, "source": f"file:{path}", "key_id": first["key_id"], "config_updated": False}
    assert path.read_bytes() == key_bytes
    assert config_file(tmp_path).read_bytes() == config_bytes
    # later commands find the key through config.toml alone
    status = sqlite_cli.ok("keys", "status")
    assert (status["source"], status["key_id"]) == (f"file:{path}", first["key_id"])


def test_init_file_records_an_absolute_path(sqlite_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    monkeypatch.chdir(tmp_path)
    created = sqlite_cli.ok("keys", "init", "--file", "rel/master.key")
    path = (tmp_path / "rel" / "master.key").resolve()
    assert created["source"] == f"file:{path}"
    monkeypatch.chdir(tmp_path / "config")
    assert sqlite_cli.ok("keys", "status")["key_id"] == created["key_id"]


def test_init_file_never_overwrites_an_unknown_existing_file(
    sqlite_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    path = tmp_path / "master.key"
    path.write_text("somebody else's key\n")
    path.chmod(0o600)
    err = sqlite_cli.fails(6, "keys", "init", "--file", str(path))
    assert err["code"] == "vault_error" and "already exists" in err["message"]
    assert path.read_text() == "somebody else's key\n"
    assert not config_file(tmp_path).exists()


@pytest.mark.parametrize("keyring_state", ["disabled", "null backend"])
def test_init_without_keyring_or_key_is_exit_6(
    keyring_state: str, sqlite_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    if keyring_state == "disabled":
        # A working keyring is installed, but the user turned it off: it must not be used.
        keyring.set_keyring(backend)
        monkeypatch.setenv("ZIGZNOTE_KEYRING", "0")
    else:
        keyring.set_keyring(keyring.backends.null.Keyring())
        monkeypatch.setenv("ZIGZNOTE_KEYRING", "1")
    try:
        err = sqlite_cli.fails(6, "keys", "init")
    finally:
        keyring.set_keyring(previous)
    assert err["code"] == "vault_error"
    assert "keyring" in err["message"]
    assert "--file" in (err["hint"] or "")
    assert backend.entries == {}
    assert not config_file(tmp_path).exists()


def test_init_with_env_key_creates_nothing(sqlite_cli: Cli, env: dict[str, str], tmp_path: Path) -> None:
    result = sqlite_cli.ok("keys", "init")
    assert result == {
        "created": False,
        "source": "env",
        "key_id": key_id(env_key()),
        "config_updated": False,
    }
    assert not config_file(tmp_path).exists()


# --------------------------------------------------------------------------------------------
# OS keyring
# --------------------------------------------------------------------------------------------


def test_keyring_init_status_and_rotate(cli: Cli, memory_keyring: MemoryKeyring) -> None:
    created = cli.ok("keys", "init")
    assert created["created"] is True and created["source"] == "keyring"
    stored = memory_keyring.entries[("zigznote", "master-key")]
    assert created["key_id"] == key_id(base64.b64decode(stored))
    assert cli.ok("keys", "init")["created"] is False
    assert memory_keyring.entries[("zigznote", "master-key")] == stored

    status = cli.ok("keys", "status")
    assert (status["source"], status["key_id"], status["secrets"]) == ("keyring", created["key_id"], 0)

    plain = add_webhooks(cli.db_url)
    rotated = cli.ok("keys", "rotate")
    new_stored = memory_keyring.entries[("zigznote", "master-key")]
    assert new_stored != stored
    assert ("zigznote", "master-key-next") not in memory_keyring.entries
    assert rotated["new_key_id"] == key_id(base64.b64decode(new_stored))
    assert rotated["reencrypted"] == secret_count(plain)
    assert decrypt_all(cli.db_url, only(base64.b64decode(new_stored))) == plain
    status = cli.ok("keys", "status")
    assert status["source"] == "keyring"
    assert status["secrets_by_key"] == {rotated["new_key_id"]: secret_count(plain)}


def test_keyring_is_not_read_when_disabled(
    cli: Cli, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("keys", "init")
    monkeypatch.setenv("ZIGZNOTE_KEYRING", "0")
    assert cli.ok("keys", "status")["configured"] is False


# --------------------------------------------------------------------------------------------
# keys status
# --------------------------------------------------------------------------------------------


def test_status_on_a_fresh_database(cli: Cli, env: dict[str, str]) -> None:
    status = cli.ok("keys", "status")
    assert status["configured"] is True
    assert status["source"] == "env"
    assert status["key_id"] == key_id(env_key())
    assert (status["secrets"], status["secrets_by_key"], status["unreadable_secrets"]) == (0, {}, 0)


def test_status_counts_secrets_and_never_shows_the_key(cli: Cli, env: dict[str, str]) -> None:
    plain = add_webhooks(cli.db_url, 4)
    status = cli.ok("keys", "status")
    assert status["secrets"] == secret_count(plain) == 6
    assert status["secrets_by_key"] == {key_id(env_key()): 6}
    secret_text = env["ZIGZNOTE_MASTER_KEY"]
    for args in (("--json", "keys", "status"), ("keys", "status"), ("-v", "keys", "status")):
        ran = cli(*args)
        assert ran.exit_code == 0
        assert secret_text not in ran.stdout and secret_text not in ran.stderr
        assert secret_text.rstrip("=") not in ran.stdout + ran.stderr


def test_status_reports_secrets_of_an_unknown_key(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = add_webhooks(cli.db_url, 2)
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    status = cli.ok("keys", "status")
    assert status["unreadable_secrets"] == secret_count(plain)


# --------------------------------------------------------------------------------------------
# keys rotate
# --------------------------------------------------------------------------------------------


def test_rotate_with_a_key_file(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = use_key_file(cli, tmp_path, monkeypatch)
    old_key = file_key(path)
    plain = add_webhooks(cli.db_url, 5)
    assert decrypt_all(cli.db_url, only(old_key)) == plain

    rotated = cli.ok("keys", "rotate")
    new_key = file_key(path)
    assert new_key != old_key
    assert rotated == {
        "old_key_id": key_id(old_key),
        "new_key_id": key_id(new_key),
        "reencrypted": secret_count(plain),
        "source": f"file:{path}",
    }
    assert not next_key_file(path).exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert decrypt_all(cli.db_url, only(new_key)) == plain
    with pytest.raises(VaultError, match="encrypted with master key"):
        decrypt_all(cli.db_url, only(old_key))
    status = cli.ok("keys", "status")
    assert status["key_id"] == key_id(new_key)
    assert status["secrets_by_key"] == {key_id(new_key): secret_count(plain)}
    assert status["decrypt_only_keys"] == []

    # a second rotation works the same way (nothing left over from the first)
    again = cli.ok("keys", "rotate")
    assert again["old_key_id"] == key_id(new_key) and again["reencrypted"] == secret_count(plain)
    assert decrypt_all(cli.db_url, only(file_key(path))) == plain


def test_rotate_with_no_secrets(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = use_key_file(cli, tmp_path, monkeypatch)
    old = file_key(path)
    rotated = cli.ok("keys", "rotate")
    assert rotated["reencrypted"] == 0
    assert file_key(path) != old and rotated["new_key_id"] == key_id(file_key(path))


@pytest.mark.parametrize("crash_at", ["re-encryption", "promotion"])
def test_interrupted_rotation_keeps_secrets_readable_and_resumes(
    crash_at: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zigznote.services.keys as keys_service

    path = use_key_file(cli, tmp_path, monkeypatch)
    old_key = file_key(path)
    plain = add_webhooks(cli.db_url, 4)
    before = tokens(cli.db_url)

    with monkeypatch.context() as m:
        if crash_at == "re-encryption":
            real = Vault.reencrypt
            calls = []

            def crash_on_third(self: Vault, token: str, **kw: str) -> str:
                calls.append(1)
                if len(calls) == 3:  # two rows already re-encrypted inside the transaction
                    raise KeyboardInterrupt
                return real(self, token, **kw)

            m.setattr(Vault, "reencrypt", crash_on_third)
        else:

            def crash(*_: object) -> None:
                raise KeyboardInterrupt

            m.setattr(keys_service, "_promote", crash)
        ran = cli("--json", "keys", "rotate")
    assert ran.exit_code == 130, ran.stderr
    assert ran.stdout == ""

    staged = next_key_file(path)
    assert staged.exists() and file_key(path) == old_key
    staged_key = file_key(staged)
    assert staged_key != old_key
    if crash_at == "re-encryption":  # the transaction rolled back: nothing changed
        assert tokens(cli.db_url) == before
        assert decrypt_all(cli.db_url, only(old_key)) == plain
    else:  # committed under the staged key, which is still loaded as decrypt-only
        assert {Vault.token_kid(t) for f in tokens(cli.db_url).values() for t in f.values()} == {key_id(staged_key)}

    # every command still reads every secret with the keys it loads from config
    assert decrypt_all(cli.db_url, configured_vault(cli.db_url)) == plain
    status = cli.ok("keys", "status")
    assert status["key_id"] == key_id(old_key)
    assert status["decrypt_only_keys"] == [key_id(staged_key)]
    assert status["unreadable_secrets"] == 0
    assert cli("--json", "doctor").exit_code == 0

    resumed = cli.ok("keys", "rotate")
    assert resumed["new_key_id"] == key_id(staged_key), "the staged key must be reused, not a third one"
    assert file_key(path) == staged_key and not staged.exists()
    assert decrypt_all(cli.db_url, only(staged_key)) == plain
    assert cli.ok("keys", "status")["secrets_by_key"] == {key_id(staged_key): secret_count(plain)}


def test_rotate_env_source_needs_the_new_key(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = add_webhooks(cli.db_url, 3)
    old_key = env_key()
    before, digest = rows(cli.db_url), file_digest(cli.db_url)

    err = cli.fails(6, "keys", "rotate")
    assert err["code"] == "config_error"
    assert "ZIGZNOTE_MASTER_KEY_NEW" in (err["hint"] or "")
    assert rows(cli.db_url) == before and file_digest(cli.db_url) == digest

    new_text = cli.ok("keys", "generate")["key"]
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY_NEW", new_text)
    new_key = base64.b64decode(new_text)
    rotated = cli.ok("keys", "rotate")
    assert rotated["old_key_id"] == key_id(old_key) and rotated["new_key_id"] == key_id(new_key)
    assert rotated["reencrypted"] == secret_count(plain)
    assert "ZIGZNOTE_MASTER_KEY" in rotated["action_required"]
    assert decrypt_all(cli.db_url, only(new_key)) == plain
    with pytest.raises(VaultError, match="encrypted with master key"):
        decrypt_all(cli.db_url, only(old_key))

    # the operator follows the instruction
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY", new_text)
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY_NEW")
    status = cli.ok("keys", "status")
    assert status["secrets_by_key"] == {key_id(new_key): secret_count(plain)}
    assert status["unreadable_secrets"] == 0


def test_rotate_env_source_human_output_warns(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    add_webhooks(cli.db_url, 1)
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY_NEW", base64.b64encode(os.urandom(32)).decode())
    ran = cli("keys", "rotate")
    assert ran.exit_code == 0, ran.stderr
    assert "rotated" in ran.stderr and "warning:" in ran.stderr and "ZIGZNOTE_MASTER_KEY" in ran.stderr
    assert ran.stdout == ""


# --------------------------------------------------------------------------------------------
# Missing or wrong key
# --------------------------------------------------------------------------------------------


def test_missing_key_is_exit_6_and_changes_nothing(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    add_webhooks(cli.db_url, 2)
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    before, digest = rows(cli.db_url), file_digest(cli.db_url)
    err = cli.fails(6, "keys", "rotate")
    assert err["code"] == "vault_error"
    assert err["message"] == "no master key found"
    assert "keys init" in (err["hint"] or "")
    assert rows(cli.db_url) == before and file_digest(cli.db_url) == digest

    ran = cli("keys", "rotate")
    assert ran.exit_code == 6 and ran.stdout == ""
    assert ran.stderr.splitlines()[0] == "error: no master key found"
    assert "Traceback" not in ran.stderr


def test_missing_key_file_is_exit_6(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    monkeypatch.setenv("ZIGZNOTE_KEY_FILE", str(tmp_path / "gone.key"))
    err = cli.fails(6, "keys", "rotate")
    assert err["code"] == "vault_error"
    assert not (tmp_path / "gone.key").exists() and not (tmp_path / "gone.key.next").exists()


def test_wrong_key_is_a_clear_error_not_garbage(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = add_webhooks(cli.db_url, 2)
    right = key_id(env_key())
    wrong_text = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY", wrong_text)
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY_NEW", base64.b64encode(os.urandom(32)).decode())
    before, digest = rows(cli.db_url), file_digest(cli.db_url)

    err = cli.fails(6, "keys", "rotate")
    assert err["code"] == "vault_error"
    assert right in err["message"] and key_id(base64.b64decode(wrong_text)) in err["message"]
    assert "\n" not in err["message"]
    assert rows(cli.db_url) == before and file_digest(cli.db_url) == digest

    ran = cli("keys", "rotate")
    assert ran.exit_code == 6
    assert ran.stderr.startswith(f"error: {secret_count(plain)} secret(s) were encrypted with master key {right}")
    assert "Traceback" not in ran.stderr
    assert wrong_text not in ran.stderr


def test_wrong_key_file_stages_nothing(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = use_key_file(cli, tmp_path, monkeypatch)
    add_webhooks(cli.db_url, 2)
    path.unlink()
    path.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    path.chmod(0o600)
    before = rows(cli.db_url)
    err = cli.fails(6, "keys", "rotate")
    assert err["code"] == "vault_error" and "nothing was rotated" in err["message"]
    assert not next_key_file(path).exists()
    assert rows(cli.db_url) == before
    doctor = cli("--json", "doctor")
    assert doctor.exit_code == 6
    failing = [c["check"] for c in doctor.json["checks"] if not c["ok"]]
    assert failing == ["master key"]


def test_malformed_env_key_is_exit_6(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY", "not-a-key!")
    err = cli.fails(6, "keys", "status")
    assert err["code"] == "vault_error" and "not valid base64" in err["message"]
    assert "not-a-key" not in err["message"]


def test_key_file_readable_by_others_is_refused(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = use_key_file(cli, tmp_path, monkeypatch)
    path.chmod(0o644)
    err = cli.fails(6, "keys", "status")
    assert err["code"] == "vault_error" and "0600" in err["message"]
    assert "chmod 600" in (err["hint"] or "")


# --------------------------------------------------------------------------------------------
# keys generate
# --------------------------------------------------------------------------------------------


def test_generate_prints_a_fresh_base64_key(env: dict[str, str]) -> None:
    cli = Cli("sqlite:///unused.db")
    first, second = cli("keys", "generate", db=False), cli("keys", "generate", db=False)
    assert first.exit_code == 0 and first.stderr == ""
    text = first.stdout.strip()
    assert first.stdout == text + "\n"
    assert len(text) == 44
    assert len(base64.b64decode(text, validate=True)) == 32
    assert second.stdout.strip() != text
    as_json = cli.ok("keys", "generate")
    assert set(as_json) == {"key"} and len(base64.b64decode(as_json["key"], validate=True)) == 32


# --------------------------------------------------------------------------------------------
# End to end through `zigznote webhooks` (reads secrets back through the CLI)
# --------------------------------------------------------------------------------------------


def _webhooks_cli_present() -> bool:
    from typer.main import get_command

    from zigznote.cli.app import app

    return "webhooks" in getattr(get_command(app), "commands", {})


needs_webhooks_cli = pytest.mark.skipif(not _webhooks_cli_present(), reason="`zigznote webhooks` not available")


def _create_hooks(cli: Cli, monkeypatch: pytest.MonkeyPatch, count: int = 2) -> dict[str, tuple[str, dict[str, str]]]:
    monkeypatch.setenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS", "127.0.0.0/8")
    cli.ok("orgs", "create", "acme")
    made = {}
    for i in range(count):
        hook = cli.ok(
            "--org",
            "acme",
            "webhooks",
            "create",
            "--url",
            f"http://127.0.0.1:9/x{i}",
            "--events",
            "*",
            "--allow-http",
            "-H",
            f"X-Token: t{i}",
        )
        made[hook["id"]] = (hook["secret"], {"X-Token": f"t{i}"})
    return made


def _read_back(cli: Cli, hooks: dict[str, tuple[str, dict[str, str]]]) -> dict[str, tuple[str, dict[str, str]]]:
    found = {}
    for wid in hooks:
        shown = cli.ok("--org", "acme", "webhooks", "show", wid, "--show-secret")
        found[wid] = (shown["secret"], shown["headers"])
    return found


@needs_webhooks_cli
def test_cli_reads_secrets_through_an_interrupted_rotation(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zigznote.services.keys as keys_service

    path = use_key_file(cli, tmp_path, monkeypatch)
    hooks = _create_hooks(cli, monkeypatch)
    assert cli.ok("keys", "status")["secrets"] == 2 * len(hooks)

    with monkeypatch.context() as m:

        def crash(*_: object) -> None:
            raise KeyboardInterrupt

        m.setattr(keys_service, "_promote", crash)
        assert cli("--json", "keys", "rotate").exit_code == 130
    assert next_key_file(path).exists()
    assert _read_back(cli, hooks) == hooks

    resumed = cli.ok("keys", "rotate")
    assert resumed["new_key_id"] == key_id(file_key(path)) and not next_key_file(path).exists()
    assert _read_back(cli, hooks) == hooks


@needs_webhooks_cli
def test_cli_secret_reads_with_a_wrong_or_missing_key(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = _create_hooks(cli, monkeypatch, 1)
    wid = next(iter(hooks))
    before = rows(cli.db_url)

    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    err = cli.fails(6, "--org", "acme", "webhooks", "show", wid, "--show-secret")
    assert err["code"] == "vault_error" and "\n" not in err["message"]
    ran = cli("--org", "acme", "webhooks", "show", wid, "--show-secret")
    assert ran.exit_code == 6 and ran.stderr.startswith("error: ") and "Traceback" not in ran.stderr
    assert hooks[wid][0] not in ran.stdout + ran.stderr

    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    err = cli.fails(
        6, "--org", "acme", "webhooks", "create", "--url", "http://127.0.0.1:9/y", "--events", "*", "--allow-http"
    )
    assert err["code"] == "vault_error" and err["message"] == "no master key found"
    assert rows(cli.db_url) == before
