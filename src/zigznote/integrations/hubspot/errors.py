"""HubSpot's error answers as zigznote errors (one place, untrusted text made safe).

HubSpot's error body (the ``Error`` schema of every dated OpenAPI spec, e.g.
https://developers.hubspot.com/docs/api-reference/latest/crm/activities/meetings/batch/create-meetings):
``{"status": "error", "message", "correlationId", "category", "subCategory", "context":
{name: [values]}, "errors": [{"message", "code", "in", "context", "subCategory"}], "links"}``.
Rate-limit answers (HTTP 429, https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines)
carry ``"errorType": "RATE_LIMIT"`` and ``"policyName"`` (``TEN_SECONDLY_ROLLING``,
``SECONDLY`` for the search endpoints, ``DAILY``). The dated OAuth token endpoints answer with
the same shape, and also RFC 6749 ``error``/``error_description`` (and the older ``status``
codes ``BAD_REFRESH_TOKEN``, ``BAD_AUTH_CODE`` …): :func:`oauth_error` reads all three.

Everything in an answer is untrusted: strings pass :func:`zigznote.untrusted.storable_text`,
bounded, before they enter a message; codes are used as codes only when they look like codes;
known secrets are scrubbed in case an answer echoes one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zigznote.errors import ConfigError, Conflict, CredentialsRejected, NotFound, ProviderError, ZigznoteError
from zigznote.untrusted import storable_text

__all__ = [
    "RECONNECT_HINT",
    "ErrorBody",
    "hubspot_error",
    "id_field",
    "mapping_of",
    "oauth_error",
    "parse_error",
    "policy_window",
    "text_field",
]

RECONNECT_HINT = "run `zigznote hubspot connect` again"

#: Seconds to wait for each documented rate-limit policy when no ``Retry-After`` is given:
#: the burst limit is a rolling 10-second window, the search limit is per second
#: (https://developers.hubspot.com/docs/api-reference/latest/crm/search-the-crm, "Limitations").
POLICY_WINDOWS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}

_CODE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SCOPE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_SCOPE_KEYS = ("requiredGranularScopes", "requiredScopes", "missingScopes", "missingGranularScopes")


def text_field(value: Any, max_chars: int = 255) -> str | None:
    """A string field of a HubSpot answer, made storable and bounded; anything else is None."""
    if not isinstance(value, str):
        return None
    text = (storable_text(value, max_chars=max_chars) or "").strip()
    return text or None


def _code(value: Any) -> str | None:
    return value if isinstance(value, str) and _CODE_RE.fullmatch(value) else None


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


@dataclass(frozen=True)
class ErrorBody:
    """The readable parts of one error answer (all made storable and bounded).

    ``message`` joins HubSpot's message and up to three ``errors[].message`` (secrets
    scrubbed); ``scopes`` are the scopes HubSpot says are missing; ``trace_ids`` and ``ids``
    come from ``context.objectWriteTraceId`` / ``context.ids`` (a batch error naming inputs).
    """

    category: str | None = None
    sub_category: str | None = None
    message: str | None = None
    correlation_id: str | None = None
    policy: str | None = None
    oauth_error: str | None = None
    status_code: str | None = None
    scopes: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()

    def describe(self) -> str:
        """``"<category>: <message> (correlation ID <id>)"`` with whatever parts exist."""
        head = self.category or self.oauth_error or self.status_code
        parts = [p for p in (head, self.message) if p]
        text = ": ".join(parts) if parts else "no error details"
        if self.correlation_id:
            text += f" (correlation ID {self.correlation_id})"
        return text


def _strings(value: Any, limit: int = 50) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value[:limit] if isinstance(v, str)]
    return []


def _context_values(contexts: Iterable[Any], keys: Iterable[str]) -> list[str]:
    found: list[str] = []
    for context in contexts:
        if isinstance(context, dict):
            for key in keys:
                found.extend(_strings(context.get(key)))
    return found


def parse_error(body: Any, *, secrets: Iterable[str] = ()) -> ErrorBody:
    """Read an error answer (any JSON value; a non-object gives an empty :class:`ErrorBody`)."""
    if not isinstance(body, dict):
        return ErrorBody()
    secrets = tuple(secrets)
    details = body.get("errors")
    items = [d for d in details[:20] if isinstance(d, dict)] if isinstance(details, list) else []
    texts = [text_field(body.get("message"), 300) or text_field(body.get("error_description"), 300)]
    for item in items[:3]:
        texts.append(text_field(item.get("message"), 200))
    seen: list[str] = []
    for text in texts:
        if text and text not in seen:
            seen.append(text)
    message = _scrub("; ".join(seen), secrets) if seen else None
    contexts = [body.get("context"), *(item.get("context") for item in items)]
    scopes = tuple(dict.fromkeys(s for s in _context_values(contexts, _SCOPE_KEYS) if _SCOPE_RE.fullmatch(s)))
    traces = tuple(dict.fromkeys(t for t in _context_values(contexts, ("objectWriteTraceId",)) if _code(t)))
    ids = tuple(dict.fromkeys(i for i in _context_values(contexts, ("ids", "id")) if _code(i)))
    return ErrorBody(
        category=_code(body.get("category")),
        sub_category=_code(body.get("subCategory")),
        message=message,
        correlation_id=_code(body.get("correlationId")),
        policy=_code(body.get("policyName")),
        oauth_error=_code(body.get("error")),
        status_code=_code(body.get("status")) if body.get("status") != "error" else None,
        scopes=scopes,
        trace_ids=traces,
        ids=ids,
    )


def policy_window(policy: str | None) -> float | None:
    """Seconds of the rate-limit window named by ``policyName``; None when unknown or ``DAILY``."""
    return POLICY_WINDOWS.get(policy or "")


def hubspot_error(status: int, error: ErrorBody, *, what: str, redirect: str | None = None) -> ZigznoteError:
    """The zigznote error for a non-success HTTP answer to ``what`` ("HubSpot contacts search").

    401 → CredentialsRejected (``call_with_token`` refreshes once); 403 ``MISSING_SCOPES`` →
    ConfigError ``missing_scope`` naming the scopes; other 403 → ConfigError
    ``hubspot_forbidden``; 404 → NotFound; 409 → Conflict; 400/422 → ProviderError
    ``hubspot_validation_error``; 5xx → ProviderError ``hubspot_unavailable``; a redirect →
    ProviderError naming the API base setting; anything else ``hubspot_http_error``.
    (429 is handled by the client's wait loop before this is reached.)
    """
    detail = error.describe()
    if status == 401:
        return CredentialsRejected(
            f"HubSpot refused the access token for {what.removeprefix('HubSpot ')}: {detail}", provider="hubspot"
        )
    if status == 403:
        if error.category == "MISSING_SCOPES" or error.scopes:
            needed = ", ".join(error.scopes) or "(HubSpot did not say which)"
            return ConfigError(
                f"the HubSpot token lacks a scope needed by {what}: {needed} ({detail})",
                hint=f"add the scope to the HubSpot app (or service key), then {RECONNECT_HINT}",
                code="missing_scope",
            )
        return ConfigError(
            f"HubSpot refused {what} (HTTP 403): {detail}",
            hint="check the HubSpot user's permissions and the app's scopes",
            code="hubspot_forbidden",
        )
    if status == 404:
        return NotFound(f"HubSpot found nothing for {what}: {detail}", code="hubspot_not_found")
    if status == 409:
        return Conflict(f"HubSpot refused {what} as a conflict: {detail}", code="hubspot_conflict")
    if status in (400, 422):
        return ProviderError(f"HubSpot refused {what} as invalid: {detail}", code="hubspot_validation_error")
    if status >= 500:
        return ProviderError(
            f"HubSpot answered HTTP {status} to {what}: {detail}",
            hint="HubSpot has a problem; try again later",
            code="hubspot_unavailable",
        )
    extra = " (redirects are not followed: check the HubSpot API base URL setting)" if redirect else ""
    return ProviderError(f"HubSpot answered HTTP {status} to {what}{extra}: {detail}", code="hubspot_http_error")


# The refresh token or code is refused (RFC 6749 section 5.2 ``invalid_grant``; HubSpot's older
# ``status`` codes from the v1 token endpoint, still sent beside ``error`` by some answers).
_GRANT_REFUSED = {"invalid_grant", "BAD_REFRESH_TOKEN", "BAD_AUTH_CODE", "EXPIRED_AUTH_CODE", "access_denied"}
_BAD_CLIENT = {"invalid_client", "unauthorized_client", "BAD_CLIENT_ID", "BAD_CLIENT_SECRET", "INVALID_CLIENT_ID"}
_BAD_REDIRECT = {"BAD_REDIRECT_URI", "redirect_uri_mismatch"}


def oauth_error(status: int, error: ErrorBody, *, what: str, refreshing: bool) -> ZigznoteError:
    """The zigznote error for a refused call to the dated OAuth endpoints (token, revoke, introspect).

    A refused grant (``invalid_grant``, ``BAD_REFRESH_TOKEN``, ``BAD_AUTH_CODE``) → while
    ``refreshing``: CredentialsRejected (connect again); on a code exchange: ConfigError
    ``invalid_code``. The app's own settings (``invalid_client``, ``BAD_CLIENT_SECRET`` …) →
    ConfigError ``invalid_client``; a redirect URI mismatch → ConfigError ``bad_redirect_uri``;
    ``invalid_scope`` → ConfigError ``invalid_scope``; 5xx → ProviderError ``hubspot_unavailable``;
    anything else → ProviderError ``hubspot_oauth_error``.
    """
    codes = {c for c in (error.oauth_error, error.status_code, error.sub_category) if c}
    detail = error.describe()
    if codes & _GRANT_REFUSED:
        if refreshing:
            return CredentialsRejected(f"HubSpot refused the refresh token ({what}): {detail}", provider="hubspot")
        return ConfigError(
            f"HubSpot refused the authorization code ({what}): {detail}",
            hint="the code expired or was already used; " + RECONNECT_HINT,
            code="invalid_code",
        )
    if codes & _BAD_CLIENT:
        return ConfigError(
            f"HubSpot refused the app's credentials ({what}): {detail}",
            hint="check HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET (the app's Auth page)",
            code="invalid_client",
        )
    if codes & _BAD_REDIRECT:
        return ConfigError(
            f"HubSpot refused the redirect URI ({what}): {detail}",
            hint="HUBSPOT_REDIRECT_URI must equal a redirect URL of the HubSpot app (http://localhost, not 127.0.0.1)",
            code="bad_redirect_uri",
        )
    if "invalid_scope" in codes:
        return ConfigError(
            f"HubSpot refused the requested scopes ({what}): {detail}",
            hint="the scopes asked for must match the app's required scopes",
            code="invalid_scope",
        )
    if status == 401 and refreshing:
        return CredentialsRejected(f"HubSpot refused the refresh ({what}): {detail}", provider="hubspot")
    if status >= 500:
        return ProviderError(
            f"HubSpot answered HTTP {status} to {what}: {detail}",
            hint="HubSpot has a problem; try again later",
            code="hubspot_unavailable",
        )
    return ProviderError(f"HubSpot refused {what} (HTTP {status}): {detail}", code="hubspot_oauth_error")


def mapping_of(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty mapping."""
    return value if isinstance(value, dict) else {}


_ID_RE = re.compile(r"[0-9]{1,20}")


def id_field(value: Any) -> str | None:
    """A HubSpot numeric ID (hub/portal, object, owner) as a string of digits; anything else is
    None (HubSpot sends object IDs as strings and hub IDs as numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value < 10**20:
        return str(value)
    return value if isinstance(value, str) and _ID_RE.fullmatch(value) else None
