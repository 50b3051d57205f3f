"""New rows of the ``webhook_delivery`` table, built in one place for both kinds of work: a
webhook delivery (``events emit``) and an integration job (``delivery/queue/jobs.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zigznote.ids import new_id
from zigznote.store.models.delivery import KIND_WEBHOOK, PENDING, TRIGGER_SCHEDULED


def delivery_row(
    *,
    org_id: str,
    event_id: str,
    now: datetime,
    webhook_id: str | None = None,
    kind: str = KIND_WEBHOOK,
    target: str | None = None,
    dedupe_key: str | None = None,
    status: str = PENDING,
) -> dict[str, Any]:
    """A complete new delivery row (a webhook delivery, or a job: ``kind``, ``target``,
    ``dedupe_key``) with a fresh ``msg_`` ID, due ``now``. Every column is set, so rows go
    through ``admin.enqueue_rows`` (COPY/``executemany``) as they are, on its fast path."""
    return {
        "id": new_id("msg"),
        "org_id": org_id,
        "event_id": event_id,
        "webhook_id": webhook_id,
        "kind": kind,
        "target": target,
        "dedupe_key": dedupe_key,
        "status": status,
        "attempts": 0,
        "cycle_attempts": 0,
        "next_trigger": TRIGGER_SCHEDULED,
        "next_attempt_at": now,
        "claim_token": None,
        "last_status_code": None,
        "last_error": None,
        "delivered_at": None,
        "created_at": now,
        "updated_at": now,
    }
