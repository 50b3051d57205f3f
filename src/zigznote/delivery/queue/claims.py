"""Leasing deliveries: claim, hold, release, and how many are due.

A claim is a lease. Claiming sets ``status='delivering'``, a fresh ``claim_token`` and
``next_attempt_at`` = the lease's expiry; so an expired lease (a crashed worker) is
simply due again and is claimed by the same query.

Postgres claims with ``FOR UPDATE SKIP LOCKED`` (many workers never block on each
other's rows); SQLite with ``UPDATE … RETURNING`` inside ``BEGIN IMMEDIATE`` (the
engine's begin hook), which serialises claimers on the database lock.
"""

from __future__ import annotations

import json
import secrets as _secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from zigznote.store.models.delivery import HELD

_CLAIM_COLUMNS = "id, org_id, event_id, webhook_id, kind, attempts, cycle_attempts, next_trigger"

# The claim runs once per batch but returns up to a batch of rows: it goes to the driver
# as it is (``exec_driver_sql``, positional parameters in the order token, lease, now,
# cutoff, excluded lanes…, limit; rows as plain tuples), since SQLAlchemy's per-row Row
# objects and named parameters cost tens of µs per delivery. Written in the qmark style;
# ``_driver_sql`` gives psycopg's ``%s``.
_CLAIM_SQLITE = f"""
UPDATE webhook_delivery
   SET status = 'delivering', claim_token = ?, next_attempt_at = ?, updated_at = ?
 WHERE id IN (
       SELECT id FROM webhook_delivery
        WHERE status IN ('pending', 'delivering') AND next_attempt_at <= ? {{exclude}}
        ORDER BY next_attempt_at
        LIMIT ?)
RETURNING {_CLAIM_COLUMNS}
"""

_CLAIM_POSTGRES = f"""
WITH due AS (
    SELECT id FROM webhook_delivery
     WHERE status IN ('pending', 'delivering') AND next_attempt_at <= ? {{exclude}}
     ORDER BY next_attempt_at
     LIMIT ?
     FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE webhook_delivery d
       SET status = 'delivering', claim_token = ?, next_attempt_at = ?, updated_at = ?
      FROM due WHERE d.id = due.id
    RETURNING d.{_CLAIM_COLUMNS.replace(", ", ", d.")}
)
SELECT claimed.*, e.type, e.created_at, e.data
  FROM claimed JOIN event e ON e.id = claimed.event_id
"""

_EVENTS = "SELECT id, type, created_at, data FROM event WHERE id IN ({ids})"


def _driver_sql(conn: sa.Connection, sql: str) -> str:
    """``sql`` (qmark style) in the paramstyle of ``conn``'s driver."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


class UnreadableData:
    """Stored event data that cannot be parsed as JSON (a bad row written around the API).

    It stands in for the data so the claim (and its batch) goes on: building the request
    body refuses it, and its delivery fails its attempts like any poison message.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"UnreadableData({self.reason!r})"


_RELEASE = sa.text("""
UPDATE webhook_delivery SET status = 'pending', next_attempt_at = :due, claim_token = NULL, updated_at = :now
 WHERE id = :id AND claim_token = :token AND status = 'delivering'
""")


@dataclass(slots=True)
class Claimed:
    """One leased delivery (or integration job) with its event, ready to be attempted.

    ``token`` is the lease: finishing, holding or releasing requires it. ``attempts``
    counts every attempt ever made, ``cycle_attempts`` those of the current retry cycle.
    ``event_data`` is the event's data as parsed from the store: normally a dict; anything
    else (a list, a number, ``UnreadableData``) is refused when the body is built, so that
    one row fails its attempts instead of the claim. Claims of one event share one object.
    """

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
    event_data: Any

    @property
    def lane(self) -> str:
        """The fairness key: one endpoint, or one kind of integration job."""
        return self.webhook_id or self.kind


def _exclude_clause(exclude: Sequence[str]) -> str:
    if not exclude:
        return ""
    return f"AND COALESCE(webhook_id, kind) NOT IN ({', '.join(['?'] * len(exclude))})"


def _parse(value: Any) -> Any:
    """Event data as SQLite stores it (JSON text) → Python; what does not parse becomes
    ``UnreadableData`` (one bad row must not fail the claim of a whole batch)."""
    if not isinstance(value, str | bytes):
        return value  # numeric text comes back as a number (the column's numeric affinity)
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        return UnreadableData(f"{type(exc).__name__}: {exc}"[:300])


def _created(value: Any) -> datetime:
    # SQLite hands back text for raw SQL; a value that is not a time fails like bad data.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def claim(
    engine: Engine,
    *,
    limit: int,
    lease_seconds: float,
    now: datetime,
    cutoff: datetime | None = None,
    exclude_lanes: Sequence[str] = (),
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries (due at ``cutoff``, default now), oldest due first,
    leaving out the lanes in ``exclude_lanes`` (webhook IDs or job kinds).

    Each event's data is parsed once per claim, however many endpoints' deliveries carry it.
    """
    token = _secrets.token_hex(12)
    lease = now + timedelta(seconds=lease_seconds)
    exclude = _exclude_clause(exclude_lanes)
    # Event columns by event ID: (type, created_at, parsed data).
    events: dict[str, tuple[str, datetime, Any]] = {}
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            sql = _driver_sql(conn, _CLAIM_POSTGRES.format(exclude=exclude))
            params = (cutoff or now, *exclude_lanes, limit, token, lease, now)
            rows = conn.exec_driver_sql(sql, params).fetchall()
            for r in rows:
                if r[2] not in events:  # psycopg has parsed the JSON already
                    events[r[2]] = (r[8], _created(r[9]), r[10])
        else:
            sql = _CLAIM_SQLITE.format(exclude=exclude)
            rows = conn.exec_driver_sql(sql, (token, lease, now, cutoff or now, *exclude_lanes, limit)).fetchall()
            if not rows:
                return []
            event_ids = list({r[2] for r in rows})
            found = conn.exec_driver_sql(_EVENTS.format(ids=", ".join(["?"] * len(event_ids))), tuple(event_ids))
            for event_id, type_, created, data in found:
                events[event_id] = (type_, _created(created), _parse(data))
    # Columns: id, org_id, event_id, webhook_id, kind, attempts, cycle_attempts, next_trigger.
    claimed = []
    for r in rows:
        type_, created, data = events[r[2]]
        claimed.append(Claimed(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], token, type_, created, data))
    return claimed


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
    """How many deliveries and jobs are due (pending or with an expired lease) at ``now``."""
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
