"""`zigznote billing events ingest | list | show | replay` against a fake Stripe holding each
object's current state (respx, tests/billing/stripe_world.py): exit codes, exact JSON, the
generic --header and the --signature shorthand, replay of failed events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from tests.billing.stripe_world import API, SECRET_KEY, SUB, WEBHOOK_SECRET, StripeWorld, event, fixture, sign
from tests.conftest import Cli

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # stripe's HTTPXClient
EVENTS = ("billing", "events")


@pytest.fixture
def world(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeWorld]:
    monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", API)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    org = cli.ok("orgs", "create", "acme", "--name", "Acme Corp")
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield StripeWorld(router, org["id"])


def sub_event(event_id: str, type_: str = "customer.subscription.updated") -> bytes:
    return event(event_id, type_, fixture("subscription"))


def ingest(cli: Cli, body: bytes, *args: str) -> Any:
    return cli.ok(*EVENTS, "ingest", "--provider", "stripe", "--signature", sign(body), *args, input=body)


def test_ingest_applies_and_a_second_time_is_a_duplicate(cli: Cli, world: StripeWorld) -> None:
    body = sub_event("evt_c1")
    first = ingest(cli, body)
    assert first["id"].startswith("pev_") and first["org_id"].startswith("org_")
    assert {k: v for k, v in first.items() if k not in ("id", "org_id")} == {
        "provider": "stripe", "provider_event_id": "evt_c1", "type": "customer.subscription.updated",
        "outcome": "processed", "redelivery": False, "error": None, "note": None,
    }  # fmt: skip
    again = ingest(cli, body)
    assert (again["outcome"], again["redelivery"], again["id"]) == ("duplicate", True, first["id"])
    assert world.fetched(SUB) == 1
    human = cli(*EVENTS, "ingest", "--provider", "stripe", "--signature", sign(body), input=body)
    assert human.exit_code == 0 and f"evt_c1 (customer.subscription.updated): already applied ({first['id']})" in (
        human.stderr
    )
    assert cli.ok("--org", "acme", "billing", "subscriptions", "show")["status"] == "active"


def test_a_header_given_by_name_works_like_the_shorthand(cli: Cli, world: StripeWorld) -> None:
    body = sub_event("evt_c2")
    out = cli.ok(*EVENTS, "ingest", "--provider", "stripe", "--header", f"stripe-signature: {sign(body)}", input=body)
    assert out["outcome"] == "processed"
    error = cli.fails(2, *EVENTS, "ingest", "--provider", "stripe", "--header", "no colon here", input=body)
    assert (error["code"], error["hint"]) == ("usage", "use NAME:VALUE, e.g. verif-hash:abc")


@pytest.mark.parametrize(
    ("signature", "code"),
    [(lambda b: sign(b, "whsec_wrong_secret_0123456789abcd"), "signature_mismatch"),
     (lambda b: sign(b + b" "), "signature_mismatch"),
     (lambda b: sign(b, timestamp=int(time.time()) - 400), "signature_expired")],
)  # fmt: skip
def test_a_bad_signature_is_exit_7_and_stores_nothing(cli: Cli, world: StripeWorld, signature: Any, code: str) -> None:
    body = sub_event("evt_c3")
    error = cli.fails(7, *EVENTS, "ingest", "--provider", "stripe", "--signature", signature(body), input=body)
    assert error["code"] == code
    assert cli.ok(*EVENTS, "list") == []


def test_without_a_webhook_secret_it_is_exit_6(cli: Cli, world: StripeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    body = sub_event("evt_c4")
    assert cli.fails(6, *EVENTS, "ingest", "--signature", sign(body), input=body)["code"] == (
        "stripe_webhook_secret_missing"
    )


def test_a_failure_is_exit_5_then_replay_applies_it(cli: Cli, world: StripeWorld) -> None:
    world.failing.add(SUB)
    body = sub_event("evt_c5", "customer.subscription.deleted")
    error = cli.fails(5, *EVENTS, "ingest", "--signature", sign(body), input=body)
    stored = cli.ok(*EVENTS, "list", "--status", "failed")
    assert [(e["provider_event_id"], e["status"], e["attempts"]) for e in stored] == [("evt_c5", "failed", 1)]
    assert error == {
        "code": "event_failed",
        "message": "event evt_c5 (customer.subscription.deleted) is stored but could not be applied: "
        + stored[0]["error"],
        "hint": f"`zigznote billing events replay {stored[0]['id']}` once the cause is fixed "
        "(the provider also retries)",
    }
    assert cli.fails(5, *EVENTS, "replay", "--failed")["message"].startswith("1 of 1 event failed again; first: evt_c5")
    world.failing.clear()
    world.subscriptions[SUB]["status"] = "canceled"
    done = cli.ok(*EVENTS, "replay", "--failed")
    assert (done["replayed"], done["processed"], done["failed"], done["events"][0]["outcome"]) == (1, 1, 0, "processed")
    assert cli.ok(*EVENTS, "list", "--status", "failed") == []
    assert cli.ok(*EVENTS, "show", "evt_c5")["attempts"] == 3
    assert cli.ok("--org", "acme", "billing", "subscriptions", "show", "--provider", "stripe")["status"] == "canceled"


def test_list_filters_and_show(cli: Cli, world: StripeWorld) -> None:
    ingest(cli, sub_event("evt_c6"))
    payout = event("evt_c7", "payout.paid", {"id": "po_1", "object": "payout"})
    assert ingest(cli, payout)["note"] == "no handler for payout.paid events"
    assert [e["provider_event_id"] for e in cli.ok(*EVENTS, "list")] == ["evt_c7", "evt_c6"]
    assert [e["provider_event_id"] for e in cli.ok(*EVENTS, "list", "--status", "ignored")] == ["evt_c7"]
    assert [e["provider_event_id"] for e in cli.ok(*EVENTS, "list", "--type", "customer.subscription.updated")] == [
        "evt_c6"
    ]
    assert cli.ok(*EVENTS, "list", "--since", "2099-01-01") == []
    assert len(cli.ok(*EVENTS, "list", "--since", "1h", "--limit", "1")) == 1
    assert cli.fails(2, *EVENTS, "list", "--status", "done")["code"] == "invalid_status"
    shown = cli.ok(*EVENTS, "show", "evt_c7", "--raw")
    assert (shown["status"], shown["note"], shown["object_type"], json.loads(shown["payload"])["id"]) == (
        "ignored", "no handler for payout.paid events", None, "evt_c7",
    )  # fmt: skip
    assert "payload" not in cli.ok(*EVENTS, "show", shown["id"])
    human = cli(*EVENTS, "show", "evt_c7", "--raw")
    assert human.exit_code == 0 and '  "type": "payout.paid"\n}' in human.stdout
    assert cli.fails(3, *EVENTS, "show", "evt_nope")["code"] == "event_not_found"
    table = cli(*EVENTS, "list")
    assert table.exit_code == 0 and "no handler for payout.paid events" in table.stdout


def test_replay_of_one_event_applies_it_again(cli: Cli, world: StripeWorld) -> None:
    first = ingest(cli, sub_event("evt_c8"))
    world.subscriptions[SUB]["status"] = "past_due"  # drift that no event announced
    done = cli.ok(*EVENTS, "replay", first["id"])
    assert [e["outcome"] for e in done["events"]] == ["processed"]
    assert cli.ok("--org", "acme", "billing", "subscriptions", "show", "--provider", "stripe")["status"] == "past_due"
    assert cli.fails(2, *EVENTS, "replay")["code"] == "usage"
    assert cli.fails(2, *EVENTS, "replay", "evt_c8", "--failed")["code"] == "usage"


def test_serve_refuses_bad_options_before_binding(cli: Cli) -> None:
    assert cli.fails(2, "billing", "serve", "--port", "70000")["message"] == (
        "invalid port 70000: must be between 0 and 65535"
    )
    assert cli.fails(2, "billing", "serve", "--host", "999.1.1.1")["code"] == "invalid_input"


SUB2 = "sub_1SZkC1LkdIwHu7ixRt5Ab9Zq"


def test_a_second_running_subscription_from_events_is_shown_and_never_guessed(cli: Cli, world: StripeWorld) -> None:
    """A second subscription made outside zigznote (the dashboard, a checkout completed in
    another tab) reaches us by its event: `show` lists it, and cancel/change refuse to pick one
    until --subscription names it; checkout refuses a third before anything is sent."""
    ingest(cli, sub_event("evt_s1", "customer.subscription.created"))
    second = fixture("subscription") | {"id": SUB2, "created": 1795168000}
    world.subscriptions[SUB2] = second
    ingest(cli, event("evt_s2", "customer.subscription.created", second))
    subs = ("--org", "acme", "billing", "subscriptions")

    shown = cli.ok(*subs, "show")
    assert (shown["provider_id"], [o["provider_id"] for o in shown["others"]]) == (SUB2, [SUB])
    human = cli(*subs, "show")
    assert human.exit_code == 0 and SUB in human.stdout and "also running" in human.stdout
    assert "1 other subscription of this organization also running at stripe: changes need --subscription ID" in (
        human.stderr
    )
    listed = f"{SUB2} (pro, active), {SUB} (pro, active)"
    for args, action in ((("cancel",), "cancel"), (("change", "--plan", "team"), "change --plan team")):
        error = cli.fails(4, *subs, *args)
        assert error == {
            "code": "several_subscriptions",
            "message": f"organization 'acme' has 2 running stripe subscriptions: {listed}",
            "hint": "name the one to act on, e.g. "
            f"`zigznote --org acme billing subscriptions {action} --subscription {SUB}`",
        }
    canceled = fixture("subscription") | {"id": SUB2, "created": 1795168000, "cancel_at_period_end": True}
    route = world_post(world, SUB2, canceled)
    done = cli.ok(*subs, "cancel", "--subscription", SUB2)
    assert (done["provider_id"], done["cancel_at_period_end"]) == (SUB2, True)
    assert route.call_count == 1
    assert cli.fails(3, *subs, "cancel", "--subscription", "sub_nope")["hint"] == f"its running ones: {SUB2}, {SUB}"

    checkout = world.router.post("/v1/checkout/sessions")
    error = cli.fails(
        4, "--org", "acme", "billing", "checkout", "--plan", "pro", "--success-url", "https://a.example/ok",
        "--cancel-url", "https://a.example/back",
    )  # fmt: skip
    assert error == {
        "code": "subscription_exists",
        "message": f"organization 'acme' already has an active subscription ({SUB2})",
        "hint": "change its plan with `zigznote --org acme billing subscriptions change --plan PLAN`",
    }
    assert checkout.call_count == 0


def world_post(world: StripeWorld, sub_id: str, answer: dict[str, Any]) -> respx.Route:
    """Stripe's answer to ``POST /v1/subscriptions/<sub_id>`` (an update), which also becomes
    what later fetches return."""

    def update(request: httpx.Request) -> httpx.Response:
        world.subscriptions[sub_id] = answer
        return httpx.Response(200, json=answer)

    return world.router.post(f"/v1/subscriptions/{sub_id}").mock(side_effect=update)


def test_events_show_names_the_organization(cli: Cli, world: StripeWorld) -> None:
    org_id = cli.ok("orgs", "show", "acme")["id"]
    ingest(cli, sub_event("evt_o1"))
    shown = cli.ok(*EVENTS, "show", "evt_o1")
    assert (shown["org"], shown["org_id"]) == ("acme", org_id)
    human = cli(*EVENTS, "show", "evt_o1")
    lines = [" ".join(line.split()) for line in human.stdout.splitlines()]
    assert f"organization acme ({org_id})" in lines


def test_serve_without_any_configured_provider_refuses_to_start(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "FLUTTERWAVE_SECRET_KEY", "FLUTTERWAVE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    error = cli.fails(6, "billing", "serve", "--port", "0")
    assert error == {
        "code": "no_provider_configured",
        "message": "no payment provider can receive events, so billing serve would answer every request 404 "
        "(flutterwave: FLUTTERWAVE_SECRET_KEY is not set; stripe: STRIPE_SECRET_KEY is not set)",
        "hint": "set FLUTTERWAVE_SECRET_KEY and FLUTTERWAVE_WEBHOOK_SECRET, or STRIPE_SECRET_KEY and "
        "STRIPE_WEBHOOK_SECRET; `zigznote billing providers` shows what each one lacks",
    }
