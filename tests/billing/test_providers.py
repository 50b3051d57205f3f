"""The provider interface: capabilities, unsupported operations, and the registry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from zigznote.billing import providers
from zigznote.billing.money import Money
from zigznote.billing.providers.base import OPTIONAL_OPERATIONS, Capabilities, PaymentProvider
from zigznote.billing.types import (
    BillingInterval,
    Payment,
    PaymentStatus,
    Plan,
    Price,
    Proration,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)
from zigznote.config import Settings
from zigznote.errors import InvalidInput, ZigznoteError


def _stub(name: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return (name, args, kwargs)

    method.__name__ = name
    return method


def make_provider(name: str = "fake", caps: Capabilities | None = None, **extra: Any) -> type[PaymentProvider]:
    """A complete provider class whose required methods echo their call."""
    body: dict[str, Any] = {m: _stub(m) for m in PaymentProvider.__abstractmethods__ if m != "from_settings"}
    body.update(name=name, title=name.title(), capabilities=caps or Capabilities())
    body["from_settings"] = classmethod(lambda cls, settings: cls())
    body.update(extra)
    return type(f"{name.title()}Provider", (PaymentProvider,), body)


FakeProvider = make_provider()


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(providers._registry)
    yield
    providers._registry.clear()
    providers._registry.update(saved)


def test_optional_operations_raise_unsupported_by_provider() -> None:
    fake = FakeProvider()
    calls = {
        "delete_customer": ("cus_1",),
        "list_payment_methods": ("cus_1",),
        "attach_payment_method": ("cus_1", "pm_1"),
        "detach_payment_method": ("pm_1",),
        "set_default_payment_method": ("cus_1", "pm_1"),
        "undo_cancel_subscription": ("sub_1",),
        "pause_subscription": ("sub_1",),
        "resume_subscription": ("sub_1",),
    }
    assert set(calls) | {"create_checkout_session"} == {m for ms in OPTIONAL_OPERATIONS.values() for m in ms}
    for method, args in calls.items():
        with pytest.raises(InvalidInput) as info:
            getattr(fake, method)(*args)
        assert (info.value.code, info.value.exit_code) == ("unsupported_by_provider", 2)
        assert info.value.hint == "`zigznote billing providers` lists what each provider can do"
    with pytest.raises(InvalidInput) as info:
        fake.pause_subscription("sub_1")
    assert info.value.message == "Fake cannot pause subscriptions"
    with pytest.raises(InvalidInput):
        fake.create_checkout_session(None, idempotency_key="k")  # type: ignore[arg-type]


def test_proration_check() -> None:
    fake = make_provider(caps=Capabilities(prorations=frozenset({Proration.CREATE_PRORATIONS, Proration.NONE})))()
    fake.check_proration(Proration.NONE)
    with pytest.raises(InvalidInput) as info:
        fake.check_proration(Proration.ALWAYS_INVOICE)
    assert info.value.message == "Fake cannot prorate a plan change as always_invoice"


def test_capabilities_in_words_and_json() -> None:
    caps = Capabilities(
        delete_customers=True,
        payment_methods=True,
        cancel_at_period_end=True,
        undo_cancel=True,
        checkout=True,
        partial_refunds=True,
        product_features=True,
        prorations=frozenset(Proration),
        intervals=frozenset({BillingInterval.MONTH, BillingInterval.YEAR}),
        notes=("Prices are immutable.",),
    )
    assert caps.cannot() == ["pause subscriptions", "bill by day, week"]
    assert caps.as_json() == {
        "delete_customers": True, "payment_methods": True, "create_subscriptions": True, "change_plan": True,
        "cancel_now": True, "undo_cancel": True, "pause_subscriptions": False, "checkout": True,
        "partial_refunds": True, "cancel_at_period_end": True, "invoices": True, "product_features": True,
        "prorations": ["always_invoice", "create_prorations", "none"], "intervals": ["month", "year"],
        "notes": ["Prices are immutable."], "cannot": ["pause subscriptions", "bill by day, week"],
    }  # fmt: skip
    assert len(Capabilities().cannot()) == 9


def test_flutterwave_says_exactly_what_it_cannot_do() -> None:
    """What v3 cannot do, in words: not "pause and resume" (resuming a scheduled cancellation
    works), and no proration list for plan changes it cannot make at all."""
    assert providers.get("flutterwave").capabilities.cannot() == [
        "delete customers",
        "manage saved payment methods",
        "create subscriptions outside checkout",
        "change a subscription's plan",
        "cancel a subscription at once (--now)",
        "pause subscriptions",
        "invoices",
        "feature lists on products",
    ]
    assert providers.get("stripe").capabilities.cannot() == []


def test_check_provider_holds_capabilities_and_methods_together() -> None:
    assert providers.check_provider(FakeProvider) == []
    claims = make_provider(caps=Capabilities(pause_subscriptions=True))
    assert providers.check_provider(claims) == [
        "FakeProvider claims pause_subscriptions but does not implement pause_subscription",
        "FakeProvider claims pause_subscriptions but does not implement resume_subscription",
    ]
    hides = make_provider(undo_cancel_subscription=_stub("undo_cancel_subscription"))
    assert providers.check_provider(hides) == [
        "FakeProvider implements undo_cancel_subscription but capabilities.undo_cancel is False"
    ]
    incomplete = type("Half", (PaymentProvider,), {"name": "half", "title": "Half", "capabilities": Capabilities()})
    first = providers.check_provider(incomplete)[0]
    assert first.startswith("Half does not implement cancel_subscription, change_subscription, ")
    assert providers.check_provider(int) == ["<class 'int'> is not a PaymentProvider subclass"]  # type: ignore[arg-type]


def test_registry(clean_registry: None) -> None:
    providers.register("fake", FakeProvider)
    assert "fake" in providers.names()
    assert providers.get("fake") is FakeProvider
    created = providers.create("fake", Settings())
    assert isinstance(created, FakeProvider)
    with created as inside:
        assert inside.get_customer("cus_1") == ("get_customer", ("cus_1",), {})
    with pytest.raises(ZigznoteError, match="already registered"):
        providers.register("fake", FakeProvider)
    providers.register("fake", FakeProvider, replace=True)
    with pytest.raises(ZigznoteError, match="invalid provider name"):
        providers.register("Fake!", FakeProvider)
    with pytest.raises(ZigznoteError, match="claims pause_subscriptions"):
        providers.register("bad", make_provider("bad", Capabilities(pause_subscriptions=True)))
    with pytest.raises(ZigznoteError, match=r"FakeProvider\.name is 'fake', registered as 'other'"):
        providers.register("other", FakeProvider)
    providers.unregister("fake")
    with pytest.raises(InvalidInput) as info:
        providers.get("fake")
    assert (info.value.code, info.value.exit_code) == ("unknown_provider", 2)


def test_lazy_registration_imports_on_first_get(clean_registry: None) -> None:
    providers.register("fake", f"{__name__}:FakeProvider")
    assert providers._registry["fake"] == f"{__name__}:FakeProvider"
    assert providers.get("fake") is FakeProvider
    assert providers._registry["fake"] is FakeProvider
    with pytest.raises(ZigznoteError, match="is not 'module:Class'"):
        providers.register("broken", "no.colon.here")


def test_importing_billing_loads_no_sdk_or_babel() -> None:
    code = (
        "import sys, zigznote.billing.providers, zigznote.billing.catalog_sync, zigznote.billing.types,"
        " zigznote.billing.idempotency;"
        "print(sorted(m for m in ('stripe', 'httpx', 'babel', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_types_helpers() -> None:
    usd = Money(2900, "USD")
    payment = Payment("pi_1", usd, PaymentStatus.SUCCEEDED, Money(900, "USD"))
    assert (payment.received, payment.refundable) == (usd, Money(2000, "USD"))  # no amount_received: amount
    partly = Payment("pi_2", usd, PaymentStatus.SUCCEEDED, Money(900, "USD"), amount_received=Money(1500, "USD"))
    assert (partly.received, partly.refundable) == (Money(1500, "USD"), Money(600, "USD"))
    price = Price("price_1", "prod_1", usd, BillingInterval.MONTH)
    sub = Subscription("sub_1", "cus_1", SubscriptionStatus.ACTIVE, items=(SubscriptionItem("si_1", price),))
    assert sub.price is price
    assert Subscription("sub_2", "cus_1", SubscriptionStatus.CANCELED).price is None
    assert Plan("prod_1", "Pro", metadata={"zigznote_plan": "pro"}).slug == "pro"
    assert Plan("prod_2", "Other").slug is None
    assert [s.value for s in SubscriptionStatus] == [
        "incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused",
    ]  # fmt: skip
    assert [p.value for p in Proration] == ["create_prorations", "none", "always_invoice"]
