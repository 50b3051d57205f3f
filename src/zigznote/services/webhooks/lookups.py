"""Finding webhooks and deliveries, always inside the selected organization: another
organization's ID is simply not found (exit 3)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from zigznote.delivery.queue import views
from zigznote.errors import Conflict, InvalidInput, NotFound
from zigznote.ids import looks_like, require
from zigznote.services import orgs
from zigznote.store.models import Webhook


def resolve(session: Session, org_id: str, ref: str) -> Webhook:
    """A webhook of this org by ID, or by name (names are unique per organization)."""
    if looks_like(ref, "wh"):
        found = list(session.exec(select(Webhook).where(Webhook.org_id == org_id, Webhook.id == ref)))
    else:
        found = list(session.exec(select(Webhook).where(Webhook.org_id == org_id, Webhook.name == ref).limit(2)))
        if len(found) > 1:
            raise InvalidInput(
                f"more than one webhook is named {ref!r}",
                hint=f"use the webhook's ID (`{orgs.command(session, org_id, 'webhooks list')}` shows them)",
                code="ambiguous_webhook",
            )
    if not found:
        raise NotFound(
            f"webhook {ref!r} not found in this organization",
            hint=f"`{orgs.command(session, org_id, 'webhooks list')}` shows this organization's webhooks",
            code="webhook_not_found",
        )
    return found[0]


def resolve_delivery(session: Session, org_id: str, ref: str) -> Any:
    """A delivery row of this org (any kind: webhook delivery or integration job)."""
    require(ref, "msg")
    row = views.find_delivery(session.connection(), org_id=org_id, delivery_id=ref)
    if row is None:
        raise NotFound(
            f"delivery {ref!r} not found in this organization",
            hint=f"`{orgs.command(session, org_id, 'webhooks deliveries WEBHOOK')}` lists a webhook's deliveries",
            code="delivery_not_found",
        )
    return row


def name_taken(session: Session, org_id: str, name: str, exclude: str | None = None) -> bool:
    query = select(Webhook.id).where(Webhook.org_id == org_id, Webhook.name == name)
    if exclude is not None:
        query = query.where(Webhook.id != exclude)
    return session.exec(query).first() is not None


def require_free_name(session: Session, org_id: str, name: str, exclude: str | None = None) -> None:
    """Names are unique per organization (commands address webhooks by name)."""
    if name_taken(session, org_id, name, exclude):
        raise Conflict(
            f"a webhook named {name!r} already exists in this organization",
            hint="choose another --name (names are unique per organization), or update the existing webhook",
            code="duplicate_name",
        )


def free_name(session: Session, org_id: str, base: str) -> str:
    """The default name (the URL's host), suffixed -2, -3, … when already taken."""
    name, n = base, 2
    while name_taken(session, org_id, name):
        suffix = f"-{n}"
        name, n = f"{base[: 200 - len(suffix)]}{suffix}", n + 1
    return name
