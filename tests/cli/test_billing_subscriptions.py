"""`billing subscriptions show | create | change | cancel | resume | sync` against the fake provider."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.billing.fake_provider import FakeProvider, fake_billing
from tests.billing.fake_world import World
from tests.billing.support import stable, write_plans
from tests.conftest import Cli
from zigznote.billing import providers
from zigznote.billing.providers.base import Capabilities
from zigznote.billing.types import Proration, SubscriptionStatus

__all__ = ["fake_billing"]  # fixtures used by name

ORG = ("--org", "acme", "billing", "subscriptions")
USD = {"amount": 2900, "currency": "USD", "display": "$29.00"}


@pytest.fixture
def ready(cli: Cli, fake_billing: World, tmp_path: Path) -> World:
    """An organization with a customer and the synced test catalog."""
    cli.ok("orgs", "create", "acme", "--name", "Acme Corp")
    cli.ok("billing", "plans", "sync", "--file", write_plans(tmp_path / "plans.toml"))
    cli.ok("--org", "acme", "billing", "customers", "create", "--email", "billing@acme.example")
    return fake_billing


def _sub(**changes: Any) -> dict[str, Any]:
    data = {
        "provider": "fake", "provider_id": "sub_1", "plan": "pro", "provider_price_id": "price_1",
        "amount": USD, "interval": "month", "quantity": 1, "status": "active",
        "current_period_start": "2026-11-01T12:00:09Z", "current_period_end": "2026-12-01T12:00:09Z",
        "cancel_at_period_end": False, "cancel_at": None, "canceled_at": None, "trial_end": None,
        "latest_invoice": None, "created": "2026-11-01T12:00:09Z",
    }  # fmt: skip
    data.update(changes)
    return data


def test_create_then_show(cli: Cli, ready: World) -> None:
    created = cli.ok(*ORG, "create", "--plan", "pro", "--interval", "month", "--currency", "usd")
    assert created["id"].startswith("bsub_") and created["price_id"].startswith("bpr_")
    assert stable(created) == {**_sub(), "notes": []}
    ((request,), kwargs) = ready.called("create_subscription")[0]
    assert (request.customer_id, request.price_id, request.quantity, request.trial_days) == (
        "cus_1",
        "price_1",
        1,
        None,
    )
    assert dict(request.metadata) == {"zigznote_org": created["org_id"], "zigznote_plan": "pro"}
    assert kwargs["idempotency_key"].startswith(f"zigznote/subscription.create/{created['org_id']}/bop_")
    assert cli.ok(*ORG, "show") == {**{k: v for k, v in created.items() if k != "notes"}, "others": []}


def test_create_refusals_send_nothing(cli: Cli, ready: World) -> None:
    assert cli.fails(2, *ORG, "create", "--plan", "pro")["code"] == "currency_required"  # USD and NGN monthly
    assert cli.fails(3, *ORG, "create", "--plan", "pro", "--currency", "EUR") == {
        "code": "price_not_found",
        "message": "plan 'pro' has no EUR month price at fake",
        "hint": "its fake prices: NGN/month, USD/month, USD/year",
    }
    assert cli.fails(2, *ORG, "create", "--plan", "pro", "--interval", "fortnight")["code"] == "invalid_interval"
    assert cli.fails(3, *ORG, "create", "--plan", "gold", "--currency", "USD")["code"] == "plan_not_found"
    cli.ok("orgs", "create", "globex")
    error = cli.fails(3, "--org", "globex", "billing", "subscriptions", "create", "--plan", "team", "--currency", "USD")
    assert error == {
        "code": "customer_not_found",
        "message": "organization 'globex' has no fake customer",
        "hint": "create it with `zigznote --org globex billing customers create`",
    }
    assert cli.fails(3, *ORG, "show")["code"] == "subscription_not_found"
    assert ready.called("create_subscription") == []


def test_one_running_subscription_per_organization(cli: Cli, ready: World) -> None:
    cli.ok(*ORG, "create", "--plan", "team", "--currency", "JPY")
    error = cli.fails(4, *ORG, "create", "--plan", "pro", "--currency", "USD")
    assert error == {
        "code": "subscription_exists",
        "message": "organization 'acme' already has an active subscription (sub_1)",
        "hint": "change its plan with `zigznote --org acme billing subscriptions change --plan PLAN`",
    }
    cli.ok(*ORG, "cancel", "--now")
    again = cli.ok(*ORG, "create", "--plan", "pro", "--currency", "USD", "--trial-days", "14")
    assert (again["provider_id"], again["status"], again["trial_end"]) == ("sub_2", "trialing", "2026-11-15T12:00:10Z")
    assert cli.ok(*ORG, "show")["provider_id"] == "sub_2"


def test_change_plan_with_proration(cli: Cli, ready: World) -> None:
    cli.ok(*ORG, "create", "--plan", "pro", "--currency", "USD")
    changed = cli.ok(*ORG, "change", "--plan", "team", "--proration", "always_invoice")  # USD, month: the current ones
    assert stable(changed) == _sub(
        plan="team", provider_price_id="price_4", amount={"amount": 9900, "currency": "USD", "display": "$99.00"},
        changed=True,
    )  # fmt: skip
    assert ready.called("change_subscription") == [
        (("sub_1",), {"price_id": "price_4", "proration": Proration.ALWAYS_INVOICE, "quantity": None})
    ]
    same = cli.ok(*ORG, "change", "--plan", "team")
    assert same["changed"] is False and len(ready.called("change_subscription")) == 1
    cli.ok(*ORG, "change", "--plan", "team", "--currency", "JPY", "--quantity", "3")
    assert ready.called("change_subscription")[-1] == (
        ("sub_1",),
        {"price_id": "price_5", "proration": Proration.CREATE_PRORATIONS, "quantity": 3},
    )
    assert (cli.ok(*ORG, "show")["quantity"], cli.ok(*ORG, "show")["amount"]["display"]) == (3, "¥15,000")
    assert cli.fails(2, *ORG, "change", "--plan", "pro", "--proration", "later")["code"] == "invalid_proration"


def test_a_proration_the_provider_cannot_do_is_refused_first(cli: Cli, ready: World) -> None:
    class NoProrations(FakeProvider):
        name = "plain"
        title = "Plain"
        capabilities = replace(FakeProvider.capabilities, prorations=frozenset({Proration.NONE}),
                               cancel_at_period_end=False)  # fmt: skip

    providers.register("plain", NoProrations)
    error = cli.fails(2, *ORG, "change", "--plan", "team", "--provider", "plain")
    assert error == {
        "code": "unsupported_by_provider",
        "message": "Plain cannot prorate a plan change as create_prorations",
        "hint": "`zigznote billing providers` lists what each provider can do",
    }
    error = cli.fails(2, *ORG, "cancel", "--provider", "plain")
    assert error["message"] == "Plain cannot cancel at the end of the period (use --now)"
    assert ready.called("change_subscription") == [] and ready.called("cancel_subscription") == []
    assert Capabilities().prorations == frozenset({Proration.NONE})


def test_cancel_at_period_end_then_resume(cli: Cli, ready: World) -> None:
    cli.ok(*ORG, "create", "--plan", "pro", "--currency", "USD")
    canceled = cli.ok(*ORG, "cancel")
    assert (canceled["status"], canceled["cancel_at_period_end"], canceled["cancel_at"]) == (
        "active", True, "2026-12-01T12:00:09Z",
    )  # fmt: skip
    assert ready.called("cancel_subscription") == [(("sub_1",), {"at_period_end": True})]
    resumed = cli.ok(*ORG, "resume")
    assert (resumed["cancel_at_period_end"], resumed["cancel_at"]) == (False, None)
    assert ready.called("undo_cancel_subscription") == [(("sub_1",), {})]
    error = cli.fails(4, *ORG, "resume")
    assert error == {
        "code": "nothing_to_resume",
        "message": "the subscription of 'acme' (sub_1) is active and not scheduled to cancel: nothing to resume",
        "hint": "resume withdraws a cancellation scheduled with `billing subscriptions cancel` (or resumes a paused "
        "subscription); `zigznote --org acme billing subscriptions show` shows its state",
    }

    ready.subscriptions["sub_1"] = replace(ready.subscriptions["sub_1"], status=SubscriptionStatus.PAUSED)
    assert cli.ok(*ORG, "resume")["status"] == "active"
    assert ready.called("resume_subscription") == [(("sub_1",), {})]

    now = cli.ok(*ORG, "cancel", "--now")
    assert (now["status"], now["canceled_at"]) == ("canceled", "2026-11-02T12:00:00Z")
    assert cli.ok(*ORG, "show")["status"] == "canceled"  # show keeps the last one
    assert cli.fails(3, *ORG, "cancel")["code"] == "subscription_not_found"
    assert cli.fails(3, *ORG, "resume")["code"] == "subscription_not_found"


def test_sync_repairs_drift_and_adds_what_was_made_elsewhere(cli: Cli, ready: World) -> None:
    cli.ok(*ORG, "create", "--plan", "pro", "--currency", "USD")
    assert cli.ok(*ORG, "sync") | {"subscriptions": None} == {
        "provider": "fake", "checked": 1, "created": [], "changed": [], "subscriptions": None,
    }  # fmt: skip
    # At the provider: the payment failed, and a second subscription was made in its dashboard.
    ready.subscriptions["sub_1"] = replace(ready.subscriptions["sub_1"], status=SubscriptionStatus.PAST_DUE)
    ready.subscriptions["sub_2"] = replace(ready.subscriptions["sub_1"], id="sub_2", status=SubscriptionStatus.ACTIVE)
    data = cli.ok("billing", "subscriptions", "sync", "--all")
    assert (data["checked"], [s["provider_id"] for s in data["created"]]) == (2, ["sub_2"])
    assert [(s["provider_id"], s["status"]) for s in data["changed"]] == [("sub_1", "past_due")]
    again = cli.ok("billing", "subscriptions", "sync", "--all")
    assert (again["created"], again["changed"]) == ([], [])
    ran = cli(*ORG, "sync")
    assert ran.exit_code == 0 and "checked 2 subscriptions at fake: 0 brought up to date" in ran.stderr
    assert "sub_2" in ran.stdout and "past_due" in ran.stdout


def test_human_show(cli: Cli, ready: World) -> None:
    cli.ok(*ORG, "create", "--plan", "team", "--currency", "JPY")
    ran = cli(*ORG, "show")
    assert ran.exit_code == 0
    lines = [" ".join(line.split()) for line in ran.stdout.splitlines()]
    assert "price ¥15,000" in lines and "plan team" in lines and "status active" in lines


def test_sync_without_org_or_all_offers_both(cli: Cli, ready: World) -> None:
    for what in ("subscriptions", "customers"):
        assert cli.fails(2, "billing", what, "sync") == {
            "code": "org_required",
            "message": "no organization selected",
            "hint": "pass --org SLUG for one organization, or --all for every one: "
            f"`zigznote billing {what} sync --all`",
        }


def test_an_unknown_default_provider_is_a_bad_setting(cli: Cli, ready: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIGZNOTE_BILLING_PROVIDER", "nope")
    error = cli.fails(6, *ORG, "show")
    assert error == {
        "code": "unknown_provider",
        "message": "ZIGZNOTE_BILLING_PROVIDER (the default payment provider) is 'nope', which is not a provider",
        "hint": "set it to one of the known providers: fake, flutterwave, stripe, or pass --provider",
    }
    assert cli.fails(2, *ORG, "show", "--provider", "nope")["code"] == "unknown_provider"  # a bad option: usage
    assert cli.ok(*ORG, "create", "--plan", "pro", "--currency", "USD", "--provider", "fake")["provider"] == "fake"


def test_a_second_running_subscription_is_shown_and_every_change_refuses_to_guess(cli: Cli, ready: World) -> None:
    cli.ok(*ORG, "create", "--plan", "pro", "--currency", "USD")
    ready.subscriptions["sub_2"] = replace(ready.subscriptions["sub_1"], id="sub_2", status=SubscriptionStatus.PAST_DUE)
    cli.ok(*ORG, "sync")  # made in the provider's dashboard, reported by sync or an event
    shown = cli.ok(*ORG, "show")
    assert [o["provider_id"] for o in shown["others"]] == [s for s in ("sub_1", "sub_2") if s != shown["provider_id"]]
    for args in (("cancel",), ("cancel", "--now"), ("resume",), ("change", "--plan", "team")):
        error = cli.fails(4, *ORG, *args)
        assert error["code"] == "several_subscriptions" and "sub_1" in error["message"] and "sub_2" in error["message"]
        assert f"billing subscriptions {' '.join(args)} --subscription " in error["hint"]
    assert ready.called("cancel_subscription") == [] and ready.called("change_subscription") == []
    done = cli.ok(*ORG, "cancel", "--now", "--subscription", "sub_2")
    assert (done["provider_id"], done["status"]) == ("sub_2", "canceled")
    assert cli.ok(*ORG, "show")["others"] == []  # one runs again: commands act on it
    assert cli.ok(*ORG, "cancel")["provider_id"] == "sub_1"


def test_a_lost_create_finished_by_a_command_for_another_plan_exits_4(cli: Cli, ready: World) -> None:
    ready.lose.add("create_subscription")
    assert cli.fails(5, *ORG, "create", "--plan", "pro", "--currency", "USD")["code"] == "provider_error"
    error = cli.fails(4, *ORG, "create", "--plan", "team", "--currency", "USD")
    started = error["message"].split("(started ")[1].split(")")[0]
    assert error == {
        "code": "earlier_operation_finished",
        "message": f"finished an earlier subscription create that got no answer (started {started}): sub_1 on pro, "
        "active; this command's request (plan team) was not sent",
        "hint": "`zigznote --org acme billing subscriptions show` shows it; "
        "`billing subscriptions change --plan team` moves it to the plan asked for now",
    }
    assert list(ready.subscriptions) == ["sub_1"] and cli.ok(*ORG, "show")["plan"] == "pro"
