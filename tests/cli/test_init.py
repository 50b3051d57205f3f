"""`zigznote init`, `doctor` and `status`: setting up a machine and checking it."""

from __future__ import annotations

import base64
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.null
import pytest

from tests.conftest import Cli, Ran
from tests.support.snapshot import file_digest, rows
from zigznote.config import mask_url
from zigznote.store.migrations.revisions import HEAD_REVISION
from zigznote.vault import key_id

CHECKS = ["config", "database", "master key", "webhook allow-list", "retry schedule", "webhooks"]


def run(*args: str) -> Ran:
    """zigznote with exactly these arguments: no --db, so the default database is used."""
    return Cli("unused")(*args, db=False)


def paths(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(config file, default SQLite database, key file) of the isolated test machine."""
    return (
        tmp_path / "config" / "zigznote" / "config.toml",
        tmp_path / "data" / "zigznote" / "zigznote.db",
        (tmp_path / "keys" / "master.key").resolve(),
    )


def failing(report: dict) -> list[str]:
    return [c["check"] for c in report["checks"] if not c["ok"]]


@pytest.fixture
def no_env_key(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")


@pytest.fixture
def null_keyring(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keyring turned on, but the only backend is one that stores nothing."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.null.Keyring())
    monkeypatch.setenv("ZIGZNOTE_KEYRING", "1")
    try:
        yield
    finally:
        keyring.set_keyring(previous)


# --------------------------------------------------------------------------------------------
# init
# --------------------------------------------------------------------------------------------


def test_init_on_a_fresh_machine_then_again(raw_cli: Cli, tmp_path: Path, no_env_key: None) -> None:
    config, _, key = paths(tmp_path)
    first = raw_cli.ok("init", "--key-file", str(key))
    # --db was given (the fixture passes it): init remembers it for later commands
    assert first["config"] == {"path": str(config), "created": True, "saved": ["db_url"]}
    assert first["database"]["from"] is None
    assert first["database"]["to"] == HEAD_REVISION
    assert first["database"]["created"] is True
    assert first["key"]["created"] is True
    assert first["key"]["source"] == f"file:{key}"
    assert first["key"]["key_id"] == key_id(base64.b64decode(key.read_text()))
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert tomllib.loads(config.read_text()) == {"db_url": raw_cli.db_url, "key_file": str(key)}
    assert raw_cli.ok("db", "current")["up_to_date"] is True

    config_bytes, key_bytes = config.read_bytes(), key.read_bytes()
    before, digest = rows(raw_cli.db_url), file_digest(raw_cli.db_url)
    second = raw_cli.ok("init", "--key-file", str(key))
    assert second["config"] == {"path": str(config), "created": False, "saved": []}
    assert second["database"]["created"] is False
    assert second["database"]["from"] == second["database"]["to"] == HEAD_REVISION
    assert second["key"] == {
        "created": False,
        "source": f"file:{key}",
        "key_id": first["key"]["key_id"],
        "config_updated": False,
    }
    assert config.read_bytes() == config_bytes
    assert key.read_bytes() == key_bytes
    assert rows(raw_cli.db_url) == before
    assert file_digest(raw_cli.db_url) == digest

    # and without --key-file, the recorded key file is found
    assert raw_cli.ok("init")["key"]["created"] is False
    # and without --db, the recorded database: no flag at all finds the same rows
    ran = run("--json", "status")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json["database"] == mask_url(raw_cli.db_url)


def test_init_db_saves_an_absolute_sqlite_path(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _, _ = paths(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    ran = run("--json", "--db", "sqlite:///rel/z.db", "init")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json["config"]["saved"] == ["db_url"]
    assert tomllib.loads(config.read_text()) == {"db_url": f"sqlite:///{work / 'rel' / 'z.db'}"}
    # from another directory, no --db: the same file
    monkeypatch.chdir(tmp_path)
    assert run("--json", "db", "current").json["up_to_date"] is True
    # a different --db later replaces it; the other settings stay
    config.write_text(config.read_text() + 'retry_schedule = "2s"\n')
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert run("--json", "--db", other, "init").json["config"]["saved"] == ["db_url"]
    assert tomllib.loads(config.read_text()) == {"db_url": other, "retry_schedule": "2s"}


def test_init_uses_the_default_database(tmp_path: Path, no_env_key: None) -> None:
    config, database, key = paths(tmp_path)
    ran = run("init", "--key-file", str(key))
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout == ""  # confirmations are for people: stderr
    assert "created" in ran.stderr
    assert config.exists() and database.exists() and key.exists()
    digest = file_digest(f"sqlite:///{database}")

    again = run("init", "--key-file", str(key))
    assert again.exit_code == 0
    assert "kept" in again.stderr and "up to date" in again.stderr
    assert file_digest(f"sqlite:///{database}") == digest
    assert run("--json", "status").json["organizations"] == 0


def test_init_with_an_env_key_creates_no_key(tmp_path: Path, env: dict[str, str]) -> None:
    config, database, _ = paths(tmp_path)
    report = run("--json", "init").json
    assert report["key"] == {
        "created": False,
        "source": "env",
        "key_id": key_id(base64.b64decode(env["ZIGZNOTE_MASTER_KEY"])),
        "config_updated": False,
    }
    assert report["config"]["created"] is True and report["database"]["created"] is True
    assert config.exists() and database.exists()


@pytest.mark.parametrize("keyring_state", ["disabled", "null backend"])
def test_init_without_keyring_or_key_creates_nothing(
    keyring_state: str, tmp_path: Path, no_env_key: None, request: pytest.FixtureRequest
) -> None:
    if keyring_state == "null backend":
        request.getfixturevalue("null_keyring")
    config, database, _ = paths(tmp_path)
    ran = run("--json", "init")
    assert ran.exit_code == 6
    assert ran.stdout == ""
    err = ran.error
    assert err["code"] == "vault_error"
    assert "--key-file" in (err["hint"] or "")
    assert not config.exists()
    assert not database.exists()
    assert not database.parent.exists()


# --------------------------------------------------------------------------------------------
# doctor
# --------------------------------------------------------------------------------------------


def test_doctor_all_ok(raw_cli: Cli, tmp_path: Path, no_env_key: None) -> None:
    raw_cli.ok("init", "--key-file", str(paths(tmp_path)[2]))
    ran = raw_cli("--json", "doctor")
    assert ran.exit_code == 0, ran.stdout
    report = ran.json
    assert report["ok"] is True
    assert [c["check"] for c in report["checks"]] == CHECKS
    assert failing(report) == []
    assert HEAD_REVISION in report["checks"][1]["detail"]
    assert "protects 0 secret(s)" in report["checks"][2]["detail"]

    human = raw_cli("doctor")
    assert human.exit_code == 0
    assert [line.split()[0] for line in human.stdout.splitlines() if line.strip()] == ["ok"] * len(CHECKS)


def test_doctor_missing_key(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    ran = cli("--json", "doctor")
    assert ran.exit_code == 6
    report = ran.json
    assert report["ok"] is False
    assert failing(report) == ["master key"]
    check = report["checks"][2]
    assert check["detail"] == "no master key found" and "keys init" in check["hint"]

    human = cli("doctor")
    assert human.exit_code == 6
    assert "FAIL master key: no master key found" in human.stdout
    assert "hint:" in human.stdout


@pytest.mark.parametrize(
    ("name", "value", "check"),
    [
        ("ZIGZNOTE_RETRY_SCHEDULE", "bogus", "retry schedule"),
        ("ZIGZNOTE_RETRY_SCHEDULE", "1s,,5s", "retry schedule"),
        ("ZIGZNOTE_WEBHOOK_ALLOW_NETS", "not-a-network", "webhook allow-list"),
    ],
)
def test_doctor_reports_a_bad_engine_setting(
    name: str, value: str, check: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # These settings are plain strings when loaded; they are parsed where they are used, so
    # other commands still run and `doctor` is where a mistake shows up.
    monkeypatch.setenv(name, value)
    assert cli("--json", "orgs", "list").exit_code == 0
    ran = cli("--json", "doctor")
    assert ran.exit_code == 6
    assert failing(ran.json) == [check]
    detail = next(c for c in ran.json["checks"] if c["check"] == check)
    assert name in detail["detail"] or "retry schedule" in detail["detail"]


def test_doctor_reports_every_failure_at_once(raw_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY")
    monkeypatch.setenv("ZIGZNOTE_RETRY_SCHEDULE", "bogus")
    ran = raw_cli("--json", "doctor")  # database not created either
    assert ran.exit_code == 6
    assert failing(ran.json) == ["database", "master key", "retry schedule"]
    database = ran.json["checks"][1]
    assert "db upgrade" in database["hint"] or "init" in database["hint"]


def test_doctor_with_a_setting_that_cannot_load(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # Typed settings are parsed when the configuration loads, before any command runs:
    # doctor cannot run its checks, but the error is the usual one-line config error.
    monkeypatch.setenv("ZIGZNOTE_DISABLE_AFTER", "zero")
    err = cli.fails(6, "doctor")
    assert err["code"] == "config_error"
    assert "ZIGZNOTE_DISABLE_AFTER" in err["message"]


# --------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------


def test_status_on_a_fresh_database(cli: Cli) -> None:
    data = cli.ok("status")
    assert set(data) == {
        "database",
        "schema",
        "organizations",
        "meetings",
        "webhooks",
        "webhooks_disabled",
        "events",
        "deliveries",
        "due_now",
        "oldest_pending_due_at",
        "webhooks_failing",
        "failing_webhooks",
        "endpoint_events",
    }
    assert (data["webhooks_failing"], data["failing_webhooks"], data["endpoint_events"]) == (0, [], [])
    assert data["schema"] == HEAD_REVISION
    assert (data["organizations"], data["meetings"], data["webhooks"], data["webhooks_disabled"]) == (0, 0, 0, 0)
    assert data["events"] == 0 and data["due_now"] == 0
    assert data["deliveries"] == {"pending": 0, "delivering": 0, "succeeded": 0, "failed": 0, "held": 0}
    assert data["oldest_pending_due_at"] is None

    cli.ok("orgs", "create", "acme")
    assert cli.ok("status")["organizations"] == 1


@pytest.mark.postgres
def test_status_masks_the_database_password(pg_url: str, env: dict[str, str]) -> None:
    scheme, rest = pg_url.split("://", 1)
    creds, host = rest.split("@", 1)
    user, _, password = creds.partition(":")
    password = password or "hunter2"  # a trust-auth server ignores it; it must not be printed
    runner = Cli(f"{scheme}://{user}:{password}@{host}")
    runner.ok("db", "upgrade")
    for ran in (runner("--json", "status"), runner("status"), runner("--json", "doctor")):
        assert ran.exit_code == 0, ran.stderr
        assert password not in ran.stdout + ran.stderr
        assert f"{user}:****@" in ran.stdout


def test_status_needs_a_migrated_database(raw_cli: Cli) -> None:
    err = raw_cli.fails(6, "status")
    assert err["code"] == "schema_out_of_date"
    assert "init" in (err["hint"] or "") or "db upgrade" in (err["hint"] or "")


@pytest.mark.postgres
def test_init_db_with_a_password_keeps_the_config_private(pg_url: str, env: dict[str, str], tmp_path: Path) -> None:
    config, _, _ = paths(tmp_path)
    scheme, rest = pg_url.split("://", 1)
    creds, host = rest.split("@", 1)
    url = f"{scheme}://{creds.partition(':')[0]}:hunter2@{host}"  # a trust-auth server ignores it
    ran = Cli(url)("--json", "init")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json["config"]["saved"] == ["db_url"]
    assert "hunter2" not in ran.stdout + ran.stderr
    assert tomllib.loads(config.read_text())["db_url"] == url
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
