"""SlackOAuth: authorize URL, code exchange, token rotation, --token-stdin grants (respx)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from tests.support.provider_helpers import fixture_reader
from zigznote.errors import ConfigError, CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.base import TokenSet
from zigznote.integrations.slack.client import SlackClient
from zigznote.integrations.slack.oauth import DEFAULT_SCOPES, SlackOAuth, grant_from_bot_token

API = "https://slack.test/api"
CLIENT_ID = "2141029472.691202649728"
CLIENT_SECRET = "e1b9e11dfcd19c1982d5de12921e17e8c"
REDIRECT = "https://localhost:8765/callback"
NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


fixture = fixture_reader("slack")


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


@pytest.fixture
def oauth() -> Iterator[SlackOAuth]:
    with respx.mock, SlackClient(api_base=API, sleep=lambda s: None) as client:
        yield SlackOAuth(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=REDIRECT,
            authorize_url="https://slack.test/oauth/v2/authorize",
            client=client,
            now=lambda: NOW,
        )


def test_authorize_url_has_comma_joined_scopes_and_no_pkce(oauth: SlackOAuth) -> None:
    request = oauth.authorization_request()
    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://slack.test/oauth/v2/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": request.state,
        "scope": "chat:write,chat:write.public,channels:read,groups:read",
    }
    assert request.code_verifier is None
    assert DEFAULT_SCOPES == ("chat:write", "chat:write.public", "channels:read", "groups:read")


def test_exchange_code_without_rotation(oauth: SlackOAuth) -> None:
    route = respx.post(f"{API}/oauth.v2.access").respond(200, json=fixture("oauth_v2_access.json"))
    grant = oauth.exchange_code("4724469134.4644010092847.232b4e", code_verifier=None)
    request = route.calls.last.request
    assert request.headers["Authorization"] == BASIC
    assert form_of(request) == {"code": "4724469134.4644010092847.232b4e", "redirect_uri": REDIRECT}
    assert grant.tokens == TokenSet(
        access_token="xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
        refresh_token=None,
        expires_at=None,
        scopes=DEFAULT_SCOPES,
        token_type="bot",
    )
    assert (grant.account_id, grant.account_name) == ("T9TK3CUKW", "Slack Softball Team")
    assert grant.details == {
        "team_id": "T9TK3CUKW",
        "bot_user_id": "U0KRQLJ9H",
        "app_id": "A0KRD7HC3",
        "authed_user_id": "U1234",
        "enterprise_id": None,
        "enterprise_name": None,
        "is_enterprise_install": False,
    }
    assert "xoxp-1234" not in repr(grant) + json.dumps(grant.details)  # the user token is never kept


def test_exchange_code_with_rotation_records_expiry_and_refresh_token(oauth: SlackOAuth) -> None:
    respx.post(f"{API}/oauth.v2.access").respond(200, json=fixture("oauth_v2_access_rotation.json"))
    grant = oauth.exchange_code("code-1", code_verifier=None)
    assert grant.tokens.access_token == "xoxe.xoxb-1-MS0yLTE3NjUzNjcyNDgxLTE5ODc0Njk4MzIz"
    assert grant.tokens.refresh_token == "xoxe-1-My0xLTE3NjUzNjcyNDgxLWZpcnN0"
    assert grant.tokens.expires_at == NOW + timedelta(hours=12)
    assert grant.details["enterprise_id"] == "E12345678"
    assert grant.details["enterprise_name"] == "slack-sports"


def test_an_org_wide_install_is_keyed_by_the_enterprise(oauth: SlackOAuth) -> None:
    body = dict(fixture("oauth_v2_access_rotation.json"), team=None, is_enterprise_install=True)
    respx.post(f"{API}/oauth.v2.access").respond(200, json=body)
    grant = oauth.exchange_code("code-1", code_verifier=None)
    assert (grant.account_id, grant.account_name) == ("E12345678", "slack-sports")
    assert grant.details["is_enterprise_install"] is True


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("invalid_code", "the authorization code expired or was already used; run `zigznote slack connect` again"),
        ("bad_client_secret", "check SLACK_CLIENT_SECRET (Basic Information page of the Slack app)"),
        ("invalid_client_id", "check SLACK_CLIENT_ID (Basic Information page of the Slack app)"),
        ("bad_redirect_uri", "SLACK_REDIRECT_URI must equal a redirect URL registered under OAuth & Permissions"),
        ("oauth_authorization_url_mismatch", "use the v2 authorize URL (https://slack.com/oauth/v2/authorize)"),
    ],
)
def test_exchange_refusals_are_config_errors(oauth: SlackOAuth, error: str, hint: str) -> None:
    respx.post(f"{API}/oauth.v2.access").respond(200, json={"ok": False, "error": error})
    with pytest.raises(ConfigError) as caught:
        oauth.exchange_code("code-1", code_verifier=None)
    err = caught.value
    assert (err.code, err.exit_code, err.hint) == (error, 6, hint)
    assert err.message == f"Slack refused oauth.v2.access: {error}"
    assert not isinstance(err, CredentialsRejected)


def test_exchange_network_error_never_shows_the_secret_or_code(oauth: SlackOAuth) -> None:
    respx.post(f"{API}/oauth.v2.access").mock(side_effect=httpx.ConnectError(f"failed {CLIENT_SECRET} secret-code-123"))
    with pytest.raises(ProviderError) as caught:
        oauth.exchange_code("secret-code-123", code_verifier=None)
    text = str(caught.value.to_dict())
    assert caught.value.code == "provider_unreachable"
    assert CLIENT_SECRET not in text and "secret-code-123" not in text


def test_exchange_5xx_is_a_provider_error(oauth: SlackOAuth) -> None:
    respx.post(f"{API}/oauth.v2.access").respond(502, text="Bad Gateway")
    with pytest.raises(ProviderError) as caught:
        oauth.exchange_code("code-1", code_verifier=None)
    assert (caught.value.code, caught.value.exit_code) == ("slack_unavailable", 5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"access_token": None}, "Slack's answer to oauth.v2.access carries no usable access token"),
        ({"access_token": "xoxb bad token"}, "Slack's answer to oauth.v2.access carries no usable access token"),
        (
            {"token_type": "user"},
            "Slack's answer to oauth.v2.access carries a 'user' token where a bot token was expected",
        ),
        ({"expires_in": -5}, "Slack's answer to oauth.v2.access carries an impossible expires_in"),
        ({"expires_in": True}, "Slack's answer to oauth.v2.access carries an impossible expires_in"),
        ({"refresh_token": 12}, "Slack's answer to oauth.v2.access carries a malformed refresh token"),
        ({"team": None, "enterprise": None}, "Slack's answer to oauth.v2.access names no workspace (team.id)"),
    ],
)
def test_exchange_refuses_malformed_answers(oauth: SlackOAuth, change: dict[str, Any], message: str) -> None:
    respx.post(f"{API}/oauth.v2.access").respond(200, json=dict(fixture("oauth_v2_access_rotation.json"), **change))
    with pytest.raises(ProviderError) as caught:
        oauth.exchange_code("code-1", code_verifier=None)
    assert (caught.value.code, caught.value.message) == ("slack_bad_response", message)


def test_exchange_refuses_an_empty_code_without_a_request(oauth: SlackOAuth) -> None:
    route = respx.post(f"{API}/oauth.v2.access").respond(200, json=fixture("oauth_v2_access.json"))
    with pytest.raises(InvalidInput):
        oauth.exchange_code("", code_verifier=None)
    assert not route.called


# -- refresh (token rotation) ------------------------------------------------------------------------

OLD_REFRESH = "xoxe-1-My0xLTE3NjUzNjcyNDgxLWZpcnN0"
OLD = TokenSet(
    access_token="xoxe.xoxb-1-old",
    refresh_token=OLD_REFRESH,
    expires_at=NOW - timedelta(minutes=1),
    scopes=("chat:write",),
    token_type="bot",
)


def test_refresh_rotates_both_tokens(oauth: SlackOAuth) -> None:
    route = respx.post(f"{API}/oauth.v2.access").respond(200, json=fixture("oauth_v2_refresh.json"))
    new = oauth.refresh(OLD)
    request = route.calls.last.request
    assert request.headers["Authorization"] == BASIC
    assert form_of(request) == {"grant_type": "refresh_token", "refresh_token": "xoxe-1-My0xLTE3NjUzNjcyNDgxLWZpcnN0"}
    assert new == TokenSet(
        access_token="xoxe.xoxb-1-MS0yLTE3NjUzNjcyNDgxLXNlY29uZA",
        refresh_token="xoxe-1-My0xLTE3NjUzNjcyNDgxLXNlY29uZA",
        expires_at=NOW + timedelta(seconds=43200),
        scopes=DEFAULT_SCOPES,
        token_type="bot",
    )


def test_refresh_without_a_new_refresh_token_keeps_the_old_one(oauth: SlackOAuth) -> None:
    body = {k: v for k, v in fixture("oauth_v2_refresh.json").items() if k not in ("refresh_token", "scope")}
    respx.post(f"{API}/oauth.v2.access").respond(200, json=body)
    new = oauth.refresh(OLD)
    assert (new.refresh_token, new.scopes) == (OLD.refresh_token, OLD.scopes)


@pytest.mark.parametrize("error", ["invalid_refresh_token", "invalid_grant"])
def test_a_refused_refresh_token_is_credentials_rejected(oauth: SlackOAuth, error: str) -> None:
    respx.post(f"{API}/oauth.v2.access").respond(200, json={"ok": False, "error": error})
    with pytest.raises(CredentialsRejected) as caught:
        oauth.refresh(OLD)
    err = caught.value
    assert (err.code, err.exit_code) == ("credentials_rejected", 6)
    assert err.message == f"Slack refused the refresh token (oauth.v2.access: {error})"
    assert err.hint == "run `zigznote slack connect` again"
    assert OLD_REFRESH not in str(err.to_dict())


def test_refresh_without_a_refresh_token_is_credentials_rejected_without_a_request(oauth: SlackOAuth) -> None:
    route = respx.post(f"{API}/oauth.v2.access").respond(200, json=fixture("oauth_v2_refresh.json"))
    with pytest.raises(CredentialsRejected) as caught:
        oauth.refresh(TokenSet(access_token="xoxb-1", token_type="bot"))
    assert caught.value.hint == "run `zigznote slack connect` again"
    assert not route.called


def test_refresh_network_error_does_not_show_the_refresh_token(oauth: SlackOAuth) -> None:
    respx.post(f"{API}/oauth.v2.access").mock(side_effect=httpx.ReadError(f"reset while sending {OLD_REFRESH}"))
    with pytest.raises(ProviderError) as caught:
        oauth.refresh(OLD)
    assert OLD_REFRESH not in str(caught.value.to_dict())


# -- --token-stdin ---------------------------------------------------------------------------------


def test_grant_from_a_bot_token() -> None:
    with respx.mock, SlackClient(api_base=API) as client:
        route = respx.post(f"{API}/auth.test").respond(
            200, json=fixture("auth_test_bot.json"), headers={"X-OAuth-Scopes": "chat:write,channels:read"}
        )
        grant = grant_from_bot_token(client, " xoxb-pasted-token\n")
    assert route.calls.last.request.headers["Authorization"] == "Bearer xoxb-pasted-token"
    assert grant.tokens == TokenSet(
        access_token="xoxb-pasted-token", scopes=("chat:write", "channels:read"), token_type="bot"
    )
    assert (grant.account_id, grant.account_name) == ("T0G9PQBBK", "Subarachnoid Workspace")
    assert grant.details == {
        "team_id": "T0G9PQBBK",
        "bot_user_id": "W23456789",
        "bot_id": "BZYBOTHED",
        "enterprise_id": None,
        "url": "https://subarachnoid.slack.com/",
        "is_enterprise_install": False,
    }


def test_a_user_token_is_refused_for_token_stdin() -> None:
    with respx.mock, SlackClient(api_base=API) as client:
        respx.post(f"{API}/auth.test").respond(200, json=fixture("auth_test_user.json"))
        with pytest.raises(InvalidInput) as caught:
            grant_from_bot_token(client, "xoxp-user-token")
    assert caught.value.code == "not_a_bot_token"
    assert "xoxp-user-token" not in str(caught.value.to_dict())


@pytest.mark.parametrize(
    ("redirect", "warned"),
    [
        ("http://localhost:8765/callback", True),
        ("HTTP://localhost:8765/callback", True),
        ("https://localhost:8765/callback", False),
        ("https://notes.example.com/slack/callback", False),
    ],
)
def test_an_http_redirect_uri_is_warned_about(redirect: str, warned: bool) -> None:
    """Slack accepts only https redirect URLs: a warning (a tunnel may make it work), never an error."""
    app = SlackOAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=redirect)
    expected = (
        f"Slack accepts only https redirect URLs, and SLACK_REDIRECT_URI is {redirect}: Slack's authorize page "
        "will likely refuse it unless a proxy or tunnel serves it over https (the default "
        "https://localhost:8765/callback works with a generated certificate)"
    )
    assert app.redirect_warning() == (expected if warned else None)
    assert (app.provider, app.title) == ("slack", "Slack")
