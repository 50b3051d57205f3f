"""The provider edge every provider folder shares (``billing/providers/_shared.py``): settings,
base URLs, webhook input, and answers zigznote cannot read, checked on both real providers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from zigznote.billing.money import Money
from zigznote.billing.providers import _shared
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.billing.providers.stripe.provider import StripeProvider
from zigznote.config import Settings
from zigznote.errors import ConfigError, InvalidInput, ProviderError

STRIPE_KEY = "sk_test_51Example0000000000000000"
FLW_KEY = "FLWSECK_TEST-0000000000examplenotarealkey00000-X"


def test_secret_lists_keep_the_non_empty_items_in_order() -> None:
    assert _shared.secret_list(" whsec_new , ,whsec_old ") == ("whsec_new", "whsec_old")
    assert _shared.secret_list(None) == ()
    assert _shared.secret_list("") == ()


@pytest.mark.parametrize(
    ("cls", "key", "prefix"),
    [(StripeProvider, STRIPE_KEY, "stripe"), (FlutterwaveProvider, FLW_KEY, "flutterwave")],
)
def test_both_providers_read_the_same_three_settings(cls: type[StripeProvider], key: str, prefix: str) -> None:
    settings = Settings(
        values={
            f"{prefix}_secret_key": key,
            f"{prefix}_webhook_secret": "new, old",
            f"{prefix}_api_base": "http://127.0.0.1:12111/",
        }
    )
    made = cls.from_settings(settings)
    assert made._webhook_secrets == ("new", "old")
    assert repr(made) == f"{cls.__name__}(api_base='http://127.0.0.1:12111')"
    assert key not in repr(made)
    default = cls.from_settings(Settings(values={f"{prefix}_secret_key": key}))
    assert default._api_base == cls.default_api_base and default._webhook_secrets == ()
    with pytest.raises(ConfigError) as caught:
        cls.from_settings(Settings(values={}))
    assert (caught.value.code, caught.value.message) == (
        f"{prefix}_key_missing",
        f"{prefix.upper()}_SECRET_KEY is not set",
    )


@pytest.mark.parametrize(
    ("base", "path", "ok"),
    [
        ("https://api.stripe.com/", False, "https://api.stripe.com"),
        ("https://api.flutterwave.com/v3/", True, "https://api.flutterwave.com/v3"),
        ("https://api.stripe.com/v1", False, None),
        ("https://api.example/v3#x", True, None),
        ("https://api.example/v3?x=1", True, None),
        ("ftp://api.example", True, None),
        ("https:///v3", True, None),
    ],
)
def test_api_bases_are_http_urls_with_a_host(base: str, path: bool, ok: str | None) -> None:
    if ok is not None:
        assert _shared.check_api_base(base, setting="X_API_BASE", example="https://x", code="x", path=path) == ok
        return
    with pytest.raises(ConfigError) as caught:
        _shared.check_api_base(base, setting="X_API_BASE", example="https://x", code="x_api_base_invalid", path=path)
    assert caught.value.code == "x_api_base_invalid"
    assert caught.value.message == f"X_API_BASE must be an http(s) URL such as https://x, got {base!r}"


def test_headers_are_found_whatever_their_case() -> None:
    headers = {"Verif-Hash": "a", "STRIPE-SIGNATURE": "t=1,v1=x"}
    assert _shared.header(headers, "verif-hash") == "a"
    assert _shared.header(headers, "stripe-signature") == "t=1,v1=x"
    assert _shared.header(headers, "flutterwave-signature") is None


def test_webhook_input_needs_a_secret_then_raw_bytes() -> None:
    with pytest.raises(ConfigError) as caught:
        _shared.webhook_input(b"{}", ["", ""], setting="FLUTTERWAVE_WEBHOOK_SECRET", hint="set it")
    assert (caught.value.code, caught.value.message, caught.value.hint) == (
        "flutterwave_webhook_secret_missing",
        "FLUTTERWAVE_WEBHOOK_SECRET is not set",
        "set it",
    )
    with pytest.raises(InvalidInput) as refused:
        _shared.webhook_input("{}", ["s"], setting="STRIPE_WEBHOOK_SECRET", hint="set it")
    assert (refused.value.code, refused.value.message) == (
        "invalid_event",
        "a webhook body must be the raw bytes received",
    )
    assert _shared.webhook_input(bytearray(b"{}"), ["", "s"], setting="X", hint="") == (b"{}", ["s"])


def test_a_signed_body_that_is_not_json_is_not_an_event() -> None:
    with pytest.raises(InvalidInput) as caught:
        _shared.event_json(b"\xff", where="Stripe webhook body")
    assert caught.value.code == "invalid_event"
    assert caught.value.message.startswith("the signed body is not an event: ")
    assert _shared.event_json(b'{"a": [1]}', where="x") == {"a": [1]}


def test_answers_zigznote_cannot_read_are_provider_errors() -> None:
    assert _shared.answer_money(2900, "usd", "stripe", "Stripe") == Money(2900, "USD")
    assert _shared.answer_money(Decimal("29.5"), "NGN", "flutterwave", "Flutterwave") == Money(2950, "NGN")
    with pytest.raises(ProviderError) as caught:
        _shared.answer_money("1000.5", "UGX", "flutterwave", "Flutterwave", "plan amount")
    assert caught.value.code == "flutterwave_unexpected_answer"
    assert caught.value.message.startswith("Flutterwave answered an unusable plan amount: ")
    with pytest.raises(ProviderError) as caught:
        _shared.answer_money(100, None, "stripe", "Stripe")
    assert (caught.value.code, caught.value.message) == (
        "stripe_unexpected_answer",
        "Stripe answered an amount without a currency",
    )


def test_text_from_answers_is_storable_bounded_and_none_when_empty() -> None:
    assert _shared.answer_text("a\x00b", 10) == "a\ufffdb"
    assert _shared.answer_text("x" * 50, 5) == "xxxxx"
    assert _shared.answer_text("", 5) is None
    assert _shared.answer_text(42, 5) is None
    assert _shared.shown("\x00" * 100, 3) == "\ufffd" * 3
