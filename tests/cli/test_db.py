"""Migrations, the schema gate and database errors, on SQLite and Postgres."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from tests.conftest import Cli
from tests.support.snapshot import rows
from zigznote.store import migrate
from zigznote.store.engine import normalize_url
from zigznote.store.migrations.revisions import HEAD_REVISION, KNOWN_REVISIONS
from zigznote.store.models import load_all


def _diff(url: str) -> list[object]:
    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            load_all()  # the billing tables are defined on first use
            return list(compare_metadata(ctx, SQLModel.metadata))
    finally:
        engine.dispose()


def test_upgrade_from_empty_matches_the_models(raw_cli: Cli) -> None:
    result = raw_cli.ok("db", "upgrade")
    assert result == {"from": None, "to": HEAD_REVISION, "head": HEAD_REVISION}
    assert _diff(raw_cli.db_url) == []


def test_downgrade_to_base_and_up_again(raw_cli: Cli) -> None:
    raw_cli.ok("db", "upgrade")
    assert raw_cli.ok("db", "downgrade", "base", "--yes") == {"from": HEAD_REVISION, "to": None}
    assert set(rows(raw_cli.db_url)) <= {"alembic_version"}
    raw_cli.ok("db", "upgrade")
    assert _diff(raw_cli.db_url) == []
    assert raw_cli.ok("db", "current") == {"current": HEAD_REVISION, "head": HEAD_REVISION, "up_to_date": True}


def test_revision_constants_match_the_scripts() -> None:
    assert [h["revision"] for h in migrate.history()] == list(KNOWN_REVISIONS)
    assert migrate.head() == HEAD_REVISION


def test_history_lists_migrations(cli: Cli) -> None:
    history = cli.ok("db", "history")
    assert [h["revision"] for h in history] == list(KNOWN_REVISIONS)
    assert [h["current"] for h in history] == [False] * (len(KNOWN_REVISIONS) - 1) + [True]


def test_unmigrated_database_stops_with_a_hint(raw_cli: Cli) -> None:
    # a SQLite file that does not exist is not created by an ordinary command
    err = raw_cli.fails(6, "orgs", "list")
    assert err["code"] == "schema_out_of_date"
    assert "zigznote init" in err["hint"] or "db upgrade" in err["hint"]


def test_empty_database_stops_with_a_hint(raw_cli: Cli) -> None:
    if raw_cli.db_url.startswith("sqlite:///"):
        Path(raw_cli.db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(normalize_url(raw_cli.db_url))
    with engine.begin() as conn:  # create the database (file) but no schema
        conn.execute(sa.text("SELECT 1"))
    engine.dispose()
    err = raw_cli.fails(6, "orgs", "list")
    assert err["code"] == "schema_out_of_date" and "no zigznote schema" in err["message"]


def test_older_schema_stops_and_changes_nothing(raw_cli: Cli) -> None:
    raw_cli.ok("db", "upgrade", KNOWN_REVISIONS[0])
    before = rows(raw_cli.db_url)
    err = raw_cli.fails(6, "orgs", "create", "acme")
    assert err["code"] == "schema_out_of_date"
    assert f"revision {KNOWN_REVISIONS[0]}" in err["message"] and err["hint"] == "run `zigznote db upgrade`"
    assert rows(raw_cli.db_url) == before


def test_downgrade_needs_confirmation(cli: Cli) -> None:
    before = rows(cli.db_url)
    assert cli.fails(2, "db", "downgrade", "base")["code"] == "invalid_input"
    assert cli.fails(2, "db", "downgrade", "nonsense", "--yes")["code"] == "invalid_input"
    assert rows(cli.db_url) == before
