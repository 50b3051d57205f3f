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
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from sqlmodel import Session, select

from zigznote.billing.events import IGNORED, PROCESSED, EventContext
from zigznote.billing.types import ZIGZNOTE_ORG_KEY, Customer, Invoice, Payment
from zigznote.errors import Conflict, NotFound
from zigznote.store.models import BillingCustomer, Organization
from zigznote.store.models import Subscription as SubscriptionRow
from zigznote.timeutil import utcnow

__all__ = [
    "ORG_KEY", "is_org_id", "owner", "store_payment", "sync_customer", "sync_customer_subscriptions", "sync_invoice",
    "sync_payment", "sync_refunds", "sync_subscription",
]  # fmt: skip

#: Metadata key naming the organization on provider objects zigznote creates.
ORG_KEY: Final = ZIGZNOTE_ORG_KEY
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


def _store(
    ctx: EventContext, what: str, obj: Any, customer_id: str | None, org_hint: str | None, upsert: Any, as_of: datetime
) -> str:
    """Write ``obj`` (fetched at ``as_of``) with ``records.upsert_<what>`` once its customer's
    organization is known (:func:`owner`: an unknown customer is fetched and written first);
    ``IGNORED`` with the reason when it is not zigznote's."""
    if owner(ctx, customer_id, org_hint=org_hint) is None:
        return ctx.ignore(f"{what} {obj.id}: {ctx.note}")
    _write(ctx, what, obj, upsert, as_of)
    return PROCESSED


def _write(ctx: EventContext, what: str, obj: Any, upsert: Any, as_of: datetime) -> None:
    name = ctx.provider_name
    ctx.write(lambda s: _must(upsert(s, name, obj, as_of=as_of), what, obj.id))


def _write_customer(ctx: EventContext, customer: Customer, org_id: str, as_of: datetime) -> None:
    name = ctx.provider_name
    ctx.write(lambda s: _records().upsert_customer(s, name, customer, org_id=org_id, as_of=as_of))
    ctx.concerns(org_id)


def _store_all(ctx: EventContext, upsert: Any, objects: list[Any], as_of: datetime, **extra: Any) -> None:
    """Write every one of ``objects`` (fetched at ``as_of``) with ``upsert`` in the event's
    transaction; one that is not zigznote's is skipped by ``upsert`` itself."""
    name = ctx.provider_name

    def write(session: Session) -> None:
        for obj in objects:
            upsert(session, name, obj, as_of=as_of, **extra)

    ctx.write(write)


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
    _write_customer(ctx, customer, org_id, as_of)
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
    _write_customer(ctx, customer, org_id, as_of)
    return PROCESSED


def _write_subscription(ctx: EventContext, subscription_id: str, *, org_hint: str | None) -> str:
    as_of = utcnow()
    sub = ctx.provider.get_subscription(subscription_id)
    hint = org_hint or sub.metadata.get(ORG_KEY)
    return _store(ctx, "subscription", sub, sub.customer_id, hint, _records().upsert_subscription, as_of)


def sync_subscription(ctx: EventContext, subscription_id: str | None, *, org_hint: str | None = None) -> str:
    """Re-fetch subscription ``subscription_id`` and write it, its customer first when unknown."""
    if not subscription_id:
        return ctx.ignore("the event names no subscription")
    return _write_subscription(ctx, subscription_id, org_hint=org_hint)


def sync_customer_subscriptions(ctx: EventContext, customer_id: str) -> str:
    """Re-fetch every subscription of provider customer ``customer_id`` (one zigznote knows:
    call :func:`owner` first) and write them all: for a provider where a payment is what starts
    or renews a subscription (Flutterwave)."""
    as_of = utcnow()
    subs = list(ctx.provider.list_subscriptions(customer_id=customer_id))
    _store_all(ctx, _records().upsert_subscription, subs, as_of)
    return PROCESSED


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
    _write(ctx, "invoice", invoice, _records().upsert_invoice, as_of)
    _link_payment(ctx, invoice)
    return PROCESSED


def _link_payment(ctx: EventContext, invoice: Invoice) -> None:
    """The payment an invoice names, linked to it: ``upsert_invoice`` links a payment row we
    have; one we have not seen yet (its own event still to come) is fetched and written with
    the link, so ``payments show`` names the invoice whichever event came first."""
    payment_id = invoice.payment_id
    if not payment_id or ctx.read(lambda s: _records().payment_known(s, ctx.provider_name, payment_id)):
        return
    as_of = utcnow()
    try:
        payment = ctx.provider.get_payment(payment_id)
    except NotFound:  # gone at the provider: nothing to link
        return
    if payment.customer_id == invoice.customer_id:
        linked = payment if payment.invoice_id else replace(payment, invoice_id=invoice.id)
        _write(ctx, "payment", linked, _records().upsert_payment, as_of)


def store_payment(ctx: EventContext, payment: Payment, *, as_of: datetime, org_hint: str | None = None) -> str:
    """Write ``payment`` as fetched at ``as_of`` (a handler may have checked it first, as
    Flutterwave's verification does), its customer first when unknown. The organization:
    the customer's, else ``org_hint`` or the payment's ``zigznote_org`` metadata."""
    hint = org_hint or payment.metadata.get(ORG_KEY)
    return _store(ctx, "payment", payment, payment.customer_id, hint, _records().upsert_payment, as_of)


def sync_payment(ctx: EventContext, payment_id: str | None, *, org_hint: str | None = None) -> str:
    """Re-fetch payment ``payment_id`` (with what has been refunded of it) and write it, its
    customer first when unknown. A payment without a customer is ignored."""
    if not payment_id:
        return ctx.ignore("the event names no payment")
    as_of = utcnow()
    return store_payment(ctx, ctx.provider.get_payment(payment_id), as_of=as_of, org_hint=org_hint)


def sync_refunds(ctx: EventContext, payment_id: str | None) -> str:
    """Re-fetch payment ``payment_id`` and every refund of it, and write them all."""
    if sync_payment(ctx, payment_id) == IGNORED or payment_id is None:
        return IGNORED
    as_of = utcnow()
    refunds = list(ctx.provider.list_refunds(payment_id=payment_id))
    _store_all(ctx, _records().upsert_refund, refunds, as_of, org_id=ctx.org_id)
    return PROCESSED
