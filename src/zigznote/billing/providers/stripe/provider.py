"""``StripeProvider``: the :class:`~zigznote.billing.providers.base.PaymentProvider` on Stripe.

Every call goes through the official SDK's ``StripeClient`` (``client.v1.*`` services, typed
``stripe.params``; built in :mod:`.client`), every create carries the caller's
``Idempotency-Key``, every ``stripe.StripeError`` is translated at this edge (:mod:`.errors`),
requests are built by :mod:`.params` and answers read by :mod:`.mapping`.

Stripe objects behind zigznote's (https://docs.stripe.com/api): plans are Products, prices are
Prices (immutable: "After you create a price, you can only update its metadata, nickname, and
active fields", https://docs.stripe.com/products-prices/manage-prices; a change is a new Price and
the old one deactivated with ``active=false``), one-time payments are PaymentIntents.
Subscriptions: plan changes with ``proration_behavior``, cancel at period end and its undo,
pause and resume; the rules, endpoints and pages are in :mod:`.subscriptions`. Sources for every
fact: tests/fixtures/stripe/README.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar, Final

import httpx
import stripe

from zigznote.billing.idempotency import check_key
from zigznote.billing.money import Money
from zigznote.billing.providers._shared import KeyedProvider
from zigznote.billing.providers.base import Capabilities
from zigznote.billing.providers.stripe import events, mapping, params, subscriptions
from zigznote.billing.providers.stripe.client import (
    DEFAULT_API_BASE,
    MAX_NETWORK_RETRIES,
    TIMEOUT,
    check_api_base,
    check_secret_key,
    close_client,
    make_client,
)
from zigznote.billing.providers.stripe.errors import call, paged
from zigznote.billing.types import (
    BillingInterval,
    CheckoutRequest,
    CheckoutSession,
    Customer,
    CustomerInput,
    CustomerUpdate,
    Invoice,
    Payment,
    PaymentMethod,
    PaymentRequest,
    Plan,
    Price,
    PriceSpec,
    ProductSpec,
    ProductUpdate,
    Proration,
    ProviderEvent,
    Refund,
    Subscription,
    SubscriptionRequest,
)

__all__ = ["CAPABILITIES", "PAGE_SIZE", "StripeProvider"]

#: Stripe's largest page (``limit`` "between 1 and 100").
PAGE_SIZE: Final = 100

CAPABILITIES: Final = Capabilities(
    delete_customers=True,
    payment_methods=True,
    cancel_at_period_end=True,
    undo_cancel=True,
    pause_subscriptions=True,
    checkout=True,
    partial_refunds=True,
    product_features=True,
    prorations=frozenset(Proration),
    intervals=frozenset(BillingInterval),
    notes=(
        "Pausing stops payment collection (invoices are voided); the subscription continues until resumed.",
        "A recurring price bills at most every three years (36 months, 156 weeks).",
        "Products keep at most 15 marketing features.",
    ),
)


class StripeProvider(KeyedProvider):
    """Stripe behind zigznote's billing interface (see the module docstring).

    ``secret_key``: ``sk_…``/``rk_…`` (never shown); ``webhook_secrets``: the ``whsec_…``
    secrets ``construct_event`` accepts; ``api_base``: where requests go (stripe-mock, a fake);
    ``max_network_retries``/``timeout``: the SDK's retries and httpx timeout. The SDK client is
    built on first use. Raises ConfigError for a missing or publishable key or a bad base.
    ``from_settings`` reads ``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_SECRET`` (a comma list while
    rotating) and ``STRIPE_API_BASE`` (:class:`~zigznote.billing.providers._shared.KeyedProvider`)."""

    name: ClassVar[str] = "stripe"
    title: ClassVar[str] = "Stripe"
    capabilities: ClassVar[Capabilities] = CAPABILITIES
    default_api_base: ClassVar[str] = DEFAULT_API_BASE
    check_secret_key = staticmethod(check_secret_key)
    check_base = staticmethod(check_api_base)

    def __init__(
        self,
        secret_key: str | None,
        *,
        webhook_secrets: Sequence[str] = (),
        api_base: str = DEFAULT_API_BASE,
        max_network_retries: int = MAX_NETWORK_RETRIES,
        timeout: httpx.Timeout | float = TIMEOUT,
        webhook_tolerance: int = events.TOLERANCE_SECONDS,
    ) -> None:
        super().__init__(secret_key, webhook_secrets=webhook_secrets, api_base=api_base)
        self._retries = max_network_retries
        self._timeout = timeout
        self._tolerance = webhook_tolerance
        self._client: stripe.StripeClient | None = None

    @property
    def client(self) -> stripe.StripeClient:
        """The SDK client (pinned version, HTTPXClient, retries), built on first use."""
        if self._client is None:
            self._client = make_client(
                self._secret_key, api_base=self._api_base, max_network_retries=self._retries, timeout=self._timeout
            )
        return self._client

    def close(self) -> None:
        """Close the HTTP connections, if any were opened."""
        if self._client is not None:
            close_client(self._client)
            self._client = None

    @staticmethod
    def _options(idempotency_key: str) -> stripe.RequestOptions:
        # Validates the key (printable ASCII, ≤ 255) before anything is sent.
        return {"idempotency_key": check_key(idempotency_key)}

    # -- customers ------------------------------------------------------------------------

    def create_customer(self, customer: CustomerInput, *, idempotency_key: str) -> Customer:
        """``POST /v1/customers`` (email, name, metadata)."""
        body, options = params.customer_create(customer), self._options(idempotency_key)
        return mapping.customer(call(lambda: self.client.v1.customers.create(body, options)))

    def get_customer(self, customer_id: str) -> Customer:
        """``GET /v1/customers/:id``; a deleted customer comes back with ``deleted=True``."""
        return mapping.customer(call(lambda: self.client.v1.customers.retrieve(customer_id)))

    def update_customer(self, customer_id: str, changes: CustomerUpdate) -> Customer:
        """``POST /v1/customers/:id``: only the fields given; metadata keys merge."""
        body = params.customer_update(changes)
        return mapping.customer(call(lambda: self.client.v1.customers.update(customer_id, body)))

    def delete_customer(self, customer_id: str) -> None:
        """``DELETE /v1/customers/:id`` (Stripe also cancels its subscriptions at once)."""
        call(lambda: self.client.v1.customers.delete(customer_id))

    # -- payment methods --------------------------------------------------------------------

    def list_payment_methods(self, customer_id: str) -> list[PaymentMethod]:
        """``GET /v1/customers/:id/payment_methods``; the default is the customer's
        ``invoice_settings.default_payment_method`` (one more ``GET``)."""
        default_id = self.get_customer(customer_id).default_payment_method_id
        service = self.client.v1.customers.payment_methods
        found = paged(lambda: service.list(customer_id, {"limit": PAGE_SIZE}))
        return [mapping.payment_method(pm, default_id=default_id) for pm in found]

    def attach_payment_method(self, customer_id: str, payment_method_id: str) -> PaymentMethod:
        """``POST /v1/payment_methods/:id/attach`` with ``customer``."""
        service = self.client.v1.payment_methods
        attached = call(lambda: service.attach(payment_method_id, {"customer": customer_id}))
        return mapping.payment_method(attached)

    def detach_payment_method(self, payment_method_id: str) -> None:
        """``POST /v1/payment_methods/:id/detach``."""
        call(lambda: self.client.v1.payment_methods.detach(payment_method_id))

    def set_default_payment_method(self, customer_id: str, payment_method_id: str) -> Customer:
        """``invoice_settings[default_payment_method]`` on the customer (what invoices and
        subscriptions charge, https://docs.stripe.com/api/payment_methods/attach)."""
        service = self.client.v1.customers
        body: stripe.params.CustomerUpdateParams = {"invoice_settings": {"default_payment_method": payment_method_id}}
        return mapping.customer(call(lambda: service.update(customer_id, body)))

    # -- products and prices --------------------------------------------------------------------

    @classmethod
    def check_product(cls, product: ProductSpec) -> None:
        """What ``POST /v1/products`` would refuse (more than 15 marketing features, metadata
        beyond Stripe's limits), found without sending it."""
        params.product_create(product)

    @classmethod
    def check_price(cls, price: PriceSpec) -> None:
        """What ``POST /v1/prices`` would refuse (an interval longer than three years, an
        amount Stripe cannot take), found without sending it."""
        super().check_price(price)
        params.price_create(price)

    def list_products(self, *, active: bool | None = None) -> Iterator[Plan]:
        """``GET /v1/products``, every page (``active`` filters when given)."""
        query: stripe.params.ProductListParams = {"limit": PAGE_SIZE}
        if active is not None:
            query["active"] = active
        return (mapping.plan(p) for p in paged(lambda: self.client.v1.products.list(query)))

    def create_product(self, product: ProductSpec, *, idempotency_key: str) -> Plan:
        """``POST /v1/products``; features become ``marketing_features``."""
        body, options = params.product_create(product), self._options(idempotency_key)
        return mapping.plan(call(lambda: self.client.v1.products.create(body, options)))

    def update_product(self, product_id: str, changes: ProductUpdate) -> Plan:
        """``POST /v1/products/:id`` with the given changes; none given: a ``GET``, no write."""
        body = params.product_update(changes)
        service = self.client.v1.products
        if not body:  # nothing to change: answer with the product as it is, send no write
            return mapping.plan(call(lambda: service.retrieve(product_id)))
        return mapping.plan(call(lambda: service.update(product_id, body)))

    def list_prices(self, *, product_id: str | None = None, active: bool | None = None) -> Iterator[Price]:
        """Per-unit prices only: tiered or customer-chosen prices (never zigznote's) are skipped."""
        query: stripe.params.PriceListParams = {"limit": PAGE_SIZE}
        if product_id is not None:
            query["product"] = product_id
        if active is not None:
            query["active"] = active
        found = paged(lambda: self.client.v1.prices.list(query))
        return (mapping.price(p) for p in found if mapping.has_unit_amount(p))

    def create_price(self, price: PriceSpec, *, idempotency_key: str) -> Price:
        """``POST /v1/prices``: a new immutable price (InvalidInput before sending for an
        amount or interval Stripe cannot take)."""
        body, options = params.price_create(price), self._options(idempotency_key)
        return mapping.price(call(lambda: self.client.v1.prices.create(body, options)))

    def deactivate_price(self, price_id: str) -> Price:
        """``POST /v1/prices/:id`` ``active=false`` (prices cannot change or be deleted)."""
        return mapping.price(call(lambda: self.client.v1.prices.update(price_id, {"active": False})))

    # -- subscriptions (lifecycle rules in .subscriptions) ------------------------------------

    def create_subscription(self, request: SubscriptionRequest, *, idempotency_key: str) -> Subscription:
        """``POST /v1/subscriptions`` (one item; :func:`.params.subscription_create`)."""
        body, options = params.subscription_create(request), self._options(idempotency_key)
        return mapping.subscription(call(lambda: self.client.v1.subscriptions.create(body, options)))

    def get_subscription(self, subscription_id: str) -> Subscription:
        """``GET /v1/subscriptions/:id``; the period comes from its items."""
        return mapping.subscription(call(lambda: self.client.v1.subscriptions.retrieve(subscription_id)))

    def list_subscriptions(self, *, customer_id: str | None = None) -> Iterator[Subscription]:
        """``GET /v1/subscriptions?status=all`` (Stripe leaves canceled ones out by default)."""
        query: stripe.params.SubscriptionListParams = {"limit": PAGE_SIZE, "status": "all"}
        if customer_id is not None:
            query["customer"] = customer_id
        return (mapping.subscription(s) for s in paged(lambda: self.client.v1.subscriptions.list(query)))

    def change_subscription(
        self, subscription_id: str, *, price_id: str, proration: Proration, quantity: int | None = None
    ) -> Subscription:
        """``items[0][id|price|quantity]`` with ``proration_behavior`` (:func:`.subscriptions.change`)."""
        self.check_proration(proration)
        return subscriptions.change(
            self.client, subscription_id, price_id=price_id, proration=proration, quantity=quantity
        )

    def cancel_subscription(self, subscription_id: str, *, at_period_end: bool) -> Subscription:
        """``cancel_at_period_end=true`` or ``DELETE`` (:func:`.subscriptions.cancel`)."""
        return subscriptions.cancel(self.client, subscription_id, at_period_end=at_period_end)

    def undo_cancel_subscription(self, subscription_id: str) -> Subscription:
        """``cancel_at_period_end=false`` (:func:`.subscriptions.undo_cancel`)."""
        return subscriptions.undo_cancel(self.client, subscription_id)

    def pause_subscription(self, subscription_id: str) -> Subscription:
        """``pause_collection[behavior]=void`` (:func:`.subscriptions.pause`)."""
        return subscriptions.pause(self.client, subscription_id)

    def resume_subscription(self, subscription_id: str) -> Subscription:
        """Unset ``pause_collection``, or ``/resume`` for status ``paused`` (:func:`.subscriptions.resume`)."""
        return subscriptions.resume(self.client, subscription_id)

    # -- payments, invoices, refunds ----------------------------------------------------------------

    def create_payment(self, request: PaymentRequest, *, idempotency_key: str) -> Payment:
        """``POST /v1/payment_intents`` (confirmed when a payment method is given)."""
        body, options = params.payment_create(request), self._options(idempotency_key)
        return mapping.payment(call(lambda: self.client.v1.payment_intents.create(body, options)))

    def get_payment(self, payment_id: str) -> Payment:
        """``GET /v1/payment_intents/:id?expand[]=latest_charge`` (for ``amount_refunded``)."""
        service = self.client.v1.payment_intents
        return mapping.payment(call(lambda: service.retrieve(payment_id, {"expand": ["latest_charge"]})))

    def list_payments(self, *, customer_id: str | None = None) -> Iterator[Payment]:
        """``GET /v1/payment_intents``, each with its latest charge expanded."""
        query: stripe.params.PaymentIntentListParams = {"limit": PAGE_SIZE, "expand": ["data.latest_charge"]}
        if customer_id is not None:
            query["customer"] = customer_id
        return (mapping.payment(p) for p in paged(lambda: self.client.v1.payment_intents.list(query)))

    def list_invoices(self, *, customer_id: str | None = None, subscription_id: str | None = None) -> Iterator[Invoice]:
        """``GET /v1/invoices`` filtered by customer and/or subscription."""
        query: stripe.params.InvoiceListParams = {"limit": PAGE_SIZE}
        if customer_id is not None:
            query["customer"] = customer_id
        if subscription_id is not None:
            query["subscription"] = subscription_id
        return (mapping.invoice(i) for i in paged(lambda: self.client.v1.invoices.list(query)))

    def get_invoice(self, invoice_id: str) -> Invoice:
        """Expands ``payments`` so ``payment_id`` is known."""
        service = self.client.v1.invoices
        return mapping.invoice(call(lambda: service.retrieve(invoice_id, {"expand": ["payments"]})))

    def create_refund(
        self,
        payment_id: str,
        *,
        idempotency_key: str,
        amount: Money | None = None,
        reason: str | None = None,
    ) -> Refund:
        """``reason``: ``duplicate``, ``fraudulent`` or ``requested_by_customer``. Stripe's
        refusal of the ``amount`` (more than is left) is Conflict."""
        body, options = params.refund_create(payment_id, amount, reason), self._options(idempotency_key)
        created = call(lambda: self.client.v1.refunds.create(body, options), conflict_params=("amount",))
        return mapping.refund(created)

    def list_refunds(self, *, payment_id: str | None = None) -> Iterator[Refund]:
        """``GET /v1/refunds``, of one PaymentIntent or all."""
        query: stripe.params.RefundListParams = {"limit": PAGE_SIZE}
        if payment_id is not None:
            query["payment_intent"] = payment_id
        return (mapping.refund(r) for r in paged(lambda: self.client.v1.refunds.list(query)))

    # -- checkout and inbound events ------------------------------------------------------------------

    def create_checkout_session(self, request: CheckoutRequest, *, idempotency_key: str) -> CheckoutSession:
        """``POST /v1/checkout/sessions`` (:func:`.params.checkout_create`)."""
        body, options = params.checkout_create(request), self._options(idempotency_key)
        service = self.client.v1.checkout.sessions
        return mapping.checkout_session(call(lambda: service.create(body, options)))

    def construct_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verified with ``STRIPE_WEBHOOK_SECRET`` (any listed secret) within the tolerance;
        see :func:`.events.construct_event`. Never calls Stripe."""
        return events.construct_event(payload, headers, self._webhook_secrets, tolerance=self._tolerance)
