"""Direct store set-up for engine tests: orgs, webhooks and due deliveries, fast.

The engine tests exercise the delivery engine, not the management commands, so they
build their fixtures here with bulk inserts (tens of thousands of rows in a second).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from zigznote.ids import new_id
from zigznote.store import migrate
from zigznote.store.engine import Database
from zigznote.store.models import Delivery, Event, Organization, Webhook, table_of
from zigznote.timeutil import utcnow

__all__ = ["utcnow"]
from zigznote.vault import Vault
from zigznote.webhooks.signing import generate_secret


def migrated(url: str) -> Database:
    db = Database(url, check=False, create=True)
    migrate.upgrade(db.engine)
    return db


def add_org(db: Database, slug: str = "acme") -> str:
    org_id = new_id("org")
    with db.session() as s:
        s.add(Organization(id=org_id, slug=slug, name=slug))
    return org_id


def add_webhook(
    db: Database,
    vault: Vault,
    org_id: str,
    url: str,
    *,
    events: Sequence[str] = ("*",),
    secret: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[str, str]:
    webhook_id = new_id("wh")
    secret = secret or generate_secret()
    with db.session() as s:
        s.add(
            Webhook(
                id=webhook_id,
                org_id=org_id,
                name=f"test-{webhook_id[-8:]}",
                url=url,
                event_types=list(events),
                secret_enc=vault.encrypt(secret, table="webhook", row=webhook_id, field="secret_enc"),
                headers_enc=vault.encrypt(json.dumps(headers), table="webhook", row=webhook_id, field="headers_enc")
                if headers
                else None,
            )
        )
    return webhook_id, secret


def emit(
    db: Database,
    org_id: str,
    webhook_ids: Sequence[str | None],
    count: int,
    *,
    type_: str = "meeting.ended",
    status: str = "pending",
    kind: str = "webhook",
) -> list[str]:
    """``count`` events, each with one delivery per webhook, due now. Returns delivery IDs."""
    now = utcnow()
    events: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for i in range(count):
        event_id = new_id("evt")
        events.append(
            {
                "id": event_id,
                "org_id": org_id,
                "type": type_,
                "created_at": now,
                "data": {"meeting_id": f"mtg_{i}", "n": i},
            }
        )
        for webhook_id in webhook_ids:
            deliveries.append(
                {
                    "id": new_id("msg"),
                    "org_id": org_id,
                    "event_id": event_id,
                    "webhook_id": webhook_id,
                    "kind": kind,
                    "status": status,
                    "attempts": 0,
                    "cycle_attempts": 0,
                    "next_trigger": "scheduled",
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    with db.engine.begin() as conn:
        for start in range(0, len(events), 5000):
            conn.execute(sa.insert(table_of(Event)), events[start : start + 5000])
        for start in range(0, len(deliveries), 5000):
            conn.execute(sa.insert(table_of(Delivery)), deliveries[start : start + 5000])
    return [d["id"] for d in deliveries]


def deliveries(db: Database) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return {r.id: r for r in conn.execute(sa.text("SELECT * FROM webhook_delivery"))}


def attempts(db: Database, delivery_id: str | None = None) -> list[Any]:
    sql = "SELECT * FROM delivery_attempt"
    params: dict[str, Any] = {}
    if delivery_id:
        sql += " WHERE delivery_id = :d"
        params["d"] = delivery_id
    with db.engine.connect() as conn:
        return list(conn.execute(sa.text(sql + " ORDER BY attempted_at, attempt_number"), params))


def webhook(db: Database, webhook_id: str) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM webhook WHERE id = :id"), {"id": webhook_id}).one()
