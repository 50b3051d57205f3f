"""zigznote's neutral requests as Stripe's typed form parameters (``stripe.params``).

Pure functions: the same request always gives the same parameters, which is what lets a retry
resend a create with the same ``Idempotency-Key`` and the same body
(:mod:`zigznote.billing.idempotency`). Every check that can refuse a request runs here, before
anything is sent. Amounts go through ``money.to_provider_amount(…, "stripe")`` only; currencies
are sent in lower case.

Parameters (API reference, version 2026-10-28.endive, https://docs.stripe.com/api):
customers ``email``, ``name``, ``metadata`` (merged on update), ``invoice_settings
[default_payment_method]``; products ``name``, ``description``, ``marketing_features[][name]``,
``metadata``, ``active``; prices ``product``, ``currency``, ``unit_amount``,
``recurring[interval|interval_count]`` ("Maximum of three years interval allowed (3 years, 36
months, or 156 weeks)"), ``metadata``; subscriptions ``customer``, ``items[][price|quantity]``,
``trial_period_days``, ``default_payment_method``, ``metadata``; PaymentIntents ``amount``,
``currency``, ``customer``, ``payment_method``, ``confirm``, ``return_url``,
``automatic_payment_methods``; Checkout Sessions ``mode``, ``success_url``, ``cancel_url``,
``line_items[][price|quantity]`` or ``line_items[][price_data]``, ``subscription_data``;
refunds ``payment_intent``, ``amount``, ``reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from stripe.params import (
    CustomerCreateParams,
    CustomerUpdateParams,
    PaymentIntentCreateParams,
    PriceCreateParams,
    ProductCreateParams,
    ProductUpdateParams,
    RefundCreateParams,
    SubscriptionCreateParams,
)
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsLineItem

from zigznote.billing.money import Money, to_provider_amount
from zigznote.billing.types import (
    BillingInterval,
    CheckoutMode,
    CheckoutRequest,
    CustomerInput,
    CustomerUpdate,
    PaymentRequest,
    PriceSpec,
    ProductSpec,
    ProductUpdate,
    SubscriptionRequest,
)
from zigznote.errors import InvalidInput

__all__ = [
    "MAX_INTERVAL_COUNT",
    "REFUND_REASONS",
    "amount",
    "checkout_create",
    "customer_create",
    "customer_update",
    "metadata",
    "payment_create",
    "positive",
    "price_create",
    "product_create",
    "product_update",
    "refund_create",
    "subscription_create",
]

#: Longest recurring interval Stripe takes: "three years (3 years, 36 months, or 156 weeks)";
#: days by the same three years.
MAX_INTERVAL_COUNT: Final = {
    BillingInterval.DAY: 1095,
    BillingInterval.WEEK: 156,
    BillingInterval.MONTH: 36,
    BillingInterval.YEAR: 3,
}
#: The refund reasons Stripe accepts (``RefundCreateParams.reason``).
REFUND_REASONS: Final = ("duplicate", "fraudulent", "requested_by_customer")
# https://docs.stripe.com/api/metadata: "up to 50 keys, with key names up to 40 characters long and
# values up to 500 characters long".
_MAX_METADATA_KEYS: Final = 50
_MAX_KEY: Final = 40
_MAX_VALUE: Final = 500
_MAX_FEATURES: Final = 15  # Product.marketing_features: "A list of up to 15 marketing features"


def amount(money: Money) -> int:
    """``money`` in Stripe's ``amount`` units (``to_provider_amount``; InvalidInput if Stripe
    cannot take it, e.g. 5.125 KWD)."""
    value = to_provider_amount(money, "stripe")
    assert isinstance(value, int)  # Stripe's edge style is integer minor units
    return value


def metadata(values: Mapping[str, str]) -> dict[str, str]:
    """Metadata as Stripe takes it; InvalidInput beyond Stripe's limits (nothing is cut)."""
    if len(values) > _MAX_METADATA_KEYS:
        raise InvalidInput(f"Stripe keeps at most {_MAX_METADATA_KEYS} metadata keys", code="metadata_too_large")
    out: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key or "[" in key or "]" in key:
            raise InvalidInput(f"metadata key {key!r} must be text without brackets", code="invalid_metadata")
        if len(key) > _MAX_KEY or len(value) > _MAX_VALUE:
            raise InvalidInput(
                f"metadata {key[:_MAX_KEY]!r}: Stripe keys are at most {_MAX_KEY} characters and values {_MAX_VALUE}",
                code="metadata_too_large",
            )
        out[key] = value
    return out


def positive(value: int, what: str) -> int:
    """``value`` when it is a whole number ≥ 1; InvalidInput naming ``what`` otherwise."""
    if type(value) is not int or value < 1:
        raise InvalidInput(f"{what} must be a whole number of at least 1, not {value!r}", code="invalid_request")
    return value


def customer_create(customer: CustomerInput) -> CustomerCreateParams:
    """``POST /v1/customers``."""
    params: CustomerCreateParams = {}
    if customer.email is not None:
        params["email"] = customer.email
    if customer.name is not None:
        params["name"] = customer.name
    if customer.metadata:
        params["metadata"] = metadata(customer.metadata)
    return params


def customer_update(changes: CustomerUpdate) -> CustomerUpdateParams:
    """``POST /v1/customers/:id``; ``None`` fields are not sent (Stripe leaves them)."""
    params: CustomerUpdateParams = {}
    if changes.email is not None:
        params["email"] = changes.email
    if changes.name is not None:
        params["name"] = changes.name
    if changes.metadata is not None:
        params["metadata"] = metadata(changes.metadata)
    return params


def _features(features: tuple[str, ...]) -> tuple[str, ...]:
    if len(features) > _MAX_FEATURES:
        raise InvalidInput(f"Stripe products keep at most {_MAX_FEATURES} marketing features", code="too_many_features")
    return features


def product_create(product: ProductSpec) -> ProductCreateParams:
    """``POST /v1/products``: ``features`` become ``marketing_features[][name]``."""
    params: ProductCreateParams = {"name": product.name}
    if product.description:
        params["description"] = product.description
    if product.features:
        params["marketing_features"] = [{"name": name} for name in _features(product.features)]
    if product.metadata:
        params["metadata"] = metadata(product.metadata)
    return params


def product_update(changes: ProductUpdate) -> ProductUpdateParams:
    """``POST /v1/products/:id``: ``description=""`` and ``features=()`` clear (Stripe's ``""``)."""
    params: ProductUpdateParams = {}
    if changes.name is not None:
        params["name"] = changes.name
    if changes.description is not None:
        params["description"] = changes.description  # "" unsets it at Stripe
    if changes.features is not None:
        params["marketing_features"] = (
            [{"name": name} for name in _features(changes.features)] if changes.features else ""
        )
    if changes.active is not None:
        params["active"] = changes.active
    return params


def price_create(price: PriceSpec) -> PriceCreateParams:
    """``POST /v1/prices``: a recurring per-unit price. InvalidInput for an amount Stripe
    cannot take or an interval longer than three years; nothing is sent then."""
    count = positive(price.interval_count, "interval_count")
    interval = BillingInterval(price.interval)
    if count > MAX_INTERVAL_COUNT[interval]:
        raise InvalidInput(
            f"Stripe bills at most every {MAX_INTERVAL_COUNT[interval]} {interval.value}s (three years), "
            f"not every {count}",
            code="interval_too_long",
        )
    params: PriceCreateParams = {
        "product": price.product_id,
        "currency": price.amount.currency.lower(),
        "unit_amount": amount(price.amount),
        "recurring": {"interval": interval.value, "interval_count": count},
    }
    if price.metadata:
        params["metadata"] = metadata(price.metadata)
    return params


def subscription_create(request: SubscriptionRequest) -> SubscriptionCreateParams:
    """``POST /v1/subscriptions`` with one item. ``payment_behavior`` stays Stripe's default
    (``allow_incomplete``): a first payment that needs the customer leaves it ``incomplete``."""
    params: SubscriptionCreateParams = {
        "customer": request.customer_id,
        "items": [{"price": request.price_id, "quantity": positive(request.quantity, "quantity")}],
    }
    if request.trial_days is not None:
        params["trial_period_days"] = positive(request.trial_days, "trial_days")
    if request.payment_method_id is not None:
        params["default_payment_method"] = request.payment_method_id
    if request.metadata:
        params["metadata"] = metadata(request.metadata)
    return params


def payment_create(request: PaymentRequest) -> PaymentIntentCreateParams:
    """``POST /v1/payment_intents``. With a payment method it is confirmed at once
    (``confirm=true``); without ``return_url`` redirect-based methods are ruled out
    (``automatic_payment_methods[allow_redirects]=never``), which Stripe requires for such a
    confirmation. ``expand[]=latest_charge`` so the answer carries ``amount_refunded``."""
    value = amount(request.amount)
    if value <= 0:
        raise InvalidInput(f"a payment must be more than 0 {request.amount.currency}", code="invalid_amount")
    params: PaymentIntentCreateParams = {
        "amount": value,
        "currency": request.amount.currency.lower(),
        "expand": ["latest_charge"],
    }
    if request.customer_id is not None:
        params["customer"] = request.customer_id
    if request.description is not None:
        params["description"] = request.description
    if request.metadata:
        params["metadata"] = metadata(request.metadata)
    if request.payment_method_id is not None:
        params["payment_method"] = request.payment_method_id
        params["confirm"] = True
        if request.return_url is not None:
            params["return_url"] = request.return_url
        else:
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
    return params


def refund_create(payment_id: str, refund_amount: Money | None, reason: str | None) -> RefundCreateParams:
    """``POST /v1/refunds`` of a PaymentIntent: ``amount`` omitted refunds what is left.
    ``reason`` must be one of :data:`REFUND_REASONS` (Stripe takes no free text there)."""
    params: RefundCreateParams = {"payment_intent": payment_id}
    if refund_amount is not None:
        value = amount(refund_amount)
        if value <= 0:
            raise InvalidInput(f"a refund must be more than 0 {refund_amount.currency}", code="invalid_amount")
        params["amount"] = value
    if reason is not None:
        if reason not in REFUND_REASONS:
            raise InvalidInput(
                f"Stripe takes no refund reason {reason!r}",
                hint=f"use one of {', '.join(REFUND_REASONS)}",
                code="invalid_refund_reason",
            )
        params["reason"] = reason
    return params


def checkout_create(request: CheckoutRequest) -> SessionCreateParams:
    """``POST /v1/checkout/sessions``: ``mode=subscription`` on ``price_id`` (with
    ``subscription_data[trial_period_days]``), or ``mode=payment`` for ``amount`` as inline
    ``price_data`` named by ``description``. InvalidInput when the mode's fields are missing."""
    quantity = positive(request.quantity, "quantity")
    line: SessionCreateParamsLineItem
    if request.mode is CheckoutMode.SUBSCRIPTION:
        if not request.price_id:
            raise InvalidInput("a subscription checkout needs a price", code="invalid_request")
        line = {"price": request.price_id, "quantity": quantity}
    else:
        if request.amount is None or not request.description:
            raise InvalidInput("a payment checkout needs an amount and a description", code="invalid_request")
        value = amount(request.amount)
        if value <= 0:
            raise InvalidInput(f"a payment must be more than 0 {request.amount.currency}", code="invalid_amount")
        line = {
            "price_data": {
                "currency": request.amount.currency.lower(),
                "unit_amount": value,
                "product_data": {"name": request.description},
            },
            "quantity": quantity,
        }
    params: SessionCreateParams = {"mode": request.mode.value, "success_url": request.success_url}
    if request.cancel_url is not None:  # optional at Stripe: the page then has no back link
        params["cancel_url"] = request.cancel_url
    params["line_items"] = [line]
    if request.customer_id is not None:
        params["customer"] = request.customer_id
    if request.client_reference_id is not None:
        params["client_reference_id"] = request.client_reference_id
    if request.trial_days is not None:
        if request.mode is not CheckoutMode.SUBSCRIPTION:
            raise InvalidInput("a trial needs a subscription checkout", code="invalid_request")
        params["subscription_data"] = {"trial_period_days": positive(request.trial_days, "trial_days")}
    if request.metadata:
        params["metadata"] = metadata(request.metadata)
    return params
