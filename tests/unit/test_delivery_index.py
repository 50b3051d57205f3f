"""ix_delivery_due stays partial on both backends, yet importing the models on SQLite does not
load SQLAlchemy's Postgres dialect (its postgresql_where is attached on the first Postgres connect)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from zigznote.store.models.delivery import DUE_INDEX

ACTIVE = "status IN ('pending', 'delivering')"


def test_models_do_not_import_the_postgres_dialect() -> None:
    code = "import sys, zigznote.store.models; print('sqlalchemy.dialects.postgresql' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "False"


def test_sqlite_index_is_partial() -> None:
    engine = sa.create_engine("sqlite://")
    try:
        SQLModel.metadata.create_all(engine)
        with engine.connect() as conn:
            sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'ix_delivery_due'").scalar()
    finally:
        engine.dispose()
    assert sql is not None and sql.endswith(f"WHERE {ACTIVE}")


@pytest.mark.postgres
def test_postgres_index_is_partial_when_built_from_the_models(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        SQLModel.metadata.create_all(engine)  # connecting attaches postgresql_where first
        with engine.connect() as conn:
            query = (
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_delivery_due' AND schemaname = current_schema()"
            )
            indexdef = conn.execute(sa.text(query)).scalar()
    finally:
        engine.dispose()
    assert indexdef is not None and "WHERE" in indexdef and "'pending'" in indexdef and "'delivering'" in indexdef
    assert str(DUE_INDEX.dialect_options["postgresql"]["where"]) == ACTIVE


def test_new_sqlite_store_uses_incremental_auto_vacuum(tmp_path: Path) -> None:
    """Retention gives pages back with `PRAGMA incremental_vacuum`, which needs this mode."""
    import sqlalchemy as sa

    from zigznote.store.engine import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'new.db'}", create=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA auto_vacuum")).scalar_one() == 2  # 2 = INCREMENTAL
    engine.dispose()
