"""HubSpot OAuth on the dated endpoints, and grants for pasted tokens.

Endpoints (https://developers.hubspot.com/docs/api-reference/latest/authentication/manage-oauth-tokens;
the ``/oauth/v1`` ones are deprecated on 2027-02-16): every parameter goes in a form body
(``application/x-www-form-urlencoded``), the app's ``client_id`` and ``client_secret`` included,
never in the query string.

- ``POST {base}/oauth/{version}/token``: ``grant_type=authorization_code`` with ``code`` and
  ``redirect_uri`` (and ``code_verifier`` when PKCE was used), or ``grant_type=refresh_token``
  with ``refresh_token``. Answer: ``access_token`` (about 30 minutes: ``expires_in`` 1800),
  ``refresh_token``, ``token_type`` ``bearer``, ``token_use``, ``hub_id``, ``scopes``, ``user_id``.
- ``POST {base}/oauth/{version}/token/introspect``: ``token``, ``token_type_hint``; answer
  ``active``, ``hub_id``, ``hub_domain``, ``scopes``, ``user``, ``app_id``, ``expires_in``.
- ``POST {base}/oauth/{version}/token/revoke``: ``token``, ``token_type_hint`` (revokes the
  refresh token; the access tokens already issued stay valid until they expire; the app stays
  installed in the account).

PKCE: the token endpoint accepts ``code_verifier``, but HubSpot documents no ``code_challenge``
for its authorize URL, so this confidential client does not use PKCE (:attr:`uses_pkce`).
Authorize URL: ``https://app.hubspot.com/oauth/authorize`` with ``client_id``, ``redirect_uri``,
space-separated ``scope`` (every scope the app marks required), optional ``optional_scope``,
``state``; ``http://localhost`` redirects are accepted, IP literals are not
(https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/oauth/working-with-oauth).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from zigznote.errors import CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.base import Grant, OAuthIntegration, TokenSet, aware_utcnow, token_answer
from zigznote.integrations.hubspot.client import DEFAULT_API_BASE, DEFAULT_API_VERSION, HubSpotClient
from zigznote.integrations.hubspot.errors import id_field, mapping_of, oauth_error, parse_error, text_field

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_AUTHORIZE_URL", "DEFAULT_SCOPES", "HubSpotOAuth", "grant_from_static_token"]

DEFAULT_AUTHORIZE_URL = "https://app.hubspot.com/oauth/authorize"
#: ``oauth`` (required by HubSpot apps), contacts read/write (search, create contacts; meetings
#: and tasks are written under ``crm.objects.contacts.write``, the scope their batch pages list),
#: owners read (task assignees).
DEFAULT_SCOPES = ("oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.owners.read")

_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,4000}")
_SCOPE_RE = re.compile(r"[A-Za-z0-9._-]{1,100}")
# Every non-success status: the OAuth answers are mapped by oauth_error, not hubspot_error.
_ANY_ERROR = tuple(s for s in range(300, 600) if s != 429)


def _bad(message: str) -> ProviderError:
    return ProviderError(f"HubSpot's token answer {message}", code="hubspot_bad_response")


def _scopes(value: Any) -> tuple[str, ...]:
    """Scopes from a list (HubSpot's ``scopes``) or a space-separated string (RFC 6749 ``scope``)."""
    items = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    return tuple(dict.fromkeys(s for s in items[:500] if isinstance(s, str) and _SCOPE_RE.fullmatch(s)))


def _token_set(body: Mapping[str, Any], *, now: datetime, previous: TokenSet | None) -> TokenSet:
    """The token set in a token-endpoint answer (code exchange or refresh)."""
    try:
        access, refresh, expires_at = token_answer(body, now=now, previous=previous, token_re=_TOKEN_RE)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    token_type = body.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise _bad("carries a token that is not a bearer token")
    scopes = _scopes(body.get("scopes")) or _scopes(body.get("scope")) or (previous.scopes if previous else ())
    return TokenSet(access_token=access, refresh_token=refresh, expires_at=expires_at, scopes=scopes)


class HubSpotOAuth(OAuthIntegration):
    """HubSpot's OAuth for an app's access and refresh tokens (see the module docstring).

    Besides the base arguments: ``api_base`` / ``version`` (``HUBSPOT_API_BASE`` /
    ``HUBSPOT_API_VERSION``: the token endpoint is ``{api_base}/oauth/{version}/token``),
    ``client`` (a :class:`HubSpotClient`; by default one over ``http``), ``now`` (aware UTC
    clock, for ``expires_at``), ``optional_scopes`` (sent as ``optional_scope``).
    """

    provider = "hubspot"
    title = "HubSpot"
    uses_pkce = False

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        authorize_url: str = DEFAULT_AUTHORIZE_URL,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        api_base: str = DEFAULT_API_BASE,
        version: str = DEFAULT_API_VERSION,
        http: httpx.Client | None = None,
        client: HubSpotClient | None = None,
        now: Callable[[], datetime] = aware_utcnow,
        optional_scopes: Sequence[str] = (),
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            authorize_url=authorize_url,
            scopes=scopes,
            http=http,
        )
        self.client = client if client is not None else HubSpotClient(api_base=api_base, version=version, http=http)
        self.optional_scopes = tuple(optional_scopes)
        self._now = now

    def redirect_warning(self) -> str | None:
        """HubSpot refuses redirect URIs whose host is an IP literal (``http://localhost`` is the
        development exception; see the module docstring's working-with-oauth page)."""
        host = urlsplit(self.redirect_uri).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None
        return (
            f"HubSpot refuses redirect URIs with an IP address, and HUBSPOT_REDIRECT_URI is {self.redirect_uri}: "
            "its authorize page will likely show an error unless a proxy or tunnel puts a host name in front; "
            "use http://localhost:PORT/… instead (registered in the app)"
        )

    def authorize_params(self) -> dict[str, str]:
        """``scope`` space-separated; ``optional_scope`` too when optional scopes are set."""
        params = super().authorize_params()
        if self.optional_scopes:
            params["optional_scope"] = " ".join(self.optional_scopes)
        return params

    def _post(self, name: str, form: dict[str, str], *, what: str, refreshing: bool, secret: str) -> Any:
        """POST a form with the app's credentials to OAuth endpoint ``name``; the answer body."""
        full = {"client_id": self.client_id, "client_secret": self.client_secret, **form}
        secrets = (self.client_secret, secret)
        answer = self.client.request(
            "POST", self.client.url(name), what=what, form=full, accept=_ANY_ERROR, secrets=secrets
        )
        if not 200 <= answer.status < 300:
            raise oauth_error(
                answer.status, parse_error(answer.body, secrets=secrets), what=what, refreshing=refreshing
            )
        return answer.body

    def exchange_code(self, code: str, *, code_verifier: str | None = None) -> Grant:
        """Exchange the authorization ``code`` (once) for tokens, then introspect the access
        token for the account.

        Returns a Grant: ``account_id`` = the hub (portal) ID, ``account_name`` = the hub
        domain, ``details`` = ``{"hub_id", "hub_domain", "app_id", "user_id", "user_email"}``.
        ``code_verifier`` is sent when given (HubSpot's token endpoint accepts it). Raises
        ConfigError (``invalid_code``, ``invalid_client``, ``bad_redirect_uri``, exit 6) and
        ProviderError (network, 5xx, malformed answer).
        """
        if not isinstance(code, str) or not _TOKEN_RE.fullmatch(code):
            raise InvalidInput("the authorization code is empty or malformed", code="missing_code")
        form = {"grant_type": "authorization_code", "redirect_uri": self.redirect_uri, "code": code}
        if code_verifier:
            form["code_verifier"] = code_verifier
        body = mapping_of(self._post("token", form, what="HubSpot OAuth code exchange", refreshing=False, secret=code))
        tokens = _token_set(body, now=self._now(), previous=None)
        info = self.introspect(tokens.access_token)
        account_id = id_field(body.get("hub_id")) or info["hub_id"]
        if info["hub_id"] and account_id != info["hub_id"]:
            raise _bad("and the token's introspection name different hubs")
        if account_id is None:
            raise _bad("names no hub (hub_id)")
        if not tokens.scopes and info["scopes"]:
            tokens = TokenSet(tokens.access_token, tokens.refresh_token, tokens.expires_at, info["scopes"])
        details = {
            "hub_id": account_id,
            "hub_domain": info["hub_domain"],
            "app_id": info["app_id"],
            "user_id": id_field(body.get("user_id")) or info["user_id"],
            "user_email": info["user"],
        }
        return Grant(tokens=tokens, account_id=account_id, account_name=info["hub_domain"], details=details)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """A new access token from ``tokens.refresh_token`` (the refresh token is kept when the
        answer carries none). Raises CredentialsRejected when there is no refresh token or
        HubSpot refuses it (``invalid_grant``: the app was uninstalled or access revoked);
        ConfigError for the app's own settings; ProviderError otherwise."""
        if not tokens.refresh_token:
            raise CredentialsRejected(
                "the HubSpot access token cannot be renewed: the connection has no refresh token", provider="hubspot"
            )
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        body = self._post("token", form, what="HubSpot token refresh", refreshing=True, secret=tokens.refresh_token)
        return _token_set(mapping_of(body), now=self._now(), previous=tokens)

    def revoke(self, refresh_token: str) -> None:
        """Revoke ``refresh_token`` (``token_type_hint=refresh_token``). A token HubSpot already
        refuses counts as revoked. Revoking does not uninstall the app from the account.
        Raises ConfigError for the app's own settings, ProviderError otherwise."""
        form = {"token": refresh_token, "token_type_hint": "refresh_token"}
        try:
            self._post("revoke", form, what="HubSpot token revoke", refreshing=True, secret=refresh_token)
        except CredentialsRejected:
            return

    def introspect(self, token: str, *, hint: str = "access_token") -> dict[str, Any]:
        """Metadata of a token: ``{"hub_id", "hub_domain", "scopes", "user", "app_id",
        "user_id", "expires_in"}`` (the token itself is never returned). Raises
        CredentialsRejected when HubSpot says the token is not active."""
        form = {"token": token, "token_type_hint": hint}
        body = mapping_of(
            self._post("introspect", form, what="HubSpot token introspection", refreshing=True, secret=token)
        )
        if body.get("active") is not True:
            raise CredentialsRejected("HubSpot says the token is not active", provider="hubspot")
        expires = body.get("expires_in")
        return {
            "hub_id": id_field(body.get("hub_id")),
            "hub_domain": text_field(body.get("hub_domain")),
            "scopes": _scopes(body.get("scopes")),
            "user": text_field(body.get("user"), 254),
            "app_id": id_field(body.get("app_id")),
            "user_id": id_field(body.get("user_id")),
            "expires_in": expires if isinstance(expires, int) and not isinstance(expires, bool) else None,
        }


def grant_from_static_token(client: HubSpotClient, token: str) -> Grant:
    """A Grant for a token pasted with ``--token-stdin``: a service key or a legacy private-app
    access token (https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/account-service-keys).

    Reads ``/account-info/{version}/details`` with it: ``account_id`` = the portal ID;
    ``account_name`` None (the details answer has no hub name); no refresh token, no expiry,
    no scopes (HubSpot reports a static token's scopes only in its own settings page).
    Raises InvalidInput for an empty token, CredentialsRejected for a refused one,
    ProviderError for network failures.
    """
    token = token.strip() if isinstance(token, str) else ""
    if not token:
        raise InvalidInput("the HubSpot token is empty", code="missing_token")
    account = client.account(token)
    tokens = TokenSet(access_token=token, token_type="bearer")
    details = {**account, "static": True}
    return Grant(tokens=tokens, account_id=account["hub_id"], account_name=None, details=details)
