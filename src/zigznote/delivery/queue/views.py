"""Read-only views of delivery rows and attempts, for the commands that show them (history,
counts, statistics, `status`). Kept beside the writes so that the delivery tables' SQL has
one home: a change to their shape or indexes is made and reviewed here.

Every function takes a connection and returns SQLAlchemy rows (attribute access by column
name: ``row.status``, ``row.attempted_at``) or plain values; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from zigznote.store.models import Delivery, DeliveryAttempt, Event, table_of
from zigznote.store.models.delivery import PENDING, STATUSES

_DELIVERIES = table_of(Delivery)
_ATTEMPTS = table_of(DeliveryAttempt)
_EVENTS = table_of(Event)


def find_delivery(conn: sa.Connection, *, org_id: str, delivery_id: str) -> Any | None:
    """One delivery row of an organization (any kind), or None."""
    query = sa.select(_DELIVERIES).where(_DELIVERIES.c.org_id == org_id, _DELIVERIES.c.id == delivery_id)
    return conn.execute(query).first()


def deliveries(
    conn: sa.Connection,
    *,
    webhook_id: str | None = None,
    event_id: str | None = None,
    org_id: str | None = None,
    kind: str | None = None,
    jobs_only: bool = False,
    status: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[Any]:
    """Delivery rows with their event's type (``row.event_type``) matching every given filter
    (``jobs_only``: integration jobs, the rows without a webhook), newest first (by ID when
    ``event_id`` is given: the fan-out order)."""
    query = sa.select(_DELIVERIES, _EVENTS.c.type.label("event_type")).join(
        _EVENTS, _EVENTS.c.id == _DELIVERIES.c.event_id
    )
    if webhook_id is not None:
        query = query.where(_DELIVERIES.c.webhook_id == webhook_id)
    if event_id is not None:
        query = query.where(_DELIVERIES.c.event_id == event_id).order_by(_DELIVERIES.c.id)
    else:
        query = query.order_by(_DELIVERIES.c.created_at.desc(), _DELIVERIES.c.id.desc())
    if org_id is not None:
        query = query.where(_DELIVERIES.c.org_id == org_id)
    if kind is not None:
        query = query.where(_DELIVERIES.c.kind == kind)
    if jobs_only:
        query = query.where(_DELIVERIES.c.webhook_id.is_(None))
    if status is not None:
        query = query.where(_DELIVERIES.c.status == status)
    if since is not None:
        query = query.where(_DELIVERIES.c.created_at >= since)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query))


def attempts(conn: sa.Connection, delivery_id: str) -> list[Any]:
    """Every recorded attempt of one delivery, oldest first."""
    query = (
        sa.select(_ATTEMPTS)
        .where(_ATTEMPTS.c.delivery_id == delivery_id)
        .order_by(_ATTEMPTS.c.attempted_at, _ATTEMPTS.c.id)
    )
    return list(conn.execute(query))


def status_counts(conn: sa.Connection, *, webhook_id: str | None = None) -> dict[str, int]:
    """How many deliveries are in each status (every status present, 0 when none); of one
    webhook, or of the whole store."""
    query = sa.select(_DELIVERIES.c.status, sa.func.count()).group_by(_DELIVERIES.c.status)
    if webhook_id is not None:
        query = query.where(_DELIVERIES.c.webhook_id == webhook_id)
    found = {status: int(n) for status, n in conn.execute(query)}
    return {status: found.get(status, 0) for status in STATUSES}


def queued_by_webhook(conn: sa.Connection, statuses: Sequence[str]) -> dict[str, int]:
    """Webhook ID → how many of its deliveries are in ``statuses`` (webhooks with none are
    absent; jobs are not counted)."""
    query = (
        sa.select(_DELIVERIES.c.webhook_id, sa.func.count())
        .where(_DELIVERIES.c.status.in_(list(statuses)), _DELIVERIES.c.webhook_id.is_not(None))
        .group_by(_DELIVERIES.c.webhook_id)
    )
    return {webhook_id: int(n) for webhook_id, n in conn.execute(query)}


def due_overview(conn: sa.Connection, *, now: datetime) -> tuple[int, datetime | None]:
    """``(pending deliveries due at now, the earliest due time of any pending delivery)``."""
    due = conn.execute(
        sa.select(sa.func.count()).where(_DELIVERIES.c.status == PENDING, _DELIVERIES.c.next_attempt_at <= now)
    ).scalar_one()
    oldest = conn.execute(
        sa.select(sa.func.min(_DELIVERIES.c.next_attempt_at)).where(_DELIVERIES.c.status == PENDING)
    ).scalar_one()
    return int(due), oldest


def attempt_samples(
    conn: sa.Connection, webhook_id: str, start: datetime, end: datetime
) -> list[tuple[datetime, int, int | None]]:
    """``(attempted_at, duration_ms, status_code)`` of a webhook's attempts in ``[start, end]``."""
    query = sa.select(_ATTEMPTS.c.attempted_at, _ATTEMPTS.c.duration_ms, _ATTEMPTS.c.status_code).where(
        _ATTEMPTS.c.webhook_id == webhook_id,
        _ATTEMPTS.c.attempted_at >= start,
        _ATTEMPTS.c.attempted_at <= end,
    )
    return [(r.attempted_at, r.duration_ms, r.status_code) for r in conn.execute(query)]


def last_failures(conn: sa.Connection, webhook_ids: Sequence[str]) -> dict[str, Any]:
    """The most recent failed attempt of each webhook that has one (``attempted_at,
    status_code, error``). One indexed lookup per webhook (``ix_attempt_webhook_time``):
    callers pass the few webhooks they show, never a whole table."""
    found: dict[str, Any] = {}
    ok = sa.and_(_ATTEMPTS.c.status_code >= 200, _ATTEMPTS.c.status_code < 300)
    for webhook_id in webhook_ids:
        row = conn.execute(
            sa.select(_ATTEMPTS.c.attempted_at, _ATTEMPTS.c.status_code, _ATTEMPTS.c.error)
            .where(_ATTEMPTS.c.webhook_id == webhook_id, sa.or_(_ATTEMPTS.c.status_code.is_(None), sa.not_(ok)))
            .order_by(_ATTEMPTS.c.attempted_at.desc(), _ATTEMPTS.c.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            found[webhook_id] = row
    return found


__all__ = [
    "attempt_samples",
    "attempts",
    "deliveries",
    "due_overview",
    "find_delivery",
    "last_failures",
    "queued_by_webhook",
    "status_counts",
]


def has_jobs_of_kind(conn: sa.Connection, *, org_id: str, kind: str) -> bool:
    """Whether the organization has any job row of ``kind`` (of a kind this build may no longer run)."""
    query = (
        sa.select(_DELIVERIES.c.id)
        .where(_DELIVERIES.c.org_id == org_id, _DELIVERIES.c.kind == kind, _DELIVERIES.c.webhook_id.is_(None))
        .limit(1)
    )
    return conn.execute(query).first() is not None
