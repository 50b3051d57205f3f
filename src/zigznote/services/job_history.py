"""Integration jobs as operators see them: list, show, attempts, retry and replay.

Retry and replay follow the webhook rules: a new retry cycle (``cycle_attempts = 0``,
``next_trigger = manual``), claims cleared, one conditional UPDATE so a worker claiming
at the same moment sees either the old state or the new one. A job of a held kind is
queued ``held`` (it runs once the kind is released).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from zigznote.delivery.queue import admin, views
from zigznote.errors import NotFound
from zigznote.ids import require
from zigznote.services import jobs, orgs, requeue
from zigznote.services.webhooks.render import attempt_public as render_attempt
from zigznote.services.webhooks.render import delivery_public
from zigznote.store.engine import Database
from zigznote.store.models import Event
from zigznote.store.models.delivery import HELD, PENDING
from zigznote.timeutil import iso, parse_since, utcnow

_WORDING = requeue.Wording(noun="job", in_flight="is running right now", again_hint="pass --force to run it again")


def public(d: Any, event_type: str | None = None) -> dict[str, Any]:
    """A job row as shown to people and scripts: a delivery row without ``webhook_id``
    (jobs have no webhook)."""
    return _without_webhook(delivery_public(d, event_type))


def attempt_public(a: Any) -> dict[str, Any]:
    """One attempt of a job, like a delivery attempt without ``webhook_id``."""
    return _without_webhook(render_attempt(a))


def _without_webhook(row: dict[str, Any]) -> dict[str, Any]:
    # The webhook rendering with one key dropped: the other keys keep their order.
    del row["webhook_id"]
    return row


def _resolve(session: Session, org_id: str, ref: str) -> Any:
    require(ref, "msg")
    d = views.find_delivery(session.connection(), org_id=org_id, delivery_id=ref)
    if d is None or d.webhook_id is not None:
        hint = (
            "it is a webhook delivery: use `zigznote webhooks attempts|retry`"
            if d is not None
            else "`zigznote jobs list` shows this organization's jobs"
        )
        raise NotFound(f"job {ref!r} not found in this organization", hint=hint, code="job_not_found")
    return d


def list_jobs(
    db: Database,
    org_ref: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    since: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The organization's jobs, newest first, optionally of one kind/status/age."""
    requeue.check_status(status, "job")
    since_at = parse_since(since) if since else None
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        if kind is not None:
            jobs.require_kind(session.connection(), org.id, kind)
        rows = views.deliveries(
            session.connection(), org_id=org.id, jobs_only=True, kind=kind, status=status, since=since_at, limit=limit
        )
        return [public(d, d.event_type) for d in rows]


def show(db: Database, org_ref: str, ref: str) -> dict[str, Any]:
    """One job with its event's type. NotFound (exit 3) if it is not a job of the org."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        d = _resolve(session, org.id, ref)
        event = session.get(Event, d.event_id)
        return public(d, event.type if event is not None else None)


def attempts(db: Database, org_ref: str, ref: str) -> list[dict[str, Any]]:
    """Every attempt of one job, oldest first."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        d = _resolve(session, org.id, ref)
        return [attempt_public(a) for a in views.attempts(session.connection(), d.id)]


def _queued_status(session: Session, org_id: str, kind: str) -> str:
    return HELD if requeue.kind_held(session.connection(), org_id, kind) else PENDING


def retry(db: Database, org_ref: str, ref: str, *, force: bool = False) -> dict[str, Any]:
    """Queue one job again now with a fresh retry cycle.

    Conflict (exit 4) if it already succeeded or is in flight (unless ``force``), or if a
    worker changed it meanwhile.
    """
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        d = _resolve(session, org.id, ref)
        now = utcnow()
        status = _queued_status(session, org.id, d.kind)
        requeue.requeue_one(session.connection(), d, now=now, force=force, hold=status == HELD, wording=_WORDING)
        return {
            "id": d.id,
            "kind": d.kind,
            "previous_status": d.status,
            "status": status,
            "held": status == HELD,
            "next_attempt_at": iso(now),
        }


def replay(db: Database, org_ref: str, *, kind: str, since: str, status: str = "failed") -> dict[str, Any]:
    """Queue again, in one UPDATE, every finished job of ``kind`` created since ``since``."""
    requeue.check_replay_status(status)
    since_at = parse_since(since)
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        jobs.require_kind(session.connection(), org.id, kind)
        now = utcnow()
        new_status = _queued_status(session, org.id, kind)
        count = admin.requeue_matching(
            session.connection(),
            now=now,
            statuses=requeue.REPLAY_STATUSES[status],
            since=since_at,
            org_id=org.id,
            kind=kind,
            jobs_only=True,
            hold=new_status == HELD,
        )
        return {
            "kind": kind,
            "since": iso(since_at),
            "selected": status,
            "replayed": count,
            "status": new_status,
            "held": new_status == HELD,
        }
