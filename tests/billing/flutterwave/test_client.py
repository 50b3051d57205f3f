"""The Flutterwave HTTP client: headers, the v3 envelope, errors as zigznote's, 429 backoff,
retries only where repeating is harmless, paging, keys and settings."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from tests.billing.flutterwave.conftest import API, SECRET_KEY, Sleeps, error, load, ok, query
from zigznote.billing import providers
from zigznote.billing.providers.flutterwave.client import DEFAULT_API_BASE, FlutterwaveClient
from zigznote.billing.providers.flutterwave.errors import Unanswered
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.config import load_settings
from zigznote.config_billing import FLUTTERWAVE_DEFAULT_API_BASE
from zigznote.errors import ConfigError, InvalidInput, NotFound, ProviderError, ZigznoteError


@pytest.fixture
def client(fw_api: respx.Router, sleeps: Sleeps) -> FlutterwaveClient:
    return FlutterwaveClient(SECRET_KEY, api_base=API + "/", sleep=sleeps)


def test_requests_carry_the_bearer_key_and_answers_read_decimals(
    fw_api: respx.Router, client: FlutterwaveClient
) -> None:
    route = fw_api.get("/transactions/288200108/verify").mock(return_value=ok("transaction", app_fee=Decimal("1.4")))
    answer = client.get("/transactions/288200108/verify", what="verify")
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert sent.headers["Accept"] == "application/json"
    assert "Content-Type" not in sent.headers  # a GET has no body
    assert answer.message == "Transaction fetched successfully"
    assert answer.data["app_fee"] == Decimal("1.4") and type(answer.data["app_fee"]) is Decimal
    assert answer.data["amount"] == 25000


def test_unauthorized_is_config_error_without_the_key_or_message(
    fw_api: respx.Router, client: FlutterwaveClient
) -> None:
    fw_api.get("/payment-plans").mock(return_value=error(401, "error_401"))
    with pytest.raises(ConfigError) as caught:
        client.get("/payment-plans", what="list payment plans")
    assert caught.value.code == "flutterwave_key_rejected"
    assert caught.value.message == "Flutterwave refused the secret key (401) for list payment plans"
    assert SECRET_KEY not in str(caught.value.to_dict())


@pytest.mark.parametrize(
    ("status", "fixture", "kind", "code"),
    [
        (400, "error_validation", InvalidInput, "flutterwave_invalid_request"),
        (400, "error_not_found", NotFound, "flutterwave_not_found"),
        (404, "error_validation", NotFound, "flutterwave_not_found"),
    ],
)
def test_refusals_map_to_the_error_tree(
    fw_api: respx.Router, client: FlutterwaveClient, status: int, fixture: str, kind: type[ZigznoteError], code: str
) -> None:
    fw_api.post("/payment-plans").mock(return_value=error(status, fixture))
    with pytest.raises(kind) as caught:
        client.post("/payment-plans", b"{}", what="create a plan")
    assert caught.value.code == code
    assert load(fixture)["message"] in caught.value.message


def test_an_error_envelope_with_status_200_is_a_refusal(fw_api: respx.Router, client: FlutterwaveClient) -> None:
    fw_api.get("/payment-plans/1").mock(return_value=httpx.Response(200, json=load("error_validation")))
    with pytest.raises(InvalidInput, match="currency is required"):
        client.get("/payment-plans/1", what="read plan 1")


def test_429_waits_as_retry_after_says_then_succeeds(
    fw_api: respx.Router, client: FlutterwaveClient, sleeps: Sleeps
) -> None:
    route = fw_api.post("/payments").mock(
        side_effect=[error(429, "error_rate_limited", **{"Retry-After": "3"}), ok("payment_link")]
    )
    answer = client.post("/payments", b"{}", what="create a link")
    assert answer.data == {"link": "https://checkout.flutterwave.com/v3/hosted/pay/f524c1196ffda5556341"}
    assert route.call_count == 2  # a 429 was not processed: even a create is sent again
    assert sleeps == [3.0]


def test_429_backs_off_and_gives_up_as_a_provider_error(
    fw_api: respx.Router, client: FlutterwaveClient, sleeps: Sleeps
) -> None:
    route = fw_api.get("/subscriptions").mock(return_value=error(429, "error_rate_limited"))
    with pytest.raises(ProviderError) as caught:
        client.get("/subscriptions", what="list subscriptions")
    assert caught.value.code == "flutterwave_rate_limited"
    assert route.call_count == 3 and sleeps == [0.5, 1.0]


def test_reads_are_retried_after_5xx_and_timeouts(
    fw_api: respx.Router, client: FlutterwaveClient, sleeps: Sleeps
) -> None:
    route = fw_api.get("/payment-plans/52045").mock(
        side_effect=[httpx.ReadTimeout("slow"), error(503, "error_timeout_503"), ok("plan_created")]
    )
    assert client.get("/payment-plans/52045", what="read plan").data["id"] == 52045
    assert route.call_count == 3 and sleeps == [0.5, 1.0]


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), 503])
def test_a_create_is_never_sent_again_after_an_unknown_outcome(
    fw_api: respx.Router, client: FlutterwaveClient, sleeps: Sleeps, failure: Exception | int
) -> None:
    answer = error(503, "error_timeout_503") if isinstance(failure, int) else failure
    route = fw_api.post("/payments").mock(side_effect=[answer, ok("payment_link")])
    with pytest.raises(Unanswered) as caught:
        client.post("/payments", b'{"tx_ref":"zz-1"}', what="create a link")
    assert route.call_count == 1 and sleeps == []
    assert isinstance(caught.value, ProviderError) and caught.value.code == "flutterwave_unanswered"


def test_an_answer_httpx_cannot_decode_is_unanswered_never_an_httpx_error(
    fw_api: respx.Router, client: FlutterwaveClient, sleeps: Sleeps
) -> None:
    route = fw_api.get("/payment-plans").mock(side_effect=httpx.DecodingError("bad gzip"))
    with pytest.raises(Unanswered) as caught:
        client.get("/payment-plans", what="list payment plans")
    assert caught.value.message == (
        "Flutterwave did not answer: the answer could not be read (DecodingError) (list payment plans)"
    )
    assert route.call_count == 3 and sleeps == [0.5, 1.0]  # a read: retried like a timeout


def test_a_retry_after_that_is_not_ascii_digits_falls_back_to_the_backoff(
    fw_api: respx.Router, client: FlutterwaveClient, sleeps: Sleeps
) -> None:
    limited = error(429, "error_rate_limited")
    limited.headers = httpx.Headers([*limited.headers.raw, (b"Retry-After", "²".encode())])  # raw bytes on the wire
    assert limited.headers["Retry-After"] == "²"  # what the client reads: "²".isdigit() is True
    route = fw_api.get("/payment-plans").mock(side_effect=[limited, ok("plans_page2")])
    assert [p["id"] for p in client.get("/payment-plans", what="list payment plans").data] == [51990]
    assert route.call_count == 2 and sleeps == [0.5]


def test_an_answer_that_is_not_json_is_a_provider_error(fw_api: respx.Router, client: FlutterwaveClient) -> None:
    fw_api.get("/payment-plans").mock(return_value=httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(ProviderError, match="not a v3 answer"):
        client.get("/payment-plans", what="list payment plans")


def test_pages_are_read_lazily_until_the_last(fw_api: respx.Router, client: FlutterwaveClient) -> None:
    route = fw_api.get("/payment-plans").mock(side_effect=[ok("plans_page1"), ok("plans_page2")])
    items = client.pages("/payment-plans", {"status": "active"}, what="list plans")
    assert next(items)["id"] == 52045
    assert route.call_count == 1
    assert [p["id"] for p in items] == [52046, 37829, 51990]
    assert [query(c.request) for c in route.calls] == [
        [("status", "active"), ("page", "1")],
        [("status", "active"), ("page", "2")],
    ]


def test_keys_and_base_are_checked_without_echoing_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^FLUTTERWAVE_SECRET_KEY is not set$"):
        FlutterwaveClient(None)
    with pytest.raises(ConfigError, match="public key") as caught:
        FlutterwaveClient("FLWPUBK_TEST-abcdef-X")
    assert "abcdef" not in caught.value.message
    with pytest.raises(ConfigError, match="FLUTTERWAVE_API_BASE"):
        FlutterwaveClient(SECRET_KEY, api_base="ftp://flutterwave.test")


def test_settings_build_the_provider_and_mask_the_secrets(tmp_path: Path) -> None:
    assert FLUTTERWAVE_DEFAULT_API_BASE == DEFAULT_API_BASE  # config_billing stays light: kept equal here
    env = {
        "FLUTTERWAVE_SECRET_KEY": SECRET_KEY,
        "FLUTTERWAVE_WEBHOOK_SECRET": "hash-new, hash-old",
        "FLUTTERWAVE_PUBLIC_KEY": "FLWPUBK_TEST-abc-X",
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    settings = load_settings(env=env)
    rows = {r["name"]: r for r in settings.describe()}
    assert rows["flutterwave_secret_key"]["value"] == "****"
    assert rows["flutterwave_webhook_secret"]["value"] == "****"
    assert rows["flutterwave_public_key"]["value"] == "FLWPUBK_TEST-abc-X"
    assert rows["flutterwave_api_base"]["value"] == "https://api.flutterwave.com/v3"
    made = providers.create("flutterwave", settings)
    assert isinstance(made, FlutterwaveProvider)
    assert made._webhook_secrets == ("hash-new", "hash-old")
    assert repr(made) == "FlutterwaveProvider(api_base='https://api.flutterwave.com/v3')"
    with pytest.raises(ConfigError, match="FLUTTERWAVE_SECRET_KEY is not set"):
        providers.create("flutterwave", load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)}))
