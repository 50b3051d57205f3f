"""Configuration: flag > environment > config file > default, and clear errors for bad values."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, Ran


def run(*args: str) -> Ran:
    """zigznote with exactly these arguments (no --db added)."""
    return Cli("unused")(*args, db=False)


def show(*global_args: str) -> dict[str, Any]:
    ran = run("--json", *global_args, "config", "show")
    assert ran.exit_code == 0, ran.stderr
    return dict(ran.json)


def setting(doc: dict[str, Any], name: str) -> tuple[Any, str]:
    entry = doc["settings"][name]
    return entry["value"], entry["source"]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "zigznote" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults(env: dict[str, str], tmp_path: Path) -> None:
    doc = show()
    assert doc["config_file"] == str(tmp_path / "config" / "zigznote" / "config.toml")
    assert setting(doc, "db_url") == (f"sqlite:///{tmp_path / 'data' / 'zigznote' / 'zigznote.db'}", "default")
    assert setting(doc, "org") == (None, "default")
    assert setting(doc, "retry_schedule") == ("1s,5s,30s,5m,1h", "default")
    assert setting(doc, "disable_after") == (10, "default")
    assert setting(doc, "lease_seconds") == (30.0, "default")
    assert setting(doc, "attempt_timeout") == (15.0, "default")
    assert setting(doc, "webhook_allow_nets") == ("", "default")
    assert setting(doc, "keyring") == (False, "env:ZIGZNOTE_KEYRING")  # the env fixture turns it off
    assert setting(doc, "output") == ("json", "flag")


def test_precedence_flag_env_file_default(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file_db, env_db, flag_db = (f"sqlite:///{tmp_path / name}.db" for name in ("file", "env", "flag"))

    doc = show()
    assert setting(doc, "db_url")[1] == "default" and setting(doc, "org") == (None, "default")

    write_config(tmp_path, f'db_url = "{file_db}"\norg = "file-org"\ndisable_after = 4\n')
    doc = show()
    assert setting(doc, "db_url") == (file_db, "file")
    assert setting(doc, "org") == ("file-org", "file")
    assert setting(doc, "disable_after") == (4, "file")

    monkeypatch.setenv("ZIGZNOTE_DB", env_db)
    monkeypatch.setenv("ZIGZNOTE_ORG", "env-org")
    monkeypatch.setenv("ZIGZNOTE_DISABLE_AFTER", "7")
    doc = show()
    assert setting(doc, "db_url") == (env_db, "env:ZIGZNOTE_DB")
    assert setting(doc, "org") == ("env-org", "env:ZIGZNOTE_ORG")
    assert setting(doc, "disable_after") == (7, "env:ZIGZNOTE_DISABLE_AFTER")

    doc = show("--db", flag_db, "--org", "flag-org")
    assert setting(doc, "db_url") == (flag_db, "flag")
    assert setting(doc, "org") == ("flag-org", "flag")
    assert setting(doc, "disable_after") == (7, "env:ZIGZNOTE_DISABLE_AFTER")


def test_database_url_alias_and_empty_env(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alias = f"sqlite:///{tmp_path / 'alias.db'}"
    monkeypatch.setenv("ZIGZNOTE_DATABASE_URL", alias)
    assert setting(show(), "db_url") == (alias, "env:ZIGZNOTE_DATABASE_URL")
    monkeypatch.setenv("ZIGZNOTE_DB", f"sqlite:///{tmp_path / 'main.db'}")
    assert setting(show(), "db_url")[1] == "env:ZIGZNOTE_DB"
    # set-but-empty means unset
    monkeypatch.setenv("ZIGZNOTE_DB", "")
    monkeypatch.setenv("ZIGZNOTE_DATABASE_URL", "")
    assert setting(show(), "db_url")[1] == "default"


def test_precedence_is_used_by_commands(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only displayed: the database a command opens follows the same order."""
    file_db, env_db = (tmp_path / "file.db", tmp_path / "env.db")
    write_config(tmp_path, f'db_url = "sqlite:///{file_db}"\n')
    assert run("db", "upgrade").exit_code == 0
    assert file_db.exists() and not env_db.exists()
    monkeypatch.setenv("ZIGZNOTE_DB", f"sqlite:///{env_db}")
    assert run("db", "upgrade").exit_code == 0
    assert env_db.exists()
    assert run("--json", "orgs", "create", "acme").exit_code == 0
    assert [o["slug"] for o in run("--json", "orgs", "list").json] == ["acme"]
    monkeypatch.delenv("ZIGZNOTE_DB")
    assert run("--json", "orgs", "list").json == []


@pytest.mark.parametrize("where", ["flag", "env"])
def test_database_password_is_masked(where: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://admin:hunter2@db.example.com:5432/zigznote"
    args: list[str] = []
    if where == "flag":
        args = ["--db", url]
    else:
        monkeypatch.setenv("ZIGZNOTE_DB", url)
    ran = run("--json", *args, "config", "show")
    assert ran.exit_code == 0
    assert "hunter2" not in ran.stdout + ran.stderr
    assert ran.json["settings"]["db_url"]["value"] == "postgresql+psycopg://admin:****@db.example.com:5432/zigznote"
    human = run(*args, "config", "show")
    assert human.exit_code == 0
    assert "hunter2" not in human.stdout + human.stderr
    assert "admin:****@db.example.com" in human.stdout


def test_human_output_is_a_table_with_sources(env: dict[str, str]) -> None:
    ran = run("--org", "acme", "config", "show")
    assert ran.exit_code == 0
    table = {}
    for line in ran.stdout.splitlines():
        cells = [c.strip() for c in re.split("[\u2502\u2503]", line)[1:-1]]
        if len(cells) == 3:
            table[cells[0]] = cells[1:]
    assert table["setting"] == ["value", "source"]
    assert table["org"] == ["acme", "flag"]
    assert table["retry_schedule"] == ["1s,5s,30s,5m,1h", "default"]
    assert table["keyring"] == ["no", "env:ZIGZNOTE_KEYRING"]
    assert table["key_file"] == ["-", "default"]


def test_config_file_location_can_be_overridden(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('org = "from-elsewhere"\n')
    monkeypatch.setenv("ZIGZNOTE_CONFIG", str(other))
    doc = show()
    assert doc["config_file"] == str(other)
    assert setting(doc, "org") == ("from-elsewhere", "file")


def test_typed_values_in_the_config_file(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZIGZNOTE_KEYRING")
    write_config(
        tmp_path,
        'keyring = false\ndisable_after = 3\nlease_seconds = 45\nattempt_timeout = "2m"\nretry_schedule = "1s,1m"\n',
    )
    doc = show()
    assert setting(doc, "keyring") == (False, "file")
    assert setting(doc, "disable_after") == (3, "file")
    assert setting(doc, "lease_seconds") == (45.0, "file")
    assert setting(doc, "attempt_timeout") == (120.0, "file")
    assert setting(doc, "retry_schedule") == ("1s,1m", "file")


def test_invalid_toml_is_exit_6(env: dict[str, str], tmp_path: Path) -> None:
    path = write_config(tmp_path, 'db_url = "unterminated\n')
    err = Cli("unused").fails(6, "config", "show")
    assert err["code"] == "config_error"
    assert str(path) in err["message"] and "not valid TOML" in err["message"]
    ran = run("orgs", "list")
    assert ran.exit_code == 6 and ran.stdout == ""
    assert ran.stderr.startswith(f"error: config file {path} is not valid TOML")
    assert "Traceback" not in ran.stderr


def test_unknown_setting_is_exit_6(env: dict[str, str], tmp_path: Path) -> None:
    write_config(tmp_path, 'db_url = "sqlite:///x.db"\nretries = 3\n')
    err = Cli("unused").fails(6, "config", "show")
    assert err["code"] == "config_error"
    assert "unknown setting(s): retries" in err["message"]
    assert "retry_schedule" in (err["hint"] or "")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("disable_after = 0", "disable_after"),
        ('disable_after = "zero"', "disable_after"),
        ("disable_after = 2.5", "disable_after"),
        ("lease_seconds = -5", "lease_seconds"),
        ("db_url = 5", "db_url"),
        ('keyring = "maybe"', "keyring"),
        ("org = [1, 2]", "org"),
    ],
)
def test_bad_value_in_the_config_file_is_exit_6(
    text: str, needle: str, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZIGZNOTE_KEYRING")  # so the file's value is the one in effect
    write_config(tmp_path, text + "\n")
    ran = run("--json", "orgs", "list")
    assert ran.exit_code == 6, ran.stdout + ran.stderr
    assert ran.stdout == ""
    err = ran.error
    assert err["code"] == "config_error"
    assert needle in err["message"] and "config.toml" in err["message"]
    # `config show` still shows everything, the refused value with its error.
    shown = run("--json", "config", "show")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json["settings"][needle]["error"] == err["message"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ZIGZNOTE_DISABLE_AFTER", "zero"),
        ("ZIGZNOTE_DISABLE_AFTER", "0"),
        ("ZIGZNOTE_KEYRING", "maybe"),
        ("ZIGZNOTE_LEASE_SECONDS", "soon"),
        ("ZIGZNOTE_ATTEMPT_TIMEOUT", "-1s"),
        ("ZIGZNOTE_OUTPUT", "xml"),
    ],
)
def test_bad_env_value_is_exit_6(name: str, value: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    if name != "ZIGZNOTE_OUTPUT":  # --json is a flag for `output`, so it would win over the env
        # `config show` shows the refused value and its error instead of failing on it.
        settings = Cli("unused").ok("config", "show")["settings"]
        errors = [s for s in settings.values() if "error" in s]
        assert [(s["value"], s["source"]) for s in errors] == [(value, f"env:{name}")]
        assert errors[0]["error"].startswith(f"{name}: ")
    ran = run("orgs", "list")
    assert ran.exit_code == 6 and ran.stdout == ""
    assert ran.stderr.startswith(f"error: {name}")
    assert value in ran.stderr and "Traceback" not in ran.stderr


def test_output_json_from_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_OUTPUT", "json")
    ran = run("config", "show")
    assert ran.exit_code == 0
    doc = json.loads(ran.stdout)
    assert setting(doc, "output") == ("json", "env:ZIGZNOTE_OUTPUT")
    ran = run("orgs", "show", "nope")  # errors follow too: JSON on stderr
    assert ran.exit_code == 6 and ran.stdout == ""
    assert set(json.loads(ran.stderr)["error"]) == {"code", "message", "hint"}


def test_output_json_from_config_file(env: dict[str, str], tmp_path: Path) -> None:
    write_config(tmp_path, 'output = "json"\n')
    ran = run("config", "show")
    assert ran.exit_code == 0
    assert setting(json.loads(ran.stdout), "output") == ("json", "file")
