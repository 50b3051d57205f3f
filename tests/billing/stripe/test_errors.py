"""Stripe's exceptions become zigznote errors at the provider's edge; none leaks."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.billing.stripe.conftest import API, SECRET_KEY, error, ok
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.billing.types import CustomerInput
from zigznote.errors import ConfigError, Conflict, InvalidInput, NotFound, ProviderError, ZigznoteError

CUS = "cus_TZk8mQ4bR2xNvE"


@pytest.mark.parametrize(
    ("status", "fixture", "cls", "exit_code", "code", "message"),
    [
        (
            404,
            "error_resource_missing",
            NotFound,
            3,
            "stripe_not_found",
            "not found at Stripe: No such customer: 'cus_TZk8missing000' (request req_Q8x2LmN4pR6tV8)",
        ),
        (
            400,
            "error_invalid_param",
            InvalidInput,
            2,
            "email_invalid",
            "Stripe refused the request: Invalid email address: not-an-email (request req_Q8x2LmN4pR6tV8)",
        ),
        (
            402,
            "error_card_declined",
            Conflict,
            4,
            "card_declined",
            "Stripe declined the payment (insufficient_funds): Your card has insufficient funds. "
            "(request req_Q8x2LmN4pR6tV8)",
        ),
        (400, "error_idempotency", Conflict, 4, "idempotency_key_reused", None),
        (401, "error_authentication", ConfigError, 6, "stripe_key_rejected", "Stripe refused the secret key"),
        (403, "error_permission", ConfigError, 6, "stripe_permission_denied", None),
        (429, "error_rate_limit", ProviderError, 5, "stripe_rate_limited", None),
        (500, "error_api", ProviderError, 5, "stripe_error", None),
    ],
)
def test_each_stripe_error_maps_to_one_of_ours(
    provider: StripeProvider,
    stripe_api: respx.Router,
    status: int,
    fixture: str,
    cls: type[ZigznoteError],
    exit_code: int,
    code: str,
    message: str | None,
) -> None:
    # Stripe-Should-Retry: false keeps the SDK from retrying the 500 (it retries 5xx otherwise).
    route = stripe_api.post("/v1/customers").mock(
        return_value=error(status, fixture, **{"Stripe-Should-Retry": "false"})
    )
    with pytest.raises(ZigznoteError) as caught:
        provider.create_customer(CustomerInput(email="not-an-email"), idempotency_key="zz:create_customer:bop_1")
    assert type(caught.value) is cls
    assert (caught.value.exit_code, caught.value.code) == (exit_code, code)
    if message is not None:
        assert caught.value.message == message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert route.call_count == 1


def test_a_rejected_key_is_never_quoted(provider: StripeProvider, stripe_api: respx.Router) -> None:
    stripe_api.get(f"/v1/customers/{CUS}").mock(return_value=error(401, "error_authentication"))
    with pytest.raises(ConfigError) as caught:
        provider.get_customer(CUS)
    text = f"{caught.value.message} {caught.value.hint}"
    assert "sk_test" not in text and SECRET_KEY not in text
    assert caught.value.hint == "check STRIPE_SECRET_KEY (Stripe Dashboard → Developers → API keys)"


def test_a_5xx_is_retried_by_the_sdk_then_reported(stripe_api: respx.Router) -> None:
    route = stripe_api.get(f"/v1/customers/{CUS}").mock(side_effect=[error(500, "error_api"), ok("customer")])
    with StripeProvider(SECRET_KEY, api_base=API, max_network_retries=1) as made:
        assert made.get_customer(CUS).id == CUS
    assert route.call_count == 2


def test_a_network_failure_after_the_retries_is_a_provider_error(stripe_api: respx.Router) -> None:
    route = stripe_api.get(f"/v1/customers/{CUS}").mock(side_effect=httpx.ConnectError("connection refused"))
    with (
        StripeProvider(SECRET_KEY, api_base=API, max_network_retries=0) as made,
        pytest.raises(ProviderError) as caught,
    ):
        made.get_customer(CUS)
    assert caught.value.code == "stripe_unreachable"
    assert caught.value.exit_code == 5
    assert caught.value.message == "could not reach Stripe (ConnectError)"  # not the SDK's "let us know at …"
    assert route.call_count == 1


def test_a_timeout_is_said_in_our_words(stripe_api: respx.Router) -> None:
    stripe_api.get(f"/v1/customers/{CUS}").mock(side_effect=httpx.ReadTimeout("no answer"))
    with (
        StripeProvider(SECRET_KEY, api_base=API, max_network_retries=0) as made,
        pytest.raises(ProviderError) as caught,
    ):
        made.get_customer(CUS)
    assert (caught.value.code, caught.value.message) == (
        "stripe_unreachable",
        "Stripe did not answer in time (ReadTimeout)",
    )
    assert "support@stripe.com" not in (caught.value.hint or "")


def test_a_failure_on_a_later_page_is_translated_too(provider: StripeProvider, stripe_api: respx.Router) -> None:
    stripe_api.get("/v1/products").mock(side_effect=[ok("products_page1"), error(429, "error_rate_limit")])
    listed = provider.list_products()
    assert next(listed).id == "prod_TZk8pro0Mq2Lx"
    assert next(listed).id == "prod_TZk8team7Hq1Wc"
    with pytest.raises(ProviderError) as caught:
        next(listed)
    assert caught.value.code == "stripe_rate_limited"


def test_an_answer_missing_a_required_field_is_a_provider_error(
    provider: StripeProvider, stripe_api: respx.Router
) -> None:
    broken = {"id": "sub_1SZkB7LkdIwHu7ixGq8Wm3Xe", "object": "subscription", "status": "active"}
    stripe_api.get("/v1/subscriptions/sub_1SZkB7LkdIwHu7ixGq8Wm3Xe").mock(return_value=httpx.Response(200, json=broken))
    with pytest.raises(ProviderError) as caught:
        provider.get_subscription("sub_1SZkB7LkdIwHu7ixGq8Wm3Xe")
    assert caught.value.code == "stripe_unexpected_answer"
    assert caught.value.message == "Stripe's answer lacks items (subscription)"


def test_an_answer_that_is_not_json_is_a_provider_error(provider: StripeProvider, stripe_api: respx.Router) -> None:
    stripe_api.get(f"/v1/customers/{CUS}").mock(return_value=httpx.Response(200, content=b"<html>proxy</html>"))
    with pytest.raises(ProviderError) as caught:
        provider.get_customer(CUS)
    assert caught.value.code == "stripe_error"
