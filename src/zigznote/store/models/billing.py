"""Billing tables: what zigznote knows of each provider's customers, plans, subscriptions,
payments, invoices and refunds, the inbound provider events, and pending create operations.

Conventions (docs/billing.md):

- Money is two columns, ``<name>`` (integer ISO 4217 minor units, ``BigInteger``: amounts
  reach 10**15) and ``currency`` (the ISO code, upper case). Never a float.
- ``provider`` is the registry name (``stripe``); ``provider_*_id`` is that provider's own ID
  (``cus_…``, ``sub_…``), unique per provider. Our own IDs are prefixed (``ids.py``).
- Rows mirror the provider, which stays the source of truth: ``synced_at`` is when a row was
  last written from the provider's answer (a create, a fetch, a sync, an inbound event).
- Text from a provider passed ``untrusted.storable_text`` before it got here.
- Rows owned by an organization are deleted with it (ON DELETE CASCADE), like every other
  table; plans and prices are the installation's catalog and belong to no organization.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at, text_column, timestamp, updated_at

# ProviderEvent.status
EVENT_RECEIVED = "received"  # stored, not applied yet
EVENT_PROCESSED = "processed"
EVENT_FAILED = "failed"  # applying raised: ``error`` says why; replayable
EVENT_IGNORED = "ignored"  # a type no handler takes
EVENT_STATUSES = (EVENT_RECEIVED, EVENT_PROCESSED, EVENT_FAILED, EVENT_IGNORED)

# PendingOperation.status
OP_PENDING = "pending"  # written before the provider call; a retry reuses key and params
OP_COMPLETED = "completed"  # the provider answered: ``result_id`` is the object it made
OP_FAILED = "failed"  # the provider refused: the key is spent (it replays the refusal)
OP_EXPIRED = "expired"  # never answered, and older than the provider keeps keys
OP_STATUSES = (OP_PENDING, OP_COMPLETED, OP_FAILED, OP_EXPIRED)

_ID = 40  # our prefixed IDs
_PID = 255  # a provider's object IDs (Stripe's are at most 255 characters)


def _money() -> Any:
    return Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


def _json_object() -> Any:
    return Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


class BillingCustomer(SQLModel, table=True):
    """An organization's customer at one provider (one per organization and provider)."""

    __tablename__ = "billing_customer"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "provider", name="uq_billing_customer_org_provider"),
        sa.UniqueConstraint("provider", "provider_customer_id", name="uq_billing_customer_provider_id"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=_ID)
    provider: str = Field(max_length=32)
    provider_customer_id: str = Field(max_length=_PID)
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=200)
    deleted: bool = Field(default=False)  # the provider reports it deleted
    synced_at: datetime = timestamp(nullable=False)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class BillingPlan(SQLModel, table=True):
    """A plan of the catalog (``plans.toml``), as last synced. ``products``: provider name →
    that provider's product ID (``{"stripe": "prod_…"}``). ``active``: still in the file."""

    __tablename__ = "billing_plan"

    id: str = Field(primary_key=True, max_length=_ID)
    slug: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    description: str | None = text_column()
    features: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    limits: dict[str, Any] = _json_object()
    products: dict[str, str] = _json_object()
    active: bool = Field(default=True)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class BillingPrice(SQLModel, table=True):
    """One provider price of a plan: ``amount`` every ``interval_count`` ``interval``.
    Prices are immutable: a changed amount is a new row, the old one ``active=False``."""

    __tablename__ = "billing_price"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_price_id", name="uq_billing_price_provider_id"),
        sa.Index("ix_billing_price_plan", "plan_id", "provider", "active"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    plan_id: str = Field(foreign_key="billing_plan.id", ondelete="CASCADE", max_length=_ID)
    provider: str = Field(max_length=32)
    provider_price_id: str = Field(max_length=_PID)
    provider_product_id: str = Field(max_length=_PID)
    amount: int = _money()
    currency: str = Field(max_length=3)
    interval: str = Field(max_length=8)
    interval_count: int = Field(default=1)
    active: bool = Field(default=True)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class Subscription(SQLModel, table=True):
    """A subscription at a provider. ``price_id``: our BillingPrice when the provider's price
    is one we synced (NULL otherwise); ``amount``/``currency``: that price's, as the provider
    reports it. Periods are the (first) item's, where Stripe keeps them since 2025."""

    __tablename__ = "billing_subscription"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_subscription_id", name="uq_billing_subscription_provider_id"),
        sa.Index("ix_billing_subscription_org", "org_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=_ID)
    customer_id: str = Field(foreign_key="billing_customer.id", ondelete="CASCADE", max_length=_ID)
    provider: str = Field(max_length=32)
    provider_subscription_id: str = Field(max_length=_PID)
    provider_price_id: str | None = Field(default=None, max_length=_PID)
    price_id: str | None = Field(default=None, foreign_key="billing_price.id", ondelete="SET NULL", max_length=_ID)
    plan_slug: str | None = Field(default=None, max_length=40)
    status: str = Field(max_length=24)
    quantity: int = Field(default=1)
    amount: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    interval: str | None = Field(default=None, max_length=8)
    current_period_start: datetime | None = timestamp()
    current_period_end: datetime | None = timestamp()
    cancel_at_period_end: bool = Field(default=False)
    cancel_at: datetime | None = timestamp()
    canceled_at: datetime | None = timestamp()
    trial_end: datetime | None = timestamp()
    latest_invoice_id: str | None = Field(default=None, max_length=_PID)
    provider_created_at: datetime | None = timestamp()
    synced_at: datetime = timestamp(nullable=False)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class Payment(SQLModel, table=True):
    """A one-time payment (Stripe PaymentIntent). ``amount_received`` and ``amount_refunded`` as
    the provider reported them at ``synced_at``; refunds are checked against a fresh fetch, never
    against these."""

    __tablename__ = "billing_payment"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_payment_id", name="uq_billing_payment_provider_id"),
        sa.Index("ix_billing_payment_org", "org_id", "provider_created_at"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=_ID)
    customer_id: str | None = Field(
        default=None, foreign_key="billing_customer.id", ondelete="SET NULL", max_length=_ID
    )
    provider: str = Field(max_length=32)
    provider_payment_id: str = Field(max_length=_PID)
    amount: int = _money()
    amount_refunded: int = _money()
    # What the provider reports collected (Stripe amount_received); NULL where it reports none.
    amount_received: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    currency: str = Field(max_length=3)
    status: str = Field(max_length=24)
    description: str | None = text_column()
    provider_invoice_id: str | None = Field(default=None, max_length=_PID)
    failure_message: str | None = text_column()
    provider_created_at: datetime | None = timestamp()
    synced_at: datetime = timestamp(nullable=False)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class Invoice(SQLModel, table=True):
    """A provider invoice; every amount in its one ``currency``."""

    __tablename__ = "billing_invoice"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_invoice_id", name="uq_billing_invoice_provider_id"),
        sa.Index("ix_billing_invoice_org", "org_id", "provider_created_at"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=_ID)
    customer_id: str | None = Field(
        default=None, foreign_key="billing_customer.id", ondelete="SET NULL", max_length=_ID
    )
    subscription_id: str | None = Field(
        default=None, foreign_key="billing_subscription.id", ondelete="SET NULL", max_length=_ID
    )
    provider: str = Field(max_length=32)
    provider_invoice_id: str = Field(max_length=_PID)
    provider_subscription_id: str | None = Field(default=None, max_length=_PID)
    number: str | None = Field(default=None, max_length=100)
    status: str = Field(max_length=24)
    currency: str = Field(max_length=3)
    total: int = _money()
    amount_due: int = _money()
    amount_paid: int = _money()
    amount_remaining: int = _money()
    period_start: datetime | None = timestamp()
    period_end: datetime | None = timestamp()
    due_date: datetime | None = timestamp()
    hosted_url: str | None = text_column()
    pdf_url: str | None = text_column()
    provider_created_at: datetime | None = timestamp()
    synced_at: datetime = timestamp(nullable=False)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class Refund(SQLModel, table=True):
    """A refund of (part of) a payment."""

    __tablename__ = "billing_refund"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_refund_id", name="uq_billing_refund_provider_id"),
        sa.Index("ix_billing_refund_payment", "payment_id"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=_ID)
    payment_id: str | None = Field(default=None, foreign_key="billing_payment.id", ondelete="CASCADE", max_length=_ID)
    provider: str = Field(max_length=32)
    provider_refund_id: str = Field(max_length=_PID)
    provider_payment_id: str = Field(max_length=_PID)
    amount: int = _money()
    currency: str = Field(max_length=3)
    status: str = Field(max_length=24)
    reason: str | None = Field(default=None, max_length=200)
    failure_reason: str | None = Field(default=None, max_length=200)
    provider_created_at: datetime | None = timestamp()
    synced_at: datetime = timestamp(nullable=False)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class ProviderEvent(SQLModel, table=True):
    """An inbound provider webhook, stored before it is applied (issue 12): the exact verified
    bytes in ``payload``, unique per provider on ``provider_event_id`` (a redelivery is a
    duplicate, never applied twice). ``attempts``: how many times applying was tried;
    ``error``: the last failure. ``org_id``: the organization it concerns, once known."""

    __tablename__ = "provider_event"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_event_id", name="uq_provider_event_provider_id"),
        sa.Index("ix_provider_event_status", "status", "received_at"),
        sa.Index("ix_provider_event_type", "type", "received_at"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    provider: str = Field(max_length=32)
    provider_event_id: str = Field(max_length=_PID)
    type: str = Field(max_length=100)
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=_PID)
    livemode: bool = Field(default=False)
    org_id: str | None = Field(default=None, foreign_key="organization.id", ondelete="SET NULL", max_length=_ID)
    payload: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    provider_created_at: datetime | None = timestamp()
    received_at: datetime = created_at()
    processed_at: datetime | None = timestamp()
    status: str = Field(default=EVENT_RECEIVED, max_length=16)
    error: str | None = text_column()
    attempts: int = Field(default=0)


class PendingOperation(SQLModel, table=True):
    """A create sent to a provider, written (and committed) *before* the call.

    ``scope`` names what is being created in our own IDs (``org_…``, a plan slug and price
    fingerprint); an operation still ``pending`` for the same provider, operation and scope is
    resumed by the next attempt with the same ``idempotency_key`` and the frozen ``params``
    (a retry after a lost response never creates a second object: Stripe answers a reused
    key with the first result, and refuses a reused key with other parameters). ``completed``
    with ``result_id`` (the provider's object ID) once answered; ``failed`` when refused."""

    __tablename__ = "billing_pending_operation"
    __table_args__ = (
        sa.UniqueConstraint("provider", "idempotency_key", name="uq_billing_pending_operation_key"),
        sa.Index("ix_billing_pending_operation_scope", "provider", "operation", "scope", "status"),
    )

    id: str = Field(primary_key=True, max_length=_ID)
    org_id: str | None = Field(default=None, foreign_key="organization.id", ondelete="CASCADE", max_length=_ID)
    provider: str = Field(max_length=32)
    operation: str = Field(max_length=40)
    scope: str = Field(max_length=200)
    idempotency_key: str = Field(max_length=255)
    params: dict[str, Any] = _json_object()
    status: str = Field(default=OP_PENDING, max_length=16)
    attempts: int = Field(default=0)
    result_id: str | None = Field(default=None, max_length=_PID)
    error: str | None = text_column()
    created_at: datetime = created_at()
    completed_at: datetime | None = timestamp()
    updated_at: datetime = updated_at()


__all__ = [
    "EVENT_STATUSES",
    "OP_STATUSES",
    "BillingCustomer",
    "BillingPlan",
    "BillingPrice",
    "Invoice",
    "Payment",
    "PendingOperation",
    "ProviderEvent",
    "Refund",
    "Subscription",
]
