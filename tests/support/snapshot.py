"""Row-for-row snapshots of a database, to prove a failed command changed nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa


def rows(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    from zigznote.store.engine import normalize_url

    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            out = {}
            for table in sorted(sa.inspect(conn).get_table_names()):
                result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))
                out[table] = sorted((tuple(map(repr, r)) for r in result), key=repr)
            return out
    finally:
        engine.dispose()


def file_digest(db_url: str) -> str | None:
    """SHA-256 of a SQLite file and its WAL (None for other backends)."""
    if not db_url.startswith("sqlite:///"):
        return None
    path = Path(db_url.removeprefix("sqlite:///"))
    digest = hashlib.sha256()
    for p in (path, path.with_name(path.name + "-wal")):
        if p.exists():
            digest.update(p.read_bytes())
    return digest.hexdigest()
