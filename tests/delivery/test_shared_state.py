"""Master keys changed by other processes while `worker run` runs (issue 8).

A `keys rotate` on a key file must not stop a running worker: it re-reads its key
sources on an unknown key ID. A secret no source can decrypt fails that endpoint's
deliveries with a recorded, actionable error; other endpoints keep delivering.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from tests.cli._webhooks_support import allow_loopback, create_webhook, deliveries_of, emit, set_webhook, sql
from tests.conftest import Cli
from tests.delivery._worker_process import RETRY_SCHEDULE, WorkerProcess, wait
from tests.support.receiver import Receiver
from zigznote.vault import MasterKey, Vault, generate_key, key_id
from zigznote.webhooks.signing import verify

pytestmark = pytest.mark.slow

MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE.split(","))


def _statuses(db_url: str, webhook_id: str) -> list[str]:
    return sorted(d.status for d in deliveries_of(db_url, webhook_id))


def test_key_file_rotation_while_the_worker_runs(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    allow_loopback(monkeypatch)
    key_file = tmp_path / "master.key"
    cli.ok("keys", "init", "--file", str(key_file))
    cli.ok("orgs", "create", "acme")
    with Receiver() as r:
        before = create_webhook(cli, r.url, "meeting.ended", "--name", "before")
        with WorkerProcess(cli.db_url, tmp_path) as worker:
            emit(cli)
            assert r.wait_for(1, 20), worker.log()
            rotated = cli.ok("keys", "rotate")
            assert rotated["reencrypted"] == 1 and rotated["source"] == f"file:{key_file}"
            after = create_webhook(cli, r.url_for("/after"), "meeting.ended", "--name", "after")
            emit(cli)
            assert r.wait_for(3, 20), worker.log()
            assert wait(lambda: _statuses(cli.db_url, after["id"]) == ["succeeded"], 10), worker.log()
            assert worker.alive(), worker.log()
            assert worker.stop() == 0, worker.log()
        assert _statuses(cli.db_url, before["id"]) == ["succeeded", "succeeded"]
        secrets = {"/hook": before["secret"], "/after": after["secret"]}
        assert sorted(req.path for req in r.requests) == ["/after", "/hook", "/hook"]
        for req in r.requests:
            verify(secrets[req.path], req.headers, req.body)  # raises SignatureInvalid if not signed with it
    assert [e["outcome"] for e in worker.attempts()] == ["succeeded"] * 3
    assert "Traceback" not in worker.stderr()
    status = cli.ok("keys", "status")
    assert (status["key_id"], status["unreadable_secrets"]) == (rotated["new_key_id"], 0)


def test_env_key_rotation_with_workers_started_with_the_new_key(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's procedure for ZIGZNOTE_MASTER_KEY: workers get ZIGZNOTE_MASTER_KEY_NEW
    before the rotation and deliver straight through it."""
    allow_loopback(monkeypatch)
    cli.ok("orgs", "create", "acme")
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY_NEW", cli.ok("keys", "generate")["key"])
    with Receiver() as r:
        hook = create_webhook(cli, r.url, "meeting.ended")
        with WorkerProcess(cli.db_url, tmp_path) as worker:  # started with both keys
            rotated = cli.ok("keys", "rotate")
            assert rotated["reencrypted"] == 1 and "restarted with the new key" in rotated["action_required"]
            emit(cli)
            assert wait(lambda: _statuses(cli.db_url, hook["id"]) == ["succeeded"], 20), worker.log()
            assert worker.alive(), worker.log()
            assert worker.stop() == 0, worker.log()
        (request,) = r.requests
        verify(hook["secret"], request.headers, request.body)
    stored = sql(cli.db_url, "SELECT secret_enc FROM webhook WHERE id = :w", w=hook["id"])[0].secret_enc
    assert Vault.token_kid(stored) == rotated["new_key_id"]


@pytest.mark.parametrize("source", ["env", "file"])
def test_a_secret_no_key_decrypts_fails_its_endpoint_only(
    source: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if source == "file":
        monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
        cli.ok("keys", "init", "--file", str(tmp_path / "master.key"))
    current = cli.ok("keys", "status")["key_id"]
    allow_loopback(monkeypatch)
    cli.ok("orgs", "create", "acme")
    with Receiver() as r:
        good = create_webhook(cli, r.url, "meeting.ended", "--name", "good")
        bad = create_webhook(cli, r.url_for("/bad"), "meeting.ended", "--name", "bad")
        # What a secret written under a key that is gone looks like (a lost key file, a
        # restore from another installation): well-formed, bound to its row, unreadable.
        lost = MasterKey(generate_key(), "lost")
        token = Vault([lost]).encrypt("whsec_" + "A" * 32, table="webhook", row=bad["id"], field="secret_enc")
        set_webhook(cli.db_url, bad["id"], secret_enc=token)
        with WorkerProcess(cli.db_url, tmp_path) as worker:
            emit(cli)
            assert wait(lambda: _statuses(cli.db_url, bad["id"]) == ["failed"], 30), worker.log()
            assert wait(lambda: _statuses(cli.db_url, good["id"]) == ["succeeded"], 10), worker.log()
            emit(cli)  # still delivering after all that
            assert wait(lambda: _statuses(cli.db_url, good["id"]) == ["succeeded"] * 2, 20), worker.log()
            assert worker.alive(), worker.log()
            assert worker.stop() == 0, worker.log()
        assert [req.path for req in r.requests] == ["/hook", "/hook"]  # the bad endpoint was never called
    (failed,) = [d for d in deliveries_of(cli.db_url, bad["id"]) if d.status == "failed"]
    errors = [
        a.error for a in sql(cli.db_url, "SELECT error FROM delivery_attempt WHERE delivery_id = :d", d=failed.id)
    ]
    assert len(errors) == MAX_ATTEMPTS == failed.attempts
    expected = (
        f"cannot decrypt the signing secret: secret was encrypted with master key {key_id(lost.key)} "
        f"but the current key is {current}; "
    )
    assert all(e.startswith(expected) for e in errors), errors
    if source == "env":
        assert "cannot re-read it while running: restart it with the key that encrypted the secret" in errors[0]
    else:
        assert "no key source has that key (they were re-read just now)" in errors[0]
    assert "Traceback" not in worker.stderr()


class _MemoryKeyring(KeyringBackend):
    """An OS keyring in a dict (the real one needs D-Bus); never picked up by keyring itself."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        import keyring.errors

        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


def test_keyring_rotation_by_another_process_is_picked_up(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The keyring is per user, not per process: a vault opened before the rotation (as a
    running worker's is) re-reads it on the new key ID. In-process, as the keyring is a dict."""
    import keyring

    from zigznote.config import load_settings
    from zigznote.services.keys import open_vault

    previous = keyring.get_keyring()
    keyring.set_keyring(_MemoryKeyring())
    try:
        monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
        monkeypatch.setenv("ZIGZNOTE_KEYRING", "1")
        allow_loopback(monkeypatch)
        assert cli.ok("keys", "init")["source"] == "keyring"
        cli.ok("orgs", "create", "acme")
        running = open_vault(load_settings({"db_url": cli.db_url}))
        old = running.current.kid
        rotated = cli.ok("keys", "rotate")
        hook = create_webhook(cli)
        stored = sql(cli.db_url, "SELECT secret_enc FROM webhook WHERE id = :w", w=hook["id"])[0].secret_enc
        assert Vault.token_kid(stored) == rotated["new_key_id"] != old
        assert running.decrypt(stored, table="webhook", row=hook["id"], field="secret_enc") == hook["secret"]
        assert [k.kid for k in running.keys] == [rotated["new_key_id"], old]
    finally:
        keyring.set_keyring(previous)
