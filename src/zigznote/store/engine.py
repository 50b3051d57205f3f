"""Engines, sessions and the schema gate.

SQLite is tuned for a CLI plus workers sharing one file: WAL (readers never block the
writer), foreign keys on, a busy timeout, and every transaction opened with
``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing with
SQLITE_BUSY when a deferred read lock is upgraded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlmodel import Session

from zigznote.config import mask_url
from zigznote.errors import ConfigError, DatabaseUnavailable, SchemaOutOfDate
from zigznote.store.migrations.revisions import HEAD_REVISION, KNOWN_REVISIONS

SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalize_url(url: str) -> str:
    """Accept the common spellings and pick our drivers (psycopg 3 for Postgres)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL (None for memory or other backends)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" event (below): the sqlite3
    # module's own implicit BEGIN is deferred and cannot be made IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys = ON")
    # Lets retention give pages back (`PRAGMA incremental_vacuum`) without a full VACUUM. It can
    # only be chosen before the first table exists, so it is set on empty files alone: on an
    # existing store the pragma would rewrite the header (a write by a read-only command); such a
    # store switches over with one `VACUUM`, which `events prune` suggests.
    if cur.execute("PRAGMA page_count").fetchone()[0] == 0:
        cur.execute("PRAGMA auto_vacuum = INCREMENTAL")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, create: bool = False, **kwargs: Any) -> Engine:
    """Build an engine. With ``create=False`` a missing SQLite file is an error
    instead of silently creating an empty database."""
    url = normalize_url(url)
    backend = url.partition("://")[0].partition("+")[0].lower()
    if backend not in {"sqlite", "postgresql"}:
        # Checked before SQLAlchemy looks for a driver: a missing MySQL driver is not fixed by
        # installing anything, the backend itself is unsupported.
        raise ConfigError(
            f"unsupported database URL {mask_url(url)!r}: zigznote runs on SQLite and PostgreSQL",
            hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (--db or ZIGZNOTE_DB)",
        )
    path = sqlite_path(url)
    if path is not None:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise SchemaOutOfDate(
                f"database {path} does not exist",
                hint="run `zigznote init` (or `zigznote db upgrade`) to create it",
            )
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
        else:
            kwargs.setdefault("pool_pre_ping", True)
            connect_args = kwargs.pop("connect_args", {})
            if url.startswith("postgresql"):
                connect_args.setdefault("connect_timeout", 5)
            engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError(
            f"invalid database URL {mask_url(url)!r}: {exc}",
            hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
        ) from None
    except ImportError as exc:
        # Only PostgreSQL gets here (SQLite's driver is part of Python): its extra has psycopg.
        raise ConfigError(
            f"database driver missing for {mask_url(url)!r}: {exc}",
            hint="install the Postgres extra: pip install 'zigznote[postgres]' (psycopg 3; "
            "postgresql+psycopg:// is the URL form it serves)",
        ) from None
    return engine


def translate_db_error(exc: DBAPIError, url: str) -> DatabaseUnavailable:
    first_line = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if sqlite_path(normalize_url(url)) is not None:
        # No server to be running: the file, its directory or another process's lock is why.
        hint = (
            "check that this user can read and write the database file and its directory "
            "(--db / ZIGZNOTE_DB), and whether another process holds it locked"
        )
    else:
        hint = "check --db / ZIGZNOTE_DB and that the server is running"
    return DatabaseUnavailable(f"cannot use database {mask_url(url)}: {first_line}", hint=hint)


def current_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def check_schema(engine: Engine) -> None:
    """Stop with a clear hint unless the schema is exactly at this build's head."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
    except DBAPIError as exc:
        raise translate_db_error(exc, url) from None
    if revision == HEAD_REVISION:
        return
    if revision is None:
        raise SchemaOutOfDate(
            f"database {url} has no zigznote schema",
            hint="run `zigznote init` or `zigznote db upgrade`",
        )
    if revision in KNOWN_REVISIONS:
        raise SchemaOutOfDate(
            f"database schema is at revision {revision}, this zigznote needs {HEAD_REVISION}",
            hint="run `zigznote db upgrade`",
        )
    raise SchemaOutOfDate(
        f"database schema revision {revision} is unknown to this zigznote (newer release?)",
        hint="upgrade zigznote, or point --db at another database",
    )


class Database:
    """One engine plus a session factory; the services' only way to the store."""

    def __init__(self, url: str, *, create: bool = False, check: bool = True, **engine_kwargs: Any):
        self.url = normalize_url(url)
        self.engine = create_engine(self.url, create=create, **engine_kwargs)
        if check:
            check_schema(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        session = Session(self.engine, expire_on_commit=False)
        try:
            with session.begin():
                yield session
        except DBAPIError as exc:
            if exc.connection_invalidated or _is_connect_error(exc):
                raise translate_db_error(exc, self.url) from None
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _is_connect_error(exc: DBAPIError) -> bool:
    return isinstance(exc, sa.exc.OperationalError) and "connect" in str(exc.orig).lower()
