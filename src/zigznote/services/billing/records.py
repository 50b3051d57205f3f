"""Our rows from what a provider reports, and those rows as JSON.

``upsert_*`` write (insert or update by provider + provider ID) the row mirroring one provider
object, in the caller's session; the provider is the source of truth, so every field is
overwritten and ``synced_at`` set. Objects whose organization cannot be told (a payment of a
customer we do not know) are not written: the function returns None. Commands and the inbound
event handlers (issue 12) use the same functions.

Concurrency (two events, or an event and a command, touching one object at once): a new row is
inserted with ``INSERT … ON CONFLICT DO NOTHING`` (:func:`insert_if_absent`) and then read back,
so the second transaction updates the row the first one made instead of failing on the unique
constraint (Postgres makes it wait for the first to commit); an existing row is read ``FOR
UPDATE``. ``as_of``: when the object was fetched (the time taken just before the request); a row
already written from a later fetch (``synced_at`` newer) is left as it is, so whichever order two
transactions commit in, the newest fetch wins. Without ``as_of``, ``synced_at`` is now.

``*_json`` give the JSON every command prints: our ID as ``id``, the provider's as
``provider_id``, money as ``{"amount", "currency", "display"}``, times ISO-8601 UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from zigznote.billing import money
from zigznote.billing import types as bt
from zigznote.billing.money import Money
from zigznote.errors import Conflict
from zigznote.ids import new_id
from zigznote.services.billing._common import money_json
from zigznote.store.models import (
    BillingCustomer,
    BillingPlan,
    BillingPrice,
    Invoice,
    Payment,
    Refund,
    Subscription,
    table_of,
)
from zigznote.timeutil import iso, utcnow
from zigznote.untrusted import storable_text

__all__ = [
    "customer_by_provider_id",
    "customer_json",
    "insert_if_absent",
    "invoice_json",
    "payment_json",
    "payment_known",
    "price_json",
    "refund_json",
    "subscription_json",
    "upsert_customer",
    "upsert_invoice",
    "upsert_payment",
    "upsert_price",
    "upsert_refund",
    "upsert_subscription",
]

M = TypeVar("M", bound=SQLModel)


def _text(value: str | None, limit: int) -> str | None:
    return storable_text(value, max_chars=limit) if value else None


def _row(session: Session, model: Any, column: Any, provider: str, provider_id: str, *, lock: bool = False) -> Any:
    query = select(model).where(model.provider == provider, column == provider_id)
    return session.exec(query.with_for_update() if lock else query).first()


def insert_if_absent(session: Session, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING`` of one row in the session's transaction; True when it
    was inserted, False when a unique constraint already held such a row (on Postgres, one a
    concurrent transaction is inserting: this waits for it to commit, then skips)."""
    from sqlalchemy.dialects import postgresql, sqlite

    conn = session.connection()
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT through SQLAlchemy.
    statement: Any
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    else:
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None


def customer_by_provider_id(
    session: Session, provider: str, provider_customer_id: str | None
) -> BillingCustomer | None:
    """Our customer row for the provider's customer ID, if we know it."""
    if not provider_customer_id:
        return None
    return _row(session, BillingCustomer, BillingCustomer.provider_customer_id, provider, provider_customer_id)


# -- writing ------------------------------------------------------------------------------------


def _owned(customer: BillingCustomer, provider: str) -> dict[str, Any]:
    """The columns every row of a customer's object starts with."""
    return {"org_id": customer.org_id, "customer_id": customer.id, "provider": provider}


def _put(
    session: Session,
    model: type[M],
    prefix: str,
    column: Any,
    values: dict[str, Any],
    *,
    as_of: datetime | None = None,
) -> M | None:
    """Insert the row of ``model`` whose ``column`` is ``values[column]`` at ``values["provider"]``,
    with a new ``<prefix>_…`` ID, or overwrite its fields (module docstring: concurrency and
    ``as_of``). None: another unique constraint refused the new row."""
    now = utcnow()
    values = {**values, "updated_at": now}
    if "synced_at" in model.model_fields:
        values["synced_at"] = as_of or now
    provider, provider_id = values["provider"], values[column.key]
    row = _row(session, model, column, provider, provider_id, lock=True)
    if row is None:
        insert_if_absent(session, table_of(model), {"id": new_id(prefix), "created_at": now, **values})
        # ours, or the one a concurrent transaction inserted first
        row = _row(session, model, column, provider, provider_id, lock=True)
        if row is None:
            return None
    elif as_of is not None and getattr(row, "synced_at", None) is not None and row.synced_at > as_of:
        return row  # written from a later fetch than ours
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    return row


def upsert_customer(
    session: Session, provider: str, customer: bt.Customer, *, org_id: str, as_of: datetime | None = None
) -> BillingCustomer:
    """The row of ``customer``, for ``org_id`` (a known customer keeps its organization).
    Raises Conflict ``customer_exists`` when ``org_id`` already has another customer here."""
    known = customer_by_provider_id(session, provider, customer.id)
    values = {
        "org_id": known.org_id if known is not None else org_id, "provider": provider,
        "provider_customer_id": customer.id, "email": _text(customer.email, 320), "name": _text(customer.name, 200),
        "deleted": customer.deleted,
    }  # fmt: skip
    row = _put(session, BillingCustomer, "bcus", BillingCustomer.provider_customer_id, values, as_of=as_of)
    if row is None:
        raise Conflict(
            f"the organization {org_id} already has another {provider} customer than {customer.id}",
            code="customer_exists",
        )
    return row


def upsert_price(session: Session, provider: str, plan: BillingPlan, price: bt.Price) -> BillingPrice:
    """The row of one provider price of ``plan`` (``interval`` ``once`` for a one-time price)."""
    values = {
        "plan_id": plan.id, "provider": provider, "provider_price_id": price.id,
        "provider_product_id": price.product_id, "amount": price.amount.amount, "currency": price.amount.currency,
        "interval": price.interval.value if price.interval else "once", "interval_count": price.interval_count,
        "active": price.active,
    }  # fmt: skip
    row = _put(session, BillingPrice, "bpr", BillingPrice.provider_price_id, values)
    assert row is not None  # one unique constraint: the one looked up
    return row


def _price_row(session: Session, provider: str, price_id: str | None) -> BillingPrice | None:
    if not price_id:
        return None
    row: BillingPrice | None = _row(session, BillingPrice, BillingPrice.provider_price_id, provider, price_id)
    return row


def upsert_subscription(
    session: Session,
    provider: str,
    sub: bt.Subscription,
    *,
    customer: BillingCustomer | None = None,
    as_of: datetime | None = None,
) -> Subscription | None:
    """The row of ``sub``; None when its customer is not one of ours."""
    customer = customer or customer_by_provider_id(session, provider, sub.customer_id)
    if customer is None:
        return None
    price = sub.price
    local = _price_row(session, provider, price.id if price else None)
    values = {
        **_owned(customer, provider), "provider_subscription_id": sub.id,
        "provider_price_id": price.id if price else None, "price_id": local.id if local else None,
        "plan_slug": _plan_slug(session, local, price),
        "amount": price.amount.amount if price else None, "currency": price.amount.currency if price else None,
        "interval": price.interval.value if price and price.interval else None,
        "quantity": sub.items[0].quantity if sub.items else 1, "status": sub.status.value,
        "current_period_start": sub.current_period_start, "current_period_end": sub.current_period_end,
        "cancel_at_period_end": sub.cancel_at_period_end, "cancel_at": sub.cancel_at,
        "canceled_at": sub.canceled_at, "trial_end": sub.trial_end, "latest_invoice_id": sub.latest_invoice_id,
        "provider_created_at": sub.created,
    }  # fmt: skip
    return _put(session, Subscription, "bsub", Subscription.provider_subscription_id, values, as_of=as_of)


def _plan_slug(session: Session, local: BillingPrice | None, price: bt.Price | None) -> str | None:
    if local is not None:
        plan = session.get(BillingPlan, local.plan_id)
        if plan is not None:
            return plan.slug
    slug = price.metadata.get(bt.ZIGZNOTE_PLAN_KEY) if price else None
    return storable_text(slug, max_chars=40) if slug else None


def upsert_payment(
    session: Session,
    provider: str,
    payment: bt.Payment,
    *,
    customer: BillingCustomer | None = None,
    as_of: datetime | None = None,
) -> Payment | None:
    """The row of ``payment``; None when its customer is not one of ours. A payment that names
    no invoice keeps the invoice link :func:`upsert_invoice` set: since Stripe's 2025 API
    versions a PaymentIntent no longer names its invoice; the invoice names its payments."""
    customer = customer or customer_by_provider_id(session, provider, payment.customer_id)
    if customer is None:
        return None
    values = {
        **_owned(customer, provider), "provider_payment_id": payment.id, "amount": payment.amount.amount,
        "currency": payment.amount.currency, "amount_refunded": payment.amount_refunded.amount,
        "amount_received": payment.amount_received.amount if payment.amount_received is not None else None,
        "status": payment.status.value,
        "description": _text(payment.description, 1000), "provider_invoice_id": payment.invoice_id,
        "failure_message": _text(payment.failure_message, 1000), "provider_created_at": payment.created,
    }  # fmt: skip
    if payment.invoice_id is None:
        del values["provider_invoice_id"]  # a new row starts without a link; a linked one keeps it
    return _put(session, Payment, "pay", Payment.provider_payment_id, values, as_of=as_of)


def upsert_invoice(
    session: Session,
    provider: str,
    invoice: bt.Invoice,
    *,
    customer: BillingCustomer | None = None,
    as_of: datetime | None = None,
) -> Invoice | None:
    """The row of ``invoice``; None when its customer is not one of ours. The payment it names
    (``Invoice.payment_id``), when we have its row, is linked to it (``payments show`` names the
    invoice)."""
    customer = customer or customer_by_provider_id(session, provider, invoice.customer_id)
    if customer is None:
        return None
    sub = (
        _row(session, Subscription, Subscription.provider_subscription_id, provider, invoice.subscription_id)
        if invoice.subscription_id
        else None
    )
    values = {
        **_owned(customer, provider), "subscription_id": sub.id if sub else None, "provider_invoice_id": invoice.id,
        "provider_subscription_id": invoice.subscription_id, "number": _text(invoice.number, 100),
        "status": invoice.status.value, "currency": invoice.total.currency,
        "total": invoice.total.amount, "amount_due": invoice.amount_due.amount,
        "amount_paid": invoice.amount_paid.amount, "amount_remaining": invoice.amount_remaining.amount,
        "period_start": invoice.period_start, "period_end": invoice.period_end, "due_date": invoice.due_date,
        "hosted_url": _text(invoice.hosted_url, 2000), "pdf_url": _text(invoice.pdf_url, 2000),
        "provider_created_at": invoice.created,
    }  # fmt: skip
    row = _put(session, Invoice, "inv", Invoice.provider_invoice_id, values, as_of=as_of)
    if invoice.payment_id:
        paid: Payment | None = _row(
            session, Payment, Payment.provider_payment_id, provider, invoice.payment_id, lock=True
        )
        if paid is not None and paid.org_id == customer.org_id and paid.provider_invoice_id != invoice.id:
            paid.provider_invoice_id, paid.updated_at = invoice.id, utcnow()
            session.add(paid)
    return row


def payment_known(session: Session, provider: str, payment_id: str) -> bool:
    """Whether we have a row for the provider's payment ``payment_id``."""
    return _row(session, Payment, Payment.provider_payment_id, provider, payment_id) is not None


def upsert_refund(
    session: Session, provider: str, refund: bt.Refund, *, org_id: str | None = None, as_of: datetime | None = None
) -> Refund | None:
    """The row of ``refund``; its payment's row links it (None when neither the payment nor
    ``org_id`` tells the organization)."""
    payment = _row(session, Payment, Payment.provider_payment_id, provider, refund.payment_id)
    org = payment.org_id if payment is not None else org_id
    if org is None:
        return None
    values = {
        "org_id": org, "payment_id": payment.id if payment is not None else None, "provider": provider,
        "provider_refund_id": refund.id, "provider_payment_id": refund.payment_id, "amount": refund.amount.amount,
        "currency": refund.amount.currency, "status": refund.status.value, "reason": _text(refund.reason, 200),
        "failure_reason": _text(refund.failure_reason, 200), "provider_created_at": refund.created,
    }  # fmt: skip
    return _put(session, Refund, "ref", Refund.provider_refund_id, values, as_of=as_of)


# -- showing ------------------------------------------------------------------------------------


def customer_json(row: BillingCustomer, *, org_slug: str | None = None) -> dict[str, Any]:
    """``{"id", "org_id", "org" (slug), "provider", "provider_id", "email", "name", "deleted", "synced_at",
    "created_at"}``."""
    return {
        "id": row.id, "org_id": row.org_id, "org": org_slug, "provider": row.provider,
        "provider_id": row.provider_customer_id, "email": row.email, "name": row.name, "deleted": row.deleted,
        "synced_at": iso(row.synced_at), "created_at": iso(row.created_at),
    }  # fmt: skip


def price_json(row: BillingPrice) -> dict[str, Any]:
    """``{"id", "provider", "provider_id", "product_id", "amount" (money), "interval", "interval_count", "active"}``."""
    return {
        "id": row.id, "provider": row.provider, "provider_id": row.provider_price_id,
        "product_id": row.provider_product_id, "amount": money_json(row.amount, row.currency),
        "interval": row.interval, "interval_count": row.interval_count, "active": row.active,
    }  # fmt: skip


def subscription_json(row: Subscription) -> dict[str, Any]:
    """The subscription: IDs, ``plan`` slug, ``amount`` (the price, money), status, period, cancel fields."""
    return {
        "id": row.id, "org_id": row.org_id, "provider": row.provider, "provider_id": row.provider_subscription_id,
        "plan": row.plan_slug, "price_id": row.price_id, "provider_price_id": row.provider_price_id,
        "amount": money_json(row.amount, row.currency), "interval": row.interval, "quantity": row.quantity,
        "status": row.status, "current_period_start": iso(row.current_period_start),
        "current_period_end": iso(row.current_period_end), "cancel_at_period_end": row.cancel_at_period_end,
        "cancel_at": iso(row.cancel_at), "canceled_at": iso(row.canceled_at), "trial_end": iso(row.trial_end),
        "latest_invoice": row.latest_invoice_id, "created": iso(row.provider_created_at),
        "synced_at": iso(row.synced_at),
    }  # fmt: skip


def payment_json(row: Payment) -> dict[str, Any]:
    """The payment: ``amount``, ``amount_received`` (None where not reported), ``amount_refunded`` and
    ``refundable`` (received, else amount, minus refunded) as money, as last read; status."""
    received = Money(row.amount if row.amount_received is None else row.amount_received, row.currency)
    refundable = received - Money(row.amount_refunded, row.currency)
    return {
        "id": row.id, "org_id": row.org_id, "provider": row.provider, "provider_id": row.provider_payment_id,
        "amount": money_json(row.amount, row.currency),
        "amount_received": money_json(row.amount_received, row.currency),
        "amount_refunded": money_json(row.amount_refunded, row.currency),
        "refundable": money.as_json(refundable), "status": row.status, "description": row.description,
        "invoice": row.provider_invoice_id, "failure_message": row.failure_message,
        "created": iso(row.provider_created_at), "synced_at": iso(row.synced_at),
    }  # fmt: skip


def invoice_json(row: Invoice) -> dict[str, Any]:
    """The invoice: number, status, ``total``/``amount_due``/``amount_paid``/``amount_remaining`` as money."""

    def m(amount: int) -> dict[str, Any] | None:
        return money_json(amount, row.currency)

    return {
        "id": row.id, "org_id": row.org_id, "provider": row.provider, "provider_id": row.provider_invoice_id,
        "number": row.number, "status": row.status, "subscription_id": row.subscription_id,
        "provider_subscription_id": row.provider_subscription_id, "total": m(row.total),
        "amount_due": m(row.amount_due), "amount_paid": m(row.amount_paid), "amount_remaining": m(row.amount_remaining),
        "period_start": iso(row.period_start), "period_end": iso(row.period_end), "due_date": iso(row.due_date),
        "hosted_url": row.hosted_url, "pdf_url": row.pdf_url, "created": iso(row.provider_created_at),
        "synced_at": iso(row.synced_at),
    }  # fmt: skip


def refund_json(row: Refund) -> dict[str, Any]:
    """The refund: IDs (ours and the payment's), ``amount`` as money, status, reason."""
    return {
        "id": row.id, "provider": row.provider, "provider_id": row.provider_refund_id, "payment_id": row.payment_id,
        "provider_payment_id": row.provider_payment_id, "amount": money_json(row.amount, row.currency),
        "status": row.status, "reason": row.reason, "failure_reason": row.failure_reason,
        "created": iso(row.provider_created_at),
    }  # fmt: skip
