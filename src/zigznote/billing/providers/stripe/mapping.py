"""Stripe's answers (``StripeObject``s) as zigznote's neutral billing types.

Objects are read by attribute (stripe-python 15+: "StripeObject no longer inherits from
dict", https://github.com/stripe/stripe-python/blob/master/CHANGELOG.md#1500---2026-03-25), as
API version 2026-10-28.endive shapes them (https://docs.stripe.com/api):

- Subscriptions: the billing period lives on each item, ``items.data[].current_period_start``
  / ``_end``; the subscription-level fields were removed in 2025-03-31.basil
  (https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-subscription-current-period-start-and-end).
  A subscription whose collection is paused (``pause_collection`` set, status ``active``) is
  shown as ``paused``: that is what zigznote's ``pause_subscription`` does.
- Invoices reach their subscription through ``parent.subscription_details.subscription``
  (https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects);
  their payment through ``payments.data[].payment.payment_intent``.
- Payments are PaymentIntents; what was refunded is the charge's ``amount_refunded``
  (``latest_charge``, expanded), what was received ``amount_received``.

Amounts come back through ``money.from_provider_amount(…, "stripe")`` only (an amount the
currency cannot hold is Stripe's fault: ProviderError). Text passes ``untrusted.storable_text``
(bounded; empty text is ``None``); IDs must look like Stripe IDs. Both through the helpers every
provider shares (``providers/_shared.py``). A field missing from an
answer, or a state zigznote does not know, is a ProviderError (exit 5), never an AttributeError.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, ParamSpec, TypeVar

import stripe

from zigznote.billing.money import Money
from zigznote.billing.providers._shared import answer_money, answer_text, shown, unexpected_answer
from zigznote.billing.types import (
    BillingInterval,
    CheckoutMode,
    CheckoutSession,
    CheckoutStatus,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Plan,
    Price,
    Refund,
    RefundStatus,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)
from zigznote.errors import ProviderError
from zigznote.untrusted import storable_text

__all__ = [
    "checkout_session",
    "customer",
    "expandable_id",
    "invoice",
    "payment",
    "payment_method",
    "plan",
    "price",
    "refund",
    "subscription",
    "timestamp",
]

P = ParamSpec("P")
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

_ID_RE: Final = re.compile(r"[A-Za-z0-9_]{1,255}")
_MAX_TEXT: Final = 1000
_MAX_URL: Final = 2048

# PaymentIntent statuses (``PaymentIntent.status`` in the SDK's ``_payment_intent.py``) → ours.
_PAYMENT_STATUS: Final = {
    "requires_payment_method": PaymentStatus.PENDING,
    "requires_confirmation": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELED,
}


def _answer(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn a field missing from Stripe's answer into a ProviderError naming it."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except AttributeError as exc:
            field = exc.name if isinstance(exc.name, str) and _ID_RE.fullmatch(exc.name) else "a field"
            raise ProviderError(
                f"Stripe's answer lacks {field} ({fn.__name__})", code="stripe_unexpected_answer"
            ) from None

    return wrapper


def _unexpected(what: str, value: object) -> ProviderError:
    return unexpected_answer("Stripe", f"an unknown {what} {shown(value)!r}")


def _enum(cls: type[E], value: object, what: str) -> E:
    if not isinstance(value, str):
        raise _unexpected(what, value)
    try:
        return cls(value)
    except ValueError:
        raise _unexpected(what, value) from None


def _id(value: object, what: str = "ID") -> str:
    if isinstance(value, str) and _ID_RE.fullmatch(value):
        return value
    raise _unexpected(what, value)


def expandable_id(value: object) -> str | None:
    """The ID of an expandable field: the string itself, or the expanded object's ``id``."""
    if value is None:
        return None
    if isinstance(value, str):
        return _id(value)
    return _id(getattr(value, "id", None))


def timestamp(value: object) -> datetime | None:
    """A Unix timestamp as naive UTC (the store's convention); ``None`` stays ``None``."""
    if value is None:
        return None
    if type(value) is not int:
        raise _unexpected("timestamp", value)
    return datetime.fromtimestamp(value, tz=UTC).replace(tzinfo=None)


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    raw = value.to_dict() if isinstance(value, stripe.StripeObject) else value
    if not isinstance(raw, dict):
        raise _unexpected("metadata", type(raw).__name__)
    return {
        storable_text(str(k), max_chars=40) or "": storable_text(str(v), max_chars=500) or ""
        for k, v in list(raw.items())[:50]
    }


def _money(value: object, currency: object) -> Money:
    return answer_money(value, currency, "stripe", "Stripe")


# -- customers and payment methods --------------------------------------------------------


@_answer
def customer(obj: stripe.Customer) -> Customer:
    """A Customer (or the stub Stripe keeps for a deleted one: ``deleted=True``)."""
    if getattr(obj, "deleted", False):
        return Customer(id=_id(obj.id), deleted=True)
    settings = obj.invoice_settings
    default_pm = expandable_id(settings.default_payment_method) if settings is not None else None
    return Customer(
        id=_id(obj.id),
        email=answer_text(obj.email, 512),
        name=answer_text(obj.name, 256),
        default_payment_method_id=default_pm,
        created=timestamp(obj.created),
        metadata=_metadata(obj.metadata),
    )


@_answer
def payment_method(obj: stripe.PaymentMethod, *, default_id: str | None = None) -> PaymentMethod:
    """A PaymentMethod; card fields from ``card`` when it is a card. ``default_id``: the
    customer's ``invoice_settings.default_payment_method``."""
    card = obj.card if obj.type == "card" else None
    return PaymentMethod(
        id=_id(obj.id),
        type=answer_text(obj.type, 64) or "unknown",
        customer_id=expandable_id(obj.customer),
        brand=answer_text(card.brand, 32) if card is not None else None,
        last4=answer_text(card.last4, 4) if card is not None else None,
        exp_month=card.exp_month if card is not None else None,
        exp_year=card.exp_year if card is not None else None,
        is_default=default_id is not None and obj.id == default_id,
    )


# -- products and prices ----------------------------------------------------------------------


@_answer
def plan(obj: stripe.Product) -> Plan:
    """A Product; ``features`` are its ``marketing_features`` names."""
    features = tuple(
        text for f in (obj.marketing_features or []) if (text := answer_text(getattr(f, "name", None), 200))
    )
    return Plan(
        id=_id(obj.id),
        name=answer_text(obj.name, 200) or "",
        active=bool(obj.active),
        description=answer_text(obj.description, _MAX_TEXT),
        features=features,
        created=timestamp(obj.created),
        metadata=_metadata(obj.metadata),
    )


def has_unit_amount(obj: stripe.Price) -> bool:
    """Whether a price is a plain per-unit amount (tiered and customer-chosen prices are not)."""
    return getattr(obj, "unit_amount", None) is not None


@_answer
def price(obj: stripe.Price) -> Price:
    """A Price. ProviderError for one without ``unit_amount`` (tiered, customer-chosen):
    zigznote creates only per-unit prices and cannot show others as one amount."""
    if obj.unit_amount is None:
        raise ProviderError(
            f"Stripe price {_id(obj.id)} has no unit_amount (tiered or customer-chosen pricing)",
            code="stripe_price_unsupported",
        )
    recurring = obj.recurring
    return Price(
        id=_id(obj.id),
        product_id=_id(expandable_id(obj.product), "product"),
        amount=_money(obj.unit_amount, obj.currency),
        interval=_enum(BillingInterval, recurring.interval, "interval") if recurring is not None else None,
        interval_count=recurring.interval_count if recurring is not None else 1,
        active=bool(obj.active),
        created=timestamp(obj.created),
        metadata=_metadata(obj.metadata),
    )


# -- subscriptions -----------------------------------------------------------------------------


@_answer
def subscription(obj: stripe.Subscription) -> Subscription:
    """A Subscription with its items; the current period is the first item's."""
    items = tuple(
        SubscriptionItem(
            id=_id(item.id),
            price=price(item.price),
            quantity=item.quantity if item.quantity is not None else 1,
            current_period_start=timestamp(item.current_period_start),
            current_period_end=timestamp(item.current_period_end),
        )
        for item in obj.items.data
    )
    status = _enum(SubscriptionStatus, obj.status, "subscription status")
    if obj.pause_collection is not None and status is SubscriptionStatus.ACTIVE:
        status = SubscriptionStatus.PAUSED
    return Subscription(
        id=_id(obj.id),
        customer_id=_id(expandable_id(obj.customer), "customer"),
        status=status,
        items=items,
        current_period_start=items[0].current_period_start if items else None,
        current_period_end=items[0].current_period_end if items else None,
        cancel_at_period_end=bool(obj.cancel_at_period_end),
        cancel_at=timestamp(obj.cancel_at),
        canceled_at=timestamp(obj.canceled_at),
        trial_end=timestamp(obj.trial_end),
        latest_invoice_id=expandable_id(obj.latest_invoice),
        created=timestamp(obj.created),
        metadata=_metadata(obj.metadata),
    )


# -- payments, invoices, refunds -------------------------------------------------------------------


@_answer
def payment(obj: stripe.PaymentIntent) -> Payment:
    """A PaymentIntent. ``amount_refunded`` is its latest charge's (expand ``latest_charge``:
    a PaymentIntent has no such field); no charge yet means nothing refunded."""
    charge = obj.latest_charge
    if isinstance(charge, str):
        raise ProviderError(
            f"Stripe answered payment {_id(obj.id)} without its charge (expand latest_charge)",
            code="stripe_unexpected_answer",
        )
    refunded = charge.amount_refunded if charge is not None else 0
    error = obj.last_payment_error
    status = _PAYMENT_STATUS.get(obj.status)
    if status is None:
        raise _unexpected("payment status", obj.status)
    if status is PaymentStatus.PENDING and error is not None:
        status = PaymentStatus.FAILED  # requires_payment_method after a failed attempt
    return Payment(
        id=_id(obj.id),
        amount=_money(obj.amount, obj.currency),
        status=status,
        amount_refunded=_money(refunded, obj.currency),
        amount_received=_money(obj.amount_received, obj.currency),
        customer_id=expandable_id(obj.customer),
        description=answer_text(obj.description, _MAX_TEXT),
        payment_method_id=expandable_id(obj.payment_method),
        failure_message=answer_text(error.message, 500) if error is not None else None,
        created=timestamp(obj.created),
        metadata=_metadata(obj.metadata),
    )


def _invoice_payment_id(obj: stripe.Invoice) -> str | None:
    payments = getattr(obj, "payments", None)
    entries = list(getattr(payments, "data", None) or []) if payments is not None else []
    entries.sort(key=lambda p: not getattr(p, "is_default", False))  # the default one first
    for entry in entries:
        inner = getattr(entry, "payment", None)
        found = expandable_id(getattr(inner, "payment_intent", None)) if inner is not None else None
        if found:
            return found
    return None


@_answer
def invoice(obj: stripe.Invoice) -> Invoice:
    """An Invoice; ``subscription_id`` from ``parent.subscription_details.subscription``."""
    parent = obj.parent
    details = parent.subscription_details if parent is not None else None
    currency = obj.currency
    return Invoice(
        id=_id(obj.id),
        customer_id=_id(expandable_id(obj.customer), "customer"),
        status=_enum(InvoiceStatus, obj.status or "draft", "invoice status"),
        total=_money(obj.total, currency),
        amount_due=_money(obj.amount_due, currency),
        amount_paid=_money(obj.amount_paid, currency),
        amount_remaining=_money(obj.amount_remaining, currency),
        subscription_id=expandable_id(details.subscription) if details is not None else None,
        number=answer_text(obj.number, 100),
        payment_id=_invoice_payment_id(obj),
        created=timestamp(obj.created),
        period_start=timestamp(obj.period_start),
        period_end=timestamp(obj.period_end),
        due_date=timestamp(obj.due_date),
        hosted_url=answer_text(obj.hosted_invoice_url, _MAX_URL),
        pdf_url=answer_text(obj.invoice_pdf, _MAX_URL),
    )


@_answer
def refund(obj: stripe.Refund) -> Refund:
    """A Refund of a PaymentIntent."""
    return Refund(
        id=_id(obj.id),
        payment_id=_id(expandable_id(obj.payment_intent), "payment_intent"),
        amount=_money(obj.amount, obj.currency),
        status=_enum(RefundStatus, obj.status or "pending", "refund status"),
        reason=answer_text(obj.reason, 100),
        failure_reason=answer_text(getattr(obj, "failure_reason", None), 200),  # only on failed refunds
        created=timestamp(obj.created),
    )


@_answer
def checkout_session(obj: stripe.checkout.Session) -> CheckoutSession:
    """A Checkout Session; ``url`` is where the customer goes while it is open."""
    total = obj.amount_total
    return CheckoutSession(
        id=_id(obj.id),
        url=answer_text(obj.url, _MAX_URL),
        mode=_enum(CheckoutMode, obj.mode, "checkout mode"),
        status=_enum(CheckoutStatus, obj.status or "open", "checkout status"),
        customer_id=expandable_id(obj.customer),
        subscription_id=expandable_id(obj.subscription),
        payment_id=expandable_id(obj.payment_intent),
        amount_total=_money(total, obj.currency) if total is not None else None,
        expires_at=timestamp(obj.expires_at),
    )
