"""Endpoint health as operators see it: pause and resume, the failure streak, endpoints that
are failing, and the history of health events (disabled, enabled, recovered).

Disabling and enabling go through :mod:`zigznote.delivery.queue.health`, the same statements
the engine runs on auto-disable, which also record the endpoint event: one rule for holding
work, and a history that never disagrees with the state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from zigznote.delivery.queue import health as queue_health
from zigznote.delivery.queue import views
from zigznote.errors import InvalidInput
from zigznote.services import orgs
from zigznote.services.webhooks.lookups import resolve
from zigznote.services.webhooks.render import endpoint_event_public, failure_public, public
from zigznote.store.engine import Database
from zigznote.store.models import EndpointEvent, Webhook, table_of
from zigznote.timeutil import parse_since, utcnow

DEFAULT_DISABLED_REASON = "disabled by operator"
MAX_REASON = 500
# Endpoint events shown by `webhooks show`; `webhooks health` lists more.
SHOW_EVENTS = 5
# Failing endpoints listed by `status` (across every organization).
STATUS_FAILING = 10


def disable(db: Database, org_ref: str, ref: str, *, reason: str | None = None) -> dict[str, Any]:
    """Stop delivering to a webhook; its queued and in-flight deliveries are held, not dropped.
    Records a ``disabled`` endpoint event (when it was enabled). ``held``: how many were held."""
    text = (reason if reason is not None else DEFAULT_DISABLED_REASON).strip()
    if not text or len(text) > MAX_REASON:
        raise InvalidInput(f"the reason must be 1-{MAX_REASON} characters", code="invalid_reason")
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        # Clearing claim tokens means a worker holding an in-flight claim cannot finish it:
        # the held row waits for `enable` instead of being marked by a send we asked to stop.
        held = queue_health.disable(session.connection(), wh.id, reason=text, now=now, by_operator=True)
        session.expire(wh)
        data = public(wh, now=now)
        data["held"] = held
        return data


def enable(db: Database, org_ref: str, ref: str) -> dict[str, Any]:
    """Resume a webhook: end its failure streak and release its held deliveries, due now.
    Records an ``enabled`` endpoint event (when it was disabled). ``released``: how many."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        released = queue_health.enable(session.connection(), wh.id, now=now)
        session.expire(wh)
        data = public(wh, now=now)
        data["released"] = released
        return data


def last_failure(conn: sa.Connection, wh: Webhook) -> dict[str, Any] | None:
    """The webhook's most recent failed attempt while it is disabled or failing, else None
    (an old failure of a healthy endpoint is history, not its state)."""
    if wh.enabled and not wh.consecutive_failures and wh.failing_since is None:
        return None
    return failure_public(views.last_failures(conn, [wh.id]).get(wh.id))


def _failing_condition() -> Any:
    return or_(
        col(Webhook.enabled) == sa.false(),
        col(Webhook.consecutive_failures) > 0,
        col(Webhook.failing_since).is_not(None),
    )


# Disabled first, then the longest streak; NULLs placed explicitly (SQLite and Postgres
# disagree on where they sort by default).
_LONGEST_FAILING_FIRST = (
    col(Webhook.enabled),
    col(Webhook.failing_since).asc().nulls_last(),
    col(Webhook.id),
)


def _with_failures(session: Session, hooks: list[Webhook], now: datetime) -> list[dict[str, Any]]:
    last = views.last_failures(session.connection(), [wh.id for wh in hooks])
    rows = []
    for wh in hooks:
        data = public(wh, now=now)
        data["last_failure"] = failure_public(last.get(wh.id))
        rows.append(data)
    return rows


def failing(db: Database, org_ref: str) -> list[dict[str, Any]]:
    """The organization's webhooks that are disabled or in a failure streak, longest
    failing first, each with its ``last_failure`` (``at, status_code, error``: the reason a
    request failed, e.g. refused by the SSRF guard at connect time)."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        hooks = list(
            session.exec(
                select(Webhook).where(Webhook.org_id == org.id, _failing_condition()).order_by(*_LONGEST_FAILING_FIRST)
            )
        )
        return _with_failures(session, hooks, utcnow())


def recent_events(session: Session, wh: Webhook, *, limit: int) -> list[dict[str, Any]]:
    """A webhook's latest endpoint events, newest first."""
    query = (
        select(EndpointEvent)
        .where(EndpointEvent.webhook_id == wh.id)
        .order_by(col(EndpointEvent.created_at).desc(), col(EndpointEvent.id).desc())
        .limit(limit)
    )
    return [endpoint_event_public(e, wh.name) for e in session.exec(query)]


def endpoint_events(
    db: Database, org_ref: str, ref: str | None = None, *, since: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Endpoint health events (disabled, enabled, recovered), newest first: of one webhook,
    or of every webhook of the organization."""
    since_at = parse_since(since) if since else None
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        query = select(EndpointEvent, Webhook.name).join(Webhook, col(Webhook.id) == col(EndpointEvent.webhook_id))
        query = query.where(EndpointEvent.org_id == org.id)
        if ref is not None:
            query = query.where(EndpointEvent.webhook_id == resolve(session, org.id, ref).id)
        if since_at is not None:
            query = query.where(col(EndpointEvent.created_at) >= since_at)
        query = query.order_by(col(EndpointEvent.created_at).desc(), col(EndpointEvent.id).desc()).limit(limit)
        return [endpoint_event_public(e, name) for e, name in session.exec(query)]


def delete_events(session: Session, webhook_id: str) -> None:
    """Remove a webhook's endpoint events (its deletion takes its history with it)."""
    table = table_of(EndpointEvent)
    session.connection().execute(sa.delete(table).where(table.c.webhook_id == webhook_id))


def overview(session: Session) -> dict[str, Any]:
    """For `status`: how many webhooks are failing, the longest-failing ones (every
    organization) with their streak, level, caps and last failure, and the latest events."""
    now = utcnow()
    condition = _failing_condition()
    total = int(session.exec(select(sa.func.count()).select_from(Webhook).where(condition)).one())
    hooks = list(session.exec(select(Webhook).where(condition).order_by(*_LONGEST_FAILING_FIRST).limit(STATUS_FAILING)))
    events = session.exec(
        select(EndpointEvent, Webhook.name)
        .join(Webhook, col(Webhook.id) == col(EndpointEvent.webhook_id))
        .order_by(col(EndpointEvent.created_at).desc(), col(EndpointEvent.id).desc())
        .limit(SHOW_EVENTS)
    ).all()
    return {
        "webhooks_failing": total,
        "failing_webhooks": _with_failures(session, hooks, now),
        "endpoint_events": [endpoint_event_public(e, name) for e, name in events],
    }
