"""Payment plans as products and prices: exact bodies, the name tag, idempotent creates,
intervals Flutterwave cannot express refused before anything is sent, and `plans sync` planned
twice against the result with nothing left to do."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
import respx

from tests.billing.flutterwave.conftest import body, error, ok, query
from tests.billing.flutterwave.fakes import FlutterwaveFake
from zigznote.billing.catalog import parse_catalog
from zigznote.billing.catalog_sync import ActionKind, ExistingCatalog, plan_sync
from zigznote.billing.money import Money
from zigznote.billing.providers.flutterwave.params import key_digest
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.billing.types import BillingInterval, PriceSpec, ProductSpec, ProductUpdate
from zigznote.errors import InvalidInput, ProviderError

KEY = "zigznote/price.create/pro:3f2a/bop_01JD7T0S6B8Q2W4E6R8T0Y2U4I"


def spec(amount: Money, interval: BillingInterval = BillingInterval.MONTH, count: int = 1) -> PriceSpec:
    return PriceSpec("zigznote:pro", amount, interval, count, {"zigznote_plan": "pro"})


def test_products_and_prices_come_from_tagged_plans(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    fw_api.get("/payment-plans").mock(side_effect=[ok("plans_page1"), ok("plans_page2")])
    (product,) = provider.list_products()
    assert (product.id, product.name, product.active, product.slug) == ("zigznote:pro", "Pro", True, "pro")
    assert product.created == datetime(2026, 10, 1, 8, 0)
    assert product.description is None and product.features == ()
    fw_api.get("/payment-plans").mock(side_effect=[ok("plans_page1"), ok("plans_page2")])
    prices = {p.id: p for p in provider.list_prices(product_id="zigznote:pro")}
    assert set(prices) == {"52045", "52046", "51990"}  # "testing" is someone else's plan
    assert (prices["52045"].amount, prices["52045"].interval, prices["52045"].active) == (
        Money(2500000, "NGN"),
        BillingInterval.MONTH,
        True,
    )
    assert prices["52046"].amount == Money(350000, "KES")
    assert (prices["51990"].amount, prices["51990"].active) == (Money(2000000, "NGN"), False)  # "20000.00" as text


def test_create_product_sends_nothing(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    made = provider.create_product(
        ProductSpec("Pro", "For teams", ("SSO",), {"zigznote_plan": "pro"}), idempotency_key="k"
    )
    assert (made.id, made.name, made.active, made.slug) == ("zigznote:pro", "Pro", True, "pro")
    assert not fw_api.calls


def test_create_price_posts_the_exact_plan(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    fw_api.get("/payment-plans").mock(return_value=ok("plans_page2"))
    route = fw_api.post("/payment-plans").mock(return_value=ok("plan_created"))
    provider.create_product(ProductSpec("Pro", metadata={"zigznote_plan": "pro"}), idempotency_key="k")
    price = provider.create_price(spec(Money(2500000, "NGN")), idempotency_key=KEY)
    assert body(route.calls.last.request) == {
        "amount": 25000,
        "name": f"Pro [zz:pro:{key_digest(KEY)}]",
        "interval": "monthly",
        "currency": "NGN",
    }
    assert route.calls.last.request.content.startswith(b'{"amount":25000,"name":"Pro [zz:pro:')
    assert (price.id, price.product_id, price.amount) == ("52045", "zigznote:pro", Money(2500000, "NGN"))


@pytest.mark.parametrize(
    ("amount", "interval", "count", "sent_amount", "sent_interval"),
    [
        (Money(350050, "KES"), BillingInterval.MONTH, 3, Decimal("3500.5"), "quarterly"),
        (Money(5000, "UGX"), BillingInterval.YEAR, 1, 5000, "yearly"),
        (Money(2500, "XOF"), BillingInterval.WEEK, 1, 2500, "weekly"),
        (Money(1999, "GHS"), BillingInterval.DAY, 1, Decimal("19.99"), "daily"),
    ],
)
def test_amounts_and_intervals_in_the_body(
    provider: FlutterwaveProvider,
    fw_api: respx.Router,
    amount: Money,
    interval: BillingInterval,
    count: int,
    sent_amount: object,
    sent_interval: str,
) -> None:
    fw_api.get("/payment-plans").mock(return_value=ok("plans_page2"))
    route = fw_api.post("/payment-plans").mock(return_value=ok("plan_created"))
    provider.create_price(spec(amount, interval, count), idempotency_key=KEY)
    sent = body(route.calls.last.request)
    assert (sent["amount"], sent["interval"], sent["currency"]) == (sent_amount, sent_interval, amount.currency)
    assert sent["name"] == f"Pro [zz:pro:{key_digest(KEY)}]"  # the name of the plan's existing prices


@pytest.mark.parametrize(
    ("interval", "count", "every"), [("month", 2, "2 months"), ("week", 2, "2 weeks"), ("year", 2, "2 years")]
)
def test_an_interval_flutterwave_cannot_express_is_refused_before_anything_is_sent(
    provider: FlutterwaveProvider, fw_api: respx.Router, interval: str, count: int, every: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        provider.create_price(spec(Money(100, "USD"), BillingInterval(interval), count), idempotency_key=KEY)
    assert caught.value.code == "interval_not_supported"
    assert caught.value.message == f"Flutterwave payment plans cannot bill every {every}"
    assert "daily, weekly, monthly, quarterly (every 3 months) or yearly" in (caught.value.hint or "")
    assert not fw_api.calls


def test_a_name_too_long_for_a_plan_is_refused(provider: FlutterwaveProvider) -> None:
    with pytest.raises(InvalidInput) as caught:
        provider.create_product(ProductSpec("P" * 140, metadata={"zigznote_plan": "pro"}), idempotency_key="k")
    assert caught.value.code == "plan_name_too_long"
    assert caught.value.message == (
        "plan 'pro': Flutterwave payment-plan names are at most 150 characters, so its name may have 1 to 132 "
        "characters here (zigznote adds the 18-character tag ' [zz:pro:…]')"
    )


def test_a_retried_create_finds_the_plan_it_made_and_sends_nothing(
    provider: FlutterwaveProvider, fw_api: respx.Router
) -> None:
    fake = FlutterwaveFake(fw_api)
    first = provider.create_price(spec(Money(2500000, "NGN")), idempotency_key=KEY)
    again = provider.create_price(spec(Money(2500000, "NGN")), idempotency_key=KEY)
    assert again == first and len(fake.posts) == 1 and len(fake.plans) == 1


def test_a_create_that_timed_out_is_looked_for_before_it_is_sent_again(
    provider: FlutterwaveProvider, fw_api: respx.Router
) -> None:
    fake = FlutterwaveFake(fw_api)

    def lost(request: httpx.Request) -> httpx.Response:
        fake._create_plan(request)  # Flutterwave made it; the answer never came back
        raise httpx.ReadTimeout("slow")

    fw_api.post("/payment-plans").mock(side_effect=lost)
    price = provider.create_price(spec(Money(2500000, "NGN")), idempotency_key=KEY)
    assert price.id == "60001" and len(fake.plans) == 1


def test_a_create_that_timed_out_and_made_nothing_is_a_provider_error(
    provider: FlutterwaveProvider, fw_api: respx.Router
) -> None:
    FlutterwaveFake(fw_api)
    route = fw_api.post("/payment-plans").mock(return_value=error(503, "error_timeout_503"))
    with pytest.raises(ProviderError) as caught:
        provider.create_price(spec(Money(2500000, "NGN")), idempotency_key=KEY)
    assert caught.value.code == "flutterwave_unanswered" and route.call_count == 1


def test_rename_and_archive_keep_the_tag(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    fw_api.get("/payment-plans").mock(side_effect=[ok("plans_page1"), ok("plans_page2")])
    renamed = fw_api.put("/payment-plans/52045").mock(return_value=ok("plan_updated"))
    other = fw_api.put("/payment-plans/52046").mock(return_value=ok("plan_updated", id=52046, currency="KES"))
    old = fw_api.put("/payment-plans/51990").mock(return_value=ok("plan_updated", id=51990, status="cancelled"))
    product = provider.update_product("zigznote:pro", ProductUpdate(name="Pro Plus", description="ignored"))
    assert body(renamed.calls.last.request) == {"name": "Pro Plus [zz:pro:5a1c2e9b]", "status": "active"}
    assert body(other.calls.last.request) == {"name": "Pro Plus [zz:pro:0b7d4411]", "status": "active"}
    assert body(old.calls.last.request) == {"name": "Pro Plus [zz:pro:77e0c3a2]", "status": "cancelled"}
    assert (product.name, product.active) == ("Pro Plus", True)


def test_deactivate_cancels_once(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    fw_api.get("/payment-plans/52045").mock(return_value=ok("plan_created"))
    cancel = fw_api.put("/payment-plans/52045/cancel").mock(return_value=ok("plan_cancelled"))
    assert provider.deactivate_price("52045").active is False
    assert cancel.call_count == 1 and cancel.calls.last.request.content == b""
    assert provider.deactivate_price("52045").active is False  # cached as cancelled: nothing sent
    assert cancel.call_count == 1


CATALOG = """
[plans.pro]
name = "Pro"
description = "For growing teams"
features = ["Unlimited meetings"]
prices = [
  { currency = "NGN", interval = "month", amount = "25000" },
  { currency = "KES", interval = "month", amount = "3500.50" },
  { currency = "UGX", interval = "year", amount = "500000" },
  { currency = "XOF", interval = "month", amount = "15000", interval_count = 3 },
]
"""


def _sync(provider: FlutterwaveProvider, text: str) -> list[ActionKind]:
    """One `plans sync` as the service runs it: plan, then carry out creates and deactivations."""
    caps = provider.capabilities
    actions = plan_sync(
        parse_catalog(text, providers=["flutterwave"]),
        ExistingCatalog(list(provider.list_products()), list(provider.list_prices())),
        provider="flutterwave",
        capabilities=caps,
    )
    products: dict[str, str] = {}
    for n, action in enumerate(actions):
        if action.kind is ActionKind.CREATE_PRODUCT:
            assert action.product is not None
            products[action.plan] = provider.create_product(action.product, idempotency_key=f"p{n}").id
        elif action.kind is ActionKind.CREATE_PRICE:
            made = action.price_spec(action.product_id or products[action.plan])
            provider.create_price(made, idempotency_key=f"zigznote/price.create/{action.fingerprint}")
        elif action.kind is ActionKind.DEACTIVATE_PRICE:
            assert action.price_id is not None
            provider.deactivate_price(action.price_id)
        elif action.kind is ActionKind.UPDATE_PRODUCT:
            assert action.product_id is not None and action.changes is not None
            provider.update_product(action.product_id, action.changes)
    return [a.kind for a in actions]


def test_plans_sync_twice_creates_nothing_the_second_time(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    fake = FlutterwaveFake(fw_api)
    first = _sync(provider, CATALOG)
    assert first.count(ActionKind.CREATE_PRICE) == 4 and len(fake.plans) == 4
    assert sorted((p["currency"], p["interval"], p["amount"]) for p in fake.plans) == [
        ("KES", "monthly", "3500.5"),
        ("NGN", "monthly", "25000"),
        ("UGX", "yearly", "500000"),
        ("XOF", "quarterly", "15000"),
    ]
    posts = len(fake.posts)
    second = _sync(provider, CATALOG)
    assert set(second) == {ActionKind.UNCHANGED} and len(fake.posts) == posts and not fake.puts
    # A price change: one new plan, the old one cancelled; descriptions are never compared.
    changed = CATALOG.replace('"25000"', '"27500"').replace("For growing teams", "For everyone")
    third = _sync(provider, changed)
    assert Counter(k.value for k in third) == {"create_price": 1, "deactivate_price": 1, "unchanged": 4}
    ngn = [(p["amount"], p["status"]) for p in fake.plans if p["currency"] == "NGN"]
    assert ngn == [("25000", "cancelled"), ("27500", "active")]


def test_list_pages_are_queried_from_one(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    route = fw_api.get("/payment-plans").mock(side_effect=[ok("plans_page1"), ok("plans_page2")])
    list(provider.list_prices(active=True))
    assert [query(c.request) for c in route.calls] == [[("page", "1")], [("page", "2")]]
