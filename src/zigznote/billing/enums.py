"""The provider-neutral billing enums: intervals, prorations and the states of subscriptions,
payments, invoices, refunds and checkout pages. Values are Stripe's words (the widest set);
other providers map onto them in their ``mapping`` module. Re-exported by
:mod:`zigznote.billing.types`, where callers import them from.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "BillingInterval", "CheckoutMode", "CheckoutStatus", "InvoiceStatus", "PaymentStatus", "Proration", "RefundStatus",
    "SubscriptionStatus",
]  # fmt: skip


class BillingInterval(StrEnum):
    """How often a recurring price bills (Stripe ``recurring.interval``)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Proration(StrEnum):
    """What a plan change does with the unused time (Stripe ``proration_behavior``):
    ``create_prorations`` adds proration items to the next invoice, ``always_invoice`` invoices
    them at once, ``none`` changes the price from the next period without credit."""

    CREATE_PRORATIONS = "create_prorations"
    NONE = "none"
    ALWAYS_INVOICE = "always_invoice"


class SubscriptionStatus(StrEnum):
    """Subscription states (Stripe's set; other providers map onto it)."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


class PaymentStatus(StrEnum):
    """A one-time payment's state. Stripe PaymentIntent ``requires_payment_method`` and
    ``requires_confirmation`` map to ``pending``; a PaymentIntent whose last attempt failed
    (``last_payment_error`` set) to ``failed``; Flutterwave ``successful``/``failed``/``pending``."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class InvoiceStatus(StrEnum):
    """Stripe's invoice states."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    UNCOLLECTIBLE = "uncollectible"
    VOID = "void"


class RefundStatus(StrEnum):
    """A refund's state (Stripe's set; Flutterwave ``completed`` is ``succeeded``)."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class CheckoutMode(StrEnum):
    """``payment``: a one-time amount; ``subscription``: a recurring price."""

    PAYMENT = "payment"
    SUBSCRIPTION = "subscription"


class CheckoutStatus(StrEnum):
    """A hosted checkout page's state: ``open`` until paid (``complete``) or ``expired``."""

    OPEN = "open"
    COMPLETE = "complete"
    EXPIRED = "expired"
