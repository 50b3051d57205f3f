"""Provider-neutral billing types: what a :class:`~zigznote.billing.providers.base.PaymentProvider`
takes and returns.

Conventions for every type here:

- Amounts are :class:`~zigznote.billing.money.Money` (integer ISO minor units), never floats or
  provider units; providers convert at their edge with ``money.from_provider_amount``.
- ``id`` fields are the provider's own IDs (``cus_…``, ``price_…``); zigznote's IDs live in the store.
- Datetimes are naive UTC (the store's convention, ``timeutil``), ``None`` when the provider
  has no such time.
- ``metadata`` is the provider's key/value metadata as ``str → str`` (Stripe: up to 50 keys,
  keys ≤ 40 characters, values ≤ 500). zigznote's own keys start with ``zigznote_``
  (``zigznote_plan`` = the plan slug on products and prices, ``zigznote_org`` on customers).
- Text from a provider has passed ``untrusted.storable_text`` in the provider module.
- ``*Input``/``*Spec``/``*Request`` types are what callers send; the others are what providers return.
- The enums live in :mod:`zigznote.billing.enums` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zigznote.billing.enums import (
    BillingInterval,
    CheckoutMode,
    CheckoutStatus,
    InvoiceStatus,
    PaymentStatus,
    Proration,
    RefundStatus,
    SubscriptionStatus,
)
from zigznote.billing.money import Money

__all__ = [
    "ZIGZNOTE_ORG_KEY", "ZIGZNOTE_PLAN_KEY", "BillingInterval", "CheckoutMode", "CheckoutRequest", "CheckoutSession",
    "CheckoutStatus", "Customer", "CustomerInput", "CustomerUpdate", "Invoice", "InvoiceStatus", "Payment",
    "PaymentMethod", "PaymentRequest", "PaymentStatus", "Plan", "Price", "PriceSpec", "ProductSpec", "ProductUpdate",
    "Proration", "ProviderEvent", "Refund", "RefundStatus", "Subscription", "SubscriptionItem", "SubscriptionRequest",
    "SubscriptionStatus",
]  # fmt: skip

#: Metadata key holding the plan slug on a provider's products and prices.
ZIGZNOTE_PLAN_KEY = "zigznote_plan"
#: Metadata key naming the organization (its ID) on provider objects zigznote creates.
ZIGZNOTE_ORG_KEY = "zigznote_org"


# -- customers and payment methods ----------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    """A provider's customer. ``deleted``: the provider reports it deleted (Stripe keeps a stub)."""

    id: str
    email: str | None = None
    name: str | None = None
    default_payment_method_id: str | None = None
    created: datetime | None = None
    deleted: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomerInput:
    """A customer to create. ``metadata`` should carry ``zigznote_org`` (the org ID)."""

    email: str | None = None
    name: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomerUpdate:
    """Changes to a customer: ``None`` leaves a field as it is; ``metadata`` keys are merged."""

    email: str | None = None
    name: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True)
class PaymentMethod:
    """A saved way to pay. ``type``: the provider's word (``card``, ``mobile_money``,
    ``bank_transfer``, ``sepa_debit``). Card fields are ``None`` for other types."""

    id: str
    type: str
    customer_id: str | None = None
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    is_default: bool = False


# -- catalog: products (plans) and prices ------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A provider's product standing for one plan; ``slug`` is ``metadata["zigznote_plan"]``
    (``None``: not zigznote's). ``features``: the provider's marketing feature list, ``()``
    where it has none (see ``Capabilities.product_features``)."""

    id: str
    name: str
    active: bool = True
    description: str | None = None
    features: tuple[str, ...] = ()
    created: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def slug(self) -> str | None:
        """The plan slug (``metadata["zigznote_plan"]``); ``None`` on a product not zigznote's."""
        return self.metadata.get(ZIGZNOTE_PLAN_KEY)


@dataclass(frozen=True)
class Price:
    """A provider's price: ``amount`` per ``interval_count`` ``interval`` (``None``: one-time).
    Prices are immutable at Stripe; a change is a new price and the old one deactivated."""

    id: str
    product_id: str
    amount: Money
    interval: BillingInterval | None
    interval_count: int = 1
    active: bool = True
    created: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductSpec:
    """A product to create: the plan's name, description, features, and metadata carrying
    ``zigznote_plan``."""

    name: str
    description: str | None = None
    features: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductUpdate:
    """Changes to a product; ``None`` leaves a field as it is (``description=""`` clears it)."""

    name: str | None = None
    description: str | None = None
    features: tuple[str, ...] | None = None
    active: bool | None = None


@dataclass(frozen=True)
class PriceSpec:
    """A recurring price to create on ``product_id``: ``amount`` every ``interval_count``
    ``interval``; ``metadata`` carries ``zigznote_plan``."""

    product_id: str
    amount: Money
    interval: BillingInterval
    interval_count: int = 1
    metadata: Mapping[str, str] = field(default_factory=dict)


# -- subscriptions --------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionItem:
    """One priced line of a subscription. Since Stripe's 2025 API versions the billing period
    lives here (``current_period_start``/``_end``), not on the subscription."""

    id: str
    price: Price
    quantity: int = 1
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None


@dataclass(frozen=True)
class Subscription:
    """A provider subscription. ``current_period_*``: the period of its (first) item.
    ``cancel_at_period_end``: a cancel is scheduled (undo with ``undo_cancel_subscription``)."""

    id: str
    customer_id: str
    status: SubscriptionStatus
    items: tuple[SubscriptionItem, ...] = ()
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    cancel_at: datetime | None = None
    canceled_at: datetime | None = None
    trial_end: datetime | None = None
    latest_invoice_id: str | None = None
    created: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def price(self) -> Price | None:
        """The first item's price (zigznote subscriptions have one item)."""
        return self.items[0].price if self.items else None


@dataclass(frozen=True)
class SubscriptionRequest:
    """A subscription to create: ``customer_id`` on ``price_id``, ``quantity`` of it.
    ``trial_days``: a free trial first (``None``: none). ``payment_method_id``: the method to
    charge (``None``: the customer's default)."""

    customer_id: str
    price_id: str
    quantity: int = 1
    trial_days: int | None = None
    payment_method_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


# -- payments, invoices, refunds ----------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    """A one-time payment (Stripe PaymentIntent, Flutterwave transaction).

    ``amount_refunded``: what the provider reports refunded so far, in the same currency.
    ``amount_received``: what the provider reports it collected (Stripe PaymentIntent
    ``amount_received``: 0 until it succeeds); ``None`` where the provider reports no such
    figure. ``refundable``: what may still be refunded, from the provider's own figures.
    """

    id: str
    amount: Money
    status: PaymentStatus
    amount_refunded: Money
    customer_id: str | None = None
    description: str | None = None
    payment_method_id: str | None = None
    invoice_id: str | None = None
    failure_message: str | None = None
    created: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    amount_received: Money | None = None

    @property
    def received(self) -> Money:
        """What was collected: ``amount_received``, or ``amount`` where it is not reported."""
        return self.amount if self.amount_received is None else self.amount_received

    @property
    def refundable(self) -> Money:
        """:attr:`received` minus ``amount_refunded``."""
        return self.received - self.amount_refunded


@dataclass(frozen=True)
class PaymentRequest:
    """A one-time payment to create: ``amount`` from ``customer_id``, charged to
    ``payment_method_id`` (``None``: the customer's default, or collected later)."""

    amount: Money
    customer_id: str | None = None
    description: str | None = None
    payment_method_id: str | None = None
    return_url: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Invoice:
    """A provider invoice; all amounts in its one currency. ``subscription_id``: Stripe's
    ``parent.subscription_details.subscription`` (2025 API versions)."""

    id: str
    customer_id: str
    status: InvoiceStatus
    total: Money
    amount_due: Money
    amount_paid: Money
    amount_remaining: Money
    subscription_id: str | None = None
    number: str | None = None
    payment_id: str | None = None
    created: datetime | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    due_date: datetime | None = None
    hosted_url: str | None = None
    pdf_url: str | None = None


@dataclass(frozen=True)
class Refund:
    """A refund of (part of) a payment."""

    id: str
    payment_id: str
    amount: Money
    status: RefundStatus
    reason: str | None = None
    failure_reason: str | None = None
    created: datetime | None = None


# -- checkout and events ------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutRequest:
    """A hosted checkout page to open. ``mode=subscription`` needs ``price_id``;
    ``mode=payment`` needs ``amount`` (and ``description``). ``client_reference_id``: zigznote's
    org ID, echoed back in the completion event. ``cancel_url``: where a customer who turns back
    goes (None: a provider without one, ``Capabilities.checkout_cancel_url``)."""

    mode: CheckoutMode
    success_url: str
    cancel_url: str | None
    customer_id: str | None = None
    price_id: str | None = None
    quantity: int = 1
    amount: Money | None = None
    description: str | None = None
    client_reference_id: str | None = None
    trial_days: int | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckoutSession:
    """A created checkout page: send the customer to ``url`` (``None`` once it is complete or
    expired)."""

    id: str
    url: str | None
    mode: CheckoutMode
    status: CheckoutStatus
    customer_id: str | None = None
    subscription_id: str | None = None
    payment_id: str | None = None
    amount_total: Money | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ProviderEvent:
    """An inbound webhook whose signature checked out, normalized.

    ``id``: the provider's event ID (deduplication key); ``type``: the provider's own event type
    (``invoice.paid``, ``charge.completed``); ``object_type``: the neutral kind of object it is
    about (``customer``, ``subscription``, ``invoice``, ``payment``, ``refund``,
    ``checkout_session``, ``price``, ``product``; ``None`` when none of these);
    ``object_id``: that object's provider ID, to re-fetch it (the payload's copy is not trusted
    for state). ``data``: the parsed payload, ``raw``: the exact verified bytes, to store.
    """

    id: str
    provider: str
    type: str
    object_type: str | None
    object_id: str | None
    created: datetime | None
    livemode: bool
    data: Mapping[str, Any] = field(repr=False, default_factory=dict)
    raw: bytes = field(repr=False, default=b"")
