"""Tests for zigznote.integrations.base: token sets, the authorize request, PKCE (RFC 7636)."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from zigznote.errors import ConfigError, CredentialsRejected
from zigznote.integrations.base import (
    AuthorizationRequest,
    Grant,
    OAuthIntegration,
    TokenSet,
    pkce_challenge,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Plain(OAuthIntegration):
    """The smallest concrete integration: a confidential client without PKCE."""

    provider = "plain"

    def exchange_code(self, code: str, *, code_verifier: str | None) -> Grant:
        raise NotImplementedError

    def refresh(self, tokens: TokenSet) -> TokenSet:
        raise NotImplementedError


class WithPkce(Plain):
    provider = "pkce"
    uses_pkce = True


class CommaScopes(Plain):
    def authorize_params(self) -> dict[str, str]:
        return {"scope": ",".join(self.scopes), "response_type": "code", "team": "T1"}


def make(cls: type[Plain] = Plain, **overrides: object) -> Plain:
    kwargs: dict[str, object] = {
        "client_id": "cid.123",
        "client_secret": "the-client-secret",
        "redirect_uri": "https://localhost:8765/callback",
        "authorize_url": "https://auth.example/oauth/authorize",
        "scopes": ["chat:write", "channels:read"],
    }
    kwargs.update(overrides)
    return cls(**kwargs)  # type: ignore[arg-type]


def query(request: AuthorizationRequest) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query, keep_blank_values=True)


def test_authorization_request_without_pkce() -> None:
    request = make().authorization_request()
    assert request.url.startswith("https://auth.example/oauth/authorize?")
    assert query(request) == {
        "response_type": ["code"],
        "client_id": ["cid.123"],
        "redirect_uri": ["https://localhost:8765/callback"],
        "state": [request.state],
        "scope": ["chat:write channels:read"],
    }
    assert "scope=chat%3Awrite%20channels%3Aread" in request.url  # %20, not "+"
    assert request.code_verifier is None
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", request.state)
    assert "the-client-secret" not in request.url


def test_authorization_request_with_pkce_s256() -> None:
    request = make(WithPkce).authorization_request()
    params = query(request)
    verifier = request.code_verifier
    assert verifier is not None and re.fullmatch(r"[A-Za-z0-9_-]{43,128}", verifier)
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert params["code_challenge"] == [expected]
    assert params["code_challenge_method"] == ["S256"]
    assert params["state"] == [request.state]


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_each_request_has_fresh_secrets() -> None:
    integration = make(WithPkce)
    first, second = integration.authorization_request(), integration.authorization_request()
    assert first.state != second.state
    assert first.code_verifier != second.code_verifier


def test_authorize_params_override_and_existing_query_is_kept() -> None:
    request = make(CommaScopes, authorize_url="http://127.0.0.1:9/authorize?tenant=a%20b").authorization_request()
    params = query(request)
    assert params["scope"] == ["chat:write,channels:read"]
    assert params["team"] == ["T1"]
    assert params["tenant"] == ["a b"]
    assert list(params) == ["tenant", "response_type", "client_id", "redirect_uri", "state", "scope", "team"]


def test_no_scope_parameter_without_scopes() -> None:
    assert "scope" not in query(make(scopes=[]).authorization_request())


def test_secrets_stay_out_of_reprs() -> None:
    integration = make()
    assert "the-client-secret" not in repr(integration)
    assert repr(integration).startswith("Plain(client_id='cid.123'")
    tokens = TokenSet("xoxb-access", refresh_token="xoxe-refresh", expires_at=NOW, scopes=("a",))
    grant = Grant(tokens=tokens, account_id="T1", account_name="Team", details={"bot_user_id": "U1"})
    request = make(WithPkce).authorization_request()
    for text in (repr(tokens), repr(grant), str(tokens)):
        assert "xoxb-access" not in text and "xoxe-refresh" not in text
    # The state travels in the URL anyway; the PKCE verifier must never show.
    assert request.code_verifier is not None and request.code_verifier not in repr(request)


def test_token_set_json_round_trip() -> None:
    tokens = TokenSet(
        "xoxb-1", refresh_token="xoxe-1", expires_at=NOW, scopes=("chat:write", "channels:read"), token_type="bot"
    )
    text = tokens.to_json()
    assert '"expires_at":"2026-11-01T12:00:00+00:00"' in text
    assert TokenSet.from_json(text) == tokens
    bare = TokenSet("token")
    assert TokenSet.from_json(bare.to_json()) == bare
    assert bare.expires_at is None and bare.refresh_token is None and bare.token_type == "bearer"


def test_naive_and_offset_datetimes_become_aware_utc() -> None:
    naive = TokenSet("t", expires_at=datetime(2026, 11, 1, 12, 0))
    offset = TokenSet("t", expires_at=datetime(2026, 11, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert naive.expires_at == NOW and naive.expires_at.tzinfo is UTC
    assert offset.expires_at == NOW and offset.expires_at.tzinfo is UTC
    assert TokenSet("t", scopes=["a", "b"]).scopes == ("a", "b")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"v": 2, "access_token": "secret-value"}',
        '{"v": 1}',
        '{"v": 1, "access_token": ""}',
        '{"v": 1, "access_token": "secret-value", "refresh_token": 5}',
        '{"v": 1, "access_token": "secret-value", "scopes": "a"}',
        '{"v": 1, "access_token": "secret-value", "expires_at": "tomorrow"}',
        '{"v": 1, "access_token": "secret-value", "expires_at": 5}',
    ],
)
def test_from_json_refuses_other_shapes_without_quoting_them(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TokenSet.from_json(text)
    assert caught.value.code == "token_set_invalid"
    assert "secret-value" not in caught.value.message
    assert caught.value.__cause__ is None


def test_expires_within() -> None:
    tokens = TokenSet("t", expires_at=NOW + timedelta(seconds=300))
    assert tokens.expires_within(300, NOW) is True
    assert tokens.expires_within(299, NOW) is False
    assert tokens.expires_within(0, NOW + timedelta(seconds=301)) is True  # already expired
    assert tokens.expires_within(299, NOW.replace(tzinfo=None)) is False  # naive now is UTC
    assert TokenSet("t").expires_within(10**9, NOW) is False


def test_credentials_rejected_is_a_config_error_with_a_connect_again_hint() -> None:
    error = CredentialsRejected("Slack refused the token (token_revoked)", provider="slack")
    assert isinstance(error, ConfigError)
    assert (error.code, error.exit_code) == ("credentials_rejected", 6)
    assert error.hint == "run `zigznote slack connect` again"
    assert CredentialsRejected("x").hint == "run `zigznote <provider> connect` again"
    custom = CredentialsRejected("x", hint="h", code="refresh_rejected")
    assert (custom.hint, custom.code) == ("h", "refresh_rejected")
