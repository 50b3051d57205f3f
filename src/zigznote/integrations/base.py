"""What every OAuth integration shares: token sets, grants, the authorize request.

Providers subclass :class:`OAuthIntegration` and implement :meth:`~OAuthIntegration.exchange_code`
and :meth:`~OAuthIntegration.refresh`; the connect flow (:mod:`zigznote.integrations.connect`) and
the connection store (``services/integrations.py``) only see these types.

References: RFC 6749 section 4.1 (authorization code grant: ``response_type=code``,
``client_id``, ``redirect_uri``, ``scope``, ``state``); RFC 7636 (PKCE, method ``S256``:
``code_challenge = BASE64URL(SHA256(ASCII(code_verifier)))`` without padding, verifier of 43 to
128 characters from ``[A-Za-z0-9-._~]``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from zigznote.errors import ConfigError

if TYPE_CHECKING:  # httpx is imported by the providers, not by this module
    import httpx

__all__ = [
    "MAX_EXPIRES_IN",
    "AuthorizationRequest",
    "Grant",
    "OAuthIntegration",
    "TokenSet",
    "aware_utcnow",
    "pkce_challenge",
    "pkce_verifier",
    "token_answer",
]

# Bumped if the stored shape ever changes; from_json refuses versions it does not know.
_TOKEN_SET_VERSION = 1
#: The longest access-token lifetime believed, in seconds (Slack's is 12 h, HubSpot's 30 min): a
#: day-long or decade-long value is kept as given; anything not a positive number under ten
#: years is refused.
MAX_EXPIRES_IN = 10 * 365 * 86_400


def aware_utcnow() -> datetime:
    """Now, aware UTC (the default clock of the OAuth adapters, for ``expires_at``)."""
    return datetime.now(UTC)


def _aware_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive value is UTC by the store's convention."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class TokenSet:
    """The credentials of one connection. Never printed: the tokens are left out of ``repr``.

    ``expires_at`` is aware UTC (a naive value is taken as UTC), ``None`` when the access token
    does not expire. ``token_type`` is what the provider says (Slack: ``"bot"``).
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    token_type: str = "bearer"

    def __post_init__(self) -> None:
        if self.expires_at is not None:
            object.__setattr__(self, "expires_at", _aware_utc(self.expires_at))
        object.__setattr__(self, "scopes", tuple(self.scopes))

    def to_json(self) -> str:
        """The JSON text the vault encrypts (one ciphertext per connection)."""
        return json.dumps(
            {
                "v": _TOKEN_SET_VERSION,
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "scopes": list(self.scopes),
                "token_type": self.token_type,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        """Parse :meth:`to_json` output. Raises :class:`ConfigError` (``token_set_invalid``)
        for anything else; the message never quotes the text (it holds secrets)."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != _TOKEN_SET_VERSION:
                raise ValueError("unknown shape")
            access = data["access_token"]
            refresh = data.get("refresh_token")
            expires = data.get("expires_at")
            scopes = data.get("scopes", [])
            token_type = data.get("token_type", "bearer")
            if not isinstance(access, str) or not access:
                raise ValueError("access_token")
            if refresh is not None and not isinstance(refresh, str):
                raise ValueError("refresh_token")
            if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                raise ValueError("scopes")
            if not isinstance(token_type, str):
                raise ValueError("token_type")
            expires_at = datetime.fromisoformat(expires) if expires is not None else None
        except (ValueError, TypeError, KeyError) as exc:
            # Only the exception class: its text could quote part of the secret document.
            raise ConfigError(
                f"the stored token set cannot be read ({type(exc).__name__})", code="token_set_invalid"
            ) from None
        return cls(access, refresh, expires_at, tuple(scopes), token_type)

    def expires_within(self, seconds: float, now: datetime) -> bool:
        """True when the access token expires at or before ``now + seconds``.

        ``now`` may be naive (UTC) or aware. A token set without ``expires_at`` never expires.
        """
        if self.expires_at is None:
            return False
        return self.expires_at - _aware_utc(now) <= timedelta(seconds=seconds)


def token_answer(
    body: Mapping[str, Any], *, now: datetime, previous: TokenSet | None, token_re: re.Pattern[str]
) -> tuple[str, str | None, datetime | None]:
    """``(access_token, refresh_token, expires_at)`` of a token-endpoint answer (RFC 6749 section
    5.1: ``access_token``, optional ``refresh_token`` and ``expires_in`` in seconds), for a code
    exchange (``previous`` None) or a refresh. Both tokens must match ``token_re`` (the
    provider's token alphabet and length); a refresh answer without ``refresh_token`` keeps
    ``previous.refresh_token`` (not rotated this time: the old one still stands); ``expires_at``
    is ``now + expires_in``, None when the answer has no ``expires_in``.

    Raises ValueError whose text completes "<provider>'s answer …": "carries no usable access
    token", "carries a malformed refresh token", "carries an impossible expires_in" (not a
    number of seconds in ``(0, MAX_EXPIRES_IN)``). Never quotes a token.
    """
    access = body.get("access_token")
    if not isinstance(access, str) or not token_re.fullmatch(access):
        raise ValueError("carries no usable access token")
    refresh = body.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not token_re.fullmatch(refresh)):
        raise ValueError("carries a malformed refresh token")
    if refresh is None and previous is not None:
        refresh = previous.refresh_token
    expires_in = body.get("expires_in")
    if expires_in is None:
        return access, refresh, None
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or not 0 < expires_in < MAX_EXPIRES_IN:
        raise ValueError("carries an impossible expires_in")
    return access, refresh, now + timedelta(seconds=expires_in)


@dataclass(frozen=True)
class Grant:
    """What a code exchange or a pasted token yields.

    ``account_id``: Slack ``team.id``, HubSpot hub id. ``details``: non-secret provider facts
    (``bot_user_id``, ``app_id``, ``authed_user_id``, ``enterprise_id`` …), already made storable
    by the provider module (:func:`zigznote.untrusted.storable_text`).
    """

    tokens: TokenSet
    account_id: str
    account_name: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthorizationRequest:
    """One authorize URL and the secrets that go with it (kept in memory, never stored).

    ``state``: ``secrets.token_urlsafe(32)`` (43 characters). ``code_verifier``: the PKCE
    verifier when the integration uses PKCE, else ``None``.
    """

    url: str
    state: str = field(repr=False)
    code_verifier: str | None = field(default=None, repr=False)


def pkce_verifier() -> str:
    """A fresh PKCE ``code_verifier``: 86 characters of base64url (RFC 7636 section 4.1)."""
    return secrets.token_urlsafe(64)


def pkce_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` without ``=`` padding (RFC 7636 section 4.2, S256)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthIntegration(ABC):
    """Base of every OAuth provider adapter.

    Subclasses set :attr:`provider` (``"slack"``), :attr:`title` (``"Slack"``), :attr:`uses_pkce`
    (only for providers that accept PKCE from a confidential client: not Slack, where it turns
    the app into a public client), override :meth:`authorize_params` when the provider wants
    another scope format and :meth:`redirect_warning` when it refuses some redirect URIs, and
    implement :meth:`exchange_code` and :meth:`refresh`.

    ``client_secret`` is kept for the token endpoint only; ``repr`` never shows it.
    """

    provider: ClassVar[str]
    #: The provider's name as people write it ("Slack", "HubSpot") for messages; empty: :attr:`provider`.
    title: ClassVar[str] = ""
    uses_pkce: ClassVar[bool] = False

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        authorize_url: str,
        scopes: Sequence[str],
        http: httpx.Client | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.authorize_url = authorize_url
        self.scopes: tuple[str, ...] = tuple(scopes)
        self.http = http

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(client_id={self.client_id!r}, redirect_uri={self.redirect_uri!r}, "
            f"authorize_url={self.authorize_url!r}, scopes={self.scopes!r})"
        )

    def redirect_warning(self) -> str | None:
        """Why the provider would likely refuse :attr:`redirect_uri` at its authorize page (a rule
        of the provider's, e.g. Slack's https-only redirect URLs), or None. A warning, never an
        error: a proxy or tunnel in front of the callback may make the URI work after all."""
        return None

    def authorize_params(self) -> dict[str, str]:
        """Provider-specific authorize parameters, merged over the standard ones.

        Default: ``scope`` space-joined (RFC 6749 section 3.3); nothing when there are no
        scopes. Slack overrides it with comma-joined scopes.
        """
        return {"scope": " ".join(self.scopes)} if self.scopes else {}

    def authorization_request(self) -> AuthorizationRequest:
        """A new authorize URL with a fresh ``state`` (and PKCE S256 iff :attr:`uses_pkce`).

        Parameters: ``response_type=code``, ``client_id``, ``redirect_uri``, ``state``, then
        :meth:`authorize_params` (which may override any of them), then ``code_challenge`` and
        ``code_challenge_method=S256``. A query already in ``authorize_url`` is kept in front.
        """
        state = secrets.token_urlsafe(32)
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": state,
        }
        params.update(self.authorize_params())
        verifier: str | None = None
        if self.uses_pkce:
            verifier = pkce_verifier()
            params["code_challenge"] = pkce_challenge(verifier)
            params["code_challenge_method"] = "S256"
        parts = urlsplit(self.authorize_url)
        query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
        # quote (not quote_plus): spaces as %20, which every server decodes the same way.
        url = urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    @abstractmethod
    def exchange_code(self, code: str, *, code_verifier: str | None) -> Grant:
        """Exchange an authorization ``code`` at the token endpoint (called exactly once per code).

        Raises :class:`~zigznote.errors.ProviderError` for network/5xx failures and
        :class:`~zigznote.errors.ConfigError` for refusals (``invalid_client``, ``invalid_code``,
        ``bad_redirect_uri`` …).
        """

    @abstractmethod
    def refresh(self, tokens: TokenSet) -> TokenSet:
        """A new token set from ``tokens.refresh_token``.

        Raises :class:`~zigznote.errors.CredentialsRejected` when the refresh token is refused.
        """
