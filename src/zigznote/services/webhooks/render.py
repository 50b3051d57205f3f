"""How webhooks, deliveries, attempts and endpoint events are shown to people and scripts:
plain dicts (JSON-ready, ISO-8601 times), never a secret or a header value."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zigznote.store.models import EndpointEvent, Webhook
from zigznote.timeutil import iso, utcnow


def has_previous(wh: Webhook, now: datetime) -> bool:
    """Whether the webhook's previous secret still signs (inside its rotation grace)."""
    return bool(
        wh.previous_secret_enc and wh.previous_secret_expires_at is not None and wh.previous_secret_expires_at > now
    )


def public(wh: Webhook, *, now: datetime | None = None) -> dict[str, Any]:
    """A webhook as shown to people and scripts: state, failure streak (``consecutive_failures``
    since ``failing_since``), operator caps (``max_concurrency``, ``rate_limit`` in requests/s)
    and the adaptive ``concurrency_level`` a worker last reported (None: not measured yet)."""
    now = now or utcnow()
    previous = has_previous(wh, now)
    return {
        "id": wh.id,
        "org_id": wh.org_id,
        "name": wh.name,
        "description": wh.description,
        "url": wh.url,
        "events": list(wh.event_types),
        "enabled": wh.enabled,
        "disabled_reason": wh.disabled_reason,
        "disabled_at": iso(wh.disabled_at),
        "consecutive_failures": wh.consecutive_failures,
        "failing_since": iso(wh.failing_since),
        "concurrency_level": wh.concurrency_level,
        "max_concurrency": wh.max_concurrency,
        "rate_limit": wh.rate_limit,
        "has_headers": wh.headers_enc is not None,
        "has_previous_secret": previous,
        "previous_secret_expires_at": iso(wh.previous_secret_expires_at) if previous else None,
        "renamed_from": wh.renamed_from,
        "created_at": iso(wh.created_at),
        "updated_at": iso(wh.updated_at),
    }


def delivery_public(d: Any, event_type: str | None = None) -> dict[str, Any]:
    """One delivery row (a webhook delivery or an integration job: ``kind``, ``target``)."""
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
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
    """One recorded attempt row."""
    return {
        "id": a.id,
        "delivery_id": a.delivery_id,
        "webhook_id": a.webhook_id,
        "attempt_number": a.attempt_number,
        "trigger": a.trigger,
        "attempted_at": iso(a.attempted_at),
        "duration_ms": a.duration_ms,
        "status_code": a.status_code,
        "error": a.error,
        "response_excerpt": a.response_excerpt,
    }


def failure_public(row: Any | None) -> dict[str, Any] | None:
    """The last failed attempt of an endpoint (``at, status_code, error``), or None."""
    if row is None:
        return None
    return {"at": iso(row.attempted_at), "status_code": row.status_code, "error": row.error}


def endpoint_event_public(e: EndpointEvent, webhook_name: str | None = None) -> dict[str, Any]:
    """One endpoint health event: ``disabled``, ``enabled`` or ``recovered``."""
    return {
        "id": e.id,
        "webhook_id": e.webhook_id,
        "webhook_name": webhook_name,
        "type": e.type,
        "reason": e.reason,
        "failures": e.failures,
        "streak_since": iso(e.streak_since),
        "created_at": iso(e.created_at),
    }
