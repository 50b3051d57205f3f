"""Helpers shared by the webhook and event CLI tests: direct SQL to put deliveries into
states only the engine produces (failed, in flight, with attempts), and short-hands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Cli
from zigznote.ids import new_id
from zigznote.store.engine import normalize_url
from zigznote.timeutil import parse_timestamp, utcnow

ALLOW = "127.0.0.0/8"
# A global address as a literal: the sandbox has no DNS, and a literal is not resolved.
PUBLIC_URL = "https://93.184.215.14/hooks/zigznote"
LOOPBACK_URL = "http://127.0.0.1:9/hook"  # port 9 (discard): nothing is ever sent in these tests

WEBHOOK_KEYS = {
    "id",
    "org_id",
    "name",
    "description",
    "url",
    "events",
    "enabled",
    "disabled_reason",
    "disabled_at",
    "consecutive_failures",
    "failing_since",
    "concurrency_level",
    "max_concurrency",
    "rate_limit",
    "has_headers",
    "has_previous_secret",
    "previous_secret_expires_at",
    "renamed_from",
    "created_at",
    "updated_at",
}
DELIVERY_KEYS = {
    "id",
    "webhook_id",
    "kind",
    "target",
    "event_id",
    "event_type",
    "status",
    "attempts",
    "cycle_attempts",
    "next_trigger",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "delivered_at",
    "created_at",
    "updated_at",
}


def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_WEBHOOK_ALLOW_NETS", ALLOW)


def sql(db_url: str, statement: str, **params: Any) -> list[Any]:
    """Run one statement in its own transaction; rows for a SELECT, [] otherwise."""
    if db_url.startswith("sqlite"):
        # Store times exactly as SQLAlchemy's DateTime does on SQLite, so they compare as text.
        params = {k: v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for k, v in params.items()}
    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def delivery(db_url: str, delivery_id: str) -> Any:
    rows = sql(db_url, "SELECT * FROM webhook_delivery WHERE id = :id", id=delivery_id)
    assert len(rows) == 1
    return rows[0]


def deliveries_of(db_url: str, webhook_id: str) -> list[Any]:
    return sql(db_url, "SELECT * FROM webhook_delivery WHERE webhook_id = :w ORDER BY id", w=webhook_id)


def set_delivery(db_url: str, delivery_id: str, **values: Any) -> None:
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    sql(db_url, f"UPDATE webhook_delivery SET {assignments} WHERE id = :id", id=delivery_id, **values)


def set_webhook(db_url: str, webhook_id: str, **values: Any) -> None:
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    sql(db_url, f"UPDATE webhook SET {assignments} WHERE id = :id", id=webhook_id, **values)


def add_attempt(
    db_url: str,
    delivery_id: str,
    webhook_id: str,
    *,
    at: datetime,
    duration_ms: int,
    status_code: int | None,
    number: int = 1,
    trigger: str = "scheduled",
) -> str:
    attempt_id = new_id("att")
    sql(
        db_url,
        "INSERT INTO delivery_attempt (id, delivery_id, webhook_id, attempt_number, trigger, attempted_at, "
        "duration_ms, status_code, error, response_excerpt) VALUES (:id, :d, :w, :n, :t, :at, :ms, :code, :err, NULL)",
        id=attempt_id,
        d=delivery_id,
        w=webhook_id,
        n=number,
        t=trigger,
        at=at,
        ms=duration_ms,
        code=status_code,
        err=None if status_code and 200 <= status_code < 300 else "failed",
    )
    return attempt_id


def create_webhook(cli: Cli, url: str = LOOPBACK_URL, events: str = "*", *extra: str, org: str = "acme") -> Any:
    return cli.ok("--org", org, "webhooks", "create", "--url", url, "--events", events, *extra)


def emit(cli: Cli, type_: str = "meeting.ended", data: dict[str, Any] | None = None, org: str = "acme") -> Any:
    payload = json.dumps(data if data is not None else {"meeting_id": "mtg_1"})
    return cli.ok("--org", org, "events", "emit", type_, "--data", payload)


def parse_iso(text: str) -> datetime:
    return parse_timestamp(text)


def close_to_now(value: str | datetime | None, seconds: float = 30) -> bool:
    if value is None:
        return False
    when = parse_iso(value) if isinstance(value, str) else value
    return abs((utcnow() - when).total_seconds()) < seconds


def ago(**kwargs: float) -> datetime:
    return utcnow() - timedelta(**kwargs)
