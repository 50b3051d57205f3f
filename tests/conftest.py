"""Shared fixtures: an isolated environment, a real database (SQLite file or a
private Postgres schema) and a CLI runner that returns parsed JSON."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

POSTGRES_URL = os.environ.get("ZIGZNOTE_TEST_POSTGRES_URL")
POSTGRES_SKIP_REASON = (
    "Postgres tests need ZIGZNOTE_TEST_POSTGRES_URL "
    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test); CI always sets it"
)


def _new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment: own XDG dirs, no keyring, a fresh master key in the env."""
    for name in list(os.environ):
        if name.startswith("ZIGZNOTE_") and name != "ZIGZNOTE_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    values = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "ZIGZNOTE_KEYRING": "0",
        "ZIGZNOTE_MASTER_KEY": _new_key(),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A private, empty Postgres schema for one test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)
    import sqlalchemy as sa

    from zigznote.store.engine import normalize_url

    base = normalize_url(POSTGRES_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, env: dict[str, str]) -> str:
    """An empty database URL of each backend (the schema is not created)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'zigznote' / 'zigznote.db'}"
    return request.getfixturevalue("pg_url")


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error(self) -> dict[str, Any]:
        return json.loads(self.stderr.strip().splitlines()[-1])["error"]


class Cli:
    """Runs zigznote in-process, like a user would, against one database."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None, db: bool = True) -> Ran:
        from zigznote.cli.app import app

        argv = (["--db", self.db_url] if db else []) + list(args)
        result = self.runner.invoke(app, argv, input=input, catch_exceptions=False)
        return Ran(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str, input: str | bytes | None = None) -> Any:
        """Run with --json, assert exit 0, return the parsed document."""
        ran = self("--json", *args, input=input)
        assert ran.exit_code == 0, f"exit {ran.exit_code}: {ran.stderr}"
        return ran.json if ran.stdout.strip() else None

    def fails(self, code: int, *args: str, input: str | bytes | None = None) -> dict[str, Any]:
        """Run with --json, assert the exit code, return the error object."""
        ran = self("--json", *args, input=input)
        assert ran.exit_code == code, f"expected exit {code}, got {ran.exit_code}: {ran.stdout}{ran.stderr}"
        assert ran.stdout == "", "an error must not print anything on stdout"
        return ran.error


@pytest.fixture
def cli(db_url: str) -> Cli:
    """A CLI against an initialised (migrated) database."""
    runner = Cli(db_url)
    ran = runner("db", "upgrade")
    assert ran.exit_code == 0, ran.stderr
    return runner


@pytest.fixture
def raw_cli(db_url: str) -> Cli:
    """A CLI against a database that has not been created or migrated."""
    return Cli(db_url)


@pytest.fixture
def org(cli: Cli) -> dict[str, Any]:
    return cli.ok("orgs", "create", "acme", "--name", "Acme")
