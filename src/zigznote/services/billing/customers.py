"""Billing customers: one per organization and provider (``billing customers …``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from zigznote.billing.idempotency import freeze, thaw
from zigznote.billing.types import Customer, CustomerInput
from zigznote.errors import Conflict, InvalidInput, NotFound
from zigznote.services import orgs
from zigznote.services.billing import ops
from zigznote.services.billing._common import (
    customer_of,
    customers_at,
    open_provider,
    org_of,
    ours,
    provider_class,
    provider_flag,
    provider_name,
    require_customer,
)
from zigznote.services.billing.records import customer_json, upsert_customer
from zigznote.store.models import BillingCustomer, Organization
from zigznote.timeutil import utcnow

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database

__all__ = ["create_customer", "list_customers", "show_customer", "sync_customers"]

# Deliberately loose (providers check addresses themselves): one @, no spaces or controls.
_EMAIL_RE = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255}")


def list_customers(db: Database, *, org_ref: str | None = None, provider: str | None = None) -> list[dict[str, Any]]:
    """Every billing customer (of one organization with ``org_ref``; of one provider with
    ``provider``), by organization slug. Local rows; ``customers sync`` refreshes them."""
    with db.session() as session:
        query = select(BillingCustomer, Organization.slug).join(
            Organization, col(Organization.id) == col(BillingCustomer.org_id)
        )
        if org_ref is not None:
            query = query.where(BillingCustomer.org_id == org_of(session, org_ref).id)
        if provider is not None:
            query = query.where(BillingCustomer.provider == provider)
        rows = session.exec(query.order_by(Organization.slug, BillingCustomer.provider)).all()
        return [customer_json(row, org_slug=slug) for row, slug in rows]


def show_customer(db: Database, settings: Settings, *, org_ref: str, provider: str | None = None) -> dict[str, Any]:
    """The organization's customer at the provider (local row). NotFound (3) without one."""
    name = provider_name(settings, provider)
    with db.session() as session:
        org = org_of(session, org_ref)
        customer = require_customer(session, org, name, flag=provider_flag(settings, name))
        return customer_json(customer, org_slug=org.slug)


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not _EMAIL_RE.fullmatch(value):
        raise InvalidInput(f"invalid email address {value!r}", code="invalid_email")
    return value


def create_customer(
    db: Database,
    settings: Settings,
    *,
    org_ref: str,
    provider: str | None = None,
    email: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Create the organization's customer at the provider (name defaults to the organization's)
    and store it. The customer carries ``metadata.zigznote_org`` = the organization ID.

    Idempotent through a pending operation scoped to the organization: a retry after a lost
    answer sends the same key and parameters. Raises InvalidInput (bad email or name, exit 2),
    NotFound (organization, 3), Conflict ``customer_exists`` (4), ProviderError (5),
    ConfigError (keys missing, 6). Returns the customer JSON plus ``notes``."""
    provider = provider_name(settings, provider)
    email = _email(email)
    if name is not None and (not name.strip() or len(name) > 200 or any(ord(c) < 32 for c in name)):
        raise InvalidInput("a customer name is one line of 1-200 characters", code="invalid_name")
    with db.session() as session:
        org = org_of(session, org_ref)
        cls = provider_class(provider)
        if email is None and cls.capabilities.customer_email_required:
            command = orgs.command(
                session, org.id, "billing customers create --email ADDRESS" + provider_flag(settings, provider)
            )
            raise InvalidInput(
                f"a {cls.title} customer is its email address: pass --email",
                hint=f"`{command}`",
                code="email_required",
            )
        existing = customer_of(session, org.id, provider)
        if existing is not None:
            raise Conflict(
                f"organization {org.slug!r} already has a {provider} customer ({existing.provider_customer_id})",
                hint="`billing customers show` shows it; `billing customers sync` refreshes it",
                code="customer_exists",
            )
        request = CustomerInput(email=email, name=(name or org.name).strip(), metadata=ours(org.id))
        org_id, slug = org.id, org.slug
    with open_provider(settings, provider) as client:
        outcome = ops.run(
            db,
            provider=provider,
            operation="customer.create",
            scope=org_id,
            params=freeze(request),
            call=lambda params, key: client.create_customer(thaw(CustomerInput, params), idempotency_key=key),
            result_id=lambda customer: customer.id,
            record=lambda session, customer: customer_json(
                upsert_customer(session, provider, customer, org_id=org_id), org_slug=slug
            ),
            org_id=org_id,
        )
    return {**outcome.value, "notes": outcome.notes("customer create")}


def sync_customers(
    db: Database,
    settings: Settings,
    *,
    org_ref: str | None = None,
    provider: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Refresh customers from the provider: the organization's (``org_ref``) or every one we
    know at it. Returns ``{"provider", "checked", "changed": [customer JSON…], "customers": [...]}``
    where ``changed`` lists rows whose email, name or deleted flag differed. ``progress(done,
    total)`` after each fetch."""
    provider = provider_name(settings, provider)
    with db.session() as session:
        rows = customers_at(session, provider, org_ref)
        known = [(r.id, r.org_id, r.provider_customer_id, (r.email, r.name, r.deleted)) for r in rows]
    fetched: list[tuple[str, Customer, datetime]] = []
    with open_provider(settings, provider) as client:
        for done, (_id, org_id, provider_id, _before) in enumerate(known, 1):
            as_of = utcnow()
            try:
                customer = client.get_customer(provider_id)
            except NotFound:  # gone at the provider altogether: what a deleted stub would say
                customer = Customer(id=provider_id, deleted=True)
            fetched.append((org_id, customer, as_of))
            if progress is not None:
                progress(done, len(known))
    changed, result = [], []
    with db.session() as session:
        slugs = dict(session.exec(select(Organization.id, Organization.slug)).all())
        for (_id, _org, _pid, before), (org_id, customer, as_of) in zip(known, fetched, strict=True):
            row = upsert_customer(session, provider, customer, org_id=org_id, as_of=as_of)
            data = customer_json(row, org_slug=slugs.get(org_id))
            result.append(data)
            if (row.email, row.name, row.deleted) != before:
                changed.append(data)
    return {"provider": provider, "checked": len(result), "changed": changed, "customers": result}
