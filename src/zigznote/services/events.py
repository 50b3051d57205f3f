"""Events: the catalog, emitting (with fan-out to subscribed webhooks), and history.

Emitting is the write hot path: one event can fan out to every webhook of its org, and a
JSON Lines import can carry tens of thousands of events. Everything is validated first,
then written in one transaction with the queue's bulk inserts (``delivery/queue/admin.py``:
COPY on Postgres, ``executemany`` elsewhere), so a bad line writes nothing and a good batch
costs a few statements instead of one ORM flush per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from zigznote.delivery.queue import admin, views
from zigznote.delivery.queue.rows import delivery_row
from zigznote.errors import InvalidInput, NotFound, ZigznoteError
from zigznote.ids import new_id, require
from zigznote.services import jobs, orgs
from zigznote.services.records import decode_utf8, parse_jsonl
from zigznote.services.webhooks import delivery_public
from zigznote.store.engine import Database
from zigznote.store.models import Event, Organization, Webhook
from zigznote.store.models.delivery import HELD, PENDING
from zigznote.timeutil import iso, parse_since, utcnow
from zigznote.untrusted import load_json
from zigznote.webhooks import events as catalog

_LINE_KEYS = {"type", "data", "org"}


def types() -> list[dict[str, Any]]:
    """The event catalog (no database needed)."""
    return [
        {"name": e.name, "description": e.description, "required": list(e.required), "example": e.example}
        for e in catalog.CATALOG.values()
    ]


def public(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "org_id": event.org_id,
        "created_at": iso(event.created_at),
        "data": event.data,
    }


def _event_error(exc: InvalidInput, where: str | None = None) -> InvalidInput:
    # validate_event uses the generic code for malformed data; give scripts a specific one.
    code = "invalid_event" if exc.code == InvalidInput.code else exc.code
    message = f"{where}: {exc.message}" if where else exc.message
    return InvalidInput(message, hint=exc.hint, code=code)


def parse_data(raw: bytes) -> Any:
    """The ``--data`` document: JSON text (from the option, a file or stdin).

    Refused with InvalidInput (exit 2) and a position, before anything is stored: not UTF-8,
    lone surrogates, nesting deeper than ``MAX_JSON_DEPTH``, NaN/Infinity, a syntax error.
    """
    if len(raw) > 4 * catalog.MAX_PAYLOAD_BYTES:
        # Refuse absurd input before parsing it; validate_event gives the exact size for the rest.
        raise InvalidInput(
            f"event data is over {catalog.MAX_PAYLOAD_BYTES:,} bytes (256 KB)",
            hint="send large content (such as full transcripts) as a URL instead of inline",
            code="payload_too_large",
        )
    return load_json(raw, where="event data", hint='for example --data \'{"meeting_id": "m-1"}\'')


class _Subscribers:
    """Per org: which enabled/disabled webhooks take each event type (computed once per type)."""

    def __init__(self, session: Session, org_ids: Sequence[str]) -> None:
        rows = session.exec(
            select(Webhook.id, Webhook.org_id, Webhook.event_types, Webhook.enabled)
            .where(col(Webhook.org_id).in_(list(org_ids)))
            .order_by(col(Webhook.id))
        ).all()
        self._hooks: dict[str, list[tuple[str, list[str], bool]]] = {}
        for wh_id, org_id, event_types, enabled in rows:
            self._hooks.setdefault(org_id, []).append((wh_id, list(event_types), bool(enabled)))
        self._cache: dict[tuple[str, str], list[tuple[str, bool]]] = {}

    def of(self, org_id: str, type_: str) -> list[tuple[str, bool]]:
        key = (org_id, type_)
        found = self._cache.get(key)
        if found is None:
            found = [
                (wh_id, enabled)
                for wh_id, subscribed, enabled in self._hooks.get(org_id, [])
                if catalog.matches(subscribed, type_)
            ]
            self._cache[key] = found
        return found


def _fan_out(session: Session, items: Sequence[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """Insert the events and one delivery per subscribed webhook; ``items`` are
    ``(org_id, type, data)``, already validated."""
    now = utcnow()
    subscribers = _Subscribers(session, sorted({org_id for org_id, _, _ in items}))
    event_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    held = 0
    for org_id, type_, data in items:
        event_id = new_id("evt")
        event_rows.append({"id": event_id, "org_id": org_id, "type": type_, "data": data, "created_at": now})
        for wh_id, enabled in subscribers.of(org_id, type_):
            # A disabled endpoint's deliveries wait as `held` and flow again on `webhooks enable`.
            status = PENDING if enabled else HELD
            held += not enabled
            delivery_rows.append(
                delivery_row(org_id=org_id, event_id=event_id, now=now, webhook_id=wh_id, status=status)
            )
    conn = session.connection()
    # Events first (deliveries reference them); enqueue_rows sends NOTIFY for pending work,
    # so idle Postgres workers wake on commit instead of at their next poll.
    admin.insert_events(conn, event_rows)
    admin.enqueue_rows(conn, delivery_rows)
    # Integration jobs the organizations' rules ask for, in the same transaction (services/jobs.py).
    job_rows = jobs.fan_out_rows(conn, event_rows, now=now)
    admin.enqueue_rows(conn, job_rows)
    return {"events": event_rows, "deliveries": delivery_rows, "held": held, "jobs": job_rows, "created_at": now}


def _job_public(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "target": row["target"], "status": row["status"]}


def _job_counts(job_rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Jobs per kind, kinds sorted (settings keep no stable order: Postgres JSONB sorts keys)."""
    counts: dict[str, int] = {}
    for row in job_rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    return dict(sorted(counts.items()))


def emit(db: Database, org_ref: str, type_: str, raw_data: bytes) -> dict[str, Any]:
    """Emit one event and queue a delivery to every webhook of the org subscribed to it, and
    the integration jobs the org's rules ask for.

    Returns the event (``id, type, org_id, created_at, data``) with ``deliveries`` (``id,
    webhook_id, status`` per webhook delivery) and ``jobs`` (``id, kind, target, status`` per
    job, e.g. ``slack.summary`` to a channel; ``held`` while the kind is held). Raises
    InvalidInput for a bad type or data, NotFound for an unknown organization."""
    try:
        data = catalog.validate_event(type_, parse_data(raw_data))
    except InvalidInput as exc:
        raise _event_error(exc) from None
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        written = _fan_out(session, [(org.id, type_, data)])
        row = written["events"][0]
        return {
            "id": row["id"],
            "type": type_,
            "org_id": org.id,
            "created_at": iso(written["created_at"]),
            "data": data,
            "deliveries": [
                {"id": d["id"], "webhook_id": d["webhook_id"], "status": d["status"]} for d in written["deliveries"]
            ],
            "jobs": [_job_public(j) for j in written["jobs"]],
        }


def _parse_line(where: str, record: Any) -> tuple[str | None, str, dict[str, Any]]:
    if not isinstance(record, dict):
        raise InvalidInput(f"event input {where}: expected a JSON object", code="invalid_event")
    unknown = sorted(set(record) - _LINE_KEYS)
    if unknown:
        raise InvalidInput(
            f"event input {where}: unknown field(s) {', '.join(map(repr, unknown))}",
            hint='each line is {"type": "...", "data": {...}} with an optional "org"',
            code="invalid_event",
        )
    type_ = record.get("type")
    if not isinstance(type_, str):
        raise InvalidInput(f"event input {where}: missing or non-string 'type'", code="invalid_event")
    org = record.get("org")
    # A NUL can never be in a slug or ID, and Postgres refuses it even in a lookup.
    if org is not None and (not isinstance(org, str) or not org.strip() or "\x00" in org):
        raise InvalidInput(f"event input {where}: 'org' must be an organization slug or ID", code="invalid_event")
    try:
        data = catalog.validate_event(type_, record.get("data"))
    except InvalidInput as exc:
        raise _event_error(exc, f"event input {where}") from None
    return org, type_, data


def emit_jsonl(db: Database, org_ref: str | None, raw: bytes) -> dict[str, Any]:
    """Emit many ``{"type", "data", "org"?}`` lines; any bad line means nothing is written.

    Returns counts, not rows (an import can hold tens of thousands of events): ``events``,
    ``deliveries``, ``held`` (held webhook deliveries), ``jobs`` (integration jobs queued),
    ``jobs_held``, ``job_kinds`` (jobs per kind, e.g. ``{"slack.summary": 2}``) and ``orgs``
    (the slugs written to)."""
    text = decode_utf8(raw, what="event input")
    records = parse_jsonl(text, what="event input")
    if not records:
        raise InvalidInput("event input is empty", code="empty_input")
    parsed = [(where, *_parse_line(where, record)) for where, record in records]
    with db.session() as session:
        resolved: dict[str, Organization] = {}
        items: list[tuple[str, str, dict[str, Any]]] = []
        for where, line_org, type_, data in parsed:
            ref = line_org or org_ref
            if ref is None:
                raise InvalidInput(
                    f"event input {where}: no organization",
                    hint='pass --org SLUG or give the line an "org"',
                    code="org_required",
                )
            org = resolved.get(ref)
            if org is None:
                try:
                    org = orgs.resolve(session, ref)
                except ZigznoteError as exc:
                    raise type(exc)(f"event input {where}: {exc.message}", hint=exc.hint, code=exc.code) from None
                resolved[ref] = org
            items.append((org.id, type_, data))
        written = _fan_out(session, items)
        return {
            "events": len(written["events"]),
            "deliveries": len(written["deliveries"]),
            "held": written["held"],
            "jobs": len(written["jobs"]),
            "jobs_held": sum(1 for j in written["jobs"] if j["status"] == HELD),
            "job_kinds": _job_counts(written["jobs"]),
            "orgs": sorted({o.slug for o in resolved.values()}),
        }


def list_events(
    db: Database, org_ref: str, *, type_: str | None = None, since: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    if type_ is not None:
        catalog.get(type_)  # an unknown type is a typo, not an empty result
    since_at: datetime | None = parse_since(since) if since else None
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        query = select(Event).where(Event.org_id == org.id)
        if type_ is not None:
            query = query.where(Event.type == type_)
        if since_at is not None:
            query = query.where(col(Event.created_at) >= since_at)
        query = query.order_by(col(Event.created_at).desc(), col(Event.id).desc()).limit(limit)
        return [public(e) for e in session.exec(query)]


def show(db: Database, org_ref: str, ref: str) -> dict[str, Any]:
    """One event of the org with its deliveries."""
    require(ref, "evt")
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        event = session.exec(select(Event).where(Event.org_id == org.id, Event.id == ref)).first()
        if event is None:
            raise NotFound(
                f"event {ref!r} not found in this organization",
                hint=f"`{orgs.command(session, org.id, 'events list')}` shows recent events",
                code="event_not_found",
            )
        data = public(event)
        deliveries = views.deliveries(session.connection(), event_id=event.id)
        data["deliveries"] = [delivery_public(d, event.type) for d in deliveries]
        return data
