"""Retention SQL: remove old finished history in small batches, never queued work.

One batch is one short transaction over at most ``limit`` events older than the cut-off,
taken in (created_at, id) order from a cursor, so events that must stay (work still queued,
or a failed delivery kept longer) are stepped over once per run, not rescanned:

1. the candidate events (``ix_event_created``);
2. of those, the events none of whose deliveries is unfinished (pending, delivering, held)
   or too young (succeeded after the cut-off, failed after the failed cut-off, judged by
   ``updated_at``: a retried delivery counts from its latest result);
3. their expired deliveries are locked on Postgres (``FOR UPDATE``), so a concurrent
   ``webhooks retry``/``replay`` waits for us and then finds nothing to change;
4. attempts, deliveries and events are deleted by statements that re-check every condition,
   and the event DELETE checks that no delivery references it, so work queued for an old
   event meanwhile keeps it.

All conditions are evaluated by the database: the transaction (on SQLite, the write lock)
lasts a handful of indexed statements and little Python, because a worker in the same
process competes for the GIL while the lock is held. Claims never touch finished rows and
skip locked ones, so workers keep claiming while a batch runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from zigznote.store.models import Delivery, DeliveryAttempt, EndpointEvent, Event, table_of
from zigznote.store.models.delivery import FAILED, SUCCEEDED

_FINISHED = (SUCCEEDED, FAILED)
#: Events per batch at most: their IDs go in one IN list, below both backends' parameter limits.
MAX_BATCH = 5000


@dataclass(frozen=True)
class Cutoffs:
    """Finished history created (events) or last changed (deliveries) before these goes."""

    finished: datetime
    failed: datetime


@dataclass
class BatchResult:
    """What one batch removed (or, in a dry run, would remove)."""

    scanned: int = 0
    events: int = 0
    deliveries: int = 0
    attempts: int = 0
    kept: int = 0  # candidate events kept: queued work, or failed deliveries kept longer
    cursor: tuple[datetime, str] | None = None  # the last candidate: where the next batch starts
    busy_seconds: float = 0.0  # time inside the transaction (holding SQLite's write lock)
    removed_event_ids: list[str] = field(default_factory=list)


def _candidates(
    conn: sa.Connection, before: datetime, after: tuple[datetime, str] | None, limit: int
) -> list[tuple[str, datetime]]:
    ev = table_of(Event)
    query = sa.select(ev.c.id, ev.c.created_at).where(ev.c.created_at < before)
    if after is not None:
        query = query.where(
            sa.or_(ev.c.created_at > after[0], sa.and_(ev.c.created_at == after[0], ev.c.id > after[1]))
        )
    query = query.order_by(ev.c.created_at, ev.c.id).limit(limit)
    return [(r.id, r.created_at) for r in conn.execute(query)]


def _expired(d: sa.Table, cutoffs: Cutoffs) -> sa.ColumnElement[bool]:
    """A delivery that is finished and old enough to go."""
    return sa.or_(
        sa.and_(d.c.status == SUCCEEDED, d.c.updated_at < cutoffs.finished),
        sa.and_(d.c.status == FAILED, d.c.updated_at < cutoffs.failed),
    )


def _count(conn: sa.Connection, query: sa.Select[Any]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one())


def prune_batch(
    engine: Engine, *, cutoffs: Cutoffs, limit: int, after: tuple[datetime, str] | None = None, dry_run: bool = False
) -> BatchResult:
    """Remove (or with ``dry_run`` count) one batch of expired history, in one transaction.

    Every condition is evaluated by the database, in the statements that delete, so the
    transaction (and on SQLite the write lock) lasts a handful of indexed statements.
    """
    if not 1 <= limit <= MAX_BATCH:
        raise ValueError(f"limit must be in [1, {MAX_BATCH}], not {limit}")
    out = BatchResult()
    before = max(cutoffs.finished, cutoffs.failed)  # an event younger than both cut-offs stays
    with engine.begin() as conn:
        # The transaction has begun (on SQLite: the write lock is ours); waiting for it is not
        # load on anyone, so the pacing in services/retention.py counts only from here.
        started = time.perf_counter()
        try:
            _prune_in(conn, out, cutoffs, before=before, after=after, limit=limit, dry_run=dry_run)
        finally:
            out.busy_seconds = time.perf_counter() - started
    return out


def _prune_in(
    conn: sa.Connection,
    out: BatchResult,
    cutoffs: Cutoffs,
    *,
    before: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
    dry_run: bool,
) -> None:
    ev, d, a = table_of(Event), table_of(Delivery), table_of(DeliveryAttempt)
    candidates = _candidates(conn, before, after, limit)
    if not candidates:
        return
    out.scanned = len(candidates)
    out.cursor = (candidates[-1][1], candidates[-1][0])
    blocking = sa.exists(sa.select(d.c.id).where(d.c.event_id == ev.c.id, sa.not_(_expired(d, cutoffs))))
    query = sa.select(ev.c.id).where(ev.c.id.in_([c[0] for c in candidates]), sa.not_(blocking))
    events = [r[0] for r in conn.execute(query)]
    out.kept = len(candidates) - len(events)
    if not events:
        return
    doomed = sa.select(d.c.id).where(d.c.event_id.in_(events), _expired(d, cutoffs))
    if dry_run:
        out.events = len(events)
        out.deliveries = _count(conn, doomed)
        out.attempts = _count(conn, sa.select(a.c.id).where(a.c.delivery_id.in_(doomed)))
        return
    if conn.dialect.name == "postgresql":
        # Lock what goes: a concurrent retry/replay of one of these waits for us, then finds
        # nothing; one that committed first made its row unexpired, so it stays.
        conn.execute(doomed.with_for_update()).all()
    out.attempts = int(conn.execute(sa.delete(a).where(a.c.delivery_id.in_(doomed))).rowcount or 0)
    result = conn.execute(sa.delete(d).where(d.c.event_id.in_(events), _expired(d, cutoffs)))
    out.deliveries = int(result.rowcount or 0)
    # Work queued for one of these events meanwhile keeps it (and its other history).
    referenced = sa.exists(sa.select(d.c.id).where(d.c.event_id == ev.c.id))
    out.events = int(conn.execute(sa.delete(ev).where(ev.c.id.in_(events), ~referenced)).rowcount or 0)
    out.removed_event_ids = events


def prune_endpoint_events(engine: Engine, *, before: datetime, limit: int, dry_run: bool = False) -> int:
    """Remove (or count) up to ``limit`` endpoint health events older than ``before``."""
    t = table_of(EndpointEvent)
    with engine.begin() as conn:
        ids = [r.id for r in conn.execute(sa.select(t.c.id).where(t.c.created_at < before).limit(limit))]
        if not ids or dry_run:
            return len(ids)
        return int(conn.execute(sa.delete(t).where(t.c.id.in_(ids))).rowcount or 0)


def sqlite_auto_vacuum(engine: Engine) -> str | None:
    """SQLite's auto_vacuum mode (``none``, ``full``, ``incremental``); None elsewhere."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as conn:
        # On the DBAPI connection: through SQLAlchemy, even a read opens BEGIN IMMEDIATE here.
        raw: Any = conn.connection.dbapi_connection
        mode = raw.execute("PRAGMA auto_vacuum").fetchone()[0]
    return {0: "none", 1: "full", 2: "incremental"}.get(int(mode or 0), str(mode))


def incremental_vacuum(engine: Engine, *, pages: int) -> int:
    """Give up to ``pages`` free pages back to the file system (SQLite with
    ``auto_vacuum=INCREMENTAL`` only; otherwise 0). Returns the pages freed."""
    if sqlite_auto_vacuum(engine) != "incremental":
        return 0
    with engine.connect() as conn:
        # Outside SQLAlchemy's transaction (our begin hook would open BEGIN IMMEDIATE): the
        # pragma frees one page per step, and only executescript() steps it to completion.
        raw: Any = conn.connection.dbapi_connection
        before = int(raw.execute("PRAGMA freelist_count").fetchone()[0])
        raw.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
        after = int(raw.execute("PRAGMA freelist_count").fetchone()[0])
    return max(0, before - after)


def row_counts(engine: Engine) -> dict[str, Any]:
    """Rows per history table (for `events prune --dry-run` output and the benchmark)."""
    names = ("event", "webhook_delivery", "delivery_attempt", "endpoint_event")
    with engine.connect() as conn:
        return {n: int(conn.execute(sa.text(f"SELECT count(*) FROM {n}")).scalar_one()) for n in names}
