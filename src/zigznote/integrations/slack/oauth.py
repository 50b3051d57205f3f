"""Slack OAuth v2: the authorize URL, the code exchange and token rotation.

- Authorize (https://api.slack.com/authentication/oauth-v2):
  ``{SLACK_OAUTH_AUTHORIZE_URL}?client_id=…&scope=<comma-joined bot scopes>&redirect_uri=…&state=…``.
  No PKCE: Slack treats an app that sends a code challenge as a public client, which cannot have
  bot scopes.
- Exchange (https://docs.slack.dev/reference/methods/oauth.v2.access): ``POST
  {SLACK_API_BASE}/oauth.v2.access`` with ``code`` and ``redirect_uri`` as a form and the client
  ID and secret as HTTP Basic (the method page asks for Basic over form fields). The answer:
  ``access_token`` (``xoxb-…``), ``token_type: "bot"``, ``scope`` (comma-separated),
  ``bot_user_id``, ``app_id``, ``team {id, name}``, ``enterprise {id, name}`` or null,
  ``authed_user {id, …}`` (its user token, if any, is never kept) and, with token rotation on,
  ``expires_in`` (seconds; 43200 = 12 h) and ``refresh_token`` (``xoxe-1-…``).
- Refresh (https://docs.slack.dev/authentication/using-token-rotation; the Python SDK's
  ``slack_sdk/oauth/token_rotation/rotator.py``): the same method with
  ``grant_type=refresh_token&refresh_token=…``; the answer carries a new access token, its
  ``expires_in`` and a NEW refresh token: the old one is revoked, so the caller must store the
  new set before anything else (``services/integrations`` serializes refreshes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from zigznote.errors import CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.base import Grant, OAuthIntegration, TokenSet, aware_utcnow, token_answer
from zigznote.integrations.slack.client import DEFAULT_API_BASE, SlackClient
from zigznote.integrations.slack.errors import scopes_from, text_field

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_AUTHORIZE_URL", "DEFAULT_SCOPES", "SlackOAuth", "grant_from_bot_token"]

DEFAULT_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
#: Bot scopes asked for: post (also into public channels the bot has not joined), list channels.
DEFAULT_SCOPES = ("chat:write", "chat:write.public", "channels:read", "groups:read")

_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,2000}")
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID_RE.fullmatch(value) else None


def _object(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _bad(message: str) -> ProviderError:
    return ProviderError(f"Slack's answer to oauth.v2.access {message}", code="slack_bad_response")


def _token_set(body: Mapping[str, Any], *, now: datetime, previous: TokenSet | None) -> TokenSet:
    """The bot token set in an oauth.v2.access answer (exchange or refresh)."""
    try:
        access, refresh, expires_at = token_answer(body, now=now, previous=previous, token_re=_TOKEN_RE)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    token_type = body.get("token_type", "bot")
    if token_type != "bot":
        # We ask for bot scopes only; a user token here means the app is set up differently.
        shown = text_field(token_type, 20) if isinstance(token_type, str) else type(token_type).__name__
        raise _bad(f"carries a {shown!r} token where a bot token was expected")
    scopes = scopes_from(body.get("scope")) or (previous.scopes if previous is not None else ())
    return TokenSet(access_token=access, refresh_token=refresh, expires_at=expires_at, scopes=scopes, token_type="bot")


class SlackOAuth(OAuthIntegration):
    """Slack's OAuth v2 for a bot token (see the module docstring for the exchanges).

    Besides the base arguments: ``api_base`` (``SLACK_API_BASE``; ``oauth.v2.access`` is
    ``{api_base}/oauth.v2.access``), ``client`` (a :class:`SlackClient`; by default one over
    ``http``), ``now`` (aware UTC clock, for ``expires_at``).
    """

    provider = "slack"
    title = "Slack"
    uses_pkce = False

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        authorize_url: str = DEFAULT_AUTHORIZE_URL,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        http: httpx.Client | None = None,
        api_base: str = DEFAULT_API_BASE,
        client: SlackClient | None = None,
        now: Callable[[], datetime] = aware_utcnow,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            authorize_url=authorize_url,
            scopes=scopes,
            http=http,
        )
        self.client = client if client is not None else SlackClient(api_base=api_base, http=http)
        self._now = now

    def redirect_warning(self) -> str | None:
        """Slack accepts only https redirect URLs (an http one is refused at the authorize page;
        https://docs.slack.dev/authentication/installing-with-oauth)."""
        if urlsplit(self.redirect_uri).scheme.lower() != "http":
            return None
        return (
            f"Slack accepts only https redirect URLs, and SLACK_REDIRECT_URI is {self.redirect_uri}: Slack's "
            "authorize page will likely refuse it unless a proxy or tunnel serves it over https "
            "(the default https://localhost:8765/callback works with a generated certificate)"
        )

    def authorize_params(self) -> dict[str, str]:
        """Slack wants bot scopes comma-joined in ``scope`` (``user_scope`` is not asked for)."""
        return {"scope": ",".join(self.scopes)} if self.scopes else {}

    def _token_endpoint(self, form: dict[str, str], *, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
        return self.client.call(
            "oauth.v2.access", None, form=form, auth=(self.client_id, self.client_secret), secrets=secrets
        )

    def exchange_code(self, code: str, *, code_verifier: str | None = None) -> Grant:
        """Exchange the authorization ``code`` (once) for the bot token set and the workspace.

        Returns a Grant: ``account_id`` = ``team.id`` (``enterprise.id`` for an org-wide install),
        ``account_name`` = ``team.name``, ``details`` = ``{"team_id", "bot_user_id", "app_id",
        "authed_user_id", "enterprise_id", "enterprise_name", "is_enterprise_install"}``.
        ``code_verifier`` is ignored (Slack apps here are confidential clients, no PKCE).
        Raises ConfigError (``invalid_code``, ``bad_client_secret``, ``invalid_client_id``,
        ``bad_redirect_uri`` …, exit 6) and ProviderError (network, 5xx, malformed answer).
        """
        del code_verifier
        if not isinstance(code, str) or not _TOKEN_RE.fullmatch(code):
            raise InvalidInput("the authorization code is empty or malformed", code="missing_code")
        body = self._token_endpoint({"code": code, "redirect_uri": self.redirect_uri}, secrets=(code,))
        tokens = _token_set(body, now=self._now(), previous=None)
        team = _object(body, "team")
        enterprise = _object(body, "enterprise")
        team_id = _id(team.get("id"))
        enterprise_id = _id(enterprise.get("id"))
        account_id = team_id or enterprise_id
        if account_id is None:
            raise _bad("names no workspace (team.id)")
        details = {
            "team_id": team_id,
            "bot_user_id": _id(body.get("bot_user_id")),
            "app_id": _id(body.get("app_id")),
            "authed_user_id": _id(_object(body, "authed_user").get("id")),
            "enterprise_id": enterprise_id,
            "enterprise_name": text_field(enterprise.get("name")),
            "is_enterprise_install": body.get("is_enterprise_install") is True,
        }
        name = text_field(team.get("name")) if team_id else text_field(enterprise.get("name"))
        return Grant(tokens=tokens, account_id=account_id, account_name=name, details=details)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """Rotate: a new access token and a new refresh token (the old refresh token is revoked).

        Raises CredentialsRejected when there is no refresh token (rotation is off: the token
        cannot be renewed) or Slack refuses it (``invalid_refresh_token``, ``invalid_grant``);
        ConfigError for the app's own settings (``bad_client_secret`` …); ProviderError otherwise.
        """
        if not tokens.refresh_token:
            raise CredentialsRejected(
                "the Slack access token cannot be renewed: the connection has no refresh token", provider="slack"
            )
        body = self._token_endpoint(
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
            secrets=(tokens.refresh_token,),
        )
        return _token_set(body, now=self._now(), previous=tokens)


def grant_from_bot_token(client: SlackClient, token: str) -> Grant:
    """A Grant for a bot token installed from the Slack app's settings (``--token-stdin``).

    Calls ``auth.test``; the token must be a bot token (the answer names a ``bot_id``). Scopes
    come from the ``X-OAuth-Scopes`` header; such a token does not expire and has no refresh
    token. Raises InvalidInput (``not_a_bot_token``) for a user token, CredentialsRejected for a
    token Slack refuses, ProviderError for network failures.
    """
    token = token.strip()
    who = client.auth_test(token)
    if not who["bot_id"]:
        raise InvalidInput(
            "this Slack token is not a bot token",
            hint="paste the Bot User OAuth Token (xoxb-…) from OAuth & Permissions in the Slack app settings",
            code="not_a_bot_token",
        )
    account_id = who["team_id"] or who["enterprise_id"]
    if account_id is None:
        raise ProviderError("Slack's answer to auth.test names no workspace (team_id)", code="slack_bad_response")
    tokens = TokenSet(access_token=token, scopes=who["scopes"], token_type="bot")
    details = {
        "team_id": who["team_id"],
        "bot_user_id": who["user_id"],
        "bot_id": who["bot_id"],
        "enterprise_id": who["enterprise_id"],
        "url": who["url"],
        "is_enterprise_install": who["is_enterprise_install"],
    }
    return Grant(tokens=tokens, account_id=account_id, account_name=who["team"], details=details)
