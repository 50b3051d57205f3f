"""Meetings imported from the product (the payloads Slack and HubSpot receive)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from zigznote.errors import InvalidInput, NotFound
from zigznote.ids import looks_like, new_id
from zigznote.services import orgs
from zigznote.services.records import parse_records
from zigznote.store.engine import Database
from zigznote.store.models import Meeting
from zigznote.timeutil import iso, parse_since, parse_timestamp, utcnow

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FIELDS = {"external_id", "title", "started_at", "ended_at", "participants", "summary", "action_items", "url"}
_REQUIRED = ("external_id", "title", "started_at")


def public(m: Meeting) -> dict[str, Any]:
    return {
        "id": m.id,
        "external_id": m.external_id,
        "title": m.title,
        "started_at": iso(m.started_at),
        "ended_at": iso(m.ended_at),
        "url": m.url,
        "summary": m.summary,
        "participants": m.participants,
        "action_items": m.action_items,
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
    }


class _RecordError(Exception):
    pass


def _str(record: dict[str, Any], key: str, *, required: bool = False, max_len: int = 2000) -> str | None:
    value = record.get(key)
    if value is None:
        if required:
            raise _RecordError(f"missing required field {key!r}")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _RecordError(f"field {key!r} must be a non-empty string")
    if len(value) > max_len:
        raise _RecordError(f"field {key!r} is longer than {max_len} characters")
    return value


def _time(record: dict[str, Any], key: str, *, required: bool = False) -> datetime | None:
    text = _str(record, key, required=required, max_len=64)
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except InvalidInput:
        raise _RecordError(f"field {key!r} is not an ISO-8601 time: {text!r}") from None


def _email(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _EMAIL_RE.match(value):
        raise _RecordError(f"{where} is not an email address: {value!r}")
    return value.lower()


def _nul_at(value: Any, path: str) -> str | None:
    """The path of the first string (key or value) holding NUL, which Postgres text cannot
    store (SQLite would keep it, so both refuse it alike); ``None`` if there is none."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = where if "\x00" in key else _nul_at(item, where)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_at(item, f"{path}[{i}]")
            if found:
                return found
    return None


def validate_record(record: Any) -> dict[str, Any]:
    """Normalise one meeting record or raise _RecordError naming the problem."""
    if not isinstance(record, dict):
        raise _RecordError(f"expected a JSON object, got {type(record).__name__}")
    nul = _nul_at(record, "")
    if nul is not None:
        raise _RecordError(f"field {nul!r} contains a NUL character (\\u0000), which cannot be stored")
    unknown = sorted(set(record) - _FIELDS)
    if unknown:
        raise _RecordError(f"unknown field(s) {', '.join(map(repr, unknown))}")
    started = _time(record, "started_at", required=True)
    ended = _time(record, "ended_at")
    if started and ended and ended < started:
        raise _RecordError("ended_at is before started_at")
    url = _str(record, "url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise _RecordError(f"field 'url' must be an http(s) URL: {url!r}")
    participants = record.get("participants") or []
    if not isinstance(participants, list):
        raise _RecordError("field 'participants' must be a list")
    people = []
    for i, p in enumerate(participants):
        if not isinstance(p, dict) or not isinstance(p.get("name", ""), str):
            raise _RecordError(f"participants[{i}] must be an object with a name and an email")
        people.append({"name": p.get("name") or "", "email": _email(p.get("email"), f"participants[{i}].email")})
    items = record.get("action_items") or []
    if not isinstance(items, list):
        raise _RecordError("field 'action_items' must be a list")
    actions = []
    for i, a in enumerate(items):
        if not isinstance(a, dict) or not isinstance(a.get("text"), str) or not a["text"].strip():
            raise _RecordError(f"action_items[{i}] needs a non-empty 'text'")
        due = a.get("due")
        if due is not None:
            try:
                due = iso(parse_timestamp(str(due)))
            except InvalidInput:
                raise _RecordError(f"action_items[{i}].due is not an ISO-8601 date: {due!r}") from None
        actions.append(
            {
                "text": a["text"].strip(),
                "assignee_email": _email(a.get("assignee_email"), f"action_items[{i}].assignee_email"),
                "due": due,
            }
        )
    summary = record.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise _RecordError("field 'summary' must be a string")
    return {
        "external_id": _str(record, "external_id", required=True, max_len=200),
        "title": _str(record, "title", required=True, max_len=500),
        "started_at": started,
        "ended_at": ended,
        "url": url,
        "summary": summary,
        "participants": people,
        "action_items": actions,
    }


def import_meetings(db: Database, org_ref: str, raw: bytes) -> dict[str, Any]:
    """Validate every record first, then upsert all of them in one transaction."""
    records = parse_records(raw, what="meeting input")
    clean: dict[str, dict[str, Any]] = {}
    for where, record in records:
        try:
            data = validate_record(record)
        except _RecordError as exc:
            raise InvalidInput(f"meeting input {where}: {exc}", code="invalid_meeting") from None
        clean[data["external_id"]] = data  # a later duplicate in the same input wins
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        existing = {
            m.external_id: m
            for m in session.exec(
                select(Meeting).where(Meeting.org_id == org.id, Meeting.external_id.in_(list(clean)))  # type: ignore[attr-defined]
            )
        }
        created = updated = 0
        ids = []
        now = utcnow()
        for external_id, data in clean.items():
            meeting = existing.get(external_id)
            if meeting is None:
                meeting = Meeting(id=new_id("mtg"), org_id=org.id, **data)
                created += 1
            else:
                for key, value in data.items():
                    setattr(meeting, key, value)
                meeting.updated_at = now
                updated += 1
            session.add(meeting)
            ids.append(meeting.id)
        return {"org": org.slug, "created": created, "updated": updated, "meetings": ids}


def resolve(session: Session, org_id: str, ref: str) -> Meeting:
    """A meeting of this org by ID or external ID; another org's meeting is not found.

    Raises NotFound (``meeting_not_found``) with a hint naming the commands that list and import
    meetings for this organization."""
    column = Meeting.id if looks_like(ref, "mtg") else Meeting.external_id
    meeting = session.exec(select(Meeting).where(Meeting.org_id == org_id, column == ref)).first()
    if meeting is None:
        listing = orgs.command(session, org_id, "meetings list")
        raise NotFound(
            f"meeting {ref!r} not found in this organization",
            code="meeting_not_found",
            hint=f"`{listing}` shows them; `meetings import` adds them",
        )
    return meeting


def list_meetings(db: Database, org_ref: str, *, since: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        query = select(Meeting).where(Meeting.org_id == org.id)
        if since:
            query = query.where(Meeting.started_at >= parse_since(since))
        query = query.order_by(Meeting.started_at.desc()).limit(limit)  # type: ignore[attr-defined]
        return [public(m) for m in session.exec(query)]


def show(db: Database, org_ref: str, ref: str) -> dict[str, Any]:
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        return public(resolve(session, org.id, ref))
