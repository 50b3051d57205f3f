"""Database URLs that cannot work give one clear line and a documented exit code."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import Cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_postgres_is_exit_5(env: dict[str, str]) -> None:
    cli = Cli(f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/test")
    err = cli.fails(5, "orgs", "list")
    assert err["code"] == "database_unavailable"
    assert err["message"].startswith("cannot use database postgresql+psycopg://postgres@127.0.0.1:")
    assert "\n" not in err["message"]


def test_password_is_masked_in_errors(env: dict[str, str]) -> None:
    cli = Cli(f"postgresql://admin:hunter2@127.0.0.1:{_free_port()}/test")
    ran = cli("--json", "orgs", "list")
    assert ran.exit_code == 5
    assert "hunter2" not in ran.stderr and "****" in ran.stderr


@pytest.mark.parametrize("url", ["nosuchdb://x/y", "mysql://u:pw@h/db", "mysql+pymysql://h/db", "not a url"])
def test_unsupported_backend_is_a_config_error(url: str, env: dict[str, str]) -> None:
    err = Cli(url).fails(6, "orgs", "list")
    assert err["code"] == "config_error"
    assert err["message"].startswith("unsupported database URL")
    assert "zigznote runs on SQLite and PostgreSQL" in err["message"]
    assert "pw" not in err["message"]
    # the hint names the backends that work, not an extra that would not help
    assert err["hint"] == "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (--db or ZIGZNOTE_DB)"


def test_malformed_postgres_url_is_a_config_error(env: dict[str, str]) -> None:
    err = Cli("postgresql+psycopg://h:notaport/db").fails(6, "orgs", "list")
    assert err["code"] == "config_error" and "invalid database URL" in err["message"]


def test_missing_sqlite_directory_is_not_created(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "z.db"
    err = Cli(f"sqlite:///{target}").fails(6, "orgs", "list")
    assert err["code"] == "schema_out_of_date"
    assert not target.parent.exists()


def test_unusable_sqlite_file_hint_is_about_the_file(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "a-directory.db"
    folder.mkdir()
    err = Cli(f"sqlite:///{folder}").fails(5, "orgs", "list")
    assert err["code"] == "database_unavailable"
    assert err["message"].startswith(f"cannot use database sqlite:///{folder}: ")
    # no server is involved: the hint points at the file, not at a server that should run
    assert "server" not in err["hint"]
    assert "read and write the database file" in err["hint"]
