"""The whole catalog checked against a provider's rules before `plans sync` sends anything
(``services.billing.plans.check_catalog`` over each provider's ``check_product``/``check_price``):
every refusal named at its place, in dry run and real run alike."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.billing.fake_provider import FakeProvider
from zigznote.billing import providers
from zigznote.billing.catalog import parse_catalog
from zigznote.billing.money import Money
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.billing.types import BillingInterval, PriceSpec, ProductSpec
from zigznote.errors import InvalidInput
from zigznote.services.billing.plans import check_catalog

CATALOG = """
[plans.pro]
name = "Pro"
prices = [
  { currency = "USD", interval = "month", amount = "29.00" },
  { currency = "USD", interval = "month", amount = "990.00", interval_count = 48 },
  { currency = "USD", interval = "week", amount = "9.00", providers = ["flutterwave"] },
]

[plans.team]
name = "Team"
prices = [ { currency = "USD", interval = "year", amount = "990.00" } ]
"""


class MonthlyOnly(FakeProvider):
    """A provider that bills by the month only (no amount rules of its own)."""

    name = "monthly"
    title = "Monthly"
    capabilities = replace(FakeProvider.capabilities, intervals=frozenset({BillingInterval.MONTH}))


@pytest.fixture
def monthly() -> Iterator[str]:
    providers.register("monthly", MonthlyOnly, replace=True)
    yield "monthly"
    providers.unregister("monthly")


def test_every_refusal_of_the_catalog_is_named_at_its_place(monthly: str) -> None:
    catalog = parse_catalog(CATALOG, providers=["stripe"])
    with pytest.raises(InvalidInput) as caught:
        check_catalog(catalog, monthly)
    assert caught.value.to_dict() == {
        "code": "unsupported_by_provider",
        "message": "plans.toml:team:price 1 (USD/year): Monthly cannot bill by year",
        "hint": "`zigznote billing providers` lists what each provider can do",
    }
    two = parse_catalog(CATALOG.replace('interval = "month", amount = "29.00"', 'interval = "day", amount = "1.00"'))
    with pytest.raises(InvalidInput) as caught:
        check_catalog(two, monthly)
    assert caught.value.message == (
        "Monthly would refuse 2 entries of plans.toml, nothing was sent: "
        "plans.toml:pro:price 1 (USD/day): Monthly cannot bill by day; "
        "plans.toml:team:price 1 (USD/year): Monthly cannot bill by year"
    )


def test_stripe_refuses_more_than_three_years_and_is_told_which_price() -> None:
    catalog = parse_catalog(CATALOG, providers=["stripe"])
    with pytest.raises(InvalidInput) as caught:
        check_catalog(catalog, "stripe")  # the weekly price is Flutterwave's only: not checked for Stripe
    assert caught.value.to_dict() == {
        "code": "interval_too_long",
        "message": "plans.toml:pro:price 2 (USD/48 months): Stripe bills at most every 36 months (three years), "
        "not every 48",
        "hint": 'change it in plans.toml, or offer it only at flutterwave with providers = ["flutterwave"]',
    }


def test_flutterwave_names_each_interval_it_cannot_bill() -> None:
    catalog = parse_catalog(CATALOG, providers=["flutterwave"])
    with pytest.raises(InvalidInput) as caught:
        check_catalog(catalog, "flutterwave")
    assert caught.value.message == (
        "plans.toml:pro:price 2 (USD/48 months): Flutterwave payment plans cannot bill every 48 months"
    )
    fine = parse_catalog(
        """
[plans.pro]
name = "Pro"
prices = [
  { currency = "NGN", interval = "month", amount = "25000" },
  { currency = "NGN", interval = "month", amount = "70000", interval_count = 3 },
  { currency = "NGN", interval = "week", amount = "6000" },
  { currency = "NGN", interval = "month", amount = "150000", interval_count = 6, providers = ["stripe"] },
]
""",
        providers=["flutterwave"],
    )
    check_catalog(fine, "flutterwave")  # monthly, quarterly, weekly; the 6-month price is Stripe's only


def test_the_hooks_refuse_what_create_would_and_need_no_keys() -> None:
    spec = PriceSpec("prod_1", Money(2900, "USD"), BillingInterval.WEEK, 157, {"zigznote_plan": "pro"})
    with pytest.raises(InvalidInput) as caught:
        StripeProvider.check_price(spec)
    assert caught.value.message == "Stripe bills at most every 156 weeks (three years), not every 157"
    StripeProvider.check_price(replace(spec, interval_count=156))
    with pytest.raises(InvalidInput) as caught:
        StripeProvider.check_product(ProductSpec("Pro", features=tuple(f"f{i}" for i in range(16))))
    assert caught.value.code == "too_many_features"
    with pytest.raises(InvalidInput) as caught:
        FlutterwaveProvider.check_product(ProductSpec("P" * 140, metadata={"zigznote_plan": "pro"}))
    assert caught.value.code == "plan_name_too_long"
    FlutterwaveProvider.check_product(ProductSpec("P" * 129, metadata={"zigznote_plan": "pro"}))
    with pytest.raises(InvalidInput) as caught:
        FlutterwaveProvider.check_price(replace(spec, interval=BillingInterval.MONTH, interval_count=2))
    assert caught.value.code == "interval_not_supported"
    FlutterwaveProvider.check_price(replace(spec, interval=BillingInterval.MONTH, interval_count=3))  # quarterly
