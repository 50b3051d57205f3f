"""`billing plans list | show | sync` against the fake provider: the diff, idempotence, a price
change, dry runs, refusals that send and store nothing, and a sync interrupted by a lost answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.billing.fake_provider import fake_billing
from tests.billing.fake_world import World
from tests.billing.support import PLANS_TOML, stable, write_plans
from tests.conftest import Cli

__all__ = ["fake_billing"]  # fixtures used by name

_USD = {"amount": 2900, "currency": "USD", "display": "$29.00"}


def _price(action: str, plan: str, amount: dict[str, Any], interval: str, result: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "action": action, "plan": plan, "target": "price", "reason": "new price", "product_id": None,
        "price_id": None, "fields": [], "amount": amount, "interval": interval, "interval_count": 1,
        "replaces": [], "result_id": result,
    }  # fmt: skip
    row.update(extra)
    return row


def _product(action: str, plan: str, result: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "action": action, "plan": plan, "target": "product", "reason": "new plan", "product_id": None,
        "price_id": None, "fields": [], "amount": None, "interval": None, "interval_count": None, "replaces": [],
        "result_id": result,
    }  # fmt: skip
    row.update(extra)
    return row


NGN = {"amount": 2500000, "currency": "NGN", "display": "₦25,000.00"}
USD_YEAR = {"amount": 29000, "currency": "USD", "display": "$290.00"}
USD_99 = {"amount": 9900, "currency": "USD", "display": "$99.00"}
JPY = {"amount": 15000, "currency": "JPY", "display": "¥15,000"}


def test_first_sync_creates_every_product_and_price(cli: Cli, fake_billing: World, tmp_path: Path) -> None:
    data = cli.ok("billing", "plans", "sync", "--file", write_plans(tmp_path / "plans.toml"))
    assert data == {
        "provider": "fake",
        "file": str(tmp_path / "plans.toml"),
        "dry_run": False,
        "actions": [
            _product("create_product", "pro", "prod_1"),
            _price("create_price", "pro", _USD, "month", "price_1"),
            _price("create_price", "pro", USD_YEAR, "year", "price_2"),
            _price("create_price", "pro", NGN, "month", "price_3"),
            _product("create_product", "team", "prod_2"),
            _price("create_price", "team", USD_99, "month", "price_4"),
            _price("create_price", "team", JPY, "month", "price_5"),
        ],
        "summary": {"create_product": 2, "update_product": 0, "create_price": 5, "deactivate_price": 0, "unchanged": 0},
        "resumed": [],
    }
    # What the provider received: the plan's product and prices tagged with its slug, a key each.
    (product_args, product_kw), _team = fake_billing.called("create_product")
    assert product_args[0].name == "Pro" and dict(product_args[0].metadata) == {"zigznote_plan": "pro"}
    assert product_args[0].features == ("Unlimited meetings", "Slack and HubSpot")
    assert product_kw["idempotency_key"].startswith("zigznote/product.create/pro/bop_")
    keys = [k["idempotency_key"] for _a, k in fake_billing.called("create_price")]
    assert len(set(keys)) == 5 and all(k.startswith("zigznote/price.create/") for k in keys)

    plans = cli.ok("billing", "plans", "list")
    assert stable(plans) == [
        {
            "slug": "pro", "name": "Pro", "description": "For growing teams",
            "features": ["Unlimited meetings", "Slack and HubSpot"],
            "limits": {"seats": 10, "meetings_per_month": 500}, "active": True, "products": {"fake": "prod_1"},
            "prices": [
                {"provider": "fake", "provider_id": "price_3", "product_id": "prod_1", "amount": NGN,
                 "interval": "month", "interval_count": 1, "active": True},
                {"provider": "fake", "provider_id": "price_1", "product_id": "prod_1", "amount": _USD,
                 "interval": "month", "interval_count": 1, "active": True},
                {"provider": "fake", "provider_id": "price_2", "product_id": "prod_1", "amount": USD_YEAR,
                 "interval": "year", "interval_count": 1, "active": True},
            ],
        },
        {
            "slug": "team", "name": "Team", "description": None, "features": [], "limits": {}, "active": True,
            "products": {"fake": "prod_2"},
            "prices": [
                {"provider": "fake", "provider_id": "price_5", "product_id": "prod_2", "amount": JPY,
                 "interval": "month", "interval_count": 1, "active": True},
                {"provider": "fake", "provider_id": "price_4", "product_id": "prod_2", "amount": USD_99,
                 "interval": "month", "interval_count": 1, "active": True},
            ],
        },
    ]  # fmt: skip
    assert cli.ok("billing", "plans", "show", "team") == plans[1]


def test_a_second_sync_changes_nothing_and_sends_no_create(cli: Cli, fake_billing: World, tmp_path: Path) -> None:
    file = write_plans(tmp_path / "plans.toml")
    cli.ok("billing", "plans", "sync", "--file", file)
    before_calls, before_plans = len(fake_billing.calls), cli.ok("billing", "plans", "list", "--all")
    data = cli.ok("billing", "plans", "sync", "--file", file)
    assert data["summary"] == {
        "create_product": 0, "update_product": 0, "create_price": 0, "deactivate_price": 0, "unchanged": 7,
    }  # fmt: skip
    assert [a["result_id"] for a in data["actions"]] == [
        "prod_1", "price_1", "price_2", "price_3", "prod_2", "price_4", "price_5",
    ]  # fmt: skip
    # Only the two reads: no create, update or deactivate reached the provider.
    assert [m for m, _a, _k in fake_billing.calls[before_calls:]] == ["list_products", "list_prices"]
    assert stable(cli.ok("billing", "plans", "list", "--all")) == stable(before_plans)


def test_a_price_change_is_one_new_price_and_one_deactivation(cli: Cli, fake_billing: World, tmp_path: Path) -> None:
    file = write_plans(tmp_path / "plans.toml")
    cli.ok("billing", "plans", "sync", "--file", file)
    write_plans(tmp_path / "plans.toml", PLANS_TOML.replace('amount = "29.00"', 'amount = "35.00"'))
    data = cli.ok("billing", "plans", "sync", "--file", file)
    assert data["summary"] == {
        "create_product": 0, "update_product": 0, "create_price": 1, "deactivate_price": 1, "unchanged": 6,
    }  # fmt: skip
    changed = [a for a in data["actions"] if a["action"] != "unchanged"]
    usd35 = {"amount": 3500, "currency": "USD", "display": "$35.00"}
    assert changed == [
        _price("create_price", "pro", usd35, "month", "price_6", product_id="prod_1", replaces=["price_1"],
               reason="amount 29.00 USD → 35.00 USD"),
        _price("deactivate_price", "pro", _USD, "month", "price_1", product_id="prod_1", price_id="price_1",
               reason="replaced (29.00 USD → 35.00 USD)"),
    ]  # fmt: skip
    assert fake_billing.creates()[-1:] == ["create_price"] and fake_billing.called("deactivate_price") == [
        (("price_1",), {})
    ]
    pro = cli.ok("billing", "plans", "show", "pro")
    assert [(p["provider_id"], p["amount"]["amount"], p["active"]) for p in pro["prices"]] == [
        ("price_3", 2500000, True), ("price_6", 3500, True), ("price_1", 2900, False), ("price_2", 29000, True),
    ]  # fmt: skip
    # plans list shows only what is offered now.
    listed = cli.ok("billing", "plans", "list")[0]["prices"]
    assert [p["provider_id"] for p in listed] == ["price_3", "price_6", "price_2"]


def test_a_plan_left_out_of_the_file_is_archived(cli: Cli, fake_billing: World, tmp_path: Path) -> None:
    file = write_plans(tmp_path / "plans.toml")
    cli.ok("billing", "plans", "sync", "--file", file)
    write_plans(tmp_path / "plans.toml", PLANS_TOML.split("[plans.team]")[0])
    data = cli.ok("billing", "plans", "sync", "--file", file)
    assert [(a["action"], a["plan"], a["result_id"]) for a in data["actions"] if a["action"] != "unchanged"] == [
        ("deactivate_price", "team", "price_4"),
        ("deactivate_price", "team", "price_5"),
        ("update_product", "team", "prod_2"),
    ]
    assert fake_billing.products["prod_2"].active is False
    assert [p["slug"] for p in cli.ok("billing", "plans", "list")] == ["pro"]
    everything = cli.ok("billing", "plans", "list", "--all")
    assert [(p["slug"], p["active"], [x["active"] for x in p["prices"]]) for p in everything] == [
        ("pro", True, [True, True, True]),
        ("team", False, [False, False]),
    ]


def test_an_unknown_plan_suggests_only_plans_still_offered(cli: Cli, fake_billing: World, tmp_path: Path) -> None:
    file = write_plans(tmp_path / "plans.toml")
    cli.ok("billing", "plans", "sync", "--file", file)
    write_plans(tmp_path / "plans.toml", PLANS_TOML.split("[plans.team]")[0])
    cli.ok("billing", "plans", "sync", "--file", file)  # team left the file: archived
    assert cli.fails(3, "billing", "plans", "show", "nope") == {
        "code": "plan_not_found",
        "message": "no plan 'nope'",
        "hint": "plans: pro (`zigznote billing plans sync --file plans.toml` adds the file's plans)",
    }
    cli.ok("orgs", "create", "acme")
    error = cli.fails(3, "--org", "acme", "billing", "checkout", "--plan", "nope", "--currency", "USD",
                      "--success-url", "https://a.example/ok", "--cancel-url", "https://a.example/no")  # fmt: skip
    assert error["hint"].startswith("plans: pro (")


def test_dry_run_sends_and_stores_nothing(cli: Cli, fake_billing: World, tmp_path: Path) -> None:
    data = cli.ok("billing", "plans", "sync", "--file", write_plans(tmp_path / "plans.toml"), "--dry-run")
    assert data["dry_run"] is True
    assert data["summary"]["create_product"] == 2 and data["summary"]["create_price"] == 5
    assert {a["result_id"] for a in data["actions"]} == {None}
    assert [m for m, _a, _k in fake_billing.calls] == ["list_products", "list_prices"]
    assert cli.ok("billing", "plans", "list", "--all") == []


def test_human_output_names_each_step(cli: Cli, fake_billing: World, tmp_path: Path) -> None:
    file = write_plans(tmp_path / "plans.toml")
    cli.ok("billing", "plans", "sync", "--file", file)
    write_plans(tmp_path / "plans.toml", PLANS_TOML.replace('amount = "25000"', 'amount = "30000"'))
    ran = cli("billing", "plans", "sync", "--file", file, "--dry-run")
    assert ran.exit_code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert any("new price" in line and "₦30,000.00" in line and "pro" in line for line in lines)
    assert any("deactivate" in line and "₦25,000.00" in line for line in lines)
    assert sum("unchanged" in line for line in lines) == 6
    assert "0 create, 0 update, 1 new price, 1 deactivate, 6 unchanged (dry run)" in ran.stderr


def test_bad_amounts_are_refused_before_anything_is_sent(cli: Cli, fake_billing: World, tmp_path: Path) -> None:
    file = write_plans(tmp_path / "plans.toml", PLANS_TOML.replace('amount = "15000"', 'amount = "15000.5"'))
    error = cli.fails(2, "billing", "plans", "sync", "--file", file)
    assert error == {
        "code": "amount_unrepresentable",
        "message": f"{file}:team:price 2 (JPY/month): 15000.5 JPY cannot be represented: JPY amounts have no "
        "decimal places",
        "hint": "nothing is rounded: give the exact amount the currency can hold",
    }
    kwd = PLANS_TOML.replace('{ currency = "JPY", interval = "month", amount = "15000" }',
                             '{ currency = "KWD", interval = "month", amount = "5.125" }')  # fmt: skip
    error = cli.fails(2, "billing", "plans", "sync", "--file", write_plans(tmp_path / "plans.toml", kwd))
    assert error["code"] == "amount_not_allowed" and "5.125 KWD cannot be sent to" in error["message"]
    assert fake_billing.calls == []
    assert cli.ok("billing", "plans", "list", "--all") == []


def test_refusals_name_what_is_missing(cli: Cli, fake_billing: World, tmp_path: Path, monkeypatch: Any) -> None:
    assert cli.fails(2, "billing", "plans", "sync")["code"] == "plans_file_required"
    assert cli.fails(2, "billing", "plans", "sync", "--file", str(tmp_path / "nope.toml"))["code"] == "file_not_found"
    error = cli.fails(2, "billing", "plans", "sync", "--file", write_plans(tmp_path / "p.toml"), "--provider", "acme")
    assert error["code"] == "unknown_provider" and error["hint"].startswith("known providers: fake")
    assert cli.fails(3, "billing", "plans", "show", "pro")["code"] == "plan_not_found"
    monkeypatch.delenv("FAKE_BILLING_KEY")
    error = cli.fails(6, "billing", "plans", "sync", "--file", write_plans(tmp_path / "p.toml"))
    assert error["message"] == "billing with Fake needs FAKE_BILLING_KEY"
    monkeypatch.setenv("ZIGZNOTE_PLANS_FILE", write_plans(tmp_path / "p.toml"))
    monkeypatch.setenv("FAKE_BILLING_KEY", "k")
    assert cli.ok("billing", "plans", "sync", "--dry-run")["file"] == str(tmp_path / "p.toml")
    assert fake_billing.creates() == []


def test_a_sync_interrupted_by_a_lost_answer_finishes_with_the_same_key(
    cli: Cli, fake_billing: World, tmp_path: Path
) -> None:
    file = write_plans(tmp_path / "plans.toml")
    fake_billing.lose.add("create_price")  # the first price is made, its answer lost
    error = cli.fails(5, "billing", "plans", "sync", "--file", file)
    assert error["message"] == "connection to Fake lost before its answer"
    assert list(fake_billing.prices) == ["price_1"]  # made at the provider, answer lost
    lost_key = fake_billing.called("create_price")[0][1]["idempotency_key"]

    data = cli.ok("billing", "plans", "sync", "--file", file)
    assert data["resumed"] == [{"operation": "price.create", "scope": lost_key.split("/")[2], "result_id": "price_1"}]
    keys = [k["idempotency_key"] for _a, k in fake_billing.called("create_price")]
    assert keys[:2] == [lost_key, lost_key]  # resent as it was, answered with the first price
    assert list(fake_billing.prices) == ["price_1", "price_2", "price_3", "price_4", "price_5"]
    assert data["summary"]["create_product"] == 1 and data["summary"]["create_price"] == 4
    assert cli.ok("billing", "plans", "sync", "--file", file)["summary"]["unchanged"] == 7
