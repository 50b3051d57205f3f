"""HubSpot API client: the dated CRM paths, one request loop, rate limits waited out.

Paths (date-versioned since 2026, https://developers.hubspot.com/docs/api-reference/latest/overview;
the newest version is 2026-09, GA on 2026-09-08,
https://developers.hubspot.com/changelog/crm-api-write-validation-enforcement): every path is a
template in :data:`PATHS` filled with ``{version}`` (``HUBSPOT_API_VERSION``) and, for CRM
objects, ``{object_type}``; the base is ``HUBSPOT_API_BASE``. An operator can override any
template (``paths=``) should HubSpot move one again.

Requests carry ``Authorization: Bearer <token>`` (an OAuth access token, a service key or a
legacy private-app token all work the same way) and JSON bodies. Rate limits
(https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines): an HTTP 429 is
waited out, ``Retry-After`` first, else the window of the ``policyName`` in the body
(``TEN_SECONDLY_ROLLING`` 10 s, ``SECONDLY`` 1 s), within ``max_wait`` seconds per call; a
``DAILY`` limit is not waited for. Errors: :mod:`.errors`. Contact search: :mod:`.search`;
batch writes: :mod:`.batch`; associations between existing records: :mod:`.associations`.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from zigznote.errors import CredentialsRejected, InvalidInput, ProviderError
from zigznote.integrations.http import DEFAULT_MAX_BODY_BYTES, Reply, make_client, retry_after_seconds, send
from zigznote.integrations.hubspot import associations, batch, search
from zigznote.integrations.hubspot.batch import ItemResult
from zigznote.integrations.hubspot.errors import (
    hubspot_error,
    id_field,
    mapping_of,
    parse_error,
    policy_window,
    text_field,
)
from zigznote.integrations.hubspot.search import Contact
from zigznote.untrusted import load_json

__all__ = [
    "DEFAULT_API_BASE",
    "DEFAULT_API_VERSION",
    "PATHS",
    "Contact",
    "HubSpotClient",
    "ItemResult",
    "Response",
]

DEFAULT_API_BASE = "https://api.hubapi.com"
#: The newest stable date-based version (GA 2026-09-08); 2026-03 stays supported until 2027-09.
DEFAULT_API_VERSION = "2026-09"

#: Path templates (see the module docstring); each cited in tests/fixtures/hubspot/README.md.
PATHS: Mapping[str, str] = {
    "search": "/crm/objects/{version}/{object_type}/search",
    "batch_create": "/crm/objects/{version}/{object_type}/batch/create",
    "batch_update": "/crm/objects/{version}/{object_type}/batch/update",
    "associate": "/crm/associations/{version}/{object_type}/{to_object_type}/batch/create",
    "owners": "/crm/owners/{version}",
    "account": "/account-info/{version}/details",
    "token": "/oauth/{version}/token",
    "introspect": "/oauth/{version}/token/introspect",
    "revoke": "/oauth/{version}/token/revoke",
}

#: Shortest wait after a 429 (a ``Retry-After: 0`` would otherwise retry in a tight loop).
MIN_RATE_WAIT = 1.0
#: Wait for a 429 naming no known policy and no ``Retry-After``: the burst window.
DEFAULT_RATE_WAIT = 10.0
#: Most rate-limit retries of one request, whatever the waits.
MAX_RATE_RETRIES = 30
#: Owners per page (the owners API pages with ``limit``/``after``).
OWNERS_PAGE = 100
#: A listing needing more pages than this is a loop, not an account.
MAX_PAGES = 1000

_SEGMENT_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Tokens go into a header: printable ASCII without spaces, or the request is not sent at all.
# HubSpot says access tokens vary in size (allow up to 300 characters and more to come).
_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,4000}")


@dataclass(frozen=True)
class Response:
    """A HubSpot answer the caller asked to see: HTTP status, parsed body (None if empty), headers."""

    status: int
    body: Any
    headers: httpx.Headers


def _json_bytes(payload: Any) -> bytes:
    try:
        return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the HubSpot request cannot be encoded as JSON: {exc}") from None
    except UnicodeEncodeError:
        raise InvalidInput("the HubSpot request holds text that is not valid Unicode (a lone surrogate)") from None


def _parse(reply: Reply) -> Any:
    """The answer's JSON value, or None when the body is empty or not JSON."""
    if not reply.body:
        return None
    try:
        return load_json(reply.body, where="HubSpot's answer")
    except InvalidInput:
        return None


class HubSpotClient:
    """Calls to HubSpot's dated APIs with one ``httpx.Client``.

    ``api_base``: ``HUBSPOT_API_BASE``. ``version``: ``HUBSPOT_API_VERSION`` (a path segment
    such as ``2026-09``). ``http``: an injected client (tests, proxies); by default one from
    ``integrations.http.make_client`` (15 s timeouts, no redirects), closed by :meth:`close`.
    ``sleep``: how to wait (tests pass a recorder). ``max_wait``: total seconds one request
    may spend waiting on rate limits. ``paths``: overrides of :data:`PATHS` templates.
    """

    def __init__(
        self,
        *,
        api_base: str = DEFAULT_API_BASE,
        version: str = DEFAULT_API_VERSION,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 60.0,
        paths: Mapping[str, str] | None = None,
        max_response_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not (math.isfinite(max_wait) and max_wait >= 0):
            raise ValueError(f"max_wait must be a non-negative number of seconds, not {max_wait!r}")
        if not _SEGMENT_RE.fullmatch(version):
            raise ValueError(f"not a HubSpot API version: {version!r}")
        unknown = set(paths or {}) - set(PATHS)
        if unknown:
            raise ValueError(f"unknown HubSpot path names: {sorted(unknown)}")
        self.api_base = api_base.rstrip("/")
        self.version = version
        self.paths: dict[str, str] = {**PATHS, **(paths or {})}
        self._owns_http = http is None
        self.http = http if http is not None else make_client()
        self._sleep = sleep
        self.max_wait = max_wait
        self.max_response_bytes = max_response_bytes

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one request path ------------------------------------------------------------

    def url(self, name: str, *, object_type: str | None = None, to_object_type: str | None = None) -> str:
        """The full URL of path ``name`` (a key of :data:`PATHS`) for this base and version
        (``to_object_type``: the second object type of an associations path)."""
        values = {"version": self.version}
        for field, kind in (("object_type", object_type), ("to_object_type", to_object_type)):
            if kind is not None:
                if not _SEGMENT_RE.fullmatch(kind):
                    raise InvalidInput(f"not a HubSpot object type: {kind!r}")
                values[field] = kind
        return self.api_base + self.paths[name].format(**values)

    def request(
        self,
        method: Literal["GET", "POST"],
        url: str,
        *,
        what: str,
        token: str | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        accept: Sequence[int] = (),
        secrets: Sequence[str] = (),
    ) -> Response:
        """Send one request, wait out 429s, and return the answer when it is a 2xx (or a status
        in ``accept``, which the caller reads itself: the batch writer accepts 400/409/422).

        ``token``: bearer token (None for the OAuth endpoints, whose credentials are in
        ``form``). ``json_body`` goes as ``application/json``, ``form`` as a form. Raises what
        :func:`.errors.hubspot_error` maps other statuses to, ProviderError ``ratelimited``
        (429 beyond ``max_wait``, or a daily limit), ``hubspot_bad_response`` (a 2xx that is not
        JSON), ``provider_unreachable`` (network).
        """
        headers: dict[str, str] = {}
        hidden = list(secrets)
        if token is not None:
            if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
                raise CredentialsRejected(
                    "the stored HubSpot token is malformed (empty, too long, or holding spaces or control characters)",
                    provider="hubspot",
                )
            headers["Authorization"] = f"Bearer {token}"
            hidden.append(token)
        content: bytes | None = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            content = _json_bytes(json_body)
        waited = 0.0
        retries = 0
        while True:
            reply = send(
                self.http,
                method,
                url,
                what=what,
                headers=headers,
                params=params,
                data=form,
                content=content,
                secrets=hidden,
                max_bytes=self.max_response_bytes,
            )
            body = _parse(reply)
            if reply.status == 429:
                wait = self._rate_wait(reply, body, what=what, waited=waited, retries=retries, secrets=hidden)
                self._sleep(wait)
                waited += wait
                retries += 1
                continue
            if 200 <= reply.status < 300 or reply.status in accept:
                if 200 <= reply.status < 300 and reply.body and body is None:
                    raise ProviderError(f"HubSpot's answer to {what} is not JSON", code="hubspot_bad_response")
                return Response(reply.status, body, reply.headers)
            error = parse_error(body, secrets=hidden)
            raise hubspot_error(reply.status, error, what=what, redirect=reply.headers.get("Location"))

    def _rate_wait(
        self, reply: Reply, body: Any, *, what: str, waited: float, retries: int, secrets: Sequence[str]
    ) -> float:
        """Seconds to sleep before resending after a 429, or raise when the wait is over budget."""
        error = parse_error(body, secrets=secrets)
        if error.policy == "DAILY":
            raise ProviderError(
                f"HubSpot's daily API limit for this account is used up ({what}): {error.describe()}",
                hint="the limit resets at midnight in the HubSpot account's time zone; try again then",
                code="ratelimited",
            )
        default = policy_window(error.policy) or DEFAULT_RATE_WAIT
        header = reply.headers.get("Retry-After")
        wait = max(retry_after_seconds(header, default=default, cap=86_400.0), MIN_RATE_WAIT)
        if waited + wait > self.max_wait or retries >= MAX_RATE_RETRIES:
            policy = f" ({error.policy})" if error.policy else ""
            raise ProviderError(
                f"HubSpot is rate-limiting {what}{policy}: it asks to wait {wait:g} s more, after {waited:g} s "
                f"already waited (at most {self.max_wait:g} s per call)",
                hint=f"try again in {math.ceil(wait)} s",
                code="ratelimited",
            )
        return wait

    def _pages(self, url: str, token: str, *, what: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every ``results`` item of a GET listing paged with ``after`` (``paging.next.after``)."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            query = {**params, **({"after": after} if after else {})}
            body = mapping_of(self.request("GET", url, what=what, token=token, params=query).body)
            results = body.get("results")
            if not isinstance(results, list):
                raise ProviderError(f"HubSpot's answer to {what} has no list of results", code="hubspot_bad_response")
            items.extend(r for r in results if isinstance(r, dict))
            following = mapping_of(mapping_of(body.get("paging")).get("next")).get("after")
            if following is None or following == "":
                return items
            following = str(following) if isinstance(following, int | str) else None
            if following is None or following in seen or len(following) > 200:
                raise ProviderError(f"HubSpot's paging of {what} went wrong", code="hubspot_bad_response")
            seen.add(following)
            after = following
        raise ProviderError(f"HubSpot's {what} did not end after {MAX_PAGES} pages", code="hubspot_bad_response")

    # -- account and owners ----------------------------------------------------------------

    def account(self, token: str) -> dict[str, Any]:
        """``GET /account-info/{version}/details``
        (https://developers.hubspot.com/docs/api-reference/latest/account/account-info/guide).

        Returns ``{"hub_id", "ui_domain", "time_zone", "account_type", "data_hosting_location",
        "currency"}`` (storable strings or None; ``hub_id`` is the portal ID as digits). The
        token's scopes are not part of this answer (``HubSpotOAuth.introspect`` has them for
        OAuth tokens). Raises CredentialsRejected for a refused token, ProviderError when the
        answer names no portal.
        """
        body = mapping_of(self.request("GET", self.url("account"), what="HubSpot account details", token=token).body)
        portal = id_field(body.get("portalId"))
        if portal is None:
            raise ProviderError("HubSpot's account details name no portal ID", code="hubspot_bad_response")
        return {
            "hub_id": portal,
            "ui_domain": text_field(body.get("uiDomain")),
            "time_zone": text_field(body.get("timeZone"), 100),
            "account_type": text_field(body.get("accountType"), 100),
            "data_hosting_location": text_field(body.get("dataHostingLocation"), 50),
            "currency": text_field(body.get("companyCurrency"), 10),
        }

    def owners(self, token: str) -> dict[str, str]:
        """Every active owner as ``lowercased email -> owner ID``: ``GET /crm/owners/{version}``
        paged with ``after`` (https://developers.hubspot.com/docs/api-reference/latest/crm/owners/guide;
        scope ``crm.objects.owners.read``). The owner ID (not ``userId``) is what
        ``hubspot_owner_id`` takes. Owners without an email or a valid ID are skipped; when two
        owners share an email, the first listed wins.
        """
        items = self._pages(
            self.url("owners"), token, what="HubSpot owners list", params={"limit": OWNERS_PAGE, "archived": "false"}
        )
        found: dict[str, str] = {}
        for item in items:
            owner_id = id_field(item.get("id"))
            email = text_field(item.get("email"), 254)
            if owner_id and email:
                found.setdefault(email.lower(), owner_id)
        return found

    # -- contacts, batch writes (see .search and .batch) -------------------------------------

    def contacts_by_email(self, token: str, emails: Sequence[str]) -> dict[str, Contact]:
        """``lowercased email -> Contact`` for the emails that match a contact's ``email`` or
        ``hs_additional_emails``; see :func:`.search.contacts_by_email`."""
        return search.contacts_by_email(self, token, emails)

    def search_contacts(self, token: str, query: str, *, limit: int = 100) -> list[Contact]:
        """Contacts matching a free-text ``query``; see :func:`.search.search_contacts`."""
        return search.search_contacts(self, token, query, limit=limit)

    def find_ids(
        self,
        token: str,
        object_type: str,
        property: str,
        values: Sequence[str],
        *,
        match: Literal["exact", "contains"] = "exact",
    ) -> dict[str, str]:
        """``value -> object ID`` for objects whose ``property`` holds a value; see
        :func:`.search.find_ids` (crash recovery by our external key)."""
        return search.find_ids(self, token, object_type, property, values, match=match)

    def batch_create(
        self,
        token: str,
        object_type: str,
        inputs: Sequence[Mapping[str, Any]],
        *,
        progress: MutableMapping[str, ItemResult] | None = None,
    ) -> list[ItemResult]:
        """Create objects in batches of ≤ 100, read per item; see :func:`.batch.write`."""
        return batch.write(self, token, object_type, inputs, mode="create", progress=progress)

    def batch_update(
        self,
        token: str,
        object_type: str,
        inputs: Sequence[Mapping[str, Any]],
        *,
        progress: MutableMapping[str, ItemResult] | None = None,
    ) -> list[ItemResult]:
        """Update objects (inputs ``{"id", "properties", "objectWriteTraceId"}``) in batches of
        ≤ 100, read per item; see :func:`.batch.write`."""
        return batch.write(self, token, object_type, inputs, mode="update", progress=progress)

    def associate(
        self,
        token: str,
        from_type: str,
        to_type: str,
        pairs: Sequence[tuple[str, str]],
        type_id: int,
        *,
        category: str = "HUBSPOT_DEFINED",
        progress: MutableMapping[str, ItemResult] | None = None,
    ) -> list[ItemResult]:
        """Associate existing records, ``(from ID, to ID)`` pairs, in batches of ≤ 100, read
        per pair (keys ``"<from>:<to>"``); see :func:`.associations.associate`."""
        return associations.associate(
            self, token, from_type, to_type, pairs, type_id, category=category, progress=progress
        )
