"""One provider-neutral suite, run for every built-in provider: the same scenarios through the
Stripe provider (its SDK's real HTTP traffic, respx, tests/fixtures/stripe/) and the
Flutterwave provider (respx, tests/fixtures/flutterwave/). Each :class:`Harness` only seeds the
provider's fake with what the scenario needs and signs events its way; every assertion is on
the neutral interface. Where a provider cannot do something, the scenario is skipped with the
reason its capabilities give, and `test_what_a_provider_cannot_do_is_refused_in_words` holds
the refusal itself."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from tests.billing.flutterwave import conftest as fw
from tests.billing.flutterwave.fakes import FlutterwaveFake
from zigznote.billing import providers
from zigznote.billing.catalog import parse_catalog
from zigznote.billing.catalog_sync import ActionKind, ExistingCatalog, plan_sync
from zigznote.billing.money import Money
from zigznote.billing.providers.base import OPTIONAL_OPERATIONS, PaymentProvider
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.billing.providers.flutterwave.webhooks import sign as fw_sign
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.billing.types import CheckoutMode, CheckoutRequest, CheckoutStatus, Proration, SubscriptionStatus
from zigznote.config import load_settings
from zigznote.errors import ConfigError, InvalidInput, SignatureInvalid

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # stripe's HTTPXClient

STRIPE_API = "https://stripe.test"
STRIPE_KEY = "sk_test_51Zz9ExampleOnlyNotARealKey0000"
STRIPE_WHSEC = "whsec_contract_secret"
STRIPE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
EMAIL = fw.EMAIL

CATALOG = """
[plans.pro]
name = "Pro"
description = "For growing teams"
prices = [
  { currency = "NGN", interval = "month", amount = "25000.50" },
  { currency = "KES", interval = "year", amount = "35000" },
]
"""


def _stripe(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((STRIPE_FIXTURES / f"{name}.json").read_text())
    return loaded


def _form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


@dataclass
class Harness:
    """One provider behind respx, and how to seed and sign for it."""

    name: str
    provider: PaymentProvider
    router: respx.Router
    creates: list[httpx.Request] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    # -- seeding -------------------------------------------------------------------------

    def seed_payment(self, amount: int, currency: str, refunded: int) -> str:
        """A succeeded payment of ``amount`` minor units with ``refunded`` already refunded."""
        if self.name == "stripe":
            pi = _stripe("payment_intent")
            pi.update(amount=amount, amount_received=amount, currency=currency.lower())
            pi["latest_charge"].update(amount=amount, amount_refunded=refunded, currency=currency.lower())
            self.router.get(f"/v1/payment_intents/{pi['id']}").mock(return_value=httpx.Response(200, json=pi))

            def refund(request: httpx.Request) -> httpx.Response:
                self.creates.append(request)
                made = _stripe("refund") | {"amount": int(_form(request)["amount"]), "currency": currency.lower()}
                return httpx.Response(200, json=made)

            self.router.post("/v1/refunds").mock(side_effect=refund)
            return str(pi["id"])
        fake: FlutterwaveFake = self.state["fake"]
        major = Money(amount, currency).to_decimal()
        tx = fake.pay("zigznote-contract-1", major, currency, EMAIL)
        if refunded:
            fake.refunds.append(
                {
                    "id": 1,
                    "tx_id": tx["id"],
                    "amount_refunded": Money(refunded, currency).to_decimal(),
                    "status": "completed",
                    "created_at": "2026-11-21T08:00:00.000Z",
                }
            )
        return str(tx["id"])

    def refund_requests(self) -> list[httpx.Request]:
        if self.name == "stripe":
            return self.creates
        return [r for r in self.state["fake"].posts if r.url.path.endswith("/refund")]

    def create_requests(self) -> int:
        """How many creates (products, prices, plans) the provider received."""
        if self.name == "stripe":
            return len(self.creates)
        return len(self.state["fake"].posts)

    def seed_subscription(self) -> str:
        """A running subscription, paid for its current period."""
        if self.name == "stripe":
            sub = _stripe("subscription")
            self.state["sub"] = sub
            sub_path = f"/v1/subscriptions/{sub['id']}"
            self.router.get(sub_path).mock(side_effect=lambda r: httpx.Response(200, json=self.state["sub"]))

            def update(request: httpx.Request) -> httpx.Response:
                sent = _form(request)
                if "cancel_at_period_end" in sent:
                    self.state["sub"] = {
                        **self.state["sub"],
                        "cancel_at_period_end": sent["cancel_at_period_end"] == "true",
                    }
                return httpx.Response(200, json=self.state["sub"])

            self.router.post(sub_path).mock(side_effect=update)
            return str(sub["id"])
        fake = self.state["fake"]
        fake.plans.append(fw.load("plan_created")["data"])
        fake.pay("first", 25000, "NGN", EMAIL, created_at="2026-11-20T09:30:00.000Z")
        return str(fake.subscribe(52045, EMAIL, created_at="2026-11-20T09:30:05.000Z")["id"])

    def checkout_request(self) -> CheckoutRequest:
        if self.name == "stripe":
            self.router.post("/v1/checkout/sessions").mock(
                return_value=httpx.Response(200, json=_stripe("checkout_session_subscription"))
            )
            customer, price = "cus_TZk8mQ4bR2xNvE", "price_1SZkA2LkdIwHu7ixUsdMonth"
        else:
            self.state["fake"].plans.append(fw.load("plan_created")["data"])
            customer, price = EMAIL, "52045"
        return CheckoutRequest(
            mode=CheckoutMode.SUBSCRIPTION, success_url="https://app.example.com/done",
            cancel_url="https://app.example.com/billing", customer_id=customer, price_id=price,
            client_reference_id="org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M",
        )  # fmt: skip

    # -- events --------------------------------------------------------------------------

    def signed_event(self) -> tuple[bytes, dict[str, str], str]:
        """A payment event as the provider signs it, and the payment it is about."""
        if self.name == "stripe":
            body = (STRIPE_FIXTURES / "event_charge_refunded.json").read_bytes()
            t = int(time.time())
            digest = hmac.new(STRIPE_WHSEC.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
            return body, {"Stripe-Signature": f"t={t},v1={digest}"}, "pi_3SZkB9LkdIwHu7ix0Ka1b2C3"
        body = fw.raw("webhook_charge_completed")
        return body, {"flutterwave-signature": fw_sign(body, fw.WEBHOOK_SECRET)}, fw.TX_ID


def _stripe_catalog(router: respx.Router, harness: Harness) -> None:
    products: list[dict[str, Any]] = []
    prices: list[dict[str, Any]] = []

    def page(items: list[dict[str, Any]], url: str) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "data": items, "has_more": False, "url": url})

    def product(request: httpx.Request) -> httpx.Response:
        harness.creates.append(request)
        sent = _form(request)
        made = _stripe("product") | {
            "id": f"prod_{len(products) + 1}", "name": sent["name"], "description": sent.get("description"),
            "metadata": {"zigznote_plan": sent["metadata[zigznote_plan]"]}, "marketing_features": [],
        }  # fmt: skip
        products.append(made)
        return httpx.Response(200, json=made)

    def price(request: httpx.Request) -> httpx.Response:
        harness.creates.append(request)
        sent = _form(request)
        made = _stripe("price") | {
            "id": f"price_{len(prices) + 1}", "product": sent["product"], "unit_amount": int(sent["unit_amount"]),
            "unit_amount_decimal": sent["unit_amount"], "currency": sent["currency"],
            "metadata": {"zigznote_plan": sent["metadata[zigznote_plan]"]},
        }  # fmt: skip
        made["recurring"] = {**made["recurring"], "interval": sent["recurring[interval]"],
                             "interval_count": int(sent["recurring[interval_count]"])}  # fmt: skip
        prices.append(made)
        return httpx.Response(200, json=made)

    router.get("/v1/products").mock(side_effect=lambda r: page(products, "/v1/products"))
    router.get("/v1/prices").mock(side_effect=lambda r: page(prices, "/v1/prices"))
    router.post("/v1/products").mock(side_effect=product)
    router.post("/v1/prices").mock(side_effect=price)


@pytest.fixture(params=["stripe", "flutterwave"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "stripe":
        with respx.mock(base_url=STRIPE_API, assert_all_called=False) as router:
            made = StripeProvider(STRIPE_KEY, api_base=STRIPE_API, webhook_secrets=[STRIPE_WHSEC])
            h = Harness("stripe", made, router)
            _stripe_catalog(router, h)
            with made:
                yield h
        return
    with respx.mock(base_url=fw.API, assert_all_called=False) as router:
        made_fw = FlutterwaveProvider(
            fw.SECRET_KEY,
            api_base=fw.API,
            webhook_secrets=[fw.WEBHOOK_SECRET],
            sleep=lambda s: None,
            clock=lambda: fw.NOW,
        )
        h = Harness("flutterwave", made_fw, router, state={"fake": FlutterwaveFake(router)})
        with made_fw:
            yield h


# -- scenarios -----------------------------------------------------------------------------------


def test_registered_and_consistent(harness: Harness) -> None:
    cls = providers.get(harness.name)
    assert cls is type(harness.provider)
    assert providers.check_provider(cls) == []


def test_without_its_key_the_provider_is_not_built(harness: Harness, tmp_path: Path) -> None:
    settings = load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError) as caught:
        providers.create(harness.name, settings)
    assert caught.value.message == f"{harness.name.upper()}_SECRET_KEY is not set"


def _sync(provider: PaymentProvider) -> list[ActionKind]:
    actions = plan_sync(
        parse_catalog(CATALOG, providers=[provider.name]),
        ExistingCatalog(list(provider.list_products()), list(provider.list_prices())),
        provider=provider.name,
        capabilities=provider.capabilities,
    )
    made: dict[str, str] = {}
    for n, action in enumerate(actions):
        if action.kind is ActionKind.CREATE_PRODUCT:
            assert action.product is not None
            made[action.plan] = provider.create_product(action.product, idempotency_key=f"zz:product:{n}").id
        elif action.kind is ActionKind.CREATE_PRICE:
            spec = action.price_spec(action.product_id or made[action.plan])
            provider.create_price(spec, idempotency_key=f"zz:price:{action.fingerprint}")
        else:
            assert action.kind is ActionKind.UNCHANGED, action
    return [a.kind for a in actions]


def test_plans_sync_is_idempotent_and_amounts_are_exact(harness: Harness) -> None:
    first = _sync(harness.provider)
    assert Counter(first) == {ActionKind.CREATE_PRODUCT: 1, ActionKind.CREATE_PRICE: 2}
    sent = harness.create_requests()
    assert Counter(_sync(harness.provider)) == {ActionKind.UNCHANGED: 3}
    assert harness.create_requests() == sent  # the second run sent no create
    amounts = sorted((p.amount.currency, p.amount.amount) for p in harness.provider.list_prices(active=True))
    assert amounts == [("KES", 3500000), ("NGN", 2500050)]
    (product,) = harness.provider.list_products()
    assert (product.name, product.slug, product.active) == ("Pro", "pro", True)


def test_a_refund_fits_what_the_provider_reports_left(harness: Harness) -> None:
    payment_id = harness.seed_payment(2500000, "NGN", refunded=500000)
    payment = harness.provider.get_payment(payment_id)
    assert (payment.amount, payment.amount_refunded, payment.refundable) == (
        Money(2500000, "NGN"),
        Money(500000, "NGN"),
        Money(2000000, "NGN"),
    )
    refund = harness.provider.create_refund(payment_id, idempotency_key="zz:refund:bop_1", amount=Money(1000000, "NGN"))
    assert (refund.payment_id, refund.amount) == (payment_id, Money(1000000, "NGN"))
    assert len(harness.refund_requests()) == 1


def test_a_hosted_checkout_for_a_subscription_price(harness: Harness) -> None:
    session = harness.provider.create_checkout_session(harness.checkout_request(), idempotency_key="zz:checkout:bop_1")
    assert session.url is not None and session.url.startswith("https://")
    assert (session.mode, session.status) == (CheckoutMode.SUBSCRIPTION, CheckoutStatus.OPEN)


def test_signed_events_are_accepted_and_tampered_ones_refused(harness: Harness) -> None:
    body, headers, object_id = harness.signed_event()
    event = harness.provider.construct_event(body, headers)
    assert (event.provider, event.object_type, event.object_id, event.raw) == (harness.name, "payment", object_id, body)
    with pytest.raises(SignatureInvalid):
        harness.provider.construct_event(body.replace(b"{", b"{ ", 1), headers)
    with pytest.raises(SignatureInvalid):
        harness.provider.construct_event(body, {})


def test_cancel_at_period_end_then_keep(harness: Harness) -> None:
    sub_id = harness.seed_subscription()
    ending = harness.provider.cancel_subscription(sub_id, at_period_end=True)
    assert (ending.status, ending.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, True)
    kept = harness.provider.undo_cancel_subscription(sub_id)
    assert (kept.status, kept.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, False)


def test_a_plan_change_without_proration(harness: Harness) -> None:
    caps = harness.provider.capabilities
    if not caps.change_plan:
        assert "change a subscription's plan" in caps.cannot()
        assert not any(c.startswith("prorate") for c in caps.cannot())  # no plan change: nothing to prorate
        pytest.skip(f"{harness.provider.title} cannot change a subscription's plan: v3 has no plan swap")
    sub_id = harness.seed_subscription()
    route = harness.router.post(f"/v1/subscriptions/{sub_id}").mock(
        return_value=httpx.Response(200, json=_stripe("subscription"))
    )
    harness.provider.change_subscription(sub_id, price_id="price_1SZkA9LkdIwHu7ixUsdYear0", proration=Proration.NONE)
    assert _form(route.calls.last.request)["proration_behavior"] == "none"


_REFUSED = {
    "delete_customers": lambda p: p.delete_customer("x@example.com"),
    "payment_methods": lambda p: p.list_payment_methods("x@example.com"),
    "pause_subscriptions": lambda p: p.pause_subscription("1"),
    "undo_cancel": lambda p: p.undo_cancel_subscription("1"),
    "checkout": lambda p: p.create_checkout_session(None, idempotency_key="k"),
}


#: Operations of the interface every provider implements, whose capability flag may still say
#: the provider refuses them (the services check the flag first; the provider refuses too).
_CORE_REFUSED = {
    "create_subscriptions": lambda p: p.create_subscription(None, idempotency_key="k"),
    "change_plan": lambda p: p.change_subscription("1", price_id="p", proration=Proration.NONE),
    "cancel_now": lambda p: p.cancel_subscription("1", at_period_end=False),
}


def test_core_operations_a_provider_cannot_do_are_refused_in_words(harness: Harness) -> None:
    caps = harness.provider.capabilities
    missing = [flag for flag in _CORE_REFUSED if not getattr(caps, flag)]
    if not missing:
        pytest.skip(f"{harness.provider.title} can do every core operation")
    assert missing == ["create_subscriptions", "change_plan", "cancel_now"]  # Flutterwave v3
    for flag in missing:
        with pytest.raises(InvalidInput) as caught:
            _CORE_REFUSED[flag](harness.provider)
        assert (caught.value.code, caught.value.message.split(" cannot ")[0]) == (
            "unsupported_by_provider",
            harness.provider.title,
        )
    assert list(harness.provider.list_invoices()) == [] and not caps.invoices
    assert not harness.router.calls


def test_what_a_provider_cannot_do_is_refused_in_words(harness: Harness) -> None:
    caps = harness.provider.capabilities
    missing = [flag for flag in OPTIONAL_OPERATIONS if not getattr(caps, flag)]
    if not missing:
        pytest.skip(f"{harness.provider.title} has every optional capability")
    for flag in missing:
        with pytest.raises(InvalidInput) as caught:
            _REFUSED[flag](harness.provider)
        assert caught.value.code == "unsupported_by_provider"
        assert caught.value.message.startswith(f"{harness.provider.title} cannot ")
    assert not harness.router.calls  # refused before anything is sent
