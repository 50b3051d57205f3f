"""An in-memory payment provider for service and CLI tests: the interface's behaviour, Stripe-like
where it matters (idempotency keys, immutable prices, refunds bounded by the remainder), every
call recorded.

Use the ``fake_billing`` fixture: it registers :class:`FakeProvider` as ``fake``, makes it the
default provider (``ZIGZNOTE_BILLING_PROVIDER=fake``), gives it Stripe's amount rules
(``currencies._EDGES["fake"]``), sets its key (``FAKE_BILLING_KEY``; unset it to test exit 6) and
yields the :class:`World` every instance shares (a CLI run builds a new instance each time).

What it holds and records is :class:`~tests.billing.fake_world.World` (deterministic IDs and
times); catalog and JSON helpers for the tests are in :mod:`tests.billing.support`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, Self

import pytest

from tests.billing.fake_world import BASE, PERIOD, World
from zigznote.billing import currencies, money, providers
from zigznote.billing.money import Money
from zigznote.billing.providers.base import Capabilities, PaymentProvider
from zigznote.billing.types import (
    CheckoutRequest,
    CheckoutSession,
    CheckoutStatus,
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
    RefundStatus,
    Subscription,
    SubscriptionItem,
    SubscriptionRequest,
    SubscriptionStatus,
)
from zigznote.config import Settings
from zigznote.errors import ConfigError, Conflict, InvalidInput, NotFound, ProviderError, SignatureInvalid

__all__ = ["WORLD", "FakeProvider", "fake_billing"]

#: The world the ``fake_billing`` fixture set up (every FakeProvider instance uses it).
WORLD = World()


def _request_text(request: Any) -> str:
    is_instance = dataclasses.is_dataclass(request) and not isinstance(request, type)
    data = dataclasses.asdict(request) if is_instance else request
    return json.dumps(data, default=str, sort_keys=True)


class FakeProvider(PaymentProvider):
    """In-memory provider; every capability claimed."""

    name = "fake"
    title = "Fake"
    capabilities = Capabilities(
        delete_customers=True, payment_methods=True, cancel_at_period_end=True, undo_cancel=True,
        pause_subscriptions=True, checkout=True, partial_refunds=True, product_features=True,
        prorations=frozenset(Proration), notes=("test double: nothing leaves the process",),
    )  # fmt: skip

    def __init__(self) -> None:
        self.world = WORLD

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if not settings.env.get("FAKE_BILLING_KEY"):
            raise ConfigError("billing with Fake needs FAKE_BILLING_KEY", hint="set FAKE_BILLING_KEY")
        return cls()

    # -- plumbing -----------------------------------------------------------------------------

    def _enter(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.world.calls.append((method, args, kwargs))
        queued = self.world.fail.get(method)
        if queued:
            error = queued.pop(0)
            if error is not None:
                raise error

    def _create(self, method: str, key: str, request: Any, make: Any) -> Any:
        """Stripe's idempotency: a key seen with the same request answers the first result; with
        another request it is refused (idempotency_error → Conflict)."""
        self._enter(method, request, idempotency_key=key)
        text = _request_text(request)
        seen = self.world.keys.get(key)
        if seen is not None:
            if seen[0] != text:
                raise Conflict("Keys for idempotent requests can only be used with the same parameters",
                               code="idempotency_conflict")  # fmt: skip
            result = seen[1]
        else:
            result = make()
            self.world.keys[key] = (text, result)
        if method in self.world.lose:
            self.world.lose.discard(method)
            raise ProviderError("connection to Fake lost before its answer")
        return result

    @staticmethod
    def _get(table: Mapping[str, Any], object_id: str, what: str) -> Any:
        if object_id not in table:
            raise NotFound(f"No such {what}: '{object_id}'", code="resource_missing")
        return table[object_id]

    # -- customers ---------------------------------------------------------------------------

    def create_customer(self, customer: CustomerInput, *, idempotency_key: str) -> Customer:
        def make() -> Customer:
            cid, created = self.world.next_id("cus")
            made = Customer(cid, customer.email, customer.name, created=created, metadata=dict(customer.metadata))
            self.world.customers[cid] = made
            return made

        return self._create("create_customer", idempotency_key, customer, make)

    def get_customer(self, customer_id: str) -> Customer:
        self._enter("get_customer", customer_id)
        return self._get(self.world.customers, customer_id, "customer")

    def update_customer(self, customer_id: str, changes: CustomerUpdate) -> Customer:
        self._enter("update_customer", customer_id, changes)
        current: Customer = self._get(self.world.customers, customer_id, "customer")
        updated = replace(
            current,
            email=changes.email if changes.email is not None else current.email,
            name=changes.name if changes.name is not None else current.name,
            metadata={**current.metadata, **(changes.metadata or {})},
        )
        self.world.customers[customer_id] = updated
        return updated

    def delete_customer(self, customer_id: str) -> None:
        self._enter("delete_customer", customer_id)
        current = self._get(self.world.customers, customer_id, "customer")
        self.world.customers[customer_id] = Customer(current.id, deleted=True)

    def list_payment_methods(self, customer_id: str) -> list[PaymentMethod]:
        self._enter("list_payment_methods", customer_id)
        return []

    def attach_payment_method(self, customer_id: str, payment_method_id: str) -> PaymentMethod:
        self._enter("attach_payment_method", customer_id, payment_method_id)
        return PaymentMethod(payment_method_id, "card", customer_id)

    def detach_payment_method(self, payment_method_id: str) -> None:
        self._enter("detach_payment_method", payment_method_id)

    def set_default_payment_method(self, customer_id: str, payment_method_id: str) -> Customer:
        self._enter("set_default_payment_method", customer_id, payment_method_id)
        current: Customer = self._get(self.world.customers, customer_id, "customer")
        self.world.customers[customer_id] = replace(current, default_payment_method_id=payment_method_id)
        return self.world.customers[customer_id]

    # -- products and prices -------------------------------------------------------------------------

    def list_products(self, *, active: bool | None = None) -> Iterator[Plan]:
        self._enter("list_products", active=active)
        return iter([p for p in self.world.products.values() if active is None or p.active is active])

    def create_product(self, product: ProductSpec, *, idempotency_key: str) -> Plan:
        def make() -> Plan:
            pid, created = self.world.next_id("prod")
            made = Plan(pid, product.name, True, product.description, tuple(product.features), created,
                        dict(product.metadata))  # fmt: skip
            self.world.products[pid] = made
            return made

        return self._create("create_product", idempotency_key, product, make)

    def update_product(self, product_id: str, changes: ProductUpdate) -> Plan:
        self._enter("update_product", product_id, changes)
        current: Plan = self._get(self.world.products, product_id, "product")
        updated = replace(
            current,
            name=changes.name if changes.name is not None else current.name,
            description=(changes.description or None) if changes.description is not None else current.description,
            features=changes.features if changes.features is not None else current.features,
            active=changes.active if changes.active is not None else current.active,
        )
        self.world.products[product_id] = updated
        return updated

    def list_prices(self, *, product_id: str | None = None, active: bool | None = None) -> Iterator[Price]:
        self._enter("list_prices", product_id=product_id, active=active)
        return iter([
            p for p in self.world.prices.values()
            if (product_id is None or p.product_id == product_id) and (active is None or p.active is active)
        ])  # fmt: skip

    def create_price(self, price: PriceSpec, *, idempotency_key: str) -> Price:
        self._get(self.world.products, price.product_id, "product")

        def make() -> Price:
            pid, created = self.world.next_id("price")
            made = Price(pid, price.product_id, price.amount, price.interval, price.interval_count, True, created,
                         dict(price.metadata))  # fmt: skip
            self.world.prices[pid] = made
            return made

        return self._create("create_price", idempotency_key, price, make)

    def deactivate_price(self, price_id: str) -> Price:
        self._enter("deactivate_price", price_id)
        current: Price = self._get(self.world.prices, price_id, "price")
        self.world.prices[price_id] = replace(current, active=False)
        return self.world.prices[price_id]

    # -- subscriptions ------------------------------------------------------------------------------

    def create_subscription(self, request: SubscriptionRequest, *, idempotency_key: str) -> Subscription:
        def make() -> Subscription:
            self._get(self.world.customers, request.customer_id, "customer")
            price: Price = self._get(self.world.prices, request.price_id, "price")
            sid, created = self.world.next_id("sub")
            assert price.interval is not None
            end = created + PERIOD[price.interval]
            item = SubscriptionItem(f"si_{sid}", price, request.quantity, created, end)
            trial = created + timedelta(days=request.trial_days) if request.trial_days else None
            made = Subscription(
                sid, request.customer_id, SubscriptionStatus.TRIALING if trial else SubscriptionStatus.ACTIVE,
                (item,), created, end, trial_end=trial, created=created, metadata=dict(request.metadata),
            )  # fmt: skip
            self.world.subscriptions[sid] = made
            return made

        return self._create("create_subscription", idempotency_key, request, make)

    def get_subscription(self, subscription_id: str) -> Subscription:
        self._enter("get_subscription", subscription_id)
        return self._get(self.world.subscriptions, subscription_id, "subscription")

    def list_subscriptions(self, *, customer_id: str | None = None) -> Iterator[Subscription]:
        self._enter("list_subscriptions", customer_id=customer_id)
        subs = [s for s in self.world.subscriptions.values() if customer_id is None or s.customer_id == customer_id]
        return iter(sorted(subs, key=lambda s: s.created or BASE, reverse=True))

    def _live(self, subscription_id: str) -> Subscription:
        sub: Subscription = self._get(self.world.subscriptions, subscription_id, "subscription")
        if sub.status is SubscriptionStatus.CANCELED:
            raise Conflict(f"subscription {subscription_id} is canceled", code="subscription_canceled")
        return sub

    def _put(self, sub: Subscription) -> Subscription:
        self.world.subscriptions[sub.id] = sub
        return sub

    def change_subscription(
        self, subscription_id: str, *, price_id: str, proration: Proration, quantity: int | None = None
    ) -> Subscription:
        self._enter("change_subscription", subscription_id, price_id=price_id, proration=proration, quantity=quantity)
        self.check_proration(proration)
        sub = self._live(subscription_id)
        price: Price = self._get(self.world.prices, price_id, "price")
        item = replace(sub.items[0], price=price, quantity=quantity or sub.items[0].quantity)
        return self._put(replace(sub, items=(item,)))

    def cancel_subscription(self, subscription_id: str, *, at_period_end: bool) -> Subscription:
        self._enter("cancel_subscription", subscription_id, at_period_end=at_period_end)
        sub: Subscription = self._get(self.world.subscriptions, subscription_id, "subscription")
        if sub.status is SubscriptionStatus.CANCELED:
            return sub
        if at_period_end:
            return self._put(replace(sub, cancel_at_period_end=True, cancel_at=sub.current_period_end))
        return self._put(replace(sub, status=SubscriptionStatus.CANCELED, canceled_at=BASE + timedelta(days=1)))

    def undo_cancel_subscription(self, subscription_id: str) -> Subscription:
        self._enter("undo_cancel_subscription", subscription_id)
        return self._put(replace(self._live(subscription_id), cancel_at_period_end=False, cancel_at=None))

    def pause_subscription(self, subscription_id: str) -> Subscription:
        self._enter("pause_subscription", subscription_id)
        return self._put(replace(self._live(subscription_id), status=SubscriptionStatus.PAUSED))

    def resume_subscription(self, subscription_id: str) -> Subscription:
        self._enter("resume_subscription", subscription_id)
        return self._put(replace(self._live(subscription_id), status=SubscriptionStatus.ACTIVE))

    # -- payments, invoices, refunds ----------------------------------------------------------------

    def create_payment(self, request: PaymentRequest, *, idempotency_key: str) -> Payment:
        def make() -> Payment:
            return self.world.add_payment(request.customer_id, request.amount, description=request.description)

        return self._create("create_payment", idempotency_key, request, make)

    def get_payment(self, payment_id: str) -> Payment:
        self._enter("get_payment", payment_id)
        return self._get(self.world.payments, payment_id, "payment_intent")

    def list_payments(self, *, customer_id: str | None = None) -> Iterator[Payment]:
        self._enter("list_payments", customer_id=customer_id)
        found = [p for p in self.world.payments.values() if customer_id is None or p.customer_id == customer_id]
        return iter(sorted(found, key=lambda p: p.created or BASE, reverse=True))

    def list_invoices(self, *, customer_id: str | None = None, subscription_id: str | None = None) -> Iterator[Invoice]:
        self._enter("list_invoices", customer_id=customer_id, subscription_id=subscription_id)
        found = [
            i for i in self.world.invoices.values()
            if (customer_id is None or i.customer_id == customer_id)
            and (subscription_id is None or i.subscription_id == subscription_id)
        ]  # fmt: skip
        return iter(sorted(found, key=lambda i: i.created or BASE, reverse=True))

    def get_invoice(self, invoice_id: str) -> Invoice:
        self._enter("get_invoice", invoice_id)
        return self._get(self.world.invoices, invoice_id, "invoice")

    def create_refund(
        self, payment_id: str, *, idempotency_key: str, amount: Money | None = None, reason: str | None = None
    ) -> Refund:
        request = {"payment_id": payment_id, "amount": amount, "reason": reason}

        def make() -> Refund:
            payment: Payment = self._get(self.world.payments, payment_id, "payment_intent")
            value = amount if amount is not None else payment.refundable
            if value > payment.refundable:  # what Stripe answers (charge_exceeds_source_limit)
                raise Conflict(f"Refund amount ({value}) is greater than unrefunded amount on charge")
            rid, created = self.world.next_id("re")
            refund = Refund(rid, payment_id, value, RefundStatus.SUCCEEDED, reason, created=created)
            self.world.refunds[rid] = refund
            self.world.payments[payment_id] = replace(payment, amount_refunded=payment.amount_refunded + value)
            return refund

        return self._create("create_refund", idempotency_key, request, make)

    def list_refunds(self, *, payment_id: str | None = None) -> Iterator[Refund]:
        self._enter("list_refunds", payment_id=payment_id)
        found = [r for r in self.world.refunds.values() if payment_id is None or r.payment_id == payment_id]
        return iter(sorted(found, key=lambda r: r.created or BASE, reverse=True))

    # -- checkout and events ------------------------------------------------------------------------

    def create_checkout_session(self, request: CheckoutRequest, *, idempotency_key: str) -> CheckoutSession:
        def make() -> CheckoutSession:
            sid, created = self.world.next_id("cs")
            price: Price | None = self.world.prices.get(request.price_id or "")
            total = price.amount * request.quantity if price is not None else request.amount
            session = CheckoutSession(
                sid, f"https://checkout.fake.test/c/pay/{sid}", request.mode, CheckoutStatus.OPEN,
                request.customer_id, amount_total=total, expires_at=created + timedelta(hours=24),
            )  # fmt: skip
            self.world.sessions[sid] = session
            return session

        return self._create("create_checkout_session", idempotency_key, request, make)

    def construct_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        if {k.lower(): v for k, v in headers.items()}.get("fake-signature") != "ok":
            raise SignatureInvalid("bad signature")
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise InvalidInput("not an event")
        return ProviderEvent(str(data["id"]), "fake", str(data["type"]), None, None, None, False, data, payload)


@pytest.fixture
def fake_billing(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[World]:
    """Register the fake as the default provider, with Stripe's amount rules, for one test."""
    global WORLD
    WORLD = World()
    saved = dict(providers._registry)
    providers.register("fake", FakeProvider, replace=True)
    monkeypatch.setitem(currencies._EDGES, "fake", currencies._EDGES["stripe"])
    monkeypatch.setattr(money, "PROVIDERS", (*money.PROVIDERS, "fake"))
    monkeypatch.setattr(currencies, "PROVIDERS", (*currencies.PROVIDERS, "fake"))
    monkeypatch.setenv("ZIGZNOTE_BILLING_PROVIDER", "fake")
    monkeypatch.setenv("FAKE_BILLING_KEY", "fake_key_123")
    env.update(ZIGZNOTE_BILLING_PROVIDER="fake", FAKE_BILLING_KEY="fake_key_123")
    try:
        yield WORLD
    finally:
        providers._registry.clear()
        providers._registry.update(saved)
