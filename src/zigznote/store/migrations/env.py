"""Alembic environment: run against the connection zigznote hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from zigznote.store.models import load_all

load_all()  # registers every table, the lazy billing ones too

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
