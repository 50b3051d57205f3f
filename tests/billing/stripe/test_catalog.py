"""Products and prices: paging, the exact forms, immutable prices, Stripe's amount rules."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
import respx

from tests.billing.stripe.conftest import form, load, ok, query
from zigznote.billing.money import Money
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.billing.types import BillingInterval, Plan, Price, PriceSpec, ProductSpec, ProductUpdate
from zigznote.errors import InvalidInput, ProviderError

PROD = "prod_TZk8pro0Mq2Lx"
PRICE = "price_1SZkA2LkdIwHu7ixUsdMonth"


def test_list_products_pages_through_every_page(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.get("/v1/products").mock(side_effect=[ok("products_page1"), ok("products_page2")])
    plans = provider.list_products(active=True)
    assert route.call_count == 0  # lazy: nothing is fetched before iterating
    listed = list(plans)
    assert [p.id for p in listed] == [PROD, "prod_TZk8team7Hq1Wc", "prod_TZk8other3Jd5Ry"]
    assert [p.slug for p in listed] == ["pro", "team", None]
    assert query(route.calls[0].request) == [("limit", "100"), ("active", "true")]
    assert query(route.calls[1].request) == [
        ("limit", "100"),
        ("active", "true"),
        ("starting_after", "prod_TZk8team7Hq1Wc"),
    ]
    assert listed[0] == Plan(
        id=PROD,
        name="Pro",
        active=True,
        description="For growing teams",
        features=("Unlimited meetings", "Slack and HubSpot"),
        created=datetime(2026, 11, 20, 9, 30),
        metadata={"zigznote_plan": "pro"},
    )


def test_create_product_sends_marketing_features(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/products").mock(return_value=ok("product"))
    spec = ProductSpec(
        name="Pro",
        description="For growing teams",
        features=("Unlimited meetings", "Slack and HubSpot"),
        metadata={"zigznote_plan": "pro"},
    )
    plan = provider.create_product(spec, idempotency_key="zz:create_product:pro:3f9a")
    request = route.calls.last.request
    assert form(request) == [
        ("name", "Pro"),
        ("description", "For growing teams"),
        ("marketing_features[0][name]", "Unlimited meetings"),
        ("marketing_features[1][name]", "Slack and HubSpot"),
        ("metadata[zigznote_plan]", "pro"),
    ]
    assert request.headers["Idempotency-Key"] == "zz:create_product:pro:3f9a"
    assert plan.slug == "pro"


def test_update_product_clears_with_empty_strings_and_archives(
    provider: StripeProvider, stripe_api: respx.Router
) -> None:
    route = stripe_api.post(f"/v1/products/{PROD}").mock(
        return_value=ok("product", active=False, description=None, marketing_features=[])
    )
    plan = provider.update_product(PROD, ProductUpdate(description="", features=(), active=False))
    assert form(route.calls.last.request) == [("description", ""), ("marketing_features", ""), ("active", "false")]
    assert (plan.active, plan.description, plan.features) == (False, None, ())


def test_an_update_without_changes_sends_no_write(provider: StripeProvider, stripe_api: respx.Router) -> None:
    write = stripe_api.post(f"/v1/products/{PROD}").mock(return_value=ok("product"))
    read = stripe_api.get(f"/v1/products/{PROD}").mock(return_value=ok("product"))
    assert provider.update_product(PROD, ProductUpdate()).name == "Pro"
    assert (write.call_count, read.call_count) == (0, 1)


def test_list_prices_filters_and_skips_prices_without_a_unit_amount(
    provider: StripeProvider, stripe_api: respx.Router
) -> None:
    route = stripe_api.get("/v1/prices").mock(return_value=ok("prices_list"))
    prices = list(provider.list_prices(product_id=PROD, active=True))
    assert query(route.calls.last.request) == [("limit", "100"), ("product", PROD), ("active", "true")]
    assert prices == [
        Price(
            id=PRICE,
            product_id=PROD,
            amount=Money(2900, "USD"),
            interval=BillingInterval.MONTH,
            interval_count=1,
            active=True,
            created=datetime(2026, 11, 20, 9, 30),
            metadata={"zigznote_plan": "pro"},
        )
    ]


@pytest.mark.parametrize(
    ("money", "unit_amount"),
    [
        (Money(2900, "USD"), "2900"),
        (Money(1235, "JPY"), "1235"),  # zero-decimal: whole yen
        (Money(5000, "UGX"), "500000"),  # Special cases: two-decimal at Stripe, always 00
        (Money(5120, "KWD"), "5120"),  # three-decimal, last digit 0
        (Money(5, "ISK"), "500"),  # two-decimal at Stripe, always 00
    ],
)
def test_create_price_sends_stripe_units(
    provider: StripeProvider, stripe_api: respx.Router, money: Money, unit_amount: str
) -> None:
    answer = load("price", currency=money.currency.lower(), unit_amount=int(unit_amount))
    route = stripe_api.post("/v1/prices").mock(return_value=httpx.Response(200, json=answer))
    spec = PriceSpec(product_id=PROD, amount=money, interval=BillingInterval.MONTH, metadata={"zigznote_plan": "pro"})
    price = provider.create_price(spec, idempotency_key=f"zz:create_price:pro:{money.currency}")
    assert form(route.calls.last.request) == [
        ("product", PROD),
        ("currency", money.currency.lower()),
        ("unit_amount", unit_amount),
        ("recurring[interval]", "month"),
        ("recurring[interval_count]", "1"),
        ("metadata[zigznote_plan]", "pro"),
    ]
    assert price.amount == money  # and back through from_provider_amount, exactly


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        (PriceSpec(PROD, Money(5125, "KWD"), BillingInterval.MONTH), "amount_not_allowed"),
        (PriceSpec(PROD, Money(1234, "MGA"), BillingInterval.MONTH), "amount_unrepresentable"),
        (PriceSpec(PROD, Money(2900, "USD"), BillingInterval.MONTH, interval_count=37), "interval_too_long"),
        (PriceSpec(PROD, Money(2900, "USD"), BillingInterval.WEEK, interval_count=0), "invalid_request"),
        (PriceSpec(PROD, Money(2900, "USD"), BillingInterval.MONTH, metadata={"k" * 41: "v"}), "metadata_too_large"),
    ],
)
def test_a_price_stripe_cannot_take_is_refused_before_sending(
    provider: StripeProvider, stripe_api: respx.Router, spec: PriceSpec, code: str
) -> None:
    route = stripe_api.post("/v1/prices").mock(return_value=ok("price"))
    with pytest.raises(InvalidInput) as caught:
        provider.create_price(spec, idempotency_key="zz:create_price:pro:x")
    assert caught.value.code == code
    assert caught.value.exit_code == 2
    assert route.call_count == 0


def test_kwd_refusal_names_the_amounts_that_would_do(provider: StripeProvider, stripe_api: respx.Router) -> None:
    with pytest.raises(InvalidInput) as caught:
        provider.create_price(PriceSpec(PROD, Money(5125, "KWD"), BillingInterval.MONTH), idempotency_key="zz:p:x")
    assert caught.value.message.startswith("5.125 KWD cannot be sent to Stripe")
    assert caught.value.hint == "use 5.120 KWD or 5.130 KWD; nothing is rounded"


def test_deactivate_price_sets_active_false(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.post(f"/v1/prices/{PRICE}").mock(return_value=ok("price", active=False))
    price = provider.deactivate_price(PRICE)
    assert form(route.calls.last.request) == [("active", "false")]
    assert price.active is False


@pytest.mark.parametrize(
    ("currency", "unit_amount", "expected"),
    [("ugx", 500000, Money(5000, "UGX")), ("jpy", 1235, Money(1235, "JPY")), ("kwd", 5120, Money(5120, "KWD"))],
)
def test_amounts_come_back_through_the_stripe_table(
    provider: StripeProvider, stripe_api: respx.Router, currency: str, unit_amount: int, expected: Money
) -> None:
    stripe_api.post(f"/v1/prices/{PRICE}").mock(return_value=ok("price", currency=currency, unit_amount=unit_amount))
    assert provider.deactivate_price(PRICE).amount == expected


def test_an_amount_our_minor_unit_cannot_hold_is_refused_not_truncated(
    provider: StripeProvider, stripe_api: respx.Router
) -> None:
    # A legacy fractional ISK amount: 10.45 krónur has no ISO minor unit. Stripe's answer, not
    # our input: a provider error (exit 5), as for Flutterwave's 5000.5 UGX.
    stripe_api.post(f"/v1/prices/{PRICE}").mock(return_value=ok("price", currency="isk", unit_amount=1045))
    with pytest.raises(ProviderError) as caught:
        provider.deactivate_price(PRICE)
    assert caught.value.code == "stripe_unexpected_answer"
    assert caught.value.message == (
        "Stripe answered an unusable amount: "
        "Stripe reported 10.45 ISK, which ISK amounts cannot hold (no decimal places)"
    )


def test_more_marketing_features_than_stripe_keeps_are_refused(
    provider: StripeProvider, stripe_api: respx.Router
) -> None:
    route = stripe_api.post("/v1/products").mock(return_value=ok("product"))
    spec = ProductSpec(name="Pro", features=tuple(f"feature {n}" for n in range(16)))
    with pytest.raises(InvalidInput) as caught:
        provider.create_product(spec, idempotency_key="zz:create_product:pro:1")
    assert (caught.value.code, caught.value.message) == (
        "too_many_features",
        "Stripe products keep at most 15 marketing features",
    )
    assert route.call_count == 0
