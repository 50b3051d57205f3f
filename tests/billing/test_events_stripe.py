"""Stripe's inbound events end to end (services.billing.events.ingest): signatures built the way
Stripe builds them, refused with nothing stored; handlers that re-fetch from a fake Stripe
holding each object's current state (tests/billing/stripe_world.py), so out-of-order and stale
deliveries end in Stripe's state; missing parents fetched and created; failures replayed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import respx
import sqlalchemy as sa

from tests.billing.stripe_world import (
    API,
    CUS,
    INV,
    PI,
    RE,
    SECRET_KEY,
    SUB,
    WEBHOOK_SECRET,
    StripeWorld,
    event,
    fixture,
    sign,
)
from tests.conftest import Cli
from zigznote.config import Settings, load_settings
from zigznote.errors import SignatureInvalid
from zigznote.services.billing import events as service
from zigznote.store.engine import Database

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # stripe's HTTPXClient


@dataclass
class Env:
    db: Database
    settings: Settings
    world: StripeWorld
    org_id: str

    def deliver(self, payload: bytes, signature: str | None = None) -> dict[str, Any]:
        header = sign(payload) if signature is None else signature
        return service.ingest(
            self.db, self.settings, provider="stripe", payload=payload, headers={"Stripe-Signature": header}
        )

    def one(self, sql: str) -> Any:
        with self.db.engine.connect() as conn:
            return conn.execute(sa.text(sql)).one()

    def count(self, table: str) -> int:
        return int(self.one(f"SELECT count(*) FROM {table}")[0])


@pytest.fixture
def stripe_env(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", API)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("ZIGZNOTE_BILLING_PROVIDER", "stripe")
    org = cli.ok("orgs", "create", "acme", "--name", "Acme Corp")
    db = Database(cli.db_url)
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield Env(db, load_settings({"db_url": cli.db_url}), StripeWorld(router, org["id"]), org["id"])
    db.dispose()


def subscription_event(event_id: str, type_: str, **changes: Any) -> bytes:
    obj = fixture("subscription")
    obj.update(changes)
    return event(event_id, type_, obj)


# -- verification ---------------------------------------------------------------------------------


def test_a_signature_built_like_stripes_verifies(stripe_env: Env) -> None:
    body = subscription_event("evt_1", "customer.subscription.updated")
    out = stripe_env.deliver(body)
    assert (out["outcome"], out["provider_event_id"], out["org_id"]) == ("processed", "evt_1", stripe_env.org_id)
    stored = stripe_env.one("SELECT payload FROM provider_event")[0]
    assert bytes(stored) == body  # the exact bytes, never a re-serialized body


@pytest.mark.parametrize(
    ("case", "code"),
    [("tampered", "signature_mismatch"), ("wrong secret", "signature_mismatch"), ("too old", "signature_expired"),
     ("missing", "signature_missing")],
)  # fmt: skip
def test_bad_signatures_are_refused_and_nothing_is_stored(stripe_env: Env, case: str, code: str) -> None:
    body = subscription_event("evt_2", "customer.subscription.updated")
    headers = {
        "tampered": (body.replace(b'"active"', b'"canceled"'), sign(body)),
        "wrong secret": (body, sign(body, "whsec_someone_else_0123456789abcd")),
        "too old": (body, sign(body, timestamp=int(time.time()) - 301)),
        "missing": (body, ""),
    }
    payload, header = headers[case]
    with pytest.raises(SignatureInvalid) as caught:
        stripe_env.deliver(payload, header)
    assert (caught.value.exit_code, caught.value.code) == (7, code)
    assert stripe_env.count("provider_event") == 0
    assert stripe_env.world.fetched(SUB) == 0


def test_a_second_secret_verifies_during_a_rotation(stripe_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"whsec_new_secret_0123456789abcdef,{WEBHOOK_SECRET}")
    stripe_env.settings = load_settings({"db_url": stripe_env.db.url})
    old = subscription_event("evt_3", "customer.subscription.updated")
    new = subscription_event("evt_4", "customer.subscription.updated")
    assert stripe_env.deliver(old)["outcome"] == "processed"
    assert stripe_env.deliver(new, sign(new, "whsec_new_secret_0123456789abcdef"))["outcome"] == "processed"


# -- dedupe and order ----------------------------------------------------------------------------------


def test_the_same_event_twice_is_applied_once(stripe_env: Env) -> None:
    body = subscription_event("evt_5", "customer.subscription.updated")
    first, second = stripe_env.deliver(body), stripe_env.deliver(body)
    assert (first["outcome"], second["outcome"], second["redelivery"]) == ("processed", "duplicate", True)
    assert stripe_env.world.fetched(SUB) == 1  # the duplicate fetched nothing
    assert stripe_env.count("provider_event") == 1
    assert stripe_env.count("billing_subscription") == 1


def test_updated_before_created_ends_in_stripes_state(stripe_env: Env) -> None:
    world = stripe_env.world
    # At Stripe now: past due and set to cancel at the period's end. The payloads are stale.
    world.subscriptions[SUB].update(status="past_due", cancel_at_period_end=True, cancel_at=1796083200)
    updated = subscription_event("evt_upd", "customer.subscription.updated", status="active")
    created = subscription_event("evt_new", "customer.subscription.created", status="incomplete")
    assert stripe_env.deliver(updated)["outcome"] == "processed"
    assert stripe_env.deliver(created)["outcome"] == "processed"
    row = stripe_env.one(
        "SELECT provider_subscription_id, status, cancel_at_period_end, plan_slug, amount, currency, quantity, "
        "org_id FROM billing_subscription"
    )
    assert tuple(row) == (SUB, "past_due", True, "pro", 2900, "USD", 1, stripe_env.org_id)
    # The customer (its parent) was never seen here: fetched and created for the organization
    # its metadata names.
    customer = stripe_env.one("SELECT provider_customer_id, org_id, email FROM billing_customer")
    assert tuple(customer) == (CUS, stripe_env.org_id, "billing@acme.example")
    assert stripe_env.world.fetched(CUS) == 1  # the second event found the customer locally


def test_an_invoice_before_its_subscription_fetches_and_creates_it(stripe_env: Env) -> None:
    stale = fixture("invoice")
    stale["status"] = "open"  # the payload's snapshot; Stripe has it paid
    out = stripe_env.deliver(event("evt_inv", "invoice.paid", stale))
    assert out["outcome"] == "processed"
    sub_id, sub_status = stripe_env.one("SELECT id, status FROM billing_subscription")
    invoice = stripe_env.one("SELECT provider_invoice_id, status, subscription_id, amount_paid FROM billing_invoice")
    assert (sub_status, tuple(invoice)) == ("active", (INV, "paid", sub_id, 2900))


def test_a_refund_updates_the_payment_and_stores_the_refund(stripe_env: Env) -> None:
    charge = fixture("event_charge_refunded")["data"]["object"]
    out = stripe_env.deliver(event("evt_ref", "charge.refunded", charge))
    assert out["outcome"] == "processed"
    payment = stripe_env.one("SELECT provider_payment_id, amount, amount_refunded, status FROM billing_payment")
    refund = stripe_env.one("SELECT provider_refund_id, provider_payment_id, amount, status FROM billing_refund")
    assert tuple(payment)[:2] == (PI, 2900)
    assert tuple(refund) == (RE, PI, 1000, "succeeded")


def test_checkout_completed_creates_the_customer_for_its_organization(stripe_env: Env) -> None:
    world = stripe_env.world
    world.customers[CUS]["metadata"] = {}  # Checkout made this customer: no zigznote_org on it
    world.subscriptions[SUB]["metadata"] = {}
    session = fixture("checkout_session_subscription")
    session.update(status="complete", subscription=SUB, client_reference_id=stripe_env.org_id, metadata={})
    out = stripe_env.deliver(event("evt_cs", "checkout.session.completed", session))
    assert (out["outcome"], out["org_id"]) == ("processed", stripe_env.org_id)
    assert tuple(stripe_env.one("SELECT provider_customer_id, org_id FROM billing_customer")) == (
        CUS,
        stripe_env.org_id,
    )
    assert stripe_env.one("SELECT status FROM billing_subscription")[0] == "active"


def test_objects_of_no_organization_of_ours_are_ignored(stripe_env: Env) -> None:
    stripe_env.world.customers[CUS]["metadata"] = {"zigznote_org": "org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M"}  # not here
    stripe_env.world.subscriptions[SUB]["metadata"] = {}
    out = stripe_env.deliver(subscription_event("evt_x", "customer.subscription.updated"))
    assert (out["outcome"], out["note"]) == (
        "ignored",
        f"subscription {SUB}: its customer {CUS} belongs to no organization of zigznote's",
    )
    assert stripe_env.count("billing_subscription") == 0


def test_a_stripe_failure_leaves_the_event_failed_until_replayed(stripe_env: Env) -> None:
    stripe_env.world.failing.add(SUB)
    out = stripe_env.deliver(subscription_event("evt_f", "customer.subscription.deleted"))
    assert out["outcome"] == "failed" and out["error"].startswith("Stripe")
    assert stripe_env.count("billing_subscription") == 0
    stripe_env.world.failing.clear()
    stripe_env.world.subscriptions[SUB]["status"] = "canceled"
    done = service.replay(stripe_env.db, stripe_env.settings, failed=True)
    assert (done["processed"], done["failed"]) == (1, 0)
    assert stripe_env.one("SELECT status FROM billing_subscription")[0] == "canceled"


def test_customer_deleted_marks_the_customer(stripe_env: Env) -> None:
    stripe_env.deliver(subscription_event("evt_s", "customer.subscription.updated"))
    stripe_env.world.customers[CUS] = fixture("customer_deleted")
    out = stripe_env.deliver(event("evt_d", "customer.deleted", fixture("customer")))
    assert out["outcome"] == "processed"
    assert tuple(stripe_env.one("SELECT deleted, org_id FROM billing_customer")) == (True, stripe_env.org_id)


def test_a_payment_event_stores_the_payment(stripe_env: Env) -> None:
    out = stripe_env.deliver(event("evt_pi", "payment_intent.succeeded", fixture("payment_intent")))
    assert out["outcome"] == "processed"
    assert tuple(stripe_env.one("SELECT provider_payment_id, status, amount_received FROM billing_payment")) == (
        PI,
        "succeeded",
        2900,
    )


@pytest.mark.parametrize("payment_first", [True, False], ids=["payment-first", "invoice-first"])
def test_a_payment_names_its_invoice_whichever_event_came_first(stripe_env: Env, cli: Cli, payment_first: bool) -> None:
    """Since the 2025 API versions a PaymentIntent no longer names its invoice (the invoice names
    its payments): the link is set when either side is written, and kept by later fetches."""
    paid = event("evt_pi", "payment_intent.succeeded", fixture("payment_intent"))
    invoiced = event("evt_inv", "invoice.paid", fixture("invoice"))
    for body in (paid, invoiced) if payment_first else (invoiced, paid):
        assert stripe_env.deliver(body)["outcome"] == "processed"
    assert tuple(stripe_env.one("SELECT provider_payment_id, provider_invoice_id FROM billing_payment")) == (PI, INV)
    shown = cli.ok("--org", "acme", "billing", "payments", "show", PI)  # a fresh fetch, which names no invoice
    assert (shown["provider_id"], shown["invoice"]) == (PI, INV)
    assert stripe_env.one("SELECT provider_invoice_id FROM billing_payment")[0] == INV
