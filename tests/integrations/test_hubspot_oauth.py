"""HubSpotOAuth on the dated OAuth endpoints (respx): exact form bodies, grants, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from tests.support.provider_helpers import fixture_reader
from zigznote.errors import ConfigError, CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.base import Grant, TokenSet
from zigznote.integrations.hubspot.client import DEFAULT_API_VERSION, HubSpotClient
from zigznote.integrations.hubspot.oauth import DEFAULT_SCOPES, HubSpotOAuth, grant_from_static_token

API = "https://hubspot.test"
V = DEFAULT_API_VERSION
CLIENT_ID = "5f7e6d5c-4b3a-2910-8f7e-6d5c4b3a2910"
CLIENT_SECRET = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
REDIRECT = "http://localhost:8765/callback"
NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
ACCESS = "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKEgsYjYMJVvlHEz9tFHAwSq1TQAM40s0D"
ACCESS2 = "CNiP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKEgsYjYMJVvlHEz9tFHAwSq1TQAM40s0E"
REFRESH = "6f18f26a-3e95-4d95-a6e5-3d5c6e5c9e5a"
TOKEN_URL = f"{API}/oauth/{V}/token"
INTROSPECT_URL = f"{API}/oauth/{V}/token/introspect"
REVOKE_URL = f"{API}/oauth/{V}/token/revoke"
SCOPES = ("oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.owners.read")


fixture = fixture_reader("hubspot")


def form_of(request: httpx.Request) -> dict[str, str]:
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in request.headers
    assert request.url.query == b""  # credentials never in the query string
    return {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}


@pytest.fixture
def oauth() -> Iterator[HubSpotOAuth]:
    with respx.mock, HubSpotClient(api_base=API, sleep=lambda s: None) as client:
        yield HubSpotOAuth(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=REDIRECT,
            authorize_url="https://app.hubspot.test/oauth/authorize",
            client=client,
            now=lambda: NOW,
        )


def test_authorize_url_has_space_joined_scopes_state_and_no_pkce(oauth: HubSpotOAuth) -> None:
    request = oauth.authorization_request()
    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://app.hubspot.test/oauth/authorize"
    assert "scope=oauth%20crm.objects.contacts.read%20" in parts.query
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": request.state,
        "scope": " ".join(SCOPES),
    }
    assert request.code_verifier is None
    assert DEFAULT_SCOPES == SCOPES
    assert HubSpotOAuth.uses_pkce is False


def test_optional_scopes_go_in_optional_scope() -> None:
    oauth = HubSpotOAuth(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT,
        optional_scopes=("crm.objects.companies.read",),
    )
    query = parse_qs(urlsplit(oauth.authorization_request().url).query)
    assert query["optional_scope"] == ["crm.objects.companies.read"]
    assert urlsplit(oauth.authorization_request().url).netloc == "app.hubspot.com"
    oauth.client.close()


def test_exchange_code_posts_the_form_then_introspects(oauth: HubSpotOAuth) -> None:
    token = respx.post(TOKEN_URL).respond(200, json=fixture("oauth_token.json"))
    introspect = respx.post(INTROSPECT_URL).respond(200, json=fixture("oauth_introspect_access.json"))
    grant = oauth.exchange_code("na1-1a2b-3c4d", code_verifier=None)
    assert form_of(token.calls.last.request) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
        "code": "na1-1a2b-3c4d",
    }
    assert form_of(introspect.calls.last.request) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token": ACCESS,
        "token_type_hint": "access_token",
    }
    assert grant == Grant(
        tokens=TokenSet(ACCESS, REFRESH, NOW + timedelta(seconds=1800), SCOPES, "bearer"),
        account_id="62515",
        account_name="demo.hubspot.com",
        details={
            "hub_id": "62515",
            "hub_domain": "demo.hubspot.com",
            "app_id": "456789",
            "user_id": "123456",
            "user_email": "jdoe@example.com",
        },
    )
    assert ACCESS not in json.dumps(grant.details)


def test_exchange_code_sends_a_code_verifier_when_given(oauth: HubSpotOAuth) -> None:
    token = respx.post(TOKEN_URL).respond(200, json=fixture("oauth_token.json"))
    respx.post(INTROSPECT_URL).respond(200, json=fixture("oauth_introspect_access.json"))
    oauth.exchange_code("code-1", code_verifier="v" * 43)
    assert form_of(token.calls.last.request)["code_verifier"] == "v" * 43


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("oauth_error_bad_auth_code.json", "invalid_code"),
        ("oauth_error_invalid_grant.json", "invalid_code"),
        ("oauth_error_invalid_client.json", "invalid_client"),
    ],
)
def test_a_refused_code_exchange_is_a_config_error(oauth: HubSpotOAuth, name: str, code: str) -> None:
    respx.post(TOKEN_URL).respond(400, json=fixture(name))
    with pytest.raises(ConfigError) as caught:
        oauth.exchange_code("na1-used-code", code_verifier=None)
    assert (caught.value.code, caught.value.exit_code) == (code, 6)
    assert CLIENT_SECRET not in caught.value.message
    assert "na1-used-code" not in caught.value.message


def test_a_redirect_uri_mismatch_names_the_setting(oauth: HubSpotOAuth) -> None:
    respx.post(TOKEN_URL).respond(400, json={"status": "BAD_REDIRECT_URI", "message": "redirect_uri does not match"})
    with pytest.raises(ConfigError) as caught:
        oauth.exchange_code("c", code_verifier=None)
    assert caught.value.code == "bad_redirect_uri"
    assert "HUBSPOT_REDIRECT_URI" in (caught.value.hint or "")


def test_a_token_answer_and_introspection_naming_different_hubs_is_refused(oauth: HubSpotOAuth) -> None:
    respx.post(TOKEN_URL).respond(200, json=fixture("oauth_token.json"))
    respx.post(INTROSPECT_URL).respond(200, json={**fixture("oauth_introspect_access.json"), "hub_id": 999})
    with pytest.raises(ProviderError) as caught:
        oauth.exchange_code("c", code_verifier=None)
    assert caught.value.code == "hubspot_bad_response"


def test_an_inactive_token_at_introspection_is_credentials_rejected(oauth: HubSpotOAuth) -> None:
    respx.post(INTROSPECT_URL).respond(200, json=fixture("oauth_introspect_inactive.json"))
    with pytest.raises(CredentialsRejected):
        oauth.introspect(ACCESS)


def test_refresh_posts_the_refresh_grant_and_keeps_the_refresh_token(oauth: HubSpotOAuth) -> None:
    route = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json=fixture("oauth_refresh.json")),
            httpx.Response(200, json={k: v for k, v in fixture("oauth_refresh.json").items() if k != "refresh_token"}),
        ]
    )
    old = TokenSet(ACCESS, REFRESH, NOW, ("oauth",))
    fresh = oauth.refresh(old)
    assert fresh == TokenSet(ACCESS2, REFRESH, NOW + timedelta(seconds=1800), SCOPES, "bearer")
    assert form_of(route.calls.last.request) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
    }
    assert oauth.refresh(old).refresh_token == REFRESH  # an answer without refresh_token keeps the old one


def test_a_refused_refresh_token_is_credentials_rejected(oauth: HubSpotOAuth) -> None:
    respx.post(TOKEN_URL).respond(400, json=fixture("oauth_error_invalid_grant.json"))
    with pytest.raises(CredentialsRejected) as caught:
        oauth.refresh(TokenSet(ACCESS, REFRESH))
    err = caught.value
    assert err.message == (
        "HubSpot refused the refresh token (HubSpot token refresh): invalid_grant: refresh token is invalid, "
        "expired or revoked (correlation ID 2dea5219-07f2-40ce-82ec-9c2e302317a4)"
    )
    assert err.hint == "run `zigznote hubspot connect` again"
    assert REFRESH not in err.message and CLIENT_SECRET not in err.message


def test_refresh_without_a_refresh_token_sends_nothing(oauth: HubSpotOAuth) -> None:
    route = respx.post(TOKEN_URL).respond(200, json=fixture("oauth_refresh.json"))
    with pytest.raises(CredentialsRejected):
        oauth.refresh(TokenSet(ACCESS))
    assert not route.called


def test_a_5xx_at_the_token_endpoint_is_a_provider_error(oauth: HubSpotOAuth) -> None:
    respx.post(TOKEN_URL).respond(503, text="down")
    with pytest.raises(ProviderError) as caught:
        oauth.refresh(TokenSet(ACCESS, REFRESH))
    assert caught.value.code == "hubspot_unavailable"


@pytest.mark.parametrize("answer", [httpx.Response(200), httpx.Response(204)])
def test_revoke_posts_the_refresh_token_with_its_hint(oauth: HubSpotOAuth, answer: httpx.Response) -> None:
    route = respx.post(REVOKE_URL).mock(return_value=answer)
    oauth.revoke(REFRESH)  # returns, raises nothing
    assert form_of(route.calls.last.request) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token": REFRESH,
        "token_type_hint": "refresh_token",
    }


def test_revoking_an_already_refused_token_is_done(oauth: HubSpotOAuth) -> None:
    route = respx.post(REVOKE_URL).respond(400, json=fixture("oauth_error_invalid_grant.json"))
    oauth.revoke(REFRESH)  # returns, raises nothing
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "body", "kind"), [(400, "oauth_error_invalid_client.json", ConfigError), (500, None, ProviderError)]
)
def test_revoke_failures_raise(oauth: HubSpotOAuth, status: int, body: str | None, kind: type) -> None:
    respx.post(REVOKE_URL).respond(status, json=fixture(body) if body else None)
    with pytest.raises(kind):
        oauth.revoke(REFRESH)


# -- static tokens --------------------------------------------------------------------------------


def test_a_static_token_grant_reads_the_account_details() -> None:
    with respx.mock, HubSpotClient(api_base=API) as client:
        route = respx.get(f"{API}/account-info/{V}/details").respond(200, json=fixture("account_details.json"))
        grant = grant_from_static_token(client, "  pat-na1-11111111-2222-3333-4444-555555555555\n")
    assert route.calls.last.request.headers["Authorization"] == "Bearer pat-na1-11111111-2222-3333-4444-555555555555"
    assert grant == Grant(
        tokens=TokenSet("pat-na1-11111111-2222-3333-4444-555555555555"),
        account_id="62515",
        account_name=None,
        details={
            "hub_id": "62515",
            "ui_domain": "app.hubspot.com",
            "time_zone": "US/Eastern",
            "account_type": "STANDARD",
            "data_hosting_location": "na1",
            "currency": "USD",
            "static": True,
        },
    )


def test_a_static_token_that_is_empty_or_refused_is_an_error() -> None:
    with respx.mock, HubSpotClient(api_base=API) as client:
        respx.get(f"{API}/account-info/{V}/details").respond(401, json=fixture("error_401.json"))
        with pytest.raises(InvalidInput):
            grant_from_static_token(client, " \n")
        with pytest.raises(CredentialsRejected):
            grant_from_static_token(client, "pat-na1-revoked")


@pytest.mark.parametrize(
    ("redirect", "warned"),
    [
        ("http://127.0.0.1:8765/callback", True),
        ("http://[::1]:8765/callback", True),
        ("https://10.0.0.5/callback", True),
        ("http://localhost:8765/callback", False),
        ("https://notes.example.com/hubspot/callback", False),
    ],
)
def test_an_ip_literal_redirect_uri_is_warned_about(redirect: str, warned: bool) -> None:
    """HubSpot refuses IP-literal redirect URIs: a warning (a proxy may front it), never an error."""
    app = HubSpotOAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=redirect)
    expected = (
        f"HubSpot refuses redirect URIs with an IP address, and HUBSPOT_REDIRECT_URI is {redirect}: its authorize "
        "page will likely show an error unless a proxy or tunnel puts a host name in front; use "
        "http://localhost:PORT/… instead (registered in the app)"
    )
    assert app.redirect_warning() == (expected if warned else None)
    assert (app.provider, app.title) == ("hubspot", "HubSpot")
