"""HubSpotClient against respx: dated paths, account, owners, 429 policy windows, error mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from tests.support.provider_helpers import Sleeps, fixture_reader, sleeps
from zigznote.errors import ConfigError, CredentialsRejected, NotFound, ProviderError, ZigznoteError
from zigznote.integrations.hubspot.client import DEFAULT_API_VERSION, PATHS, HubSpotClient

__all__ = ["sleeps"]  # fixtures used by name

API = "https://hubspot.test"
V = DEFAULT_API_VERSION
TOKEN = "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKEgsYjYMJVvlHEz9tFHAwSq1TQAM40s0D"


fixture = fixture_reader("hubspot")


@pytest.fixture
def hubspot(sleeps: Sleeps) -> Iterator[HubSpotClient]:
    with respx.mock, HubSpotClient(api_base=API, sleep=sleeps, max_wait=60) as client:
        yield client


def test_default_version_is_the_newest_dated_release_and_paths_are_templates() -> None:
    assert DEFAULT_API_VERSION == "2026-09"
    client = HubSpotClient(api_base=f"{API}/", version="2026-03")
    try:
        assert client.url("search", object_type="contacts") == f"{API}/crm/objects/2026-03/contacts/search"
        assert client.url("token") == f"{API}/oauth/2026-03/token"
        assert client.url("account") == f"{API}/account-info/2026-03/details"
        assert client.url("owners") == f"{API}/crm/owners/2026-03"
        assert (
            client.url("associate", object_type="tasks", to_object_type="contacts")
            == f"{API}/crm/associations/2026-03/tasks/contacts/batch/create"
        )
    finally:
        client.close()
    custom = HubSpotClient(api_base=API, paths={"owners": "/crm/v3/owners"})
    try:
        assert custom.url("owners") == f"{API}/crm/v3/owners"
        assert custom.url("batch_create", object_type="tasks") == f"{API}/crm/objects/{V}/tasks/batch/create"
    finally:
        custom.close()
    assert set(PATHS) == {
        "search",
        "batch_create",
        "batch_update",
        "associate",
        "owners",
        "account",
        "token",
        "introspect",
        "revoke",
    }


@pytest.mark.parametrize("bad", ["contacts/../x", "", "a b"])
def test_an_object_type_that_is_not_a_path_segment_is_refused(hubspot: HubSpotClient, bad: str) -> None:
    with pytest.raises(Exception) as caught:
        hubspot.url("search", object_type=bad)
    assert "not a HubSpot object type" in str(caught.value)


def test_unknown_path_names_and_bad_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown HubSpot path names"):
        HubSpotClient(paths={"nope": "/x"})
    with pytest.raises(ValueError, match="not a HubSpot API version"):
        HubSpotClient(version="2026/09")


# -- account, owners ----------------------------------------------------------------------------


def test_account_reads_the_dated_details_with_the_bearer_token(hubspot: HubSpotClient) -> None:
    route = respx.get(f"{API}/account-info/{V}/details").respond(200, json=fixture("account_details.json"))
    assert hubspot.account(TOKEN) == {
        "hub_id": "62515",
        "ui_domain": "app.hubspot.com",
        "time_zone": "US/Eastern",
        "account_type": "STANDARD",
        "data_hosting_location": "na1",
        "currency": "USD",
    }
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"] == "zigznote/0.1.0"


def test_account_without_a_portal_id_is_a_bad_response(hubspot: HubSpotClient) -> None:
    respx.get(f"{API}/account-info/{V}/details").respond(200, json={"uiDomain": "app.hubspot.com"})
    with pytest.raises(ProviderError) as caught:
        hubspot.account(TOKEN)
    assert caught.value.code == "hubspot_bad_response"


def test_owners_follow_after_and_key_by_lowercased_email(hubspot: HubSpotClient) -> None:
    route = respx.get(f"{API}/crm/owners/{V}").mock(
        side_effect=[
            httpx.Response(200, json=fixture("owners_page1.json")),
            httpx.Response(200, json=fixture("owners_page2.json")),
        ]
    )
    assert hubspot.owners(TOKEN) == {"alice@example.com": "41629779", "bob@example.com": "52550153"}
    queries = [dict(call.request.url.params) for call in route.calls]
    assert queries == [
        {"limit": "100", "archived": "false"},
        {"limit": "100", "archived": "false", "after": "41629780"},
    ]


def test_owners_paging_that_repeats_a_cursor_is_refused(hubspot: HubSpotClient) -> None:
    page = fixture("owners_page1.json")
    respx.get(f"{API}/crm/owners/{V}").mock(side_effect=[httpx.Response(200, json=page)] * 3)
    with pytest.raises(ProviderError) as caught:
        hubspot.owners(TOKEN)
    assert caught.value.code == "hubspot_bad_response"
    assert caught.value.message == "HubSpot's paging of HubSpot owners list went wrong"


# -- rate limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "wait"), [("error_429_ten_secondly.json", 10.0), ("error_429_secondly.json", 1.0)])
def test_a_429_waits_the_policy_window_and_resends(
    hubspot: HubSpotClient, sleeps: Sleeps, name: str, wait: float
) -> None:
    route = respx.get(f"{API}/account-info/{V}/details").mock(
        side_effect=[httpx.Response(429, json=fixture(name)), httpx.Response(200, json=fixture("account_details.json"))]
    )
    assert hubspot.account(TOKEN)["hub_id"] == "62515"
    assert sleeps == [wait]
    assert route.call_count == 2


def test_retry_after_wins_over_the_policy_window(hubspot: HubSpotClient, sleeps: Sleeps) -> None:
    respx.get(f"{API}/account-info/{V}/details").mock(
        side_effect=[
            httpx.Response(429, json=fixture("error_429_ten_secondly.json"), headers={"Retry-After": "3"}),
            httpx.Response(429, json={}, headers={"Retry-After": "0"}),
            httpx.Response(200, json=fixture("account_details.json")),
        ]
    )
    hubspot.account(TOKEN)
    assert sleeps == [3.0, 1.0]  # a Retry-After of 0 is floored at one second


def test_a_429_without_policy_or_header_waits_the_burst_window(hubspot: HubSpotClient, sleeps: Sleeps) -> None:
    respx.get(f"{API}/account-info/{V}/details").mock(
        side_effect=[httpx.Response(429, text="slow down"), httpx.Response(200, json=fixture("account_details.json"))]
    )
    hubspot.account(TOKEN)
    assert sleeps == [10.0]


def test_rate_limit_waits_are_bounded_by_max_wait(sleeps: Sleeps) -> None:
    with respx.mock, HubSpotClient(api_base=API, sleep=sleeps, max_wait=25) as client:
        route = respx.get(f"{API}/account-info/{V}/details").respond(429, json=fixture("error_429_ten_secondly.json"))
        with pytest.raises(ProviderError) as caught:
            client.account(TOKEN)
    err = caught.value
    assert (err.code, err.exit_code) == ("ratelimited", 5)
    assert err.message == (
        "HubSpot is rate-limiting HubSpot account details (TEN_SECONDLY_ROLLING): it asks to wait 10 s more, "
        "after 20 s already waited (at most 25 s per call)"
    )
    assert err.hint == "try again in 10 s"
    assert sleeps == [10.0, 10.0]
    assert route.call_count == 3


def test_a_daily_limit_is_not_waited_for(hubspot: HubSpotClient, sleeps: Sleeps) -> None:
    route = respx.get(f"{API}/account-info/{V}/details").respond(
        429, json=fixture("error_429_daily.json"), headers={"Retry-After": "5"}
    )
    with pytest.raises(ProviderError) as caught:
        hubspot.account(TOKEN)
    assert caught.value.code == "ratelimited"
    assert caught.value.message.startswith("HubSpot's daily API limit for this account is used up")
    assert "e255eff0-4e62-4c86-8a6a-d6e0eaa0cf46" in caught.value.message
    assert sleeps == []
    assert route.call_count == 1


# -- errors ---------------------------------------------------------------------------------------


def test_http_401_is_credentials_rejected_with_category_and_correlation(hubspot: HubSpotClient) -> None:
    respx.get(f"{API}/account-info/{V}/details").respond(401, json=fixture("error_401.json"))
    with pytest.raises(CredentialsRejected) as caught:
        hubspot.account(TOKEN)
    err = caught.value
    assert (err.code, err.exit_code) == ("credentials_rejected", 6)
    assert err.message.startswith("HubSpot refused the access token for account details: EXPIRED_AUTHENTICATION: ")
    assert err.message.endswith("(correlation ID 7f7e3b2a-1c0d-4e5f-8a9b-0c1d2e3f4a5b)")
    assert err.hint == "run `zigznote hubspot connect` again"


def test_missing_scopes_is_a_config_error_naming_them(hubspot: HubSpotClient) -> None:
    respx.get(f"{API}/crm/owners/{V}").respond(403, json=fixture("error_403_missing_scopes.json"))
    with pytest.raises(ConfigError) as caught:
        hubspot.owners(TOKEN)
    err = caught.value
    assert (err.code, err.exit_code) == ("missing_scope", 6)
    assert err.message.startswith(
        "the HubSpot token lacks a scope needed by HubSpot owners list: crm.objects.owners.read ("
    )
    assert "One or more of the following scopes are required." in err.message
    assert err.hint == "add the scope to the HubSpot app (or service key), then run `zigznote hubspot connect` again"


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (404, NotFound, "hubspot_not_found"),
        (400, ProviderError, "hubspot_validation_error"),
        (500, ProviderError, "hubspot_unavailable"),
        (503, ProviderError, "hubspot_unavailable"),
        (403, ConfigError, "hubspot_forbidden"),
    ],
)
def test_statuses_map_to_the_error_tree(
    hubspot: HubSpotClient, status: int, kind: type[ZigznoteError], code: str
) -> None:
    respx.get(f"{API}/account-info/{V}/details").respond(
        status, json={"status": "error", "message": "nope", "category": "X", "correlationId": "abc-1"}
    )
    with pytest.raises(kind) as caught:
        hubspot.account(TOKEN)
    assert caught.value.code == code
    assert "X: nope (correlation ID abc-1)" in caught.value.message


def test_a_redirect_is_not_followed(hubspot: HubSpotClient) -> None:
    respx.get(f"{API}/account-info/{V}/details").respond(301, headers={"Location": "https://evil.test/"})
    with pytest.raises(ProviderError) as caught:
        hubspot.account(TOKEN)
    assert caught.value.code == "hubspot_http_error"
    assert "check the HubSpot API base URL setting" in caught.value.message


def test_a_2xx_that_is_not_json_is_a_bad_response(hubspot: HubSpotClient) -> None:
    respx.get(f"{API}/account-info/{V}/details").respond(200, text="<html>ok</html>")
    with pytest.raises(ProviderError) as caught:
        hubspot.account(TOKEN)
    assert caught.value.code == "hubspot_bad_response"


def test_a_malformed_token_is_never_sent(hubspot: HubSpotClient) -> None:
    route = respx.get(f"{API}/account-info/{V}/details").respond(200, json=fixture("account_details.json"))
    with pytest.raises(CredentialsRejected) as caught:
        hubspot.account("pat-na1-abc\r\nX-Injected: 1")
    assert "X-Injected" not in caught.value.message
    assert not route.called


def test_error_text_is_made_storable_and_never_echoes_the_token(hubspot: HubSpotClient) -> None:
    body = {"status": "error", "message": f"bad token {TOKEN}\x00 here", "category": "VALIDATION_ERROR"}
    respx.get(f"{API}/account-info/{V}/details").mock(
        side_effect=[
            httpx.Response(400, content=json.dumps(body).encode()),
            # A lone surrogate makes the whole body unreadable (untrusted.load_json refuses it).
            httpx.Response(400, content=b'{"message": "x\\udc80", "category": "VALIDATION_ERROR"}'),
        ]
    )
    with pytest.raises(ProviderError) as caught:
        hubspot.account(TOKEN)
    assert TOKEN not in caught.value.message
    assert caught.value.message == (
        "HubSpot refused HubSpot account details as invalid: VALIDATION_ERROR: bad token [redacted]\ufffd here"
    )
    with pytest.raises(ProviderError) as caught:
        hubspot.account(TOKEN)
    assert caught.value.message == "HubSpot refused HubSpot account details as invalid: no error details"


def test_network_failures_are_provider_unreachable(hubspot: HubSpotClient) -> None:
    respx.get(f"{API}/account-info/{V}/details").mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(ProviderError) as caught:
        hubspot.account(TOKEN)
    assert caught.value.code == "provider_unreachable"
    assert TOKEN not in caught.value.message
