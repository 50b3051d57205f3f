"""The link store: which HubSpot object stands for which meeting, action item or participant
(table ``integration_link``, see :class:`zigznote.store.models.link.IntegrationLink`).

Every function runs its own short transaction and commits before returning: a link row is
the sync's memory across crashes, so it must be durable *before* the HubSpot call it
prepares (:func:`reserve`) and right after the answer it records (:func:`record`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from zigznote.errors import Conflict
from zigznote.store.engine import Database
from zigznote.store.models import IntegrationLink, table_of
from zigznote.timeutil import iso, utcnow
from zigznote.untrusted import storable_text

__all__ = [
    "LOCAL_ASSOCIATION",
    "Lease",
    "Link",
    "Reservation",
    "acquire",
    "forget",
    "read",
    "record",
    "reserve",
    "unlink",
]

#: ``local_type`` of a remembered association (see ``services/hubspot/associations.py``): a
#: row per (object, contact) pair, not a link of a local thing.
LOCAL_ASSOCIATION = "association"

#: How long a sync's lease lasts without renewal (renewed before each write step): a crashed
#: sync blocks the next sync of the same meeting at most this long.
LEASE_SECONDS = 300.0
#: How long a sync waits for another sync of the same meeting to finish.
LEASE_WAIT = 60.0


@dataclass(frozen=True)
class Link:
    """One stored link (see the model). ``remote_id`` None: creation was prepared and may or
    may not have happened; look the object up by ``external_key`` before creating it."""

    local_type: str
    local_key: str
    remote_type: str
    remote_id: str | None
    external_key: str
    synced_at: datetime | None


@dataclass(frozen=True)
class Reservation:
    """A link to write before creating its object: what :func:`reserve` takes."""

    local_type: str
    local_key: str
    remote_type: str
    external_key: str


def _table() -> sa.Table:
    return table_of(IntegrationLink)


def read(
    db: Database, *, org_id: str, provider: str, local_type: str, keys: Iterable[str] | None = None, prefix: str = ""
) -> dict[str, Link]:
    """``local_key -> Link`` of one organization, provider and local type: the ``keys``
    given (None: every key starting with ``prefix``, e.g. ``"<meeting ID>:"`` for the action
    items of one meeting)."""
    t = _table()
    query = sa.select(t).where(t.c.org_id == org_id, t.c.provider == provider, t.c.local_type == local_type)
    if keys is not None:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        query = query.where(t.c.local_key.in_(wanted))
    elif prefix:
        # The keys are ours (IDs, hex, emails): no LIKE wildcards to escape except "_" and "%",
        # which an email may hold; startswith escapes them.
        query = query.where(t.c.local_key.startswith(prefix, autoescape=True))
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        r.local_key: Link(r.local_type, r.local_key, r.remote_type, r.remote_id, r.external_key, r.synced_at)
        for r in rows
    }


def reserve(db: Database, *, org_id: str, provider: str, links: Sequence[Reservation]) -> None:
    """Insert the links that do not exist yet (``remote_id`` NULL), committed before this
    returns. An existing row (another run's, or a concurrent one's) is left as it is."""
    if not links:
        return
    now = utcnow()
    statement = sa.text(
        "INSERT INTO integration_link (org_id, provider, local_type, local_key, remote_type, remote_id, "
        "external_key, synced_at, created_at, updated_at) VALUES (:org_id, :provider, :local_type, :local_key, "
        ":remote_type, NULL, :external_key, NULL, :now, :now) "
        "ON CONFLICT (org_id, provider, local_type, local_key) DO NOTHING"
    )
    params = [
        {
            "org_id": org_id,
            "provider": provider,
            "local_type": r.local_type,
            "local_key": r.local_key,
            "remote_type": r.remote_type,
            "external_key": r.external_key,
            "now": now,
        }
        for r in links
    ]
    with db.engine.begin() as conn:
        conn.execute(statement, params)


def record(
    db: Database,
    *,
    org_id: str,
    provider: str,
    local_type: str,
    results: Sequence[tuple[str, str | None, bool]],
    remote_type: str,
    external_keys: dict[str, str] | None = None,
) -> None:
    """Store what HubSpot answered, one ``(local_key, remote_id, synced)`` per object, in one
    committed transaction: ``remote_id`` (made storable; None keeps the stored one) and,
    when ``synced``, ``synced_at`` = now. A row that does not exist yet is inserted (contacts
    found by email are linked without a reservation); ``external_keys`` gives its
    ``external_key`` (default: the local key)."""
    if not results:
        return
    t = _table()
    now = utcnow()
    keys = external_keys or {}
    with db.engine.begin() as conn:
        for local_key, remote_id, synced in results:
            clean = storable_text(remote_id, max_chars=64) if remote_id is not None else None
            values: dict[str, object] = {"updated_at": now}
            if clean is not None:
                values["remote_id"] = clean
            if synced:
                values["synced_at"] = now
            where = (
                t.c.org_id == org_id,
                t.c.provider == provider,
                t.c.local_type == local_type,
                t.c.local_key == local_key,
            )
            if conn.execute(sa.update(t).where(*where).values(**values)).rowcount:
                continue
            conn.execute(
                sa.insert(t).values(
                    org_id=org_id,
                    provider=provider,
                    local_type=local_type,
                    local_key=local_key,
                    remote_type=remote_type,
                    remote_id=clean,
                    external_key=keys.get(local_key, local_key),
                    synced_at=now if synced else None,
                    created_at=now,
                    updated_at=now,
                )
            )


def unlink(db: Database, *, org_id: str, provider: str, local_type: str, keys: Sequence[str]) -> None:
    """Forget the remote IDs of ``keys`` (their objects were deleted in the provider), committed:
    the rows go back to "prepared", so a crash while they are created again is recovered by
    their external keys like any first creation."""
    if not keys:
        return
    t = _table()
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(
                t.c.org_id == org_id,
                t.c.provider == provider,
                t.c.local_type == local_type,
                t.c.local_key.in_(list(keys)),
            )
            .values(remote_id=None, updated_at=utcnow())
        )


def forget(db: Database, *, org_id: str, provider: str) -> int:
    """Delete every link of the organization with ``provider`` (a disconnect, or a connect to
    another account whose objects these are not); how many links of meetings, action items and
    contacts went (remembered associations go too, uncounted)."""
    t = _table()
    mine = (t.c.org_id == org_id, t.c.provider == provider)
    with db.engine.begin() as conn:
        counted = conn.execute(
            sa.select(sa.func.count()).select_from(t).where(*mine, t.c.local_type != LOCAL_ASSOCIATION)
        ).scalar()
        conn.execute(sa.delete(t).where(*mine))
    return int(counted or 0)


@dataclass(frozen=True)
class Lease:
    """A sync's hold on one link row (see :func:`acquire`)."""

    db: Database
    org_id: str
    provider: str
    local_type: str
    local_key: str
    token: str

    def _where(self, t: sa.Table) -> tuple[sa.ColumnElement[bool], ...]:
        return (
            t.c.org_id == self.org_id,
            t.c.provider == self.provider,
            t.c.local_type == self.local_type,
            t.c.local_key == self.local_key,
            t.c.lease_token == self.token,
        )

    def renew(self, seconds: float = LEASE_SECONDS) -> None:
        """Extend the lease; Conflict (``sync_lease_lost``) when another sync took it over
        (this one ran past its lease): stop before writing anything more."""
        t = _table()
        until = utcnow() + timedelta(seconds=seconds)
        with self.db.engine.begin() as conn:
            held = conn.execute(sa.update(t).where(*self._where(t)).values(lease_until=until)).rowcount
        if not held:
            raise Conflict(
                "another sync of this meeting took over after this one ran past its lease; stopped",
                hint="run the sync again once the other one has finished",
                code="sync_lease_lost",
            )

    def release(self) -> None:
        """Give the lease up (nothing happens when it was taken over meanwhile)."""
        t = _table()
        with self.db.engine.begin() as conn:
            conn.execute(sa.update(t).where(*self._where(t)).values(lease_until=None, lease_token=None))


def acquire(
    db: Database,
    *,
    org_id: str,
    provider: str,
    link: Reservation,
    seconds: float = LEASE_SECONDS,
    wait: float = LEASE_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> Lease:
    """Take the lease on ``link``'s row (reserved first if it does not exist), waiting up to
    ``wait`` seconds while another sync holds it. A conditional UPDATE (free, or expired) is
    atomic on SQLite and Postgres alike, so of two syncs of one meeting exactly one runs at a
    time, in any process. Raises Conflict (exit 4, ``sync_in_progress``) when the wait runs out."""
    reserve(db, org_id=org_id, provider=provider, links=[link])
    t = _table()
    token = secrets.token_hex(16)
    where = (
        t.c.org_id == org_id,
        t.c.provider == provider,
        t.c.local_type == link.local_type,
        t.c.local_key == link.local_key,
    )
    deadline = time.monotonic() + wait
    while True:
        now = utcnow()
        free = sa.or_(t.c.lease_until.is_(None), t.c.lease_until < now)
        values = {"lease_until": now + timedelta(seconds=seconds), "lease_token": token}
        with db.engine.begin() as conn:
            if conn.execute(sa.update(t).where(*where, free).values(**values)).rowcount:
                return Lease(db, org_id, provider, link.local_type, link.local_key, token)
            until = conn.execute(sa.select(t.c.lease_until).where(*where)).scalar()
        if time.monotonic() >= deadline:
            lasts = f" (its lease lasts until {iso(until)})" if until is not None else ""
            raise Conflict(
                f"another sync of this meeting is running{lasts}",
                hint="wait for it to finish and run the sync again (a crashed sync's lease runs out by itself)",
                code="sync_in_progress",
            )
        sleep(0.25)
