"""`zigznote billing events ingest | list | show | replay` against a fake Stripe holding each
object's current state (respx, tests/billing/stripe_world.py): exit codes, exact JSON, the
generic --header and the --signature shorthand, replay of failed events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

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
