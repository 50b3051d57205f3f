"""Subscriptions: create, periods on items, plan changes with proration, cancel/undo, pause/resume."""

from __future__ import annotations

from datetime import datetime

import pytest
import respx

from tests.billing.stripe.conftest import form, load, ok, query
from zigznote.billing.money import Money
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.billing.types import Proration, SubscriptionRequest, SubscriptionStatus
from zigznote.errors import Conflict

SUB = "sub_1SZkB7LkdIwHu7ixGq8Wm3Xe"
SI = "si_TZkBw1Ck2cX0aQ"
CUS = "cus_TZk8mQ4bR2xNvE"
NEW_PRICE = "price_1SZkA9LkdIwHu7ixUsdYear0"


def test_create_subscription_sends_one_item(provider: StripeProvider, stripe_api: respx.Router) -> None:
    route = stripe_api.post("/v1/subscriptions").mock(return_value=ok("subscription"))
    request = SubscriptionRequest(
        customer_id=CUS,
        price_id="price_1SZkA2LkdIwHu7ixUsdMonth",
        quantity=3,
        trial_days=14,
        payment_method_id="pm_1SZk9aLkdIwHu7ixQ2pD5sVb",
        metadata={"zigznote_org": "org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M"},
    )
    sub = provider.create_subscription(request, idempotency_key="zz:create_subscription:bop_01JD7S")
    sent = route.calls.last.request
    assert form(sent) == [
        ("customer", CUS),
        ("items[0][price]", "price_1SZkA2LkdIwHu7ixUsdMonth"),
        ("items[0][quantity]", "3"),
        ("trial_period_days", "14"),
        ("default_payment_method", "pm_1SZk9aLkdIwHu7ixQ2pD5sVb"),
        ("metadata[zigznote_org]", "org_01JD7Q8Z4W6X2Y3V5T7R9P1N3M"),
    ]
    assert sent.headers["Idempotency-Key"] == "zz:create_subscription:bop_01JD7S"
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.latest_invoice_id == "in_1SZkB8LkdIwHu7ixHn4pLr2T"


def test_the_current_period_comes_from_the_items(provider: StripeProvider, stripe_api: respx.Router) -> None:
    stripe_api.get(f"/v1/subscriptions/{SUB}").mock(return_value=ok("subscription"))
    sub = provider.get_subscription(SUB)
    assert (sub.current_period_start, sub.current_period_end) == (datetime(2026, 11, 1), datetime(2026, 12, 1))
    assert len(sub.items) == 1
    item = sub.items[0]
    assert (item.id, item.quantity, item.current_period_end) == (SI, 1, datetime(2026, 12, 1))
    assert sub.price is not None and sub.price.amount == Money(2900, "USD")
    assert sub.customer_id == CUS


def test_list_subscriptions_asks_for_every_status(provider: StripeProvider, stripe_api: respx.Router) -> None:
    page = {"object": "list", "data": [load("subscription")], "has_more": False, "url": "/v1/subscriptions"}
    route = stripe_api.get("/v1/subscriptions").mock(return_value=respx.MockResponse(200, json=page))
    assert [s.id for s in provider.list_subscriptions(customer_id=CUS)] == [SUB]
    assert query(route.calls.last.request) == [("limit", "100"), ("status", "all"), ("customer", CUS)]


@pytest.mark.parametrize("proration", list(Proration))
def test_change_plan_moves_the_item_with_the_proration_choice(
    provider: StripeProvider, stripe_api: respx.Router, proration: Proration
) -> None:
    stripe_api.get(f"/v1/subscriptions/{SUB}").mock(return_value=ok("subscription"))
    update = stripe_api.post(f"/v1/subscriptions/{SUB}").mock(return_value=ok("subscription"))
    provider.change_subscription(SUB, price_id=NEW_PRICE, proration=proration, quantity=5)
    assert form(update.calls.last.request) == [
        ("items[0][id]", SI),
        ("items[0][price]", NEW_PRICE),
        ("items[0][quantity]", "5"),
        ("proration_behavior", proration.value),
    ]


def test_change_plan_keeps_the_quantity_when_none_is_given(provider: StripeProvider, stripe_api: respx.Router) -> None:
    stripe_api.get(f"/v1/subscriptions/{SUB}").mock(return_value=ok("subscription"))
    update = stripe_api.post(f"/v1/subscriptions/{SUB}").mock(return_value=ok("subscription"))
    provider.change_subscription(SUB, price_id=NEW_PRICE, proration=Proration.NONE)
    assert form(update.calls.last.request) == [
        ("items[0][id]", SI),
        ("items[0][price]", NEW_PRICE),
        ("proration_behavior", "none"),
    ]


def test_an_ended_subscription_cannot_change_and_nothing_is_written(
    provider: StripeProvider, stripe_api: respx.Router
) -> None:
    stripe_api.get(f"/v1/subscriptions/{SUB}").mock(return_value=ok("subscription", status="canceled"))
    update = stripe_api.post(f"/v1/subscriptions/{SUB}").mock(return_value=ok("subscription"))
    with pytest.raises(Conflict) as caught:
        provider.change_subscription(SUB, price_id=NEW_PRICE, proration=Proration.CREATE_PRORATIONS)
    assert (caught.value.code, caught.value.exit_code) == ("subscription_ended", 4)
    with pytest.raises(Conflict):
        provider.undo_cancel_subscription(SUB)
    with pytest.raises(Conflict):
        provider.pause_subscription(SUB)
    assert update.call_count == 0


def test_cancel_at_period_end_and_undo(provider: StripeProvider, stripe_api: respx.Router) -> None:
    stripe_api.get(f"/v1/subscriptions/{SUB}").mock(
        side_effect=[ok("subscription"), ok("subscription", cancel_at_period_end=True, cancel_at=1796083200)]
    )
    update = stripe_api.post(f"/v1/subscriptions/{SUB}").mock(
        side_effect=[ok("subscription", cancel_at_period_end=True, cancel_at=1796083200), ok("subscription")]
    )
    scheduled = provider.cancel_subscription(SUB, at_period_end=True)
    assert form(update.calls[0].request) == [("cancel_at_period_end", "true")]
    assert scheduled.cancel_at_period_end is True
    assert scheduled.cancel_at == datetime(2026, 12, 1)
    assert scheduled.status is SubscriptionStatus.ACTIVE

    kept = provider.undo_cancel_subscription(SUB)
    # Undo is cancel_at_period_end=false; Stripe's /resume is for paused subscriptions only.
    assert form(update.calls[1].request) == [("cancel_at_period_end", "false")]
    assert kept.cancel_at_period_end is False


def test_cancel_now_deletes_and_a_canceled_one_comes_back_unchanged(
    provider: StripeProvider, stripe_api: respx.Router
) -> None:
    stripe_api.get(f"/v1/subscriptions/{SUB}").mock(
        side_effect=[ok("subscription"), ok("subscription", status="canceled", canceled_at=1795200000)]
    )
    cancel = stripe_api.delete(f"/v1/subscriptions/{SUB}").mock(
        return_value=ok("subscription", status="canceled", canceled_at=1795200000)
    )
    ended = provider.cancel_subscription(SUB, at_period_end=False)
    assert ended.status is SubscriptionStatus.CANCELED
    assert ended.canceled_at == datetime(2026, 11, 20, 18, 40)
    again = provider.cancel_subscription(SUB, at_period_end=True)
    assert again.status is SubscriptionStatus.CANCELED
    assert cancel.call_count == 1  # the second cancel wrote nothing


def test_pause_sets_pause_collection_and_resume_unsets_it(provider: StripeProvider, stripe_api: respx.Router) -> None:
    paused = load("subscription", pause_collection={"behavior": "void", "resumes_at": None})
    stripe_api.get(f"/v1/subscriptions/{SUB}").mock(
        side_effect=[ok("subscription"), respx.MockResponse(200, json=paused)]
    )
    update = stripe_api.post(f"/v1/subscriptions/{SUB}").mock(
        side_effect=[respx.MockResponse(200, json=paused), ok("subscription")]
    )
    resume = stripe_api.post(f"/v1/subscriptions/{SUB}/resume").mock(return_value=ok("subscription"))

    assert provider.pause_subscription(SUB).status is SubscriptionStatus.PAUSED
    assert form(update.calls[0].request) == [("pause_collection[behavior]", "void")]

    assert provider.resume_subscription(SUB).status is SubscriptionStatus.ACTIVE
    assert form(update.calls[1].request) == [("pause_collection", "")]
    assert resume.call_count == 0


def test_resume_uses_stripes_resume_only_for_status_paused(provider: StripeProvider, stripe_api: respx.Router) -> None:
    stripe_api.get(f"/v1/subscriptions/{SUB}").mock(
        side_effect=[ok("subscription", status="paused"), ok("subscription")]
    )
    resume = stripe_api.post(f"/v1/subscriptions/{SUB}/resume").mock(return_value=ok("subscription"))
    update = stripe_api.post(f"/v1/subscriptions/{SUB}").mock(return_value=ok("subscription"))
    assert provider.resume_subscription(SUB).status is SubscriptionStatus.ACTIVE
    assert form(resume.calls.last.request) == []
    with pytest.raises(Conflict) as caught:
        provider.resume_subscription(SUB)  # active and collecting: nothing to resume
    assert caught.value.code == "not_paused"
    assert (resume.call_count, update.call_count) == (1, 0)


def test_an_unknown_status_is_a_provider_error(provider: StripeProvider, stripe_api: respx.Router) -> None:
    from zigznote.errors import ProviderError

    stripe_api.get(f"/v1/subscriptions/{SUB}").mock(return_value=ok("subscription", status="hibernating\x1b[31m"))
    with pytest.raises(ProviderError) as caught:
        provider.get_subscription(SUB)
    assert caught.value.message == "Stripe answered an unknown subscription status 'hibernating\\x1b[31m'"
