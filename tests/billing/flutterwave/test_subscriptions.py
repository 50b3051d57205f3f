"""Subscriptions: read by email and ID, the period derived from the newest charge, cancel at
period end emulated (no further charge, the paid period runs out), activate to undo it, and
what v3 cannot do refused in words with nothing sent."""

from __future__ import annotations

from datetime import datetime

import pytest
import respx

from tests.billing.flutterwave.conftest import EMAIL, load, query
from tests.billing.flutterwave.fakes import FlutterwaveFake
from zigznote.billing.money import Money
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.billing.types import BillingInterval, Proration, SubscriptionRequest, SubscriptionStatus
from zigznote.errors import Conflict, InvalidInput, NotFound


@pytest.fixture
def fake(fw_api: respx.Router) -> FlutterwaveFake:
    made = FlutterwaveFake(fw_api)
    made.plans.append(load("plan_created")["data"])  # 52045: Pro, NGN 25,000 monthly
    return made


@pytest.fixture
def running(fake: FlutterwaveFake) -> str:
    """Subscribed on 20 October, renewed on 20 November (NOW is 25 November)."""
    fake.pay("first", 25000, "NGN", EMAIL, created_at="2026-10-20T09:30:00.000Z")
    fake.pay("renewal", 25000, "NGN", EMAIL, created_at="2026-11-20T09:30:00.000Z")
    return str(fake.subscribe(52045, EMAIL, created_at="2026-10-20T09:30:05.000Z")["id"])


def test_list_by_email_with_the_plan_and_the_paid_period(
    provider: FlutterwaveProvider, fake: FlutterwaveFake, fw_api: respx.Router, running: str
) -> None:
    (sub,) = provider.list_subscriptions(customer_id=EMAIL)
    listed = [c.request for c in fw_api.calls if c.request.url.path == "/v3/subscriptions"]
    assert query(listed[-1]) == [("email", EMAIL), ("page", "1")]
    assert (sub.id, sub.customer_id, sub.status, sub.cancel_at_period_end) == (
        running,
        EMAIL,
        SubscriptionStatus.ACTIVE,
        False,
    )
    assert (sub.current_period_start, sub.current_period_end) == (
        datetime(2026, 11, 20, 9, 30),
        datetime(2026, 12, 20, 9, 30),
    )
    price = sub.price
    assert price is not None
    assert (price.id, price.amount, price.interval, price.metadata) == (
        "52045",
        Money(2500000, "NGN"),
        BillingInterval.MONTH,
        {"zigznote_plan": "pro"},
    )
    charges = [c.request for c in fw_api.calls if c.request.url.path == "/v3/transactions"]
    assert query(charges[-1]) == [("customer_email", EMAIL), ("status", "successful")]


def test_cancel_at_period_end_stops_charges_and_runs_out_the_paid_period(
    provider: FlutterwaveProvider, fake: FlutterwaveFake, running: str
) -> None:
    sub = provider.cancel_subscription(running, at_period_end=True)
    assert [p.url.path for p in fake.puts] == [f"/v3/subscriptions/{running}/cancel"]
    assert fake.subscriptions[0]["status"] == "cancelled"
    assert (sub.status, sub.cancel_at_period_end, sub.cancel_at) == (
        SubscriptionStatus.ACTIVE,
        True,
        datetime(2026, 12, 20, 9, 30),
    )
    assert provider.get_subscription(running) == sub  # read again: the same, derived from Flutterwave's state
    assert provider.cancel_subscription(running, at_period_end=True) == sub and len(fake.puts) == 1
    kept = provider.undo_cancel_subscription(running)
    assert [p.url.path for p in fake.puts][-1] == f"/v3/subscriptions/{running}/activate"
    assert (kept.status, kept.cancel_at_period_end, kept.cancel_at) == (SubscriptionStatus.ACTIVE, False, None)
    assert provider.undo_cancel_subscription(running) == kept and len(fake.puts) == 2  # nothing to undo


def test_flutterwave_s_cancellation_after_failed_renewals_reads_canceled(
    provider: FlutterwaveProvider, fake: FlutterwaveFake
) -> None:
    fake.pay("first", 25000, "NGN", EMAIL, created_at="2026-10-20T09:30:00.000Z")  # November's renewal failed
    sub_id = str(fake.subscribe(52045, EMAIL, created_at="2026-10-20T09:30:05.000Z", status="cancelled")["id"])
    sub = provider.get_subscription(sub_id)
    assert (sub.status, sub.cancel_at_period_end) == (SubscriptionStatus.CANCELED, False)
    with pytest.raises(Conflict) as caught:
        provider.undo_cancel_subscription(sub_id)
    assert caught.value.code == "subscription_ended" and fake.puts == []


def test_a_cancelled_subscription_without_a_charge_on_record_is_canceled(
    provider: FlutterwaveProvider, fake: FlutterwaveFake
) -> None:
    sub_id = str(fake.subscribe(52045, EMAIL, created_at="2026-11-01T09:30:05.000Z", status="cancelled")["id"])
    assert provider.get_subscription(sub_id).status is SubscriptionStatus.CANCELED


def test_a_charge_of_less_than_the_plan_is_no_evidence_of_a_paid_period(
    provider: FlutterwaveProvider, fake: FlutterwaveFake
) -> None:
    fake.pay("short", 20000, "NGN", EMAIL, created_at="2026-11-20T09:30:00.000Z")
    sub_id = str(fake.subscribe(52045, EMAIL, created_at="2026-10-20T09:30:05.000Z", status="cancelled")["id"])
    assert provider.get_subscription(sub_id).status is SubscriptionStatus.CANCELED


def test_what_v3_cannot_do_is_refused_in_words(
    provider: FlutterwaveProvider, fake: FlutterwaveFake, fw_api: respx.Router, running: str
) -> None:
    calls = len(fw_api.calls)
    with pytest.raises(InvalidInput) as now:
        provider.cancel_subscription(running, at_period_end=False)
    with pytest.raises(InvalidInput) as change:
        provider.change_subscription(running, price_id="60001", proration=Proration.NONE)
    with pytest.raises(InvalidInput) as create:
        provider.create_subscription(SubscriptionRequest(EMAIL, "52045"), idempotency_key="k")
    assert {now.value.code, change.value.code, create.value.code} == {"unsupported_by_provider"}
    assert now.value.message.startswith("Flutterwave cannot end a subscription before the period already paid for")
    assert change.value.message.startswith("Flutterwave cannot change a subscription's plan (v3 has no plan swap")
    assert "use `billing checkout`" in create.value.message
    assert len(fw_api.calls) == calls and fake.puts == []


def test_an_unknown_subscription_is_not_found(provider: FlutterwaveProvider, fake: FlutterwaveFake) -> None:
    with pytest.raises(NotFound):
        provider.get_subscription("999")
