"""StripeClient construction: pinned version, HTTPXClient, retries, base URL, keys, registry."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
import stripe

from tests.billing.stripe.conftest import API, SECRET_KEY, ok
from zigznote.billing import providers
from zigznote.billing.providers.stripe import client as stripe_client
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.config import Settings
from zigznote.errors import ConfigError


def test_the_api_version_is_pinned_once_and_matches_the_sdk() -> None:
    assert stripe_client.STRIPE_API_VERSION == "2026-10-28.endive"
    assert stripe.VERSION == "16.1.0"
    # An SDK upgrade that moves its pin must be reviewed here (mapping follows this version).
    assert stripe.api_version == stripe_client.STRIPE_API_VERSION


def test_the_client_uses_httpx_sync_with_explicit_timeout_and_retries() -> None:
    made = stripe_client.make_client(SECRET_KEY, api_base=API, max_network_retries=3, timeout=12.5)
    try:
        requestor = made._requestor
        http_client = requestor._client
        assert isinstance(http_client, stripe.HTTPXClient)
        assert http_client._client is not None  # allow_sync_methods=True
        assert http_client._timeout == 12.5
        assert requestor._options.max_network_retries == 3
        assert requestor._options.base_addresses["api"] == API
        assert requestor._options.stripe_version == "2026-10-28.endive"
    finally:
        stripe_client.close_client(made)
    default = stripe_client.make_client(SECRET_KEY)
    try:
        assert default._requestor._options.max_network_retries == 2
        http_client = default._requestor._client
        assert isinstance(http_client, stripe.HTTPXClient)
        assert http_client._timeout == httpx.Timeout(30.0, connect=10.0)
        assert default._requestor._options.base_addresses["api"] == "https://api.stripe.com"
    finally:
        stripe_client.close_client(default)


def test_requests_carry_the_version_the_key_and_no_telemetry(
    provider: StripeProvider, stripe_api: respx.Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    route = stripe_api.get("/v1/customers/cus_TZk8mQ4bR2xNvE").mock(return_value=ok("customer"))
    provider.get_customer("cus_TZk8mQ4bR2xNvE")
    provider.get_customer("cus_TZk8mQ4bR2xNvE")
    assert route.call_count == 2
    for call in route.calls:
        headers = call.request.headers
        assert headers["Stripe-Version"] == "2026-10-28.endive"
        assert headers["Authorization"] == f"Bearer {SECRET_KEY}"
        assert "X-Stripe-Client-Telemetry" not in headers
        assert "telemetry_id" not in json.loads(headers["X-Stripe-Client-User-Agent"])
    assert not (tmp_path / "stripe").exists()  # the SDK's telemetry ID file was not written


def test_the_default_base_is_api_stripe_com() -> None:
    with respx.mock(assert_all_called=True) as router, StripeProvider(SECRET_KEY) as made:
        router.get("https://api.stripe.com/v1/customers/cus_TZk8mQ4bR2xNvE").mock(return_value=ok("customer"))
        assert made.get_customer("cus_TZk8mQ4bR2xNvE").email == "billing@acme.example"


def test_from_settings_reads_the_stripe_settings() -> None:
    settings = Settings(
        values={
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": "whsec_new,whsec_old",
            "stripe_api_base": "http://127.0.0.1:12111/",
        }
    )
    made = StripeProvider.from_settings(settings)
    assert made._api_base == "http://127.0.0.1:12111"
    assert made._webhook_secrets == ("whsec_new", "whsec_old")
    assert repr(made) == "StripeProvider(api_base='http://127.0.0.1:12111')"
    assert SECRET_KEY not in repr(made)
    with respx.mock(assert_all_called=True) as router:
        router.get("http://127.0.0.1:12111/v1/customers/cus_TZk8mQ4bR2xNvE").mock(return_value=ok("customer"))
        assert made.get_customer("cus_TZk8mQ4bR2xNvE").id == "cus_TZk8mQ4bR2xNvE"
    made.close()


@pytest.mark.parametrize(
    ("key", "code", "words"),
    [
        (None, "stripe_key_missing", "STRIPE_SECRET_KEY is not set"),
        ("", "stripe_key_missing", "STRIPE_SECRET_KEY is not set"),
        ("pk_test_51Zz9PublishableKey", "stripe_key_invalid", "not a Stripe secret key"),
    ],
)
def test_a_missing_or_publishable_key_is_a_config_error(key: str | None, code: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StripeProvider.from_settings(Settings(values={"stripe_secret_key": key}))
    assert caught.value.exit_code == 6
    assert caught.value.code == code
    assert words in caught.value.message
    if key:
        assert key not in caught.value.message
        assert key not in (caught.value.hint or "")


@pytest.mark.parametrize("base", ["ftp://stripe.test", "https://stripe.test/v1", "stripe.test", "https://"])
def test_a_malformed_api_base_is_refused(base: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StripeProvider(SECRET_KEY, api_base=base)
    assert caught.value.code == "stripe_api_base_invalid"


def test_the_registry_names_stripe_and_the_class_passes_its_checks() -> None:
    assert "stripe" in providers.names()
    cls = providers.get("stripe")
    assert cls is StripeProvider
    assert providers.check_provider(StripeProvider) == []
    caps = StripeProvider.capabilities.as_json()
    assert caps["cannot"] == []
    assert caps["prorations"] == ["always_invoice", "create_prorations", "none"]
    made = providers.create("stripe", Settings(values={"stripe_secret_key": SECRET_KEY}))
    assert isinstance(made, StripeProvider)
    made.close()
