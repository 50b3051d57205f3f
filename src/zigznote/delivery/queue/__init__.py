"""Claiming and finishing deliveries: the engine's only SQL.

A claim is a lease. Claiming sets ``status='delivering'``, a fresh ``claim_token``
and ``next_attempt_at`` = the lease's expiry; so an expired lease (a crashed worker)
is simply due again and is claimed by the same query. Finishing requires the token,
so a worker whose lease expired cannot overwrite the result of the worker that took
the delivery over.

Postgres claims with ``FOR UPDATE SKIP LOCKED`` (many workers never block on each
other's rows); SQLite with ``UPDATE … RETURNING`` inside ``BEGIN IMMEDIATE`` (the
engine's begin hook), which serialises claimers on the database lock.

Everything here is batch-shaped: one claim statement and one event fetch per batch,
one executemany for the delivery updates and one for the attempt rows, so the
statement count per delivered event stays well under one.
"""

from __future__ import annotations

import json
import secrets as _secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from zigznote.delivery.result import RESPONSE_EXCERPT_BYTES, AttemptResult
from zigznote.delivery.retry import RetryPolicy, classify
from zigznote.ids import new_id
from zigznote.store.models.delivery import (
    DELIVERING,
    FAILED,
    HELD,
    PENDING,
    SUCCEEDED,
    TRIGGER_SCHEDULED,
)

NOTIFY_CHANNEL = "zigznote_deliveries"

_CLAIM_COLUMNS = "id, org_id, event_id, webhook_id, kind, attempts, cycle_attempts, next_trigger"

_CLAIM_SQLITE = f"""
UPDATE webhook_delivery
   SET status = 'delivering', claim_token = :token, next_attempt_at = :lease, updated_at = :now
 WHERE id IN (
       SELECT id FROM webhook_delivery
        WHERE status IN ('pending', 'delivering') AND next_attempt_at <= :cutoff {{exclude}}
        ORDER BY next_attempt_at
        LIMIT :limit)
RETURNING {_CLAIM_COLUMNS}
"""

_CLAIM_POSTGRES = f"""
WITH due AS (
    SELECT id FROM webhook_delivery
     WHERE status IN ('pending', 'delivering') AND next_attempt_at <= :cutoff {{exclude}}
     ORDER BY next_attempt_at
     LIMIT :limit
     FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE webhook_delivery d
       SET status = 'delivering', claim_token = :token, next_attempt_at = :lease, updated_at = :now
      FROM due WHERE d.id = due.id
    RETURNING d.{_CLAIM_COLUMNS.replace(", ", ", d.")}
)
SELECT claimed.*, e.type AS event_type, e.created_at AS event_created_at, e.data AS event_data
  FROM claimed JOIN event e ON e.id = claimed.event_id
"""

_EVENTS = "SELECT id, type, created_at, data FROM event WHERE id IN ({ids})"

_FINISH = sa.text("""
UPDATE webhook_delivery
   SET status = :status, attempts = attempts + 1, cycle_attempts = :cycle_attempts,
       next_attempt_at = :next_attempt_at, last_status_code = :status_code, last_error = :error,
       delivered_at = :delivered_at, claim_token = NULL, next_trigger = 'scheduled', updated_at = :now
 WHERE id = :id AND claim_token = :token
""")

# An attempt is recorded whenever its delivery still exists (a lease lost to another
# worker is still an attempt that happened); a delivery deleted meanwhile with
# `webhooks delete --force` has nothing left to attach it to.
_RECORD = sa.text("""
INSERT INTO delivery_attempt
       (id, delivery_id, webhook_id, attempt_number, "trigger", attempted_at, duration_ms,
        status_code, error, response_excerpt)
SELECT :aid, :id, :webhook_id, :attempt_number, :trigger, :attempted_at, :duration_ms,
       :status_code, :error, :excerpt
 WHERE EXISTS (SELECT 1 FROM webhook_delivery WHERE id = :exists_id)
""")

_RELEASE = sa.text("""
UPDATE webhook_delivery SET status = 'pending', next_attempt_at = :due, claim_token = NULL, updated_at = :now
 WHERE id = :id AND claim_token = :token AND status = 'delivering'
""")


@dataclass(slots=True)
class Claimed:
    id: str
    org_id: str
    event_id: str
    webhook_id: str | None
    kind: str
    attempts: int
    cycle_attempts: int
    trigger: str
    token: str
    event_type: str
    event_created_at: datetime
    event_data: dict[str, Any]

    @property
    def lane(self) -> str:
        """The fairness key: one endpoint, or one kind of integration job."""
        return self.webhook_id or self.kind


@dataclass(slots=True)
class Outcome:
    """What became of one attempt, ready to be written."""

    claimed: Claimed
    result: AttemptResult
    attempted_at: datetime
    status: str
    next_attempt_at: datetime | None
    disable_reason: str | None = None


def _exclude_clause(exclude: Sequence[str], params: dict[str, Any]) -> str:
    if not exclude:
        return ""
    names = []
    for i, webhook_id in enumerate(exclude):
        params[f"x{i}"] = webhook_id
        names.append(f":x{i}")
    return f"AND COALESCE(webhook_id, kind) NOT IN ({', '.join(names)})"


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str | bytes) else dict(value)


def claim(
    engine: Engine,
    *,
    limit: int,
    lease_seconds: float,
    now: datetime,
    cutoff: datetime | None = None,
    exclude_lanes: Sequence[str] = (),
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries (due at ``cutoff``, default now)."""
    token = _secrets.token_hex(12)
    params: dict[str, Any] = {
        "token": token,
        "lease": now + timedelta(seconds=lease_seconds),
        "now": now,
        "cutoff": cutoff or now,
        "limit": limit,
    }
    exclude = _exclude_clause(exclude_lanes, params)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(sa.text(_CLAIM_POSTGRES.format(exclude=exclude)), params).all()
            return [_claimed(r, token, r.event_type, r.event_created_at, r.event_data) for r in rows]
        rows = conn.execute(sa.text(_CLAIM_SQLITE.format(exclude=exclude)), params).all()
        if not rows:
            return []
        event_ids = sorted({r.event_id for r in rows})
        names = ", ".join(f":e{i}" for i in range(len(event_ids)))
        events = {
            e.id: e
            for e in conn.execute(sa.text(_EVENTS.format(ids=names)), {f"e{i}": v for i, v in enumerate(event_ids)})
        }
    return [_claimed(r, token, (e := events[r.event_id]).type, e.created_at, e.data) for r in rows]


def _claimed(r: Any, token: str, event_type: str, created: Any, data: Any) -> Claimed:
    if not isinstance(created, datetime):  # SQLite hands back text for raw SQL
        created = datetime.fromisoformat(created)
    return Claimed(
        r.id,
        r.org_id,
        r.event_id,
        r.webhook_id,
        r.kind,
        r.attempts,
        r.cycle_attempts,
        r.next_trigger,
        token,
        event_type,
        created,
        _json(data),
    )


def decide(
    claimed: Claimed,
    result: AttemptResult,
    *,
    policy: RetryPolicy,
    attempted_at: datetime,
    now: datetime,
    rng: Any = None,
) -> Outcome:
    """Apply the retry contract to one attempt's result (pure; no I/O)."""
    kind = classify(result.status_code, result.error)
    if kind == "success":
        return Outcome(claimed, result, attempted_at, SUCCEEDED, None)
    if kind == "gone":
        # 410: the receiver says the endpoint is gone. Disable it at once; the delivery
        # is held (not dropped) and flows again if an operator re-enables the endpoint.
        return Outcome(claimed, result, attempted_at, HELD, None, disable_reason="endpoint answered 410 Gone")
    delay = policy.delay_after(claimed.cycle_attempts + 1, rng=rng)
    if delay is None:
        return Outcome(claimed, result, attempted_at, FAILED, None)
    if result.status_code in (429, 503):
        delay = policy.retry_after_delay(delay, result.retry_after, now=now)
    return Outcome(claimed, result, attempted_at, PENDING, now + timedelta(seconds=delay))


def _excerpt(text: str | None) -> str | None:
    return text[:RESPONSE_EXCERPT_BYTES] if text else text


def finish(engine: Engine, outcomes: Sequence[Outcome], *, disable_after: int, now: datetime) -> list[str]:
    """Write a batch of outcomes in one transaction; return webhook IDs disabled by it."""
    if not outcomes:
        return []
    updates = []
    attempts = []
    for o in outcomes:
        c, r = o.claimed, o.result
        updates.append(
            {
                "id": c.id,
                "token": c.token,
                "status": o.status,
                "cycle_attempts": 0 if o.status == SUCCEEDED else c.cycle_attempts + 1,
                "next_attempt_at": o.next_attempt_at,
                "status_code": r.status_code,
                "error": r.error,
                "delivered_at": o.attempted_at if o.status == SUCCEEDED else None,
                "now": now,
            }
        )
        attempts.append(
            {
                "aid": new_id("att"),
                "id": c.id,
                "exists_id": c.id,
                "webhook_id": c.webhook_id,
                "attempt_number": c.attempts + 1,
                "trigger": c.trigger or TRIGGER_SCHEDULED,
                "attempted_at": o.attempted_at,
                "duration_ms": r.duration_ms,
                "status_code": r.status_code,
                "error": r.error,
                "excerpt": _excerpt(r.response_excerpt),
            }
        )
    disabled: list[str] = []
    with engine.begin() as conn:
        conn.execute(_FINISH, updates)
        conn.execute(_RECORD, attempts)
        disabled = _update_endpoint_health(conn, outcomes, disable_after=disable_after, now=now)
    return disabled


def _update_endpoint_health(
    conn: sa.Connection, outcomes: Iterable[Outcome], *, disable_after: int, now: datetime
) -> list[str]:
    """Consecutive-failure counters, in the order attempts completed, and auto-disable."""
    per_webhook: dict[str, list[Outcome]] = {}
    for o in outcomes:
        if o.claimed.webhook_id is not None:  # integration jobs have no endpoint health
            per_webhook.setdefault(o.claimed.webhook_id, []).append(o)
    reset_only: list[str] = []
    disabled: list[str] = []
    for webhook_id, items in per_webhook.items():
        trailing = 0
        had_success = False
        gone_reason = None
        for o in items:
            if o.status == SUCCEEDED:
                had_success, trailing = True, 0
            else:
                trailing += 1
                gone_reason = o.disable_reason or gone_reason
        if trailing == 0:
            reset_only.append(webhook_id)
            continue
        expr = ":n" if had_success else "consecutive_failures + :n"
        row = conn.execute(
            sa.text(
                f"UPDATE webhook SET consecutive_failures = {expr} WHERE id = :id "
                "RETURNING consecutive_failures, enabled"
            ),
            {"n": trailing, "id": webhook_id},
        ).first()
        if row is None or not row.enabled:
            continue
        reason = gone_reason
        if reason is None and row.consecutive_failures >= disable_after:
            last = items[-1].result
            reason = f"{row.consecutive_failures} consecutive failed attempts (last: {last.error or last.status_code})"
        if reason is not None:
            disable(conn, webhook_id, reason=reason, now=now)
            disabled.append(webhook_id)
    if reset_only:
        names = ", ".join(f":w{i}" for i in range(len(reset_only)))
        conn.execute(
            sa.text(f"UPDATE webhook SET consecutive_failures = 0 WHERE id IN ({names}) AND consecutive_failures <> 0"),
            {f"w{i}": w for i, w in enumerate(reset_only)},
        )
    return disabled


def disable(conn: sa.Connection, webhook_id: str, *, reason: str, now: datetime) -> int:
    """Disable an endpoint and hold its active deliveries (never drop them)."""
    conn.execute(
        sa.text(
            "UPDATE webhook SET enabled = :false, disabled_reason = :reason, disabled_at = :now, "
            "updated_at = :now WHERE id = :id"
        ),
        {"false": False, "reason": reason, "now": now, "id": webhook_id},
    )
    held = conn.execute(
        sa.text(
            f"UPDATE webhook_delivery SET status = '{HELD}', claim_token = NULL, updated_at = :now "
            f"WHERE webhook_id = :id AND status IN ('{PENDING}', '{DELIVERING}')"
        ),
        {"now": now, "id": webhook_id},
    )
    return int(held.rowcount or 0)


def hold(engine: Engine, claims: Sequence[Claimed], *, now: datetime) -> None:
    """Park claims whose endpoint turned out to be disabled (they wait for `enable`)."""
    if claims:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"UPDATE webhook_delivery SET status = '{HELD}', claim_token = NULL, updated_at = :now "
                    "WHERE id = :id AND claim_token = :token"
                ),
                [{"id": c.id, "token": c.token, "now": now} for c in claims],
            )


def release(engine: Engine, claims: Sequence[Claimed], *, now: datetime, due: datetime | None = None) -> None:
    """Give claims back unattempted (shutdown, or more than an endpoint's share): due
    again at ``due`` (default now; a sweep passes its cut-off so it still sees them)."""
    if claims:
        with engine.begin() as conn:
            conn.execute(_RELEASE, [{"id": c.id, "token": c.token, "now": now, "due": due or now} for c in claims])


def due_count(engine: Engine, *, now: datetime) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM webhook_delivery "
                    "WHERE status IN ('pending', 'delivering') AND next_attempt_at <= :now"
                ),
                {"now": now},
            ).scalar_one()
        )


def notify(conn: sa.Connection) -> None:
    """Wake idle Postgres workers (LISTEN); a no-op elsewhere. Call inside the
    transaction that created the work: NOTIFY is delivered on commit."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))
