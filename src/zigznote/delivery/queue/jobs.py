"""Integration-job rows: building them, inserting them without duplicates, holding and
releasing a kind for an organization.

A job is a ``webhook_delivery`` row with ``webhook_id`` NULL, its own ``kind`` and a
``target``. ``dedupe_key = "<event id>/<kind>/<target>"`` is UNIQUE, so the same job can
never be queued twice (the (event, webhook) constraint cannot dedupe rows whose webhook
is NULL).

A handler answering "gone" (410: integration revoked, re-connect needed) holds the job,
the organization's other active jobs of that kind, and every job of that kind enqueued
later, until the cause is fixed. The hold is remembered in the organization's settings
(``settings["held_jobs"][kind] = {"reason", "since"}``) so fan-out can queue new jobs as
``held`` without a query over the delivery table; :func:`release` clears it.

A handler may keep a small JSON state per job between its attempts (``job_state``;
:func:`read_job`, :func:`save_state`), e.g. the Slack messages already posted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from zigznote.delivery.queue.rows import delivery_row
from zigznote.store.models import Delivery, Organization, table_of
from zigznote.store.models.delivery import DELIVERING, HELD, PENDING, TRIGGER_MANUAL, JobState
from zigznote.timeutil import iso

if TYPE_CHECKING:
    from zigznote.delivery.queue import Outcome

#: Where holds live in ``organization.settings``.
HELD_KEY = "held_jobs"

_COLUMNS = (
    "id",
    "org_id",
    "event_id",
    "webhook_id",
    "kind",
    "target",
    "dedupe_key",
    "status",
    "attempts",
    "cycle_attempts",
    "next_trigger",
    "next_attempt_at",
    "claim_token",
    "last_status_code",
    "last_error",
    "delivered_at",
    "created_at",
    "updated_at",
)
# SQLite (3.24+) and Postgres share this spelling; a duplicate key inserts nothing.
_INSERT_IGNORE = sa.text(
    f"INSERT INTO webhook_delivery ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
    "ON CONFLICT (dedupe_key) DO NOTHING"
)


def dedupe_key(event_id: str, kind: str, target: str) -> str:
    """The UNIQUE key of one job: one per (event, kind, target)."""
    return f"{event_id}/{kind}/{target}"


def job_row(
    *, org_id: str, event_id: str, kind: str, target: str, now: datetime, status: str = PENDING
) -> dict[str, Any]:
    """A complete ``webhook_delivery`` row for one job, due ``now`` (every column set, so
    rows can go through ``executemany``/COPY together)."""
    return delivery_row(
        org_id=org_id,
        event_id=event_id,
        now=now,
        kind=kind,
        target=target,
        dedupe_key=dedupe_key(event_id, kind, target),
        status=status,
    )


def insert_new(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Insert job rows, skipping any whose dedupe key exists; returns the IDs inserted."""
    inserted = []
    for row in rows:
        result = conn.execute(_INSERT_IGNORE, dict(row))
        if result.rowcount:
            inserted.append(str(row["id"]))
    return inserted


def read_settings(conn: sa.Connection, org_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    """The organization's settings (a copy), None if there is no such organization; ``lock``
    for a read-modify-write."""
    org = table_of(Organization)
    query = sa.select(org.c.settings).where(org.c.id == org_id)
    if lock and conn.dialect.name == "postgresql":
        # Read-modify-write of the JSON document: serialise with other writers of this org's
        # settings (SQLite's BEGIN IMMEDIATE already does).
        query = query.with_for_update()
    found = conn.execute(query).first()
    if found is None:
        return None
    value = found[0]
    return dict(value) if isinstance(value, Mapping) else {}


def write_settings(conn: sa.Connection, org_id: str, settings: Mapping[str, Any], *, now: datetime) -> None:
    org = table_of(Organization)
    conn.execute(sa.update(org).where(org.c.id == org_id).values(settings=dict(settings), updated_at=now))


def held_kinds(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``kind -> {"reason", "since"}`` of the kinds held for an organization."""
    held = settings.get(HELD_KEY)
    if not isinstance(held, Mapping):
        return {}
    return {k: dict(v) for k, v in held.items() if isinstance(v, Mapping)}


def _update_jobs(org_id: str, kind: str, statuses: tuple[str, ...]) -> sa.Update:
    """An UPDATE of the organization's ``kind`` jobs (never webhook deliveries) in ``statuses``."""
    table = table_of(Delivery)
    return sa.update(table).where(
        table.c.org_id == org_id,
        table.c.kind == kind,
        table.c.webhook_id.is_(None),
        table.c.status.in_(statuses),
    )


def hold(conn: sa.Connection, org_id: str, kind: str, *, reason: str, now: datetime) -> int:
    """Hold ``kind`` for the organization: its active jobs become ``held`` (claims voided,
    like a disabled endpoint's) and later ones are queued held. Returns rows held."""
    settings = read_settings(conn, org_id, lock=True)
    if settings is None:
        return 0  # the organization was deleted meanwhile: nothing left to hold
    held = held_kinds(settings)
    if kind not in held:
        held[kind] = {"reason": reason, "since": iso(now)}
        settings[HELD_KEY] = held
        write_settings(conn, org_id, settings, now=now)
    result = conn.execute(
        _update_jobs(org_id, kind, (PENDING, DELIVERING)).values(status=HELD, claim_token=None, updated_at=now)
    )
    return int(result.rowcount or 0)


def hold_gone(conn: sa.Connection, outcomes: Iterable[Outcome], *, now: datetime) -> int:
    """For ``queue.finish``: hold the kind of every job whose outcome in this batch is
    ``held`` (its handler answered "gone"). Returns the other rows held."""
    seen: dict[tuple[str, str], str] = {}
    for o in outcomes:
        if o.claimed.webhook_id is None and o.status == HELD:
            seen.setdefault((o.claimed.org_id, o.claimed.kind), o.result.error or "integration gone")
    return sum(hold(conn, org_id, kind, reason=reason, now=now) for (org_id, kind), reason in seen.items())


def release(conn: sa.Connection, org_id: str, kind: str, *, now: datetime) -> int:
    """Lift the hold of ``kind``: held jobs become pending, due now, with a fresh retry
    cycle. Returns how many rows were released (0 if nothing was held)."""
    # Rows first, then the organization row: `hold` (inside queue.finish) takes them the
    # other way round but never waits for rows that are held, so the two cannot deadlock.
    result = conn.execute(
        _update_jobs(org_id, kind, (HELD,)).values(
            status=PENDING,
            next_attempt_at=now,
            cycle_attempts=0,
            next_trigger=TRIGGER_MANUAL,
            claim_token=None,
            updated_at=now,
        )
    )
    settings = read_settings(conn, org_id, lock=True)
    if settings is not None:
        held = held_kinds(settings)
        if held.pop(kind, None) is not None:
            settings[HELD_KEY] = held
            write_settings(conn, org_id, settings, now=now)
    return int(result.rowcount or 0)


# ---------------------------------------------------------------------------------------------
# Handler state between attempts
# ---------------------------------------------------------------------------------------------


def read_job(conn: sa.Connection, job_id: str) -> tuple[str | None, dict[str, Any]] | None:
    """``(target, state)`` of a job (state ``{}`` when none is stored); None if the row is gone."""
    d, s = table_of(Delivery), table_of(JobState)
    query = sa.select(d.c.target, s.c.state).select_from(d.outerjoin(s, s.c.delivery_id == d.c.id))
    found = conn.execute(query.where(d.c.id == job_id)).first()
    if found is None:
        return None
    state = found[1]
    return found[0], dict(state) if isinstance(state, Mapping) else {}


def save_state(conn: sa.Connection, job_id: str, claim_token: str, state: Mapping[str, Any], *, now: datetime) -> bool:
    """Store a job's handler state, only while ``claim_token`` still holds the job's lease.

    Returns False (nothing written) when the lease was lost (it expired and another claim
    took the job, or it was held or deleted): the caller must then stop acting on the job,
    since another worker may be running it. The job row is locked first (Postgres FOR UPDATE;
    SQLite transactions hold the write lock), so writers of one job's state never interleave.
    """
    d, s = table_of(Delivery), table_of(JobState)
    owned = sa.select(d.c.id).where(d.c.id == job_id, d.c.claim_token == claim_token, d.c.status == DELIVERING)
    if conn.execute(owned.with_for_update()).first() is None:
        return False
    values = {"state": dict(state), "updated_at": now}
    if not conn.execute(sa.update(s).where(s.c.delivery_id == job_id).values(**values)).rowcount:
        conn.execute(sa.insert(s).values(delivery_id=job_id, **values))
    return True
