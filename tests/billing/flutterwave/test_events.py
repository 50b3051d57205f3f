"""Flutterwave's inbound events end to end: plans synced, a customer and a checkout made by the
real commands against a fake Flutterwave (respx), then `charge.completed` delivered through the
events pipeline (services.billing.events.ingest, and `billing events ingest`). The handler
re-reads and verifies the transaction against the checkout zigznote made; the same event twice
is applied once; an underpayment or a wrong currency is never paid; a verification that times
out fails the event, and a replay applies it once Flutterwave answers."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import respx
import sqlalchemy as sa

from tests.billing.flutterwave.conftest import API, EMAIL, SECRET_KEY, WEBHOOK_SECRET, load
from tests.billing.flutterwave.fakes import FlutterwaveFake
from tests.conftest import Cli
from zigznote.billing.providers.flutterwave.webhooks import sign
from zigznote.config import Settings, load_settings
from zigznote.errors import SignatureInvalid
from zigznote.services.billing import events as service
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow

PLANS = """
[plans.pro]
name = "Pro"
prices = [ { currency = "NGN", interval = "month", amount = "25000" } ]
"""


@dataclass
class Env:
    cli: Cli
    db: Database
    settings: Settings
    fake: FlutterwaveFake
    router: respx.Router
    org_id: str
    checkout: dict[str, Any]

    def pay(self, amount: int = 25000, currency: str = "NGN", **changes: Any) -> dict[str, Any]:
        """The customer pays on the checkout's page (yesterday): Flutterwave holds the transaction
        (with the meta zigznote sent) and, for a plan, the subscription it starts."""
        when = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        sent = self.fake.links[-1]
        tx = self.fake.pay(self.checkout["id"], amount, currency, EMAIL, meta=sent["meta"], created_at=when, **changes)
        self.fake.subscribe(int(sent["payment_plan"]), EMAIL, created_at=when)
        return tx

    def deliver(self, tx: dict[str, Any], *, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return service.ingest(
            self.db,
            self.settings,
            provider="flutterwave",
            payload=body(tx),
            headers=signed(body(tx)) if headers is None else headers,
        )

    def rows(self, sql: str) -> list[Any]:
        with self.db.engine.connect() as conn:
            return list(conn.execute(sa.text(sql)).all())


def body(tx: dict[str, Any]) -> bytes:
    """A v3 ``charge.completed`` payload for ``tx`` (its copy of the transaction is a hint only)."""
    event = json.loads(
        (Path(__file__).resolve().parents[2] / "fixtures/flutterwave/webhook_charge_completed.json").read_text()
    )
    event["data"].update(id=tx["id"], tx_ref=tx["tx_ref"], status=tx["status"])
    return json.dumps(event).encode()


def signed(payload: bytes) -> dict[str, str]:
    return {"flutterwave-signature": sign(payload, WEBHOOK_SECRET), "verif-hash": WEBHOOK_SECRET}


@pytest.fixture
def fw_env(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Env]:
    for name, value in {
        "FLUTTERWAVE_SECRET_KEY": SECRET_KEY, "FLUTTERWAVE_API_BASE": API, "FLUTTERWAVE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ZIGZNOTE_BILLING_PROVIDER": "flutterwave", "ZIGZNOTE_BILLING_SUCCESS_URL": "https://app.example.com/done",
        "ZIGZNOTE_BILLING_CANCEL_URL": "https://app.example.com/billing",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    org = cli.ok("orgs", "create", "acme", "--name", "Acme Corp")
    plans = tmp_path / "plans.toml"
    plans.write_text(PLANS)
    db = Database(cli.db_url)
    with respx.mock(base_url=API, assert_all_called=False) as router:
        fake = FlutterwaveFake(router)
        synced = cli.ok("billing", "plans", "sync", "--file", str(plans))
        assert [a["action"] for a in synced["actions"]] == ["create_product", "create_price"]
        assert cli.ok("billing", "plans", "sync", "--file", str(plans))["summary"]["unchanged"] == 2  # idempotent
        customer = cli.ok("--org", "acme", "billing", "customers", "create", "--email", EMAIL)
        assert customer["provider_id"] == EMAIL and not fake.posts[1:]  # v3 has no customer object: nothing sent
        checkout = cli.ok("--org", "acme", "billing", "checkout", "--plan", "pro", "--interval", "month")
        yield Env(cli, db, load_settings({"db_url": cli.db_url}), fake, router, org["id"], checkout)
    db.dispose()


def test_checkout_then_a_paid_charge_is_verified_and_applied_once(fw_env: Env) -> None:
    checkout = fw_env.checkout
    assert checkout["url"] == "https://checkout.flutterwave.com/v3/hosted/pay/fake1"
    assert checkout["amount"] == {"amount": 2500000, "currency": "NGN", "display": "₦25,000.00"}
    sent = fw_env.fake.links[0]
    assert (sent["tx_ref"], sent["payment_plan"], sent["meta"]["zigznote_org"]) == (
        checkout["id"],
        60001,
        fw_env.org_id,
    )
    tx = fw_env.pay()
    first = fw_env.deliver(tx)
    assert (first["outcome"], first["provider_event_id"], first["org_id"]) == (
        "processed",
        f"charge.completed:{tx['id']}:successful",
        fw_env.org_id,
    )
    again = fw_env.deliver(tx)
    assert (again["outcome"], again["redelivery"]) == ("duplicate", True)
    assert fw_env.rows(
        "SELECT provider_payment_id, status, amount, currency, failure_message FROM billing_payment"
    ) == [(str(tx["id"]), "succeeded", 2500000, "NGN", None)]
    assert fw_env.rows("SELECT provider_subscription_id, status, plan_slug, amount FROM billing_subscription") == [
        ("15376", "active", "pro", 2500000)
    ]
    assert fw_env.rows("SELECT count(*) FROM provider_event") == [(1,)]


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        (24000, "NGN", "paid ₦24,000.00 of ₦25,000.00 (₦1,000.00 short)"),
        (25000, "GHS", "was paid in GHS, not NGN"),
    ],
)
def test_an_underpayment_or_a_wrong_currency_is_never_paid(
    fw_env: Env, amount: int, currency: str, message: str
) -> None:
    tx = fw_env.pay(amount, currency)
    assert fw_env.deliver(tx)["outcome"] == "processed"
    ((status, failure),) = fw_env.rows("SELECT status, failure_message FROM billing_payment")
    assert status == "requires_action" and failure.endswith(message)


def test_a_charge_nothing_of_ours_expects_is_not_assumed_paid(fw_env: Env) -> None:
    tx = fw_env.fake.pay("someone-elses-ref", 25000, "NGN", EMAIL)
    assert fw_env.deliver(tx)["outcome"] == "processed"
    assert fw_env.rows("SELECT status, failure_message FROM billing_payment") == [
        ("requires_action", "no zigznote checkout or subscription expects this payment: check it at Flutterwave")
    ]


def test_a_bad_signature_stores_nothing(fw_env: Env) -> None:
    tx = fw_env.pay()
    payload = body(tx)
    for headers in ({}, {"verif-hash": "wrong"}, {"flutterwave-signature": sign(payload + b" ", WEBHOOK_SECRET)}):
        with pytest.raises(SignatureInvalid):
            fw_env.deliver(tx, headers=headers)
    assert fw_env.rows("SELECT count(*) FROM provider_event") == [(0,)]
    assert fw_env.rows("SELECT count(*) FROM billing_payment") == [(0,)]


def test_a_verification_that_times_out_fails_and_a_replay_applies_it(fw_env: Env) -> None:
    tx = fw_env.pay()
    fw_env.fake.verify_timeouts = 3
    out = fw_env.deliver(tx)
    assert out["outcome"] == "failed" and "Flutterwave did not answer" in out["error"]
    assert fw_env.fake.verify_calls == 3  # a read, retried twice, then given up: nothing assumed
    assert fw_env.rows("SELECT count(*) FROM billing_payment") == [(0,)]
    replayed = service.replay(fw_env.db, fw_env.settings, failed=True)
    assert (replayed["processed"], replayed["failed"]) == (1, 0)
    assert fw_env.rows("SELECT status FROM billing_payment") == [("succeeded",)]


def test_subscription_cancelled_reads_the_subscription_again(fw_env: Env) -> None:
    tx = fw_env.pay()
    fw_env.deliver(tx)
    fw_env.fake.subscriptions[0]["status"] = "cancelled"  # the customer cancelled at Flutterwave
    event = copy.deepcopy(load("webhook_subscription_cancelled"))
    payload = json.dumps(event, default=str).encode()
    out = service.ingest(fw_env.db, fw_env.settings, provider="flutterwave", payload=payload, headers=signed(payload))
    assert (out["outcome"], out["provider_event_id"]) == ("processed", "subscription.cancelled:15376:cancelled")
    ((status, ending),) = fw_env.rows("SELECT status, cancel_at_period_end FROM billing_subscription")
    assert (status, bool(ending)) == ("active", True)  # paid yesterday: runs to the end of the period


def test_billing_events_ingest_takes_the_secret_hash_as_signature(fw_env: Env) -> None:
    tx = fw_env.pay()
    out = fw_env.cli.ok(
        "billing", "events", "ingest", "--provider", "flutterwave", "--signature", WEBHOOK_SECRET, input=body(tx)
    )
    assert out["outcome"] == "processed"
    refused = fw_env.cli.fails(
        7, "billing", "events", "ingest", "--provider", "flutterwave", "--signature", "nope", input=body(tx)
    )
    assert refused["code"] == "signature_mismatch"


def test_the_billing_commands_work_with_flutterwave(fw_env: Env) -> None:
    cli, org = fw_env.cli, ("--org", "acme", "billing")
    tx = fw_env.pay()
    fw_env.deliver(tx)
    assert cli.ok(*org, "subscriptions", "show")["status"] == "active"
    ending = cli.ok(*org, "subscriptions", "cancel")
    assert (ending["status"], ending["cancel_at_period_end"]) == ("active", True)
    assert fw_env.fake.subscriptions[0]["status"] == "cancelled"
    kept = cli.ok(*org, "subscriptions", "resume")
    assert (kept["status"], kept["cancel_at_period_end"]) == ("active", False)
    assert fw_env.fake.subscriptions[0]["status"] == "active"
    assert cli.fails(2, *org, "subscriptions", "cancel", "--now")["code"] == "unsupported_by_provider"
    assert cli.fails(2, *org, "subscriptions", "change", "--plan", "pro", "--proration", "none")["code"] == (
        "unsupported_by_provider"
    )
    (payment,) = cli.ok(*org, "payments", "list")
    assert (payment["provider_id"], payment["status"], payment["refundable"]["display"]) == (
        str(tx["id"]),
        "succeeded",
        "₦25,000.00",
    )
    refunded = cli.ok(*org, "payments", "refund", str(tx["id"]), "--amount", "5000")
    assert refunded["refund"]["amount"]["display"] == "₦5,000.00"
    assert refunded["payment"]["refundable"]["display"] == "₦20,000.00"
    assert cli.fails(4, *org, "payments", "refund", str(tx["id"]), "--amount", "20000.01")["code"] == (
        "refund_exceeds_remainder"
    )
    assert cli.ok(*org, "invoices", "list") == []
    synced = cli.ok("billing", "subscriptions", "sync", "--all")
    assert (synced["checked"], synced["changed"]) == (1, [])
