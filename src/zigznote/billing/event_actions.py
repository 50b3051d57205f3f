"""Provider-neutral building blocks for inbound-event handlers (the contract: ``billing/events.py``).

Each one re-fetches an object's current state through ``ctx.provider`` (never the payload's
copy), makes sure its parents exist locally (fetching and writing them first when they do not:
an ``invoice.paid`` for a subscription never seen creates the subscription, and its customer),
and defers the writes to the event's one transaction (``ctx.write``) through
``services.billing.records`` with ``as_of`` = the time just before the fetch. Each returns
``PROCESSED``, or ``IGNORED`` with the reason (the object is not zigznote's), and raises what the
provider raises (a failure: the event turns ``failed``). An ID of ``None`` (the event names no
such object) is ignored.

**Whose is an object?** A provider customer is zigznote's when we have its row, or when it names
an existing organization that has no other customer at this provider: the customer's metadata
``zigznote_org`` (``billing customers create`` sets it), or the organization a handler passes as
``org_hint`` (a checkout session's ``client_reference_id``, a subscription's or payment's
``zigznote_org`` metadata). A subscription, invoice or payment is zigznote's when its customer is.
"""

from __future__ import annotations

import re
from typing import Any, Final

from sqlmodel import Session, select

from zigznote.billing.events import IGNORED, PROCESSED, EventContext
from zigznote.billing.types import Customer
from zigznote.errors import Conflict, NotFound
from zigznote.store.models import BillingCustomer, Organization
from zigznote.store.models import Subscription as SubscriptionRow
from zigznote.timeutil import utcnow

__all__ = [
    "ORG_KEY", "is_org_id", "owner", "sync_customer", "sync_invoice", "sync_payment", "sync_refunds",
    "sync_subscription",
]  # fmt: skip

#: Metadata key naming the organization on provider objects zigznote creates.
ORG_KEY: Final = "zigznote_org"
_ORG_ID_RE: Final = re.compile(r"org_[0-9A-HJKMNP-TV-Z]{26}")


def is_org_id(value: object) -> bool:
    """Whether ``value`` has the shape of an organization ID (``org_`` + 26 characters)."""
    return isinstance(value, str) and bool(_ORG_ID_RE.fullmatch(value))


def _records() -> Any:
    from zigznote.services.billing import records  # services import providers: import on use

    return records


def _must(row: object, what: str, provider_id: str) -> object:
    # The read phase found the parent; only a concurrent delete (an organization removed) can
    # take it away before the write: fail, and a replay will then find it not ours.
    if row is None:
        raise Conflict(f"the {what} {provider_id} lost its customer while the event was applied", code="parent_gone")
    return row


def _org_of_customer(ctx: EventContext, customer_id: str) -> str | None:
    def read(session: Session) -> str | None:
        row = _records().customer_by_provider_id(session, ctx.provider_name, customer_id)
        return row.org_id if row is not None else None

    return ctx.read(read)


def _fits(ctx: EventContext, org_id: object, customer_id: str) -> bool:
    """``org_id`` is an organization of ours with no other customer at this provider."""
    if not is_org_id(org_id):
        return False

    def read(session: Session) -> bool:
        if session.get(Organization, org_id) is None:
            return False
        other = session.exec(
            select(BillingCustomer.provider_customer_id).where(
                BillingCustomer.org_id == org_id, BillingCustomer.provider == ctx.provider_name
            )
        ).first()
        return other is None or other == customer_id

    return bool(ctx.read(read))


def owner(ctx: EventContext, customer_id: str | None, *, org_hint: str | None = None) -> str | None:
    """The organization of the provider customer ``customer_id``: its row's; else the customer
    is fetched and, when it (or ``org_hint``) names an organization of ours, written for it (a
    missing parent created). None when it is not zigznote's: ``ctx.note`` says why."""
    if not customer_id:
        ctx.note = "it has no customer"
        return None
    known = _org_of_customer(ctx, customer_id)
    if known is not None:
        ctx.concerns(known)
        return known
    as_of = utcnow()
    try:
        customer = ctx.provider.get_customer(customer_id)
    except NotFound:
        ctx.note = f"its customer {customer_id} is unknown here and at the provider"
        return None
    org_id = next((o for o in (customer.metadata.get(ORG_KEY), org_hint) if _fits(ctx, o, customer_id)), None)
    if org_id is None:
        ctx.note = f"its customer {customer_id} belongs to no organization of zigznote's"
        return None
    name = ctx.provider_name
    ctx.write(lambda s: _records().upsert_customer(s, name, customer, org_id=org_id, as_of=as_of))
    ctx.concerns(org_id)
    return org_id


def sync_customer(ctx: EventContext, customer_id: str | None) -> str:
    """Re-fetch customer ``customer_id`` and write it (one the provider no longer has is
    marked deleted). Ignored unless it is ours or names an organization of ours."""
    if not customer_id:
        return ctx.ignore("the event names no customer")
    known = _org_of_customer(ctx, customer_id)
    as_of = utcnow()
    try:
        customer = ctx.provider.get_customer(customer_id)
    except NotFound:  # gone at the provider altogether: what a deleted stub says
        customer = Customer(id=customer_id, deleted=True)
    org_id = known or (
        customer.metadata.get(ORG_KEY) if _fits(ctx, customer.metadata.get(ORG_KEY), customer_id) else None
    )
    if org_id is None:
        return ctx.ignore(f"customer {customer_id} belongs to no organization of zigznote's")
    name = ctx.provider_name
    ctx.write(lambda s: _records().upsert_customer(s, name, customer, org_id=org_id, as_of=as_of))
    ctx.concerns(org_id)
    return PROCESSED


def _write_subscription(ctx: EventContext, subscription_id: str, *, org_hint: str | None) -> str:
    as_of = utcnow()
    sub = ctx.provider.get_subscription(subscription_id)
    if owner(ctx, sub.customer_id, org_hint=org_hint or sub.metadata.get(ORG_KEY)) is None:
        return ctx.ignore(f"subscription {sub.id}: {ctx.note}")
    name = ctx.provider_name
    ctx.write(lambda s: _must(_records().upsert_subscription(s, name, sub, as_of=as_of), "subscription", sub.id))
    return PROCESSED


def sync_subscription(ctx: EventContext, subscription_id: str | None, *, org_hint: str | None = None) -> str:
    """Re-fetch subscription ``subscription_id`` and write it, its customer first when unknown."""
    if not subscription_id:
        return ctx.ignore("the event names no subscription")
    return _write_subscription(ctx, subscription_id, org_hint=org_hint)


def _has_subscription(ctx: EventContext, subscription_id: str) -> bool:
    def read(session: Session) -> bool:
        return (
            session.exec(
                select(SubscriptionRow.id).where(
                    SubscriptionRow.provider == ctx.provider_name,
                    SubscriptionRow.provider_subscription_id == subscription_id,
                )
            ).first()
            is not None
        )

    return bool(ctx.read(read))


def sync_invoice(ctx: EventContext, invoice_id: str | None) -> str:
    """Re-fetch invoice ``invoice_id`` and write it; its customer and its subscription are
    fetched and written first when we have never seen them."""
    if not invoice_id:
        return ctx.ignore("the event names no invoice")
    as_of = utcnow()
    invoice = ctx.provider.get_invoice(invoice_id)
    if owner(ctx, invoice.customer_id) is None:
        return ctx.ignore(f"invoice {invoice.id}: {ctx.note}")
    missing = invoice.subscription_id and not _has_subscription(ctx, invoice.subscription_id)
    if missing and _write_subscription(ctx, str(invoice.subscription_id), org_hint=None) == IGNORED:
        return IGNORED
    name = ctx.provider_name
    ctx.write(lambda s: _must(_records().upsert_invoice(s, name, invoice, as_of=as_of), "invoice", invoice.id))
    return PROCESSED


def sync_payment(ctx: EventContext, payment_id: str | None, *, org_hint: str | None = None) -> str:
    """Re-fetch payment ``payment_id`` (with what has been refunded of it) and write it, its
    customer first when unknown. A payment without a customer is ignored."""
    if not payment_id:
        return ctx.ignore("the event names no payment")
    as_of = utcnow()
    payment = ctx.provider.get_payment(payment_id)
    if owner(ctx, payment.customer_id, org_hint=org_hint or payment.metadata.get(ORG_KEY)) is None:
        return ctx.ignore(f"payment {payment.id}: {ctx.note}")
    name = ctx.provider_name
    ctx.write(lambda s: _must(_records().upsert_payment(s, name, payment, as_of=as_of), "payment", payment.id))
    return PROCESSED


def sync_refunds(ctx: EventContext, payment_id: str | None) -> str:
    """Re-fetch payment ``payment_id`` and every refund of it, and write them all."""
    if sync_payment(ctx, payment_id) == IGNORED or payment_id is None:
        return IGNORED
    as_of = utcnow()
    refunds = list(ctx.provider.list_refunds(payment_id=payment_id))
    name, org_id = ctx.provider_name, ctx.org_id

    def write(session: Session) -> None:
        for refund in refunds:
            _records().upsert_refund(session, name, refund, org_id=org_id, as_of=as_of)

    ctx.write(write)
    return PROCESSED
