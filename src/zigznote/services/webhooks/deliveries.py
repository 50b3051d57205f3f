"""Delivery history (deliveries, attempts) and manual retries: one delivery again
(`webhooks retry`) or every finished delivery of a webhook since a time (`replay`).

Both start a new retry cycle through :mod:`zigznote.delivery.queue.admin` (which holds,
instead of queueing, the work of a disabled endpoint). They work for every kind of row: an
integration job has no webhook (``webhook_id`` None) and is retried the same way.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from zigznote.delivery.queue import admin, views
from zigznote.services import orgs
from zigznote.services.requeue import (
    REPLAY_STATUSES,
    Wording,
    check_replay_status,
    check_status,
    kind_held,
    requeue_one,
)
from zigznote.services.webhooks.lookups import resolve, resolve_delivery
from zigznote.services.webhooks.render import attempt_public, delivery_public
from zigznote.store.engine import Database
from zigznote.store.models.delivery import HELD, PENDING
from zigznote.timeutil import iso, parse_since, utcnow

_WORDING = Wording(
    noun="delivery",
    in_flight="is being delivered right now",
    again_hint="pass --force to send it again (receivers dedupe on webhook-id)",
)


def list_deliveries(
    db: Database, org_ref: str, ref: str, *, status: str | None = None, since: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """A webhook's deliveries, newest first, optionally by status and creation time."""
    check_status(status, "delivery")
    since_at = parse_since(since) if since else None
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        rows = views.deliveries(session.connection(), webhook_id=wh.id, status=status, since=since_at, limit=limit)
        return [delivery_public(r, r.event_type) for r in rows]


def list_attempts(db: Database, org_ref: str, delivery_ref: str) -> list[dict[str, Any]]:
    """Every attempt of one delivery (webhook delivery or job), oldest first."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        d = resolve_delivery(session, org.id, delivery_ref)
        return [attempt_public(a) for a in views.attempts(session.connection(), d.id)]


def _job_kind_held(conn: sa.Connection, d: Any) -> bool:
    """Whether ``d`` is an integration job whose kind is held for its organization (its cause,
    e.g. a revoked integration, is not fixed: the job waits for the fix, see
    ``delivery/queue/jobs.py``). Webhook deliveries: False (a disabled endpoint is handled
    by the requeue itself)."""
    return d.webhook_id is None and kind_held(conn, d.org_id, d.kind)


def retry(db: Database, org_ref: str, delivery_ref: str, *, force: bool = False) -> dict[str, Any]:
    """Queue one delivery again now, with a fresh retry cycle (held if its webhook is disabled).

    Refuses (Conflict, exit 4) a succeeded delivery or one in flight unless ``force``, and
    when a worker claimed or finished it while we looked (never overwrites a result).
    """
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        d = resolve_delivery(session, org.id, delivery_ref)
        now = utcnow()
        conn = session.connection()
        requeue_one(conn, d, now=now, force=force, hold=_job_kind_held(conn, d), wording=_WORDING)
        after = views.find_delivery(conn, org_id=org.id, delivery_id=d.id)
        status = after.status if after is not None else HELD
        return {
            "id": d.id,
            "webhook_id": d.webhook_id,
            "kind": d.kind,
            "previous_status": d.status,
            "status": status,
            "held": status == HELD,
            "next_attempt_at": iso(now),
        }


def replay(db: Database, org_ref: str, ref: str, *, since: str, status: str = "failed") -> dict[str, Any]:
    """Queue again, in one UPDATE, every finished delivery of a webhook created since ``since``
    (held instead when the webhook is disabled)."""
    check_replay_status(status)
    since_at = parse_since(since)
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        count = admin.requeue_matching(
            session.connection(), now=utcnow(), statuses=REPLAY_STATUSES[status], since=since_at, webhook_id=wh.id
        )
        new_status = PENDING if wh.enabled else HELD
        return {
            "webhook_id": wh.id,
            "since": iso(since_at),
            "selected": status,
            "replayed": count,
            "status": new_status,
            "held": new_status == HELD,
        }
