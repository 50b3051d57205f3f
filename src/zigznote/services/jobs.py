"""Integration jobs: enqueueing (with a dedupe key), fan-out on emit, the per-organization
rules that drive fan-out, and releasing a held kind.

History, retry and replay of jobs are in ``services/job_history.py``. The handler contract
and the registry are documented in ``delivery/handlers.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from zigznote.delivery import handlers
from zigznote.delivery.queue import jobs as qjobs
from zigznote.delivery.queue import notify, views
from zigznote.errors import InvalidInput, NotFound
from zigznote.services import orgs
from zigznote.store.engine import Database
from zigznote.store.models import Organization, table_of
from zigznote.store.models.delivery import HELD, PENDING
from zigznote.timeutil import iso, utcnow
from zigznote.webhooks import events as catalog

MAX_TARGETS = 20
MAX_TARGETS_PER_EVENT = 50  # a misbehaving custom rule cannot flood the queue from one event


def _conn(session_or_conn: Session | sa.Connection) -> sa.Connection:
    return session_or_conn.connection() if isinstance(session_or_conn, Session) else session_or_conn


def enqueue(
    session_or_conn: Session | sa.Connection, *, org_id: str, event_id: str, kind: str, target: str
) -> str | None:
    """Queue one job in the caller's transaction; returns its ID, or None when the same
    (event, kind, target) is already queued (the UNIQUE dedupe key refuses duplicates).

    Held if the organization's ``kind`` is held (integration gone). Raises InvalidInput
    for a malformed kind or target.
    """
    handlers.validate_kind(kind)
    target = validate_target(target)
    conn = _conn(session_or_conn)
    now = utcnow()
    settings = qjobs.read_settings(conn, org_id)
    if settings is None:
        raise NotFound(f"organization {org_id!r} not found", code="org_not_found")
    status = HELD if kind in qjobs.held_kinds(settings) else PENDING
    row = qjobs.job_row(org_id=org_id, event_id=event_id, kind=kind, target=target, now=now, status=status)
    inserted = qjobs.insert_new(conn, [row])
    if inserted and status == PENDING:
        notify(conn)
    return inserted[0] if inserted else None


def fan_out_rows(conn: sa.Connection, events: Sequence[Mapping[str, Any]], *, now: datetime) -> list[dict[str, Any]]:
    """The job rows that newly emitted events ask for under their organizations' rules.

    ``events`` are event rows (``id``, ``org_id``, ``type``, ``data``) being inserted in
    ``conn``'s transaction; the caller inserts the returned rows in the same transaction
    (after the events). One settings read per organization. Event IDs are new, so the
    dedupe keys cannot collide with existing rows; repeated targets are dropped here.
    """
    org_ids = sorted({str(e["org_id"]) for e in events})
    if not org_ids:
        return []
    org = table_of(Organization)
    settings_of: dict[str, dict[str, Any]] = {}
    for org_id, value in conn.execute(sa.select(org.c.id, org.c.settings).where(org.c.id.in_(org_ids))):
        if isinstance(value, Mapping) and isinstance(value.get(handlers.SETTINGS_KEY), Mapping):
            settings_of[org_id] = dict(value)
    rows: list[dict[str, Any]] = []
    if not settings_of:
        return rows  # the common case: no organization has job rules
    for event in events:
        settings = settings_of.get(str(event["org_id"]))
        if settings is None:
            continue
        held = qjobs.held_kinds(settings)
        for kind in settings[handlers.SETTINGS_KEY]:
            try:
                targets = handlers.rule_for(kind)(settings, str(event["type"]), event["data"])
            except Exception as exc:  # a broken custom rule must name itself, not fail as a bug
                raise InvalidInput(
                    f"the fan-out rule of job kind {kind!r} failed: {type(exc).__name__}: {exc}",
                    hint=f"fix the rule, or `zigznote jobs rules unset {kind}`",
                    code="fanout_rule_failed",
                ) from None
            status = HELD if kind in held else PENDING
            for target in list(dict.fromkeys(targets))[:MAX_TARGETS_PER_EVENT]:
                rows.append(
                    qjobs.job_row(
                        org_id=str(event["org_id"]),
                        event_id=str(event["id"]),
                        kind=kind,
                        target=target[: handlers.MAX_TARGET],
                        now=now,
                        status=status,
                    )
                )
    return rows


# ---------------------------------------------------------------------------------------------
# Holding and releasing
# ---------------------------------------------------------------------------------------------


def release_held(db: Database, org_ref: str, kind: str) -> int:
    """Release the organization's held jobs of ``kind`` (call it from the action that fixes
    the cause, e.g. a successful re-connect). Returns how many jobs are due again."""
    return int(release(db, org_ref, kind)["released"])


def release(db: Database, org_ref: str, kind: str) -> dict[str, Any]:
    """``zigznote jobs release KIND``: lift the hold of a kind and queue its held jobs now."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        conn = session.connection()
        require_kind(conn, org.id, kind)
        was = qjobs.held_kinds(qjobs.read_settings(conn, org.id) or {}).get(kind)
        released = qjobs.release(conn, org.id, kind, now=utcnow())
        if released:
            notify(conn)
        return {
            "org_id": org.id,
            "kind": kind,
            "was_held": was is not None,
            "held_reason": (was or {}).get("reason"),
            "held_since": (was or {}).get("since"),
            "released": released,
        }


# ---------------------------------------------------------------------------------------------
# Rules (organization.settings["jobs"])
# ---------------------------------------------------------------------------------------------


def validate_target(target: str) -> str:
    """A job target (channel, portal, …): 1-200 printable characters."""
    text = target.strip() if isinstance(target, str) else ""
    if not text or len(text) > handlers.MAX_TARGET or not text.isprintable():
        raise InvalidInput(
            f"invalid job target {target!r}",
            hint="a target is 1-200 printable characters, such as a channel ID",
            code="invalid_target",
        )
    return text


def require_kind(conn: sa.Connection, org_id: str, kind: str) -> str:
    """A kind that commands may act on: one with a handler in this build, or one the organization
    already has jobs of, or holds (so history of a kind no longer built in stays reachable).

    Raises InvalidInput (exit 2, code ``unknown_job_kind``) otherwise: a typo must not pass
    silently as "nothing to do".
    """
    handlers.validate_kind(kind)
    if kind in handlers.kinds() or kind in qjobs.held_kinds(qjobs.read_settings(conn, org_id) or {}):
        return kind
    if views.has_jobs_of_kind(conn, org_id=org_id, kind=kind):
        return kind
    return _known_kind(kind)


def _known_kind(kind: str) -> str:
    handlers.validate_kind(kind)
    known = handlers.kinds()
    if kind not in known:
        names = ", ".join(sorted(known)) or "none in this build"
        raise InvalidInput(
            f"unknown job kind {kind!r}",
            hint=f"kinds with a handler: {names} (integrations register their kinds when they are added)",
            code="unknown_job_kind",
        )
    return kind


def _rule_public(kind: str, entry: Mapping[str, Any], held: Mapping[str, Any]) -> dict[str, Any]:
    hold = held.get(kind) or {}
    return {
        "kind": kind,
        "events": list(entry.get("events") or []),
        "targets": list(entry.get("targets") or []),
        "held": bool(hold),
        "held_reason": hold.get("reason"),
        "held_since": hold.get("since"),
    }


def list_rules(db: Database, org_ref: str) -> list[dict[str, Any]]:
    """The organization's job rules, with each kind's hold (if its integration is gone)."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        settings = qjobs.read_settings(session.connection(), org.id) or {}
        rules = settings.get(handlers.SETTINGS_KEY)
        rules = rules if isinstance(rules, Mapping) else {}
        held = qjobs.held_kinds(settings)
        out = [_rule_public(k, v, held) for k, v in sorted(rules.items()) if isinstance(v, Mapping)]
        # A held kind whose rule was removed still has held jobs: show it.
        out += [_rule_public(k, {}, held) for k in sorted(held) if k not in rules]
        return out


def set_rule(db: Database, org_ref: str, kind: str, *, events: str, targets: Sequence[str]) -> dict[str, Any]:
    """Emitted events of the given types enqueue one ``kind`` job per target.

    ``events`` is a comma list of catalog types or ``*``. Raises InvalidInput (exit 2) for
    an unknown kind or type and for bad targets; NotFound for an unknown organization.
    """
    _known_kind(kind)
    types = catalog.parse_subscription(events)
    clean = list(dict.fromkeys(validate_target(t) for t in targets))
    if not clean:
        raise InvalidInput("give at least one --target", code="invalid_target")
    if len(clean) > MAX_TARGETS:
        raise InvalidInput(f"at most {MAX_TARGETS} targets per kind", code="too_many_targets")
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        conn = session.connection()
        settings = qjobs.read_settings(conn, org.id, lock=True) or {}
        rules = dict(settings.get(handlers.SETTINGS_KEY) or {})
        rules[kind] = {"events": types, "targets": clean}
        settings[handlers.SETTINGS_KEY] = rules
        qjobs.write_settings(conn, org.id, settings, now=utcnow())
        return _rule_public(kind, rules[kind], qjobs.held_kinds(settings))


def unset_rule(db: Database, org_ref: str, kind: str) -> dict[str, Any]:
    """Stop fanning out ``kind`` (queued jobs stay queued). NotFound if there is no rule."""
    handlers.validate_kind(kind)
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        conn = session.connection()
        settings = qjobs.read_settings(conn, org.id, lock=True) or {}
        rules = dict(settings.get(handlers.SETTINGS_KEY) or {})
        if kind not in rules:
            raise NotFound(
                f"no job rule for {kind!r} in this organization",
                hint="`zigznote jobs rules` lists them",
                code="job_rule_not_found",
            )
        del rules[kind]
        settings[handlers.SETTINGS_KEY] = rules
        qjobs.write_settings(conn, org.id, settings, now=utcnow())
        return {"kind": kind, "removed": True, "at": iso(utcnow())}
