"""Organizations: the tenant boundary every other object hangs off."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from zigznote.delivery.queue import admin
from zigznote.errors import Conflict, InvalidInput, NotFound
from zigznote.ids import looks_like, new_id
from zigznote.store.engine import Database
from zigznote.store.models import (
    EndpointEvent,
    Event,
    IntegrationConnection,
    Meeting,
    Organization,
    Webhook,
    table_of,
)
from zigznote.timeutil import iso, utcnow

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# Children of an organization, deleted leaf-first by `orgs delete --force`, after its delivery
# rows (webhook deliveries and jobs, with their attempts: `delivery/queue/admin.py`).
_OWNED = (IntegrationConnection, EndpointEvent, Event, Webhook, Meeting)


def public(org: Organization, counts: dict[str, int] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": org.id,
        "slug": org.slug,
        "name": org.name,
        "created_at": iso(org.created_at),
        "updated_at": iso(org.updated_at),
    }
    if counts is not None:
        data["counts"] = counts
    return data


def validate_slug(slug: str) -> str:
    if not SLUG_RE.match(slug):
        raise InvalidInput(
            f"invalid slug {slug!r}",
            hint="use 1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen",
            code="invalid_slug",
        )
    return slug


def _validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("organization name must be 1-200 characters", code="invalid_name")
    return name


def resolve(session: Session, ref: str) -> Organization:
    """Find an organization by slug or by ID."""
    column = Organization.id if looks_like(ref, "org") else Organization.slug
    org = session.exec(select(Organization).where(column == ref)).first()
    if org is None:
        raise NotFound(
            f"organization {ref!r} not found",
            hint="`zigznote orgs list` shows the organizations",
            code="org_not_found",
        )
    return org


def command(session: Session, org_id: str, args: str) -> str:
    """A hint's command line for this organization, ready to copy: ``zigznote --org SLUG args``
    (the org's ID when it has gone, which ``--org`` accepts as well)."""
    slug = session.exec(select(Organization.slug).where(Organization.id == org_id)).first()
    return f"zigznote --org {slug or org_id} {args}"


def _counts(session: Session, org_id: str) -> dict[str, int]:
    counts = {}
    for label, model in (("meetings", Meeting), ("webhooks", Webhook), ("events", Event)):
        counts[label] = session.exec(
            select(func.count()).select_from(model).where(table_of(model).c.org_id == org_id)
        ).one()
    return counts


def create(db: Database, slug: str, name: str | None = None) -> dict[str, Any]:
    validate_slug(slug)
    with db.session() as session:
        if session.exec(select(Organization).where(Organization.slug == slug)).first():
            raise Conflict(f"an organization with slug {slug!r} already exists", code="duplicate_slug")
        org = Organization(id=new_id("org"), slug=slug, name=_validate_name(name or slug))
        session.add(org)
        try:
            session.flush()
        except IntegrityError:  # lost a race with a concurrent create
            raise Conflict(f"an organization with slug {slug!r} already exists", code="duplicate_slug") from None
        return public(org)


def list_orgs(db: Database) -> list[dict[str, Any]]:
    with db.session() as session:
        return [public(o) for o in session.exec(select(Organization).order_by(Organization.slug))]


def show(db: Database, ref: str) -> dict[str, Any]:
    with db.session() as session:
        org = resolve(session, ref)
        return public(org, _counts(session, org.id))


def update(db: Database, ref: str, *, name: str | None = None, slug: str | None = None) -> dict[str, Any]:
    if name is None and slug is None:
        raise InvalidInput("nothing to update", hint="pass --name and/or --slug")
    with db.session() as session:
        org = resolve(session, ref)
        if slug is not None and slug != org.slug:
            validate_slug(slug)
            if session.exec(select(Organization).where(Organization.slug == slug)).first():
                raise Conflict(f"an organization with slug {slug!r} already exists", code="duplicate_slug")
            org.slug = slug
        if name is not None:
            org.name = _validate_name(name)
        org.updated_at = utcnow()
        session.add(org)
        return public(org)


def delete(db: Database, ref: str, *, force: bool = False) -> dict[str, Any]:
    with db.session() as session:
        org = resolve(session, ref)
        counts = _counts(session, org.id)
        if any(counts.values()) and not force:
            held = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            raise Conflict(
                f"organization {org.slug!r} still has data ({held})",
                hint="pass --force to delete it with everything it owns",
                code="org_not_empty",
            )
        admin.delete_org_rows(session.connection(), org.id)
        for model in _OWNED:
            table = table_of(model)
            session.execute(sa.delete(table).where(table.c.org_id == org.id))
        session.delete(org)
        return {"id": org.id, "slug": org.slug, "deleted": True, "counts": counts}
