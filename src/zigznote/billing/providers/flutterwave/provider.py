"""``FlutterwaveProvider``: the :class:`~zigznote.billing.providers.base.PaymentProvider` on
Flutterwave's v3 REST API (httpx; :mod:`.client`).

v3's objects behind zigznote's (sources: tests/fixtures/flutterwave/README.md):

=====================  =================================================================
zigznote               Flutterwave v3
=====================  =================================================================
customer               none: keyed by email in our store (the email is the customer ID;
                       a subscription's email cannot change: cancel and subscribe again)
product, price         payment plans tagged ``[zz:<slug>:<digest>]`` (:mod:`.catalog`)
subscription           subscription (:mod:`.subscriptions`: cancel/activate, emulations)
checkout, payment      Standard hosted link, keyed by ``tx_ref`` (:mod:`.payments`)
payment (read)         transaction, verified (:mod:`.verify` checks one against what was
                       expected)
refund                 ``POST /transactions/{id}/refund``
invoice                none: lists are empty, a lookup is NotFound
event                  ``verif-hash`` / ``flutterwave-signature`` webhook (:mod:`.webhooks`)
=====================  =================================================================

Pages: https://developer.flutterwave.com/docs/recurring-payments/payment-plans (a subscription
is made by the customer's first charge on a plan, is "tied to a customer's email address, and
cannot be changed afterwards", and is cancelled after three failed renewals),
https://developer.flutterwave.com/docs/collecting-payments/standard (hosted links, ``tx_ref``),
https://developer.flutterwave.com/docs/collecting-payments/refunds.

v4 (public beta: OAuth2 client credentials, customer / payment-method / charge objects) is a
different API; a ``flutterwave_v4`` provider would be its own folder beside this one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import ClassVar

import httpx

from zigznote.billing.money import Money
from zigznote.billing.providers._shared import KeyedProvider
from zigznote.billing.providers.base import Capabilities
from zigznote.billing.providers.flutterwave import mapping, params, verify, webhooks
from zigznote.billing.providers.flutterwave.capabilities import CAPABILITIES
from zigznote.billing.providers.flutterwave.catalog import PlanCatalog
from zigznote.billing.providers.flutterwave.client import (
    DEFAULT_API_BASE,
    MAX_RETRIES,
    TIMEOUT,
    FlutterwaveClient,
    check_api_base,
    check_secret_key,
)
from zigznote.billing.providers.flutterwave.payments import PaymentDesk
from zigznote.billing.providers.flutterwave.subscriptions import SubscriptionBook
from zigznote.billing.types import (
    ZIGZNOTE_ORG_KEY,
    ZIGZNOTE_PLAN_KEY,
    CheckoutMode,
    CheckoutRequest,
    CheckoutSession,
    CheckoutStatus,
    Customer,
    CustomerInput,
    CustomerUpdate,
    Invoice,
    Payment,
    PaymentRequest,
    PaymentStatus,
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
from zigznote.errors import InvalidInput, NotFound
from zigznote.timeutil import utcnow

__all__ = ["CAPABILITIES", "FlutterwaveProvider"]


class FlutterwaveProvider(KeyedProvider):
    """Flutterwave v3 behind zigznote's billing interface (see the module docstring).

    ``secret_key``: ``FLWSECK-…`` (never shown); ``webhook_secrets``: the dashboard's secret
    hash(es); ``api_base``: where requests go (``/v3`` included); ``payment_options``: per
    currency overrides of the methods a checkout offers (``{"NGN": "card, ussd"}``);
    ``sleep``/``clock``: for tests. Raises ConfigError for a missing or public key or a bad base.
    ``from_settings`` reads ``FLUTTERWAVE_SECRET_KEY``, ``FLUTTERWAVE_WEBHOOK_SECRET`` (a comma
    list while changing it) and ``FLUTTERWAVE_API_BASE``
    (:class:`~zigznote.billing.providers._shared.KeyedProvider`).
    """

    name: ClassVar[str] = "flutterwave"
    title: ClassVar[str] = "Flutterwave"
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
        timeout: httpx.Timeout | float = TIMEOUT,
        max_retries: int = MAX_RETRIES,
        payment_options: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(secret_key, webhook_secrets=webhook_secrets, api_base=api_base)
        self._options = dict(payment_options or {})
        self._settings = (timeout, max_retries, sleep)
        self._clock = clock
        self._client: FlutterwaveClient | None = None
        self._parts: tuple[PlanCatalog, SubscriptionBook, PaymentDesk] | None = None

    @property
    def client(self) -> FlutterwaveClient:
        """The HTTP client, built on first use."""
        if self._client is None:
            timeout, retries, sleep = self._settings
            self._client = FlutterwaveClient(
                self._secret_key, api_base=self._api_base, timeout=timeout, max_retries=retries, sleep=sleep
            )
        return self._client

    @property
    def _catalog(self) -> PlanCatalog:
        return self._build()[0]

    @property
    def _subscriptions(self) -> SubscriptionBook:
        return self._build()[1]

    @property
    def _payments(self) -> PaymentDesk:
        return self._build()[2]

    def _build(self) -> tuple[PlanCatalog, SubscriptionBook, PaymentDesk]:
        if self._parts is None:
            catalog = PlanCatalog(self.client)
            self._parts = (
                catalog,
                SubscriptionBook(self.client, catalog, self._clock),
                PaymentDesk(self.client, self._secret_key),
            )
        return self._parts

    def close(self) -> None:
        """Close the HTTP connections, if any were opened."""
        if self._client is not None:
            self._client.close()
            self._client, self._parts = None, None

    @classmethod
    def check_product(cls, product: ProductSpec) -> None:
        """The plan's name must fit a payment-plan name with zigznote's tag (150 characters)."""
        slug = product.metadata.get(ZIGZNOTE_PLAN_KEY)
        if slug:
            params.plan_name(product.name, slug, params.key_digest("check"))

    @classmethod
    def check_price(cls, price: PriceSpec) -> None:
        """The interval must be one Flutterwave's plans express (daily, weekly, monthly,
        quarterly, yearly: not every 2 months), and the amount one it takes; nothing is sent."""
        super().check_price(price)
        params.plan_interval(price.interval, price.interval_count)
        params.amount(price.amount)

    # -- customers (keyed by email) ----------------------------------------------------------

    def create_customer(self, customer: CustomerInput, *, idempotency_key: str) -> Customer:
        """Nothing is sent (v3 has no customer object): the customer is its email, checked."""
        return mapping.customer(params.check_email(customer.email), customer.name, customer.metadata)

    def get_customer(self, customer_id: str) -> Customer:
        """The email, and the name on the customer's newest transaction
        (``GET /transactions?customer_email=``, first page), if any."""
        email = params.check_email(customer_id)
        answer = self.client.get("/transactions", {"customer_email": email}, what="read the customer's transactions")
        name = None
        for tx in answer.data if isinstance(answer.data, list) else []:
            who = tx.get("customer") if isinstance(tx, dict) else None
            candidate = who.get("name") if isinstance(who, dict) else (tx or {}).get("customer_name")
            if isinstance(candidate, str) and candidate.strip() and candidate != "N/A":
                name = candidate
                break
        return mapping.customer(email, name)

    def update_customer(self, customer_id: str, changes: CustomerUpdate) -> Customer:
        """Only what zigznote keeps can change: Flutterwave stores nothing. A new email is
        refused (subscriptions are tied to the email: cancel and subscribe again)."""
        email = params.check_email(customer_id)
        if changes.email is not None and changes.email.strip() != email:
            raise self.unsupported(
                "change a customer's email (subscriptions are tied to it: cancel them and subscribe again "
                "with a customer for the new email)"
            )
        return mapping.customer(email, changes.name, changes.metadata)

    # -- products and prices (payment plans) -----------------------------------------------------

    def list_products(self, *, active: bool | None = None) -> Iterator[Plan]:
        """One product per plan slug among zigznote's payment plans (:mod:`.catalog`)."""
        return self._catalog.list_products(active=active)

    def create_product(self, product: ProductSpec, *, idempotency_key: str) -> Plan:
        """Nothing is sent until its first price (:mod:`.catalog`)."""
        return self._catalog.create_product(product)

    def update_product(self, product_id: str, changes: ProductUpdate) -> Plan:
        """Renames its payment plans; archiving cancels them (:mod:`.catalog`)."""
        return self._catalog.update_product(product_id, changes)

    def list_prices(self, *, product_id: str | None = None, active: bool | None = None) -> Iterator[Price]:
        """zigznote's payment plans as prices."""
        return self._catalog.list_prices(product_id=product_id, active=active)

    def create_price(self, price: PriceSpec, *, idempotency_key: str) -> Price:
        """``POST /payment-plans`` (idempotent through the name tag; :mod:`.catalog`)."""
        return self._catalog.create_price(price, idempotency_key=idempotency_key)

    def deactivate_price(self, price_id: str) -> Price:
        """``PUT /payment-plans/{id}/cancel``."""
        return self._catalog.deactivate_price(price_id)

    # -- subscriptions ---------------------------------------------------------------------------

    def create_subscription(self, request: SubscriptionRequest, *, idempotency_key: str) -> Subscription:
        """Refused: a v3 subscription starts with the customer's first payment on the plan."""
        raise self.unsupported(
            "start a subscription without the customer paying (use `billing checkout`: Flutterwave "
            "subscribes a customer with their first payment on the plan)"
        )

    def get_subscription(self, subscription_id: str) -> Subscription:
        """``GET /subscriptions?id=``, with the derived period (:mod:`.subscriptions`)."""
        return self._subscriptions.get(subscription_id)

    def list_subscriptions(self, *, customer_id: str | None = None) -> Iterator[Subscription]:
        """``GET /subscriptions?email=`` (every status)."""
        return self._subscriptions.subscriptions(customer_id=customer_id)

    def change_subscription(
        self, subscription_id: str, *, price_id: str, proration: Proration, quantity: int | None = None
    ) -> Subscription:
        """Refused: v3 has no plan swap and no proration."""
        raise self.unsupported(
            "change a subscription's plan (v3 has no plan swap or proration: cancel it, then check out on the new plan)"
        )

    def cancel_subscription(self, subscription_id: str, *, at_period_end: bool) -> Subscription:
        """``at_period_end``: ``PUT …/cancel`` (no further charge; the paid period runs out).
        ``False`` is refused: Flutterwave cannot end a paid period early."""
        if not at_period_end:
            raise self.unsupported(
                "end a subscription before the period already paid for (cancel without --now stops the next "
                "charge; `billing payments refund` returns money)"
            )
        return self._subscriptions.cancel(subscription_id)

    def undo_cancel_subscription(self, subscription_id: str) -> Subscription:
        """``PUT …/activate`` while the paid period runs; Conflict after."""
        return self._subscriptions.activate(subscription_id)

    # -- payments, invoices, refunds ----------------------------------------------------------------

    def create_payment(self, request: PaymentRequest, *, idempotency_key: str) -> Payment:
        """A hosted payment link for ``amount``: the Payment's ID is the ``tx_ref`` and
        ``metadata["link"]`` the page, until the customer pays (then the transaction is
        returned). Needs the customer's email and ``return_url``; saved methods are refused."""
        if request.payment_method_id is not None:
            raise self.unsupported("charge a saved payment method (v3 Standard collects each payment on its page)")
        if not request.return_url:
            raise InvalidInput("a Flutterwave payment needs return_url (the redirect_url)", code="url_required")
        email = params.check_email(request.customer_id)
        made = self._payments.hosted(
            idempotency_key=idempotency_key, money=request.amount, email=email, redirect_url=request.return_url,
            options=params.payment_options(request.amount.currency, self._options),
            description=request.description, metadata=request.metadata,
        )  # fmt: skip
        if made.transaction is not None:
            return self._payments.get(mapping.flw_id(made.transaction.get("id"), "transaction ID"))
        return Payment(
            id=made.reference,
            amount=request.amount,
            status=PaymentStatus.PENDING,
            amount_refunded=Money.zero(request.amount.currency),
            amount_received=Money.zero(request.amount.currency),
            customer_id=email,
            description=request.description,
            metadata={"tx_ref": made.reference, "link": made.link or ""},
        )

    def get_payment(self, payment_id: str) -> Payment:
        """A transaction by ID, or by our ``tx_ref``; ``amount_refunded`` from its refunds."""
        return self._payments.get(payment_id)

    def list_payments(self, *, customer_id: str | None = None) -> Iterator[Payment]:
        """``GET /transactions`` (of one customer's email), newest first."""
        return self._payments.payments(customer_id=customer_id)

    def list_invoices(self, *, customer_id: str | None = None, subscription_id: str | None = None) -> Iterator[Invoice]:
        """None: v3 has no invoices (each charge is a transaction)."""
        return iter(())

    def get_invoice(self, invoice_id: str) -> Invoice:
        """NotFound: v3 has no invoices."""
        raise NotFound(
            f"Flutterwave has no invoice {invoice_id!r}: v3 has no invoices",
            hint="each charge is a transaction: `billing payments list`",
            code="flutterwave_no_invoices",
        )

    def create_refund(
        self,
        payment_id: str,
        *,
        idempotency_key: str,
        amount: Money | None = None,
        reason: str | None = None,
    ) -> Refund:
        """``POST /transactions/{id}/refund`` within what is left (:mod:`.payments`)."""
        return self._payments.refund(payment_id, idempotency_key=idempotency_key, amount=amount, reason=reason)

    def list_refunds(self, *, payment_id: str | None = None) -> Iterator[Refund]:
        """``GET /refunds`` (of one transaction)."""
        return self._payments.list_refunds(payment_id=payment_id)

    # -- checkout, verification and inbound events ------------------------------------------------------

    def create_checkout_session(self, request: CheckoutRequest, *, idempotency_key: str) -> CheckoutSession:
        """A Standard hosted link (``POST /payments``): for a subscription, the plan's amount with
        ``payment_plan``; ``success_url`` is the ``redirect_url`` (Flutterwave appends
        ``status``, ``tx_ref`` and ``transaction_id``, a cancelled payment included, so
        ``cancel_url`` is not sent). The session ID is the ``tx_ref``. Refused: a quantity other
        than 1 (a plan has one amount), trials (v3 has none)."""
        if request.trial_days is not None:
            raise self.unsupported("give free trials (v3 payment plans charge from the first payment)")
        if request.quantity != 1:
            raise InvalidInput(
                "Flutterwave payment plans have one fixed amount: a checkout is for quantity 1", code="invalid_quantity"
            )
        email = params.check_email(request.customer_id)
        plan_id = title = None
        if request.mode is CheckoutMode.SUBSCRIPTION:
            if not request.price_id:
                raise InvalidInput("a subscription checkout needs a price", code="invalid_request")
            plan = self._catalog.plan(request.price_id)
            price = mapping.price(plan)
            if not price.active:
                raise InvalidInput(f"payment plan {price.id} is cancelled at Flutterwave", code="price_inactive")
            amount, plan_id, title = price.amount, price.id, mapping.split_name(plan.get("name"))[0]
        else:
            if request.amount is None or not request.description:
                raise InvalidInput("a payment checkout needs an amount and a description", code="invalid_request")
            amount, title = request.amount, request.description
        meta = dict(request.metadata)
        if request.client_reference_id:
            meta.setdefault(ZIGZNOTE_ORG_KEY, request.client_reference_id)
        made = self._payments.hosted(
            idempotency_key=idempotency_key, money=amount, email=email, redirect_url=request.success_url,
            options=params.payment_options(amount.currency, self._options), plan_id=plan_id, title=title,
            description=request.description, metadata=meta,
        )  # fmt: skip
        tx = made.transaction
        done = tx is not None and tx.get("status") == "successful"
        return CheckoutSession(
            id=made.reference,
            url=made.link,
            mode=request.mode,
            status=CheckoutStatus.COMPLETE if done else CheckoutStatus.OPEN,
            customer_id=email,
            payment_id=mapping.flw_id(tx.get("id"), "transaction ID") if tx is not None else None,
            amount_total=amount,
        )

    def verify_payment(self, expected: verify.Expected, *, transaction_id: str | None = None) -> verify.Verification:
        """Read a transaction and check it against what was expected (:func:`.verify.verify`):
        reference, ``successful``, currency, and ``amount`` at least the expected one."""
        return verify.verify(self.client, expected, transaction_id=transaction_id)

    def construct_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Checked with ``FLUTTERWAVE_WEBHOOK_SECRET`` (:func:`.webhooks.construct_event`). Never
        calls Flutterwave; ``livemode`` follows the key (``FLWSECK_TEST`` is test mode)."""
        livemode = not self._secret_key.startswith("FLWSECK_TEST")
        return webhooks.construct_event(payload, headers, self._webhook_secrets, livemode=livemode)
