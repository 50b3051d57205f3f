"""The plan-sync planner: a first run creates, a second run changes nothing, a price change is one
new price plus one deactivation; applied to an in-memory provider state like a real sync."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime

import pytest

from zigznote.billing.catalog import Catalog, parse_catalog
from zigznote.billing.catalog_sync import Action, ActionKind, ExistingCatalog, plan_sync, summary
from zigznote.billing.money import Money
from zigznote.billing.providers.base import Capabilities
from zigznote.billing.types import BillingInterval, Plan, Price, ProductUpdate
from zigznote.errors import Conflict

CATALOG = """
[plans.pro]
name = "Pro"
features = ["Unlimited meetings"]
prices = [ { currency = "USD", interval = "month", amount = "29.00" },
           { currency = "NGN", interval = "month", amount = "25000" } ]

[plans.team]
name = "Team"
prices = [ { currency = "USD", interval = "year", amount = "290.00" },
           { currency = "KES", interval = "month", amount = "3500", providers = ["flutterwave"] } ]
"""

MONTH, YEAR = BillingInterval.MONTH, BillingInterval.YEAR


class FakeProvider:
    """Products and prices as a provider keeps them; ``apply`` performs a plan like the service."""

    def __init__(self) -> None:
        self.products: dict[str, Plan] = {}
        self.prices: dict[str, Price] = {}
        self.ids = itertools.count(1)
        self.creates = 0

    def existing(self) -> ExistingCatalog:
        return ExistingCatalog(list(self.products.values()), list(self.prices.values()))

    def apply(self, actions: list[Action]) -> None:
        created: dict[str, str] = {}
        for action in actions:
            if action.kind is ActionKind.CREATE_PRODUCT:
                assert action.product is not None
                spec = action.product
                pid = f"prod_{next(self.ids)}"
                self.products[pid] = Plan(
                    pid, spec.name, True, spec.description, spec.features, metadata=dict(spec.metadata)
                )
                created[action.plan] = pid
                self.creates += 1
            elif action.kind is ActionKind.CREATE_PRICE:
                wanted = action.price_spec(action.product_id or created[action.plan])
                price_id = f"price_{next(self.ids)}"
                self.prices[price_id] = Price(
                    price_id,
                    wanted.product_id,
                    wanted.amount,
                    wanted.interval,
                    wanted.interval_count,
                    metadata=dict(wanted.metadata),
                )
                self.creates += 1
            elif action.kind is ActionKind.DEACTIVATE_PRICE:
                assert action.price_id is not None
                self.prices[action.price_id] = replace(self.prices[action.price_id], active=False)
            elif action.kind is ActionKind.UPDATE_PRODUCT:
                assert action.product_id is not None and action.changes is not None
                changes = {f: getattr(action.changes, f) for f in action.fields}
                self.products[action.product_id] = replace(self.products[action.product_id], **changes)


def sync(provider: FakeProvider, catalog: Catalog, name: str = "stripe") -> list[Action]:
    actions = plan_sync(catalog, provider.existing(), provider=name)
    provider.apply(actions)
    return actions


def kinds(actions: list[Action]) -> list[tuple[str, str, str]]:
    return [(a.kind.value, a.plan, a.target) for a in actions]


def test_first_run_creates_second_run_changes_nothing() -> None:
    provider, catalog = FakeProvider(), parse_catalog(CATALOG)
    first = sync(provider, catalog)
    assert kinds(first) == [
        ("create_product", "pro", "product"),
        ("create_price", "pro", "price"),
        ("create_price", "pro", "price"),
        ("create_product", "team", "product"),
        ("create_price", "team", "price"),  # KES is Flutterwave-only: not at Stripe
    ]
    assert [(a.amount, a.interval) for a in first if a.target == "price"] == [
        (Money(2900, "USD"), MONTH), (Money(2500000, "NGN"), MONTH), (Money(29000, "USD"), YEAR),
    ]  # fmt: skip
    assert provider.creates == 5
    prices = sorted(provider.prices.values(), key=lambda p: p.id)
    assert prices[0].metadata == {"zigznote_plan": "pro"}

    second = sync(provider, catalog)
    assert {a.kind for a in second} == {ActionKind.UNCHANGED}
    assert summary(second) == {
        "create_product": 0,
        "update_product": 0,
        "create_price": 0,
        "deactivate_price": 0,
        "unchanged": 5,
    }
    assert provider.creates == 5  # the second run sends no create


def test_price_change_is_one_new_price_and_one_deactivation() -> None:
    provider = FakeProvider()
    sync(provider, parse_catalog(CATALOG))
    old = next(p for p in provider.prices.values() if p.amount == Money(2900, "USD"))
    changed = parse_catalog(CATALOG.replace('amount = "29.00"', 'amount = "35.00"'))
    actions = sync(provider, changed)
    changes = [a for a in actions if a.kind is not ActionKind.UNCHANGED]
    assert [(a.kind, a.amount, a.price_id, a.replaces) for a in changes] == [
        (ActionKind.CREATE_PRICE, Money(3500, "USD"), None, (old.id,)),
        (ActionKind.DEACTIVATE_PRICE, Money(2900, "USD"), old.id, ()),
    ]
    assert changes[0].reason == "amount 29.00 USD → 35.00 USD"
    assert changes[0].product_id == old.product_id
    assert provider.prices[old.id].active is False
    assert {a.kind for a in sync(provider, changed)} == {ActionKind.UNCHANGED}


def test_product_changes_are_updates() -> None:
    provider = FakeProvider()
    sync(provider, parse_catalog(CATALOG))
    renamed = parse_catalog(CATALOG.replace('name = "Pro"', 'name = "Pro Plus"\ndescription = "More"'))
    actions = plan_sync(renamed, provider.existing(), provider="stripe")
    update = next(a for a in actions if a.kind is ActionKind.UPDATE_PRODUCT)
    assert (update.plan, update.fields, update.reason) == ("pro", ("name", "description"), "name, description changed")
    assert update.changes == ProductUpdate(name="Pro Plus", description="More")


def test_features_compared_only_where_the_provider_keeps_them() -> None:
    provider = FakeProvider()
    sync(provider, parse_catalog(CATALOG))
    more = parse_catalog(CATALOG.replace('["Unlimited meetings"]', '["Unlimited meetings", "SSO"]'))
    with_features = plan_sync(more, provider.existing(), provider="stripe")
    assert [a.fields for a in with_features if a.kind is ActionKind.UPDATE_PRODUCT] == [("features",)]
    without = plan_sync(more, provider.existing(), provider="stripe", capabilities=Capabilities())
    assert {a.kind for a in without} == {ActionKind.UNCHANGED}


def test_removed_price_and_removed_plan() -> None:
    provider = FakeProvider()
    sync(provider, parse_catalog(CATALOG))
    only_pro_usd = parse_catalog(
        '[plans.pro]\nname = "Pro"\nfeatures = ["Unlimited meetings"]\n'
        'prices = [ { currency = "USD", interval = "month", amount = "29.00" } ]\n'
    )
    actions = sync(provider, only_pro_usd)
    assert [(a.kind.value, a.plan, a.amount, a.reason) for a in actions if a.kind is not ActionKind.UNCHANGED] == [
        ("deactivate_price", "pro", Money(2500000, "NGN"), "not in plans.toml"),
        ("deactivate_price", "team", Money(29000, "USD"), "plan not in plans.toml"),
        ("update_product", "team", None, "archive: plan not in plans.toml"),
    ]
    team = next(p for p in provider.products.values() if p.slug == "team")
    assert team.active is False
    assert {a.kind for a in sync(provider, only_pro_usd)} == {ActionKind.UNCHANGED}
    # Bringing the plan back reactivates its product and creates a fresh price.
    back = sync(provider, parse_catalog(CATALOG))
    assert [(a.kind.value, a.plan, a.reason) for a in back if a.kind is not ActionKind.UNCHANGED] == [
        ("create_price", "pro", "new price"),
        ("update_product", "team", "reactivate"),
        ("create_price", "team", "new price"),
    ]


def test_provider_restricted_prices() -> None:
    provider = FakeProvider()
    actions = sync(provider, parse_catalog(CATALOG), name="flutterwave")
    assert Money(350000, "KES") in [a.amount for a in actions]
    # At Stripe, an active KES price on our product is not wanted there.
    assert [
        (a.kind.value, a.amount)
        for a in plan_sync(parse_catalog(CATALOG), provider.existing(), provider="stripe")
        if a.kind is ActionKind.DEACTIVATE_PRICE
    ] == [("deactivate_price", Money(350000, "KES"))]
    # provider=None: every price counts.
    assert {a.kind for a in plan_sync(parse_catalog(CATALOG), provider.existing())} == {ActionKind.UNCHANGED}


def test_duplicates_foreign_products_and_inactive_prices() -> None:
    provider = FakeProvider()
    sync(provider, parse_catalog(CATALOG))
    usd = next(p for p in provider.prices.values() if p.amount == Money(2900, "USD"))
    provider.prices["price_dup"] = replace(usd, id="price_dup")
    provider.products["prod_other"] = Plan("prod_other", "Someone else's", metadata={})
    provider.prices["price_other"] = Price("price_other", "prod_other", Money(100, "USD"), MONTH)
    actions = plan_sync(parse_catalog(CATALOG), provider.existing(), provider="stripe")
    assert [(a.kind.value, a.price_id, a.reason) for a in actions if a.kind is not ActionKind.UNCHANGED] == [
        ("deactivate_price", "price_dup", f"duplicate of {usd.id}"),
    ]
    # An inactive price with the right amount is never reused: a new one is created.
    provider.prices[usd.id] = replace(usd, active=False)
    del provider.prices["price_dup"]
    actions = plan_sync(parse_catalog(CATALOG), provider.existing(), provider="stripe")
    assert [(a.kind.value, a.amount) for a in actions if a.kind is not ActionKind.UNCHANGED] == [
        ("create_price", Money(2900, "USD")),
    ]


def test_two_active_products_for_one_plan_is_a_conflict() -> None:
    provider = FakeProvider()
    sync(provider, parse_catalog(CATALOG))
    pro = next(p for p in provider.products.values() if p.slug == "pro")
    provider.products["prod_twin"] = replace(pro, id="prod_twin")
    with pytest.raises(Conflict) as info:
        plan_sync(parse_catalog(CATALOG), provider.existing())
    assert info.value.exit_code == 4
    assert info.value.message == f"several active products carry zigznote_plan=pro: {pro.id}, prod_twin"


def test_newest_archived_product_is_reused() -> None:
    old = Plan("prod_old", "Pro", False, created=datetime(2025, 1, 1), metadata={"zigznote_plan": "pro"})
    new = Plan("prod_new", "Pro", False, created=datetime(2026, 1, 1), metadata={"zigznote_plan": "pro"})
    catalog = parse_catalog(CATALOG)
    actions = plan_sync(catalog, ExistingCatalog([old, new], []), provider="stripe")
    assert (actions[0].kind, actions[0].product_id, actions[0].fields) == (
        ActionKind.UPDATE_PRODUCT, "prod_new", ("features", "active"),
    )  # fmt: skip


def test_action_json_and_fingerprint() -> None:
    provider = FakeProvider()
    sync(provider, parse_catalog(CATALOG))
    old = next(p for p in provider.prices.values() if p.amount == Money(2900, "USD"))
    create = plan_sync(parse_catalog(CATALOG.replace("29.00", "35.00")), provider.existing(), provider="stripe")[1]
    assert create.as_json() == {
        "action": "create_price", "plan": "pro", "target": "price", "reason": "amount 29.00 USD → 35.00 USD",
        "product_id": old.product_id, "price_id": None, "fields": [],
        "amount": {"amount": 3500, "currency": "USD", "display": "$35.00"},
        "interval": "month", "interval_count": 1, "replaces": [old.id],
    }  # fmt: skip
    assert len(create.fingerprint) == 32
    assert create.fingerprint == replace(create, reason="other words").fingerprint
    assert create.fingerprint != replace(create, replaces=()).fingerprint
    assert create.fingerprint != replace(create, amount=Money(3600, "USD")).fingerprint
