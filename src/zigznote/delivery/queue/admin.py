"""Delivery rows written outside the engine's claim/finish loop: enqueueing (bulk, COPY on
Postgres), manual requeues, releasing held work, deleting an endpoint's history and the
one-off attempt of `webhooks test`.

Every function takes a connection and runs in the caller's transaction, so a service can
combine them with its own reads and writes and commit (or roll back) once. Each change is
one conditional statement: a worker claiming rows at the same moment sees either the old
state or the new one, never half of each.

Rules kept here so that no caller can forget them:

* work for a **disabled endpoint** is never made ``pending``: it becomes (or stays) ``held``
  and flows again when the endpoint is enabled (:func:`release_held`);
* a manual requeue starts a **new retry cycle** (``cycle_attempts = 0``, next trigger
  ``manual``) and clears any claim, so a worker whose lease was cut short cannot finish it;
* new pending work sends ``NOTIFY`` in the same transaction (idle Postgres workers wake on
  commit instead of at their next poll).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zigznote.delivery import queue as _queue
from zigznote.delivery.result import RESPONSE_EXCERPT_BYTES, AttemptResult
from zigznote.ids import new_id
from zigznote.store.models import Delivery, DeliveryAttempt, Event, Webhook, table_of
from zigznote.store.models.delivery import (
    FAILED,
    HELD,
    KIND_WEBHOOK,
    PENDING,
    SUCCEEDED,
    TRIGGER_MANUAL,
    TRIGGER_SCHEDULED,
    TRIGGER_TEST,
)
from zigznote.untrusted import storable_text
from zigznote.webhooks.events import TEST_EVENT

# Rows per executemany call: bounds memory and statement size on both backends.
_CHUNK = 5000
# Bounded like the engine's attempt records (delivery_attempt.error is TEXT, but a receiver
# or a provider controls what ends up in it).
MAX_ERROR_CHARS = 2000

_DELIVERIES = table_of(Delivery)
_ATTEMPTS = table_of(DeliveryAttempt)
_WEBHOOKS = table_of(Webhook)
_EVENTS = table_of(Event)

# The values a new delivery row takes unless the caller gives them.
_DELIVERY_DEFAULTS: dict[str, Any] = {
    "webhook_id": None,
    "kind": KIND_WEBHOOK,
    "target": None,
    "dedupe_key": None,
    "status": PENDING,
    "attempts": 0,
    "cycle_attempts": 0,
    "next_trigger": TRIGGER_SCHEDULED,
    "claim_token": None,
    "last_status_code": None,
    "last_error": None,
    "delivered_at": None,
}
_DELIVERY_REQUIRED = ("id", "org_id", "event_id", "next_attempt_at", "created_at", "updated_at")
_COLUMNS = tuple(c.name for c in _DELIVERIES.columns)
_COLUMN_SET = frozenset(_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Bulk inserts
# ---------------------------------------------------------------------------------------------


def _bulk_insert(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (all with the same keys) in the connection's transaction, the fastest
    way the backend offers.

    Postgres with psycopg: ``COPY … FROM STDIN`` (psycopg's executemany sends one statement
    per row, about 20k rows/s here; COPY streams them several times faster). Elsewhere:
    ``executemany`` of one compiled INSERT, in chunks.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy_rows(conn, table, rows)
        return
    insert = sa.insert(table)
    for start in range(0, len(rows), _CHUNK):
        conn.execute(insert, list(rows[start : start + _CHUNK]))


def _copy_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    from psycopg import sql
    from psycopg.types.json import Json

    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    # The DBAPI connection of this very transaction: COPY commits or rolls back with it.
    raw: Any = conn.connection.dbapi_connection
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([Json(row[c]) if c in json_columns else row[c] for c in columns])


def insert_events(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk-insert event rows (``id, org_id, type, data, created_at``), before the deliveries
    that reference them. COPY on Postgres."""
    _bulk_insert(conn, table_of(Event), rows)


def enqueue_rows(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk-insert delivery rows in the caller's transaction (COPY on Postgres).

    Each row needs ``id, org_id, event_id, next_attempt_at, created_at, updated_at``; every
    other column takes its default (``kind='webhook'``, ``status='pending'``, no attempts).
    Sends ``NOTIFY`` when any row is pending. Raises ``ValueError`` for a row without a
    required column or with an unknown one (a programming error: callers build rows, never
    users).
    """
    if not rows:
        return
    # COPY and executemany both need the same keys on every row. The hot path (`events
    # emit`) passes complete rows: those go as they are, checked by one set comparison.
    uniform: list[Mapping[str, Any]] = []
    for row in rows:
        if row.keys() == _COLUMN_SET:
            uniform.append(row)
            continue
        missing = [c for c in _DELIVERY_REQUIRED if c not in row]
        unknown = [c for c in row if c not in _COLUMN_SET]
        if missing or unknown:
            raise ValueError(f"delivery row {row.get('id')!r}: missing {missing}, unknown {unknown}")
        complete = {**_DELIVERY_DEFAULTS, **row}
        uniform.append({c: complete[c] for c in _COLUMNS})
    _bulk_insert(conn, _DELIVERIES, uniform)
    if any(r["status"] == PENDING for r in uniform):
        _queue.notify(conn)


# ---------------------------------------------------------------------------------------------
# Requeue and release
# ---------------------------------------------------------------------------------------------


def _endpoint_disabled() -> sa.ColumnElement[bool]:
    """True for a row whose webhook is disabled (never for a job: it has no webhook)."""
    return sa.exists().where(_WEBHOOKS.c.id == _DELIVERIES.c.webhook_id, _WEBHOOKS.c.enabled == sa.false())


def _requeue_values(now: datetime, *, hold: bool) -> dict[str, Any]:
    return {
        "status": HELD if hold else sa.case((_endpoint_disabled(), HELD), else_=PENDING),
        "next_attempt_at": now,
        "cycle_attempts": 0,
        "next_trigger": TRIGGER_MANUAL,
        "claim_token": None,
        "updated_at": now,
    }


def _rowcount(result: sa.CursorResult[Any]) -> int:
    return int(result.rowcount or 0)


def _requeue(conn: sa.Connection, where: Sequence[sa.ColumnElement[bool]], *, now: datetime, hold: bool) -> int:
    changed = _rowcount(conn.execute(sa.update(_DELIVERIES).where(*where).values(**_requeue_values(now, hold=hold))))
    if changed and not hold:
        # Some may have become held (disabled endpoint): a spurious wake-up costs one empty claim.
        _queue.notify(conn)
    return changed


def requeue(
    conn: sa.Connection,
    ids: Sequence[str],
    *,
    now: datetime,
    statuses: Collection[str] | None = None,
    hold: bool = False,
) -> int:
    """Queue deliveries again now with a fresh retry cycle; any kind (webhook or job).

    Rows become ``pending``, due ``now``, ``cycle_attempts = 0``, next trigger ``manual``,
    claim cleared; a row whose webhook is disabled becomes ``held`` instead. ``hold`` makes
    every row ``held`` (the caller knows the cause is not fixed yet, e.g. an integration kind
    held for the organization). ``statuses`` restricts which current states are requeued.
    Returns how many rows changed.
    """
    if not ids:
        return 0
    where: list[sa.ColumnElement[bool]] = [_DELIVERIES.c.id.in_(list(ids))]
    if statuses is not None:
        where.append(_DELIVERIES.c.status.in_(list(statuses)))
    return _requeue(conn, where, now=now, hold=hold)


@dataclass(frozen=True, slots=True)
class RowVersion:
    """What a caller read of one delivery; :func:`requeue_if_unchanged` only touches the row
    if it still looks like this (no worker claimed or finished it meanwhile)."""

    id: str
    status: str
    attempts: int
    claim_token: str | None


def requeue_if_unchanged(conn: sa.Connection, row: RowVersion, *, now: datetime, hold: bool = False) -> bool:
    """:func:`requeue` one delivery, only if its status, attempt count and claim are still
    those in ``row``. False when it changed (the caller reports a conflict, never overwrites a
    worker's result)."""
    where: list[sa.ColumnElement[bool]] = [
        _DELIVERIES.c.id == row.id,
        _DELIVERIES.c.status == row.status,
        _DELIVERIES.c.attempts == row.attempts,
        _DELIVERIES.c.claim_token.is_not_distinct_from(row.claim_token),
    ]
    return _requeue(conn, where, now=now, hold=hold) == 1


def _owner_filters(*, webhook_id: str | None, org_id: str | None, kind: str | None) -> list[sa.ColumnElement[bool]]:
    """The conditions for the filters given (None: not filtered on)."""
    where: list[sa.ColumnElement[bool]] = []
    if webhook_id is not None:
        where.append(_DELIVERIES.c.webhook_id == webhook_id)
    if org_id is not None:
        where.append(_DELIVERIES.c.org_id == org_id)
    if kind is not None:
        where.append(_DELIVERIES.c.kind == kind)
    return where


def requeue_matching(
    conn: sa.Connection,
    *,
    now: datetime,
    statuses: Collection[str],
    since: datetime | None = None,
    webhook_id: str | None = None,
    org_id: str | None = None,
    kind: str | None = None,
    jobs_only: bool = False,
    hold: bool = False,
) -> int:
    """:func:`requeue`, in one UPDATE, every delivery in ``statuses`` matching the filters
    (created at or after ``since``; of one webhook, organization or kind; ``jobs_only``: rows
    without a webhook). The replay commands use it with finished states only: resetting an
    in-flight one would send it twice. ``webhook.test`` pings are never replayed: a ping
    checks the endpoint *then*; sending an old one again would only confuse the receiver
    (``webhooks retry MSG`` still re-sends one on purpose).
    """
    where: list[sa.ColumnElement[bool]] = [
        _DELIVERIES.c.status.in_(list(statuses)),
        ~sa.exists().where(_EVENTS.c.id == _DELIVERIES.c.event_id, _EVENTS.c.type == TEST_EVENT),
    ]
    if since is not None:
        where.append(_DELIVERIES.c.created_at >= since)
    where += _owner_filters(webhook_id=webhook_id, org_id=org_id, kind=kind)
    if jobs_only:
        where.append(_DELIVERIES.c.webhook_id.is_(None))
    return _requeue(conn, where, now=now, hold=hold)


def release_held(
    conn: sa.Connection,
    *,
    now: datetime,
    webhook_id: str | None = None,
    org_id: str | None = None,
    kind: str | None = None,
) -> int:
    """``held`` → ``pending``, due ``now``, claim cleared, for the rows matching every given
    filter. Rows of a still-disabled webhook stay held whatever the filter. Returns how many
    were released (and sends ``NOTIFY`` if any)."""
    where: list[sa.ColumnElement[bool]] = [_DELIVERIES.c.status == HELD, sa.not_(_endpoint_disabled())]
    where += _owner_filters(webhook_id=webhook_id, org_id=org_id, kind=kind)
    released = _rowcount(
        conn.execute(
            sa.update(_DELIVERIES)
            .where(*where)
            .values(status=PENDING, next_attempt_at=now, claim_token=None, updated_at=now)
        )
    )
    if released:
        _queue.notify(conn)
    return released


# ---------------------------------------------------------------------------------------------
# Deleting an endpoint's history
# ---------------------------------------------------------------------------------------------


def delete_webhook_rows(conn: sa.Connection, webhook_id: str) -> tuple[int, int]:
    """Delete a webhook's deliveries and their attempts (before the webhook row itself).
    Returns ``(deliveries, attempts)`` deleted."""
    of_webhook = sa.select(_DELIVERIES.c.id).where(_DELIVERIES.c.webhook_id == webhook_id)
    attempts = _rowcount(
        conn.execute(
            sa.delete(_ATTEMPTS).where(
                sa.or_(_ATTEMPTS.c.webhook_id == webhook_id, _ATTEMPTS.c.delivery_id.in_(of_webhook))
            )
        )
    )
    deliveries = _rowcount(conn.execute(sa.delete(_DELIVERIES).where(_DELIVERIES.c.webhook_id == webhook_id)))
    return deliveries, attempts


def delete_org_rows(conn: sa.Connection, org_id: str) -> tuple[int, int]:
    """Delete every delivery of an organization (webhook rows and jobs) with their attempts.
    Returns ``(deliveries, attempts)`` deleted."""
    of_org = sa.select(_DELIVERIES.c.id).where(_DELIVERIES.c.org_id == org_id)
    attempts = _rowcount(conn.execute(sa.delete(_ATTEMPTS).where(_ATTEMPTS.c.delivery_id.in_(of_org))))
    deliveries = _rowcount(conn.execute(sa.delete(_DELIVERIES).where(_DELIVERIES.c.org_id == org_id)))
    return deliveries, attempts


# ---------------------------------------------------------------------------------------------
# `webhooks test`: one attempt outside the retry schedule
# ---------------------------------------------------------------------------------------------


def record_test_attempt(
    conn: sa.Connection,
    *,
    delivery_id: str,
    token: str,
    webhook_id: str,
    result: AttemptResult,
    attempted_at: datetime,
    now: datetime,
) -> str:
    """Record the one attempt of a test delivery and finish it: ``succeeded`` on 2xx,
    ``failed`` otherwise (a test is not retried).

    The delivery was enqueued ``delivering`` with ``claim_token = token`` (a lease, so a running
    worker does not send it too); finishing requires that token, like the engine's finish.
    The endpoint's failure streak is left alone: a test is not traffic. Text from the
    receiver is made storable (NUL, invalid UTF-8 replaced; bounded). Returns the final status.
    """
    status = SUCCEEDED if result.ok else FAILED
    error = storable_text(result.error, max_chars=MAX_ERROR_CHARS)
    conn.execute(
        sa.insert(_ATTEMPTS).values(
            id=new_id("att"),
            delivery_id=delivery_id,
            webhook_id=webhook_id,
            attempt_number=1,
            trigger=TRIGGER_TEST,
            attempted_at=attempted_at,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=error,
            response_excerpt=storable_text(result.response_excerpt, max_chars=RESPONSE_EXCERPT_BYTES),
        )
    )
    conn.execute(
        sa.update(_DELIVERIES)
        .where(_DELIVERIES.c.id == delivery_id, _DELIVERIES.c.claim_token == token)
        .values(
            status=status,
            attempts=1,
            cycle_attempts=1,
            next_attempt_at=None,
            claim_token=None,
            last_status_code=result.status_code,
            last_error=error,
            delivered_at=now if result.ok else None,
            updated_at=now,
        )
    )
    return status
