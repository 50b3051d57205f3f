"""`zigznote billing …` through the real Stripe provider (the SDK's HTTP traffic, respx): the form
parameters and Idempotency-Key Stripe receives from the commands, exact amounts per currency,
a refund over the remainder never sent, a create retried across runs with one key, exit 6
without keys. Fixtures: tests/fixtures/stripe/ (see its README)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from tests.billing.support import stable
from tests.conftest import Cli

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # stripe's HTTPXClient

API = "https://stripe.test"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
CUS = "cus_TZk8mQ4bR2xNvE"
PI = "pi_3SZkB9LkdIwHu7ix0Ka1b2C3"
ORG = ("--org", "acme", "billing")


def load(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


def form(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode(), keep_blank_values=True)


def page(items: list[dict[str, Any]], url: str) -> httpx.Response:
    return httpx.Response(200, json={"object": "list", "data": items, "has_more": False, "url": url})


@pytest.fixture
def stripe_env(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.Router]:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_51Zz9ExampleOnlyNotARealKey0000")
    monkeypatch.setenv("STRIPE_API_BASE", API)
    monkeypatch.setenv("ZIGZNOTE_BILLING_PROVIDER", "stripe")
    cli.ok("orgs", "create", "acme", "--name", "Acme Corp")
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


class Catalog:
    """Stripe's products and prices as far as these tests need them: made by POST, listed by GET."""

    def __init__(self, router: respx.Router) -> None:
        self.products: list[dict[str, Any]] = []
        self.prices: list[dict[str, Any]] = []
        self.posts: list[httpx.Request] = []
        router.get("/v1/products").mock(side_effect=lambda r: page(self.products, "/v1/products"))
        router.get("/v1/prices").mock(side_effect=lambda r: page(self.prices, "/v1/prices"))
        router.post("/v1/products").mock(side_effect=self._product)
        router.post("/v1/prices").mock(side_effect=self._price)
        router.post(url__regex=r"/v1/prices/price_\w+$").mock(side_effect=self._deactivate)

    def _product(self, request: httpx.Request) -> httpx.Response:
        self.posts.append(request)
        sent = dict(form(request))
        made = load("product") | {
            "id": f"prod_{len(self.products) + 1}", "name": sent["name"], "description": sent.get("description"),
            "metadata": {"zigznote_plan": sent["metadata[zigznote_plan]"]},
            "marketing_features": [{"name": v} for k, v in form(request) if k.startswith("marketing_features[")],
        }  # fmt: skip
        self.products.append(made)
        return httpx.Response(200, json=made)

    def _price(self, request: httpx.Request) -> httpx.Response:
        self.posts.append(request)
        sent = dict(form(request))
        made = load("price")
        made.update(
            id=f"price_{len(self.prices) + 1}", product=sent["product"], unit_amount=int(sent["unit_amount"]),
            unit_amount_decimal=sent["unit_amount"], currency=sent["currency"],
            metadata={"zigznote_plan": sent["metadata[zigznote_plan]"]},
        )  # fmt: skip
        made["recurring"].update(
            interval=sent["recurring[interval]"], interval_count=int(sent["recurring[interval_count]"])
        )
        self.prices.append(made)
        return httpx.Response(200, json=made)

    def _deactivate(self, request: httpx.Request) -> httpx.Response:
        self.posts.append(request)
        price = next(p for p in self.prices if request.url.path.endswith("/" + p["id"]))
        price["active"] = dict(form(request))["active"] == "true"
        return httpx.Response(200, json=price)


CATALOG = """
[plans.pro]
name = "Pro"
description = "For growing teams"
features = ["Unlimited meetings", "Slack and HubSpot"]
prices = [
  { currency = "USD", interval = "month", amount = "29.00" },
  { currency = "JPY", interval = "month", amount = "4500" },
  { currency = "UGX", interval = "month", amount = "5000" },
  { currency = "KWD", interval = "month", amount = "5.120" },
  { currency = "ISK", interval = "year", amount = "5" },
]
"""


def test_plans_sync_sends_stripe_amounts_and_runs_twice_without_a_create(
    cli: Cli, stripe_env: respx.Router, tmp_path: Path
) -> None:
    stripe = Catalog(stripe_env)
    file = tmp_path / "plans.toml"
    file.write_text(CATALOG)
    dry = cli.ok("billing", "plans", "sync", "--file", str(file), "--dry-run")
    assert (dry["provider"], dry["summary"]["create_price"], stripe.posts) == ("stripe", 5, [])

    data = cli.ok("billing", "plans", "sync", "--file", str(file))
    assert [a["result_id"] for a in data["actions"]] == [
        "prod_1",
        "price_1",
        "price_2",
        "price_3",
        "price_4",
        "price_5",
    ]
    product, *prices = stripe.posts
    assert form(product) == [
        ("name", "Pro"), ("description", "For growing teams"),
        ("marketing_features[0][name]", "Unlimited meetings"), ("marketing_features[1][name]", "Slack and HubSpot"),
        ("metadata[zigznote_plan]", "pro"),
    ]  # fmt: skip
    sent = [dict(form(p)) for p in prices]
    # Stripe's units: cents; yen; UGX and ISK as two-decimal with 00; KWD thousandths.
    assert [(s["currency"], s["unit_amount"], s["recurring[interval]"]) for s in sent] == [
        ("usd", "2900", "month"), ("jpy", "4500", "month"), ("ugx", "500000", "month"), ("kwd", "5120", "month"),
        ("isk", "500", "year"),
    ]  # fmt: skip
    assert {s["product"] for s in sent} == {"prod_1"}
    keys = [r.headers["Idempotency-Key"] for r in stripe.posts]
    assert keys[0].startswith("zigznote/product.create/pro/bop_") and len(set(keys)) == 6
    assert all(k.startswith("zigznote/price.create/pro:") for k in keys[1:])

    # Back from Stripe, every amount is the one typed: ISO minor units, shown in the currency's way.
    shown = cli.ok("billing", "plans", "show", "pro")["prices"]
    assert sorted((p["amount"]["currency"], p["amount"]["amount"], p["amount"]["display"]) for p in shown) == [
        ("ISK", 5, "ISK5"), ("JPY", 4500, "¥4,500"), ("KWD", 5120, "KWD5.120"), ("UGX", 5000, "USh5,000"),
        ("USD", 2900, "$29.00"),
    ]  # fmt: skip

    again = cli.ok("billing", "plans", "sync", "--file", str(file))
    assert again["summary"]["unchanged"] == 6 and len(stripe.posts) == 6  # no request that writes

    file.write_text(CATALOG.replace('amount = "29.00"', 'amount = "35.00"'))
    changed = cli.ok("billing", "plans", "sync", "--file", str(file))
    assert (changed["summary"]["create_price"], changed["summary"]["deactivate_price"]) == (1, 1)
    assert [(r.url.path, form(r)[:2]) for r in stripe.posts[6:]] == [
        ("/v1/prices", [("product", "prod_1"), ("currency", "usd")]),
        ("/v1/prices/price_1", [("active", "false")]),
    ]
    assert dict(form(stripe.posts[6]))["unit_amount"] == "3500"


def _customer(cli: Cli, router: respx.Router) -> respx.Route:
    route = router.post("/v1/customers").mock(return_value=httpx.Response(200, json=load("customer")))
    cli.ok(*ORG, "customers", "create", "--email", "billing@acme.example")
    return route


def test_customers_create_sends_the_form_and_our_key(cli: Cli, stripe_env: respx.Router) -> None:
    route = _customer(cli, stripe_env)
    org_id = cli.ok("orgs", "show", "acme")["id"]
    request = route.calls.last.request
    assert form(request) == [
        ("email", "billing@acme.example"),
        ("name", "Acme Corp"),
        ("metadata[zigznote_org]", org_id),
    ]
    assert request.headers["Idempotency-Key"].startswith(f"zigznote/customer.create/{org_id}/bop_")
    assert stable(cli.ok(*ORG, "customers", "show")) == {
        "org": "acme", "provider": "stripe", "provider_id": CUS, "email": "billing@acme.example", "name": "Acme Corp",
        "deleted": False,
    }  # fmt: skip


def test_a_create_that_never_got_an_answer_is_resent_with_the_same_key_next_run(
    cli: Cli, stripe_env: respx.Router
) -> None:
    down = {"on": True}

    def answer(request: httpx.Request) -> httpx.Response:
        if down["on"]:
            raise httpx.ConnectError("connection reset by peer")
        return httpx.Response(200, json=load("customer"))

    route = stripe_env.post("/v1/customers").mock(side_effect=answer)
    error = cli.fails(5, *ORG, "customers", "create")
    assert error["code"] == "stripe_unreachable"
    first = {c.request.headers["Idempotency-Key"] for c in route.calls}
    assert len(route.calls) == 3 and len(first) == 1  # the SDK's own two retries, one key

    down["on"] = False
    created = cli.ok(*ORG, "customers", "create")
    assert route.calls.last.request.headers["Idempotency-Key"] in first
    assert created["provider_id"] == CUS and created["notes"][0].startswith("finished an earlier customer create")


def test_refund_over_the_remainder_stripe_reports_is_never_sent(cli: Cli, stripe_env: respx.Router) -> None:
    _customer(cli, stripe_env)
    intent = stripe_env.get(f"/v1/payment_intents/{PI}").mock(
        return_value=httpx.Response(200, json=load("payment_intent"))
    )
    refunds = stripe_env.post("/v1/refunds").mock(return_value=httpx.Response(200, json=load("refund")))
    error = cli.fails(4, *ORG, "payments", "refund", PI, "--amount", "20.00")
    assert error["message"] == (
        f"a refund of $20.00 is more than the $19.00 still refundable on payment {PI} "
        "(as stripe reports it: $29.00 paid, $10.00 refunded)"
    )
    assert refunds.call_count == 0
    assert dict(intent.calls.last.request.url.params.multi_items()) == {"expand[0]": "latest_charge"}

    data = cli.ok(*ORG, "payments", "refund", PI, "--amount", "10.00")
    request = refunds.calls.last.request
    assert form(request) == [("payment_intent", PI), ("amount", "1000")]
    assert request.headers["Idempotency-Key"].startswith(f"zigznote/refund.create/{PI}/bop_")
    assert (data["payment"]["amount_received"]["amount"], data["payment"]["amount_refunded"]["amount"]) == (2900, 1000)
    assert (data["refund"]["provider_id"], data["refund"]["amount"]["display"]) == (
        "re_3SZkB9LkdIwHu7ix0Rf4g5H6",
        "$10.00",
    )


def test_without_a_secret_key_exit_6_and_nothing_stored(cli: Cli, stripe_env: respx.Router, monkeypatch: Any) -> None:
    monkeypatch.delenv("STRIPE_SECRET_KEY")
    error = cli.fails(6, *ORG, "customers", "create")
    assert error["message"] == "STRIPE_SECRET_KEY is not set"
    assert cli.ok("billing", "customers", "list") == []
    assert not stripe_env.calls
    rows = {r["name"]: r for r in cli.ok("billing", "providers")}
    assert (rows["stripe"]["default"], rows["stripe"]["configured"]) == (True, False)


def test_plans_sync_refuses_an_interval_stripe_cannot_bill_before_anything_is_sent(
    cli: Cli, stripe_env: respx.Router, tmp_path: Path
) -> None:
    stripe = Catalog(stripe_env)
    file = tmp_path / "plans.toml"
    file.write_text(
        CATALOG.replace('interval = "year", amount = "5" }', 'interval = "month", amount = "5", interval_count = 48 }')
    )
    for dry in (("--dry-run",), ()):
        error = cli.fails(2, "billing", "plans", "sync", "--file", str(file), *dry)
        assert error == {
            "code": "interval_too_long",
            "message": f"{file}:pro:price 5 (ISK/48 months): Stripe bills at most every 36 months (three years), "
            "not every 48",
            "hint": f'change it in {file}, or offer it only at flutterwave with providers = ["flutterwave"]',
        }
    assert stripe.posts == [] and not stripe_env.calls  # not even the product list was read


def test_a_lost_refund_finished_by_a_command_with_another_amount_exits_4(cli: Cli, stripe_env: respx.Router) -> None:
    _customer(cli, stripe_env)
    stripe_env.get(f"/v1/payment_intents/{PI}").mock(return_value=httpx.Response(200, json=load("payment_intent")))
    down = {"on": True}

    def answer(request: httpx.Request) -> httpx.Response:
        if down["on"]:
            raise httpx.ConnectError("connection reset by peer")
        return httpx.Response(200, json=load("refund"))

    refunds = stripe_env.post("/v1/refunds").mock(side_effect=answer)
    error = cli.fails(5, *ORG, "payments", "refund", PI, "--amount", "10.00")
    assert (error["code"], error["message"]) == ("stripe_unreachable", "could not reach Stripe (ConnectError)")
    down["on"] = False
    error = cli.fails(4, *ORG, "payments", "refund", PI, "--amount", "5.00")
    assert error["code"] == "earlier_operation_finished"
    assert error["message"].endswith(
        "$10.00 (re_3SZkB9LkdIwHu7ix0Rf4g5H6, succeeded); this command's refund ($5.00) was not sent"
    )
    assert error["hint"] == (
        "$19.00 is left refundable; to refund $5.00 too, run the command again: "
        f"`zigznote --org acme billing payments refund {PI} --amount 5.00`"
    )
    sent = [(form(c.request), c.request.headers["Idempotency-Key"]) for c in refunds.calls]
    # Every attempt, the finishing one included, sent the first command's amount with its one key.
    assert all(f == [("payment_intent", PI), ("amount", "1000")] for f, _k in sent) and len(sent) == 4
    assert len({k for _f, k in sent}) == 1  # with its one key
