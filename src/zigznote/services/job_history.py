"""Integration jobs as operators see them: list, show, attempts, retry and replay.

Retry and replay follow the webhook rules: a new retry cycle (``cycle_attempts = 0``,
``next_trigger = manual``), claims cleared, one conditional UPDATE so a worker claiming
at the same moment sees either the old state or the new one. A job of a held kind is
queued ``held`` (it runs once the kind is released).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from zigznote.delivery import handlers
from zigznote.delivery.queue import admin, views
from zigznote.delivery.queue import jobs as qjobs
from zigznote.errors import Conflict, InvalidInput, NotFound
from zigznote.ids import require
from zigznote.services import orgs
from zigznote.store.engine import Database
from zigznote.store.models import Event
from zigznote.store.models.delivery import (
    DELIVERING,
    FAILED,
    HELD,
    PENDING,
    STATUSES,
    SUCCEEDED,
)
from zigznote.timeutil import iso, parse_since, utcnow

REPLAY_STATUSES: dict[str, tuple[str, ...]] = {
    "failed": (FAILED,),
    "succeeded": (SUCCEEDED,),
    "all": (FAILED, SUCCEEDED),  # finished jobs only: queued ones are queued already
}


def public(d: Any, event_type: str | None = None) -> dict[str, Any]:
    """A job row as shown to people and scripts."""
    return {
        "id": d.id,
        "kind": d.kind,
        "target": d.target,
        "event_id": d.event_id,
        "event_type": event_type,
        "status": d.status,
        "attempts": d.attempts,
        "cycle_attempts": d.cycle_attempts,
        "next_trigger": d.next_trigger,
        "next_attempt_at": iso(d.next_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": iso(d.delivered_at),
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }


def attempt_public(a: Any) -> dict[str, Any]:
    """One attempt of a job (jobs have no webhook)."""
    return {
        "id": a.id,
        "delivery_id": a.delivery_id,
        "attempt_number": a.attempt_number,
        "trigger": a.trigger,
        "attempted_at": iso(a.attempted_at),
        "duration_ms": a.duration_ms,
        "status_code": a.status_code,
        "error": a.error,
        "response_excerpt": a.response_excerpt,
    }


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


def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"unknown job status {status!r}", hint=f"one of {', '.join(STATUSES)}", code="invalid_status"
        )


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
    if kind is not None:
        handlers.validate_kind(kind)
    _check_status(status)
    since_at = parse_since(since) if since else None
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
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
    settings = qjobs.read_settings(session.connection(), org_id) or {}
    return HELD if kind in qjobs.held_kinds(settings) else PENDING


def retry(db: Database, org_ref: str, ref: str, *, force: bool = False) -> dict[str, Any]:
    """Queue one job again now with a fresh retry cycle.

    Conflict (exit 4) if it already succeeded or is in flight (unless ``force``), or if a
    worker changed it meanwhile.
    """
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        d = _resolve(session, org.id, ref)
        now = utcnow()
        if not force:
            if d.status == DELIVERING and d.next_attempt_at is not None and d.next_attempt_at > now:
                raise Conflict(
                    f"job {d.id} is running right now (lease until {iso(d.next_attempt_at)})",
                    hint="wait for the attempt to finish, or pass --force to queue it again anyway",
                    code="job_in_flight",
                )
            if d.status == SUCCEEDED:
                raise Conflict(
                    f"job {d.id} already succeeded",
                    hint="pass --force to run it again",
                    code="job_succeeded",
                )
        status = _queued_status(session, org.id, d.kind)
        version = admin.RowVersion(d.id, d.status, d.attempts, d.claim_token)
        if not admin.requeue_if_unchanged(session.connection(), version, now=now, hold=status == HELD):
            raise Conflict(
                f"job {d.id} changed while it was being queued (a worker picked it up)",
                hint="run the command again",
                code="job_changed",
            )
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
    handlers.validate_kind(kind)
    if status not in REPLAY_STATUSES:
        raise InvalidInput(
            f"unknown replay status {status!r}", hint=f"one of {', '.join(REPLAY_STATUSES)}", code="invalid_status"
        )
    since_at = parse_since(since)
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        now = utcnow()
        new_status = _queued_status(session, org.id, kind)
        count = admin.requeue_matching(
            session.connection(),
            now=now,
            statuses=REPLAY_STATUSES[status],
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
