"""plans.toml: the issue's example shape parses exactly; every error names file:plan:price."""

from __future__ import annotations

from pathlib import Path

import pytest

from zigznote.billing.catalog import Catalog, CatalogPrice, load_catalog, parse_catalog
from zigznote.billing.money import Money
from zigznote.billing.types import BillingInterval, ProductSpec
from zigznote.errors import InvalidInput, NotFound

EXAMPLE = """
[plans.pro]
name = "Pro"
features = ["Unlimited meetings", "Slack and HubSpot"]
limits = { seats = 10, meetings_per_month = 500 }
prices = [ { currency = "USD", interval = "month", amount = "29.00" },
           { currency = "NGN", interval = "month", amount = "25000" } ]

[plans.team]
name = "Team"
description = "For whole departments"
limits = { seats = 50, sso = true }
prices = [
  { currency = "USD", interval = "year", amount = "290.00" },
  { currency = "JPY", interval = "month", amount = 4000 },
  { currency = "kwd", interval = "month", amount = "9.120", interval_count = 3 },
  { currency = "NGN", interval = "month", amount = "100000.50", providers = ["flutterwave"] },
]
"""


def error(text: str | bytes, **kwargs: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_catalog(text, **kwargs)  # type: ignore[arg-type]
    assert info.value.exit_code == 2
    return info.value


def plan_with(price: str, extra: str = "") -> str:
    first = '{ currency = "USD", interval = "month", amount = "29.00" }'
    return f'[plans.pro]\nname = "Pro"\n{extra}prices = [ {first},\n  {price} ]\n'


def test_the_issue_example_parses_exactly() -> None:
    catalog = parse_catalog(EXAMPLE)
    assert [p.slug for p in catalog.plans] == ["pro", "team"]
    pro = catalog.plan("pro")
    assert pro.name == "Pro" and pro.description is None
    assert pro.features == ("Unlimited meetings", "Slack and HubSpot")
    assert pro.limits == {"seats": 10, "meetings_per_month": 500}
    assert pro.prices == (
        CatalogPrice(Money(2900, "USD"), BillingInterval.MONTH),
        CatalogPrice(Money(2500000, "NGN"), BillingInterval.MONTH),
    )
    assert pro.product_spec() == ProductSpec(
        "Pro", None, ("Unlimited meetings", "Slack and HubSpot"), {"zigznote_plan": "pro"}
    )
    team = catalog.plan("team")
    assert team.limits == {"seats": 50, "sso": True}
    assert [p.amount for p in team.prices] == [
        Money(29000, "USD"), Money(4000, "JPY"), Money(9120, "KWD"), Money(10000050, "NGN"),
    ]  # fmt: skip
    assert team.prices[2].interval_count == 3
    assert team.prices[3].providers == frozenset({"flutterwave"})
    assert team.price_for("NGN", BillingInterval.MONTH, provider="stripe") is None
    assert team.price_for("ngn", BillingInterval.MONTH, provider="flutterwave") == team.prices[3]
    assert catalog.as_json()[0]["prices"][0] == {
        "amount": {"amount": 2900, "currency": "USD", "display": "$29.00"},
        "interval": "month",
        "interval_count": 1,
        "providers": None,
    }


def test_load_catalog_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "plans.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    catalog = load_catalog(path)
    assert catalog.source == str(path) and len(catalog.plans) == 2
    with pytest.raises(InvalidInput) as info:
        load_catalog(tmp_path / "missing.toml")
    assert info.value.code == "file_not_found"


def test_unknown_plan() -> None:
    with pytest.raises(NotFound) as info:
        parse_catalog(EXAMPLE).plan("enterprise")
    assert info.value.hint == "plans: pro, team"


@pytest.mark.parametrize(
    ("price", "message", "code"),
    [
        (
            '{ currency = "JPY", interval = "month", amount = "9.5" }',
            "plans.toml:pro:price 2 (JPY/month): 9.5 JPY cannot be represented: JPY amounts have no decimal places",
            "amount_unrepresentable",
        ),
        (
            '{ currency = "USD", interval = "year", amount = "1.234" }',
            "plans.toml:pro:price 2 (USD/year): 1.234 USD cannot be represented: "
            "USD amounts have at most 2 decimal places",
            "amount_unrepresentable",
        ),
        (
            '{ currency = "KWD", interval = "month", amount = "5.125" }',
            "plans.toml:pro:price 2 (KWD/month): 5.125 KWD cannot be sent to Stripe: "
            "KWD is a three-decimal currency at Stripe, whose last digit must be 0",
            "amount_not_allowed",
        ),
        (
            '{ currency = "USD", interval = "year", amount = 29.0 }',
            "plans.toml:pro:price 2 (USD/year): amount 29.0 is a TOML float",
            "invalid_amount",
        ),
        (
            '{ currency = "USD", interval = "year", amount = "-1" }',
            "plans.toml:pro:price 2 (USD/year): amount -1 USD is negative",
            "invalid_amount",
        ),
        (
            '{ currency = "USD", interval = "year" }',
            "plans.toml:pro:price 2 (USD/year): amount is missing",
            "invalid_amount",
        ),
        (
            '{ currency = "USD", interval = "monthly", amount = "1" }',
            "plans.toml:pro:price 2 (USD/monthly): interval must be one of day, week, month, year",
            "invalid_catalog",
        ),
        (
            '{ currency = "USD", interval = "year", amount = "1", interval_count = 0 }',
            "plans.toml:pro:price 2 (USD/year): interval_count must be a whole number from 1 to 365",
            "invalid_catalog",
        ),
        (
            '{ currency = "DOLLARS", interval = "year", amount = "1" }',
            "plans.toml:pro:price 2 (DOLLARS/year): 'DOLLARS' is not a currency code",
            "invalid_currency",
        ),
        (
            '{ currency = "USD", interval = "year", amount = "1", cost = "2" }',
            "plans.toml:pro:price 2 (USD/year): unknown key 'cost'",
            "invalid_catalog",
        ),
        (
            '{ currency = "USD", interval = "year", amount = "1", providers = ["paypal"] }',
            "plans.toml:pro:price 2 (USD/year): providers must be a non-empty list of provider names",
            "invalid_catalog",
        ),
        (
            '{ currency = "USD", interval = "month", amount = "35.00" }',
            "plans.toml:pro:price 2: a second USD price every 1 month for flutterwave, stripe",
            "invalid_catalog",
        ),
        (
            '"29.00"',
            'plans.toml:pro:price 2: a price is a table: { currency = "USD", interval = "month", amount = "29.00" }',
            "invalid_catalog",
        ),
    ],
)
def test_price_errors_name_file_plan_and_price(price: str, message: str, code: str) -> None:
    exc = error(plan_with(price))
    assert (exc.message, exc.code) == (message, code)


def test_kwd_restricted_to_flutterwave_is_accepted() -> None:
    price = '{ currency = "KWD", interval = "month", amount = "5.125", providers = ["flutterwave"] }'
    catalog = parse_catalog(plan_with(price))
    assert catalog.plans[0].prices[1].amount == Money(5125, "KWD")
    # Checked only against the providers asked for.
    assert parse_catalog(
        plan_with('{ currency = "KWD", interval = "month", amount = "5.125" }'), providers=["flutterwave"]
    ).plans[0].prices[1].amount == Money(5125, "KWD")


def test_same_key_for_disjoint_providers_is_allowed() -> None:
    price = '{ currency = "USD", interval = "month", amount = "30.00", providers = ["flutterwave"] }'
    text = plan_with(price).replace('amount = "29.00" }', 'amount = "29.00", providers = ["stripe"] }')
    prices = parse_catalog(text).plans[0].prices
    assert [(p.amount, p.providers) for p in prices] == [
        (Money(2900, "USD"), frozenset({"stripe"})),
        (Money(3000, "USD"), frozenset({"flutterwave"})),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "plans.toml: no plans"),
        (
            "[plans.pro\n",
            "plans.toml: not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 11)",
        ),
        ('title = "x"\n[plans.pro]\nname = "Pro"\n', "plans.toml: unknown key 'title'"),
        (
            '[plans.Pro]\nname = "Pro"\n',
            "plans.toml:Pro: a plan slug is 1-40 of a-z, 0-9, '-' and '_', starting with a letter",
        ),
        ("[plans.pro]\nprices = []\n", "plans.toml:pro: name must be non-empty text"),
        ('[plans.pro]\nname = "Pro"\n', "plans.toml:pro: no prices"),
        ('[plans.pro]\nname = "Pro"\nprice = 1\n', "plans.toml:pro: unknown key 'price'"),
        ('[plans.pro]\nname = "A\\u001bB"\n', "plans.toml:pro: name must be one line of at most 200 characters"),
        ('[plans.pro]\nname = "Pro"\nfeatures = "x"\n', "plans.toml:pro: features must be a list of at most 50 texts"),
        (
            '[plans.pro]\nname = "Pro"\nlimits = { seats = -1 }\n',
            "plans.toml:pro: limit 'seats' must be named a-z, 0-9, '_' and be a whole number ≥ 0 or true/false",
        ),
    ],
)
def test_file_and_plan_errors(text: str, message: str) -> None:
    assert error(text).message == message


def test_feature_errors_and_source_name() -> None:
    text = plan_with('{ currency = "EUR", interval = "month", amount = "1" }', extra='features = ["ok", ""]\n')
    assert error(text, source="conf/plans.toml").message == "conf/plans.toml:pro: a feature must be non-empty text"


def test_not_utf8_is_refused() -> None:
    exc = error(b'[plans.pro]\nname = "\xff"\n')
    assert exc.code == "invalid_encoding"


def test_unknown_provider_to_check() -> None:
    assert error(EXAMPLE, providers=["paypal"]).message == "plans.toml: no amount rules for provider 'paypal'"


def test_catalog_is_a_value() -> None:
    assert parse_catalog(EXAMPLE) == parse_catalog(EXAMPLE)
    assert isinstance(parse_catalog(EXAMPLE), Catalog)
