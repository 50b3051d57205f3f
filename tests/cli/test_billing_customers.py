"""`billing providers` and `billing customers list | show | create | sync` against the fake provider."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from tests.billing.fake_provider import fake_billing
from tests.billing.fake_world import World
from tests.billing.support import stable
from tests.conftest import Cli

__all__ = ["fake_billing"]  # fixtures used by name

CUSTOMER = {
    "provider": "fake", "provider_id": "cus_1", "email": "billing@acme.example", "name": "Acme Corp",
    "deleted": False,
}  # fmt: skip


def _table_counts(cli: Cli) -> dict[str, int]:
    engine = sa.create_engine(cli.db_url)
    try:
        with engine.connect() as conn:
            return {
                t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("billing_customer", "billing_pending_operation", "billing_subscription", "billing_payment",
                          "billing_refund", "billing_invoice", "billing_plan", "billing_price")
            }  # fmt: skip
    finally:
        engine.dispose()


@pytest.fixture
def acme(cli: Cli) -> dict[str, Any]:
    return cli.ok("orgs", "create", "acme", "--name", "Acme Corp")


def test_providers_lists_capabilities_and_whether_keys_are_set(cli: Cli, fake_billing: World) -> None:
    rows = {r["name"]: r for r in cli.ok("billing", "providers")}
    assert rows["fake"] == {
        "name": "fake",
        "title": "Fake",
        "default": True,
        "configured": True,
        "problem": None,
        "capabilities": {
            "delete_customers": True, "payment_methods": True, "create_subscriptions": True, "change_plan": True,
            "cancel_now": True, "undo_cancel": True, "pause_subscriptions": True, "checkout": True,
            "partial_refunds": True, "cancel_at_period_end": True, "invoices": True, "product_features": True,
            "prorations": ["always_invoice", "create_prorations", "none"],
            "intervals": ["day", "week", "month", "year"],
            "notes": ["test double: nothing leaves the process"], "cannot": [],
        },
    }  # fmt: skip
    if "stripe" in rows:  # the Stripe provider, once registered: no key in this environment
        assert (rows["stripe"]["default"], rows["stripe"]["configured"]) == (False, False)
        assert rows["stripe"]["problem"] == "STRIPE_SECRET_KEY is not set"
    ran = cli("billing", "providers")
    assert ran.exit_code == 0 and "fake" in ran.stdout and "FLUTTERWAVE_SECRET_KEY is not set" in ran.stdout
    assert "Fake" not in ran.stdout  # the title is in --json; the table keeps its width for what it cannot do


def test_create_show_and_list(cli: Cli, fake_billing: World, acme: dict[str, Any]) -> None:
    created = cli.ok("--org", "acme", "billing", "customers", "create", "--email", "billing@acme.example")
    assert created["id"].startswith("bcus_") and created["org_id"] == acme["id"]
    assert stable(created) == {**CUSTOMER, "org": "acme", "notes": []}
    ((sent,), kwargs) = fake_billing.called("create_customer")[0]
    assert (sent.email, sent.name, dict(sent.metadata)) == (
        "billing@acme.example",
        "Acme Corp",
        {"zigznote_org": acme["id"]},
    )
    assert (
        kwargs["idempotency_key"]
        == f"zigznote/customer.create/{acme['id']}/" + kwargs["idempotency_key"].split("/")[-1]
    )

    shown = cli.ok("--org", "acme", "billing", "customers", "show")
    assert shown == {k: v for k, v in created.items() if k != "notes"}
    cli.ok("orgs", "create", "globex")
    assert cli.ok("billing", "customers", "list") == [shown]
    assert cli.ok("--org", "globex", "billing", "customers", "list") == []
    assert cli.fails(3, "--org", "globex", "billing", "customers", "show")["code"] == "customer_not_found"


def test_a_second_create_is_a_conflict_and_sends_nothing(cli: Cli, fake_billing: World, acme: dict[str, Any]) -> None:
    cli.ok("--org", "acme", "billing", "customers", "create")
    error = cli.fails(4, "--org", "acme", "billing", "customers", "create", "--email", "x@acme.example")
    assert error == {
        "code": "customer_exists",
        "message": "organization 'acme' already has a fake customer (cus_1)",
        "hint": "`billing customers show` shows it; `billing customers sync` refreshes it",
    }
    assert fake_billing.creates() == ["create_customer"]


def test_bad_input_changes_nothing(cli: Cli, fake_billing: World, acme: dict[str, Any], monkeypatch: Any) -> None:
    before = _table_counts(cli)
    assert (
        cli.fails(2, "--org", "acme", "billing", "customers", "create", "--email", "not an address")["code"]
        == "invalid_email"
    )
    assert cli.fails(2, "--org", "acme", "billing", "customers", "create", "--name", "two\nlines")["code"] == (
        "invalid_name"
    )
    assert cli.fails(2, "billing", "customers", "create")["code"] == "org_required"
    assert cli.fails(3, "--org", "nope", "billing", "customers", "create")["code"] == "org_not_found"
    assert cli.fails(2, "--org", "acme", "billing", "customers", "create", "--provider", "acme")["code"] == (
        "unknown_provider"
    )
    monkeypatch.delenv("FAKE_BILLING_KEY")
    error = cli.fails(6, "--org", "acme", "billing", "customers", "create")
    assert error == {
        "code": "config_error",
        "message": "billing with Fake needs FAKE_BILLING_KEY",
        "hint": "set FAKE_BILLING_KEY",
    }
    assert fake_billing.calls == []
    assert _table_counts(cli) == before


def test_a_create_whose_answer_is_lost_is_finished_by_the_retry(
    cli: Cli, fake_billing: World, acme: dict[str, Any]
) -> None:
    fake_billing.lose.add("create_customer")
    error = cli.fails(5, "--org", "acme", "billing", "customers", "create", "--email", "billing@acme.example")
    assert error["message"] == "connection to Fake lost before its answer"
    assert cli.fails(3, "--org", "acme", "billing", "customers", "show")["code"] == "customer_not_found"

    created = cli.ok("--org", "acme", "billing", "customers", "create", "--email", "billing@acme.example")
    assert stable(created)["provider_id"] == "cus_1"
    (note,) = created["notes"]
    assert note.startswith("finished an earlier customer create that got no answer (started ")
    assert note.endswith("with the same idempotency key")
    first, second = (k["idempotency_key"] for _a, k in fake_billing.called("create_customer"))
    assert first == second
    assert list(fake_billing.customers) == ["cus_1"]
    assert _table_counts(cli)["billing_pending_operation"] == 1


def test_sync_brings_rows_in_line_with_the_provider(cli: Cli, fake_billing: World, acme: dict[str, Any]) -> None:
    cli.ok("--org", "acme", "billing", "customers", "create", "--email", "billing@acme.example")
    cli.ok("orgs", "create", "globex")
    cli.ok("--org", "globex", "billing", "customers", "create")
    same = cli.ok("--org", "acme", "billing", "customers", "sync")
    assert (same["checked"], same["changed"]) == (1, [])

    fake_billing.customers["cus_1"] = replace(fake_billing.customers["cus_1"], email="ap@acme.example")
    del fake_billing.customers["cus_2"]  # gone at the provider altogether
    data = cli.ok("billing", "customers", "sync", "--all")
    assert data["checked"] == 2
    assert [(c["org"], c["email"], c["deleted"]) for c in data["changed"]] == [
        ("acme", "ap@acme.example", False),
        ("globex", None, True),
    ]
    assert cli.ok("--org", "acme", "billing", "customers", "show")["email"] == "ap@acme.example"
    ran = cli("billing", "customers", "sync", "--all")
    assert ran.exit_code == 0 and "checked 2 customers at fake: 0 brought up to date" in ran.stderr
