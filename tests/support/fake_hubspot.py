"""A fake HubSpot on loopback: the OAuth authorize page, the dated OAuth token endpoints and the
CRM endpoints zigznote calls, with state (contacts, meetings, tasks, owners, tokens).

A real HTTP server (``http.server``, one thread per request) on ``127.0.0.1`` and an ephemeral
port, in a background thread. Code under test, a headless browser or another process reaches it
over HTTP exactly as it would reach HubSpot, through the configurable endpoints
(``fake.env()``: ``HUBSPOT_API_BASE``, ``HUBSPOT_API_VERSION``, ``HUBSPOT_OAUTH_AUTHORIZE_URL``,
client id/secret).

    with FakeHubSpot() as fake:                       # or the ``fake_hubspot`` fixture
        for name, value in fake.env(redirect_uri="http://localhost:8765/callback").items():
            monkeypatch.setenv(name, value)
        fake.add_contact("ada@example.com", "Ada", "Lovelace")
        ...                                           # run the code under test
        assert len(fake.objects["meetings"]) == 1

Endpoints (behaviour and shapes from HubSpot's documentation; see ``fake_hubspot_api``):

- ``GET /oauth/authorize``: ``client_id`` (ours), ``redirect_uri`` (in ``redirect_uris`` when set;
  ``http`` only for ``localhost``; IP literals refused, as HubSpot does), ``scope`` (space
  separated), ``state``; then per ``fake.authorize`` (``"approve"``/``"deny"``) a 302 to
  ``redirect_uri?code=…&state=…`` or ``?error=access_denied&…``. A ``code_challenge`` (S256) is
  remembered and its verifier required at the exchange.
- ``POST /oauth/{version}/token``, ``…/token/introspect``, ``…/token/revoke``: form bodies with
  ``client_id``/``client_secret`` (credentials in the query string are refused); codes are
  single-use and bound to the redirect URI; ``rotation`` (default on) spends a refresh token when
  used; errors are RFC 6749 ``error``/``error_description`` (400 ``invalid_grant``, 401
  ``invalid_client``). The old ``/oauth/v1/…`` paths answer 404 (shut off).
- ``GET /account-info/{version}/details``, ``GET /crm/owners/{version}`` (paged),
  ``POST /crm/objects/{version}/{type}/search`` (``EQ``, ``IN``, ``CONTAINS_TOKEN``, ``query``;
  the documented filter and page limits enforced; ``search_delay`` hides fresh writes),
  ``…/batch/create`` and ``…/batch/update`` (≤ 100 inputs; per-item results and errors with the
  ``objectWriteTraceId``, 207 when any failed; ``whole_batch_rejects`` turns one bad input into a
  400 for the whole batch), ``POST /crm/associations/{version}/{from}/contacts/batch/create``
  (existing records associated; a pair already associated stays one). Any path with another
  version than ``versions``: 404.
- Bearer tokens: unknown or revoked → 401 ``INVALID_AUTHENTICATION``, past expiry → 401
  ``EXPIRED_AUTHENTICATION``, missing scope → 403 ``MISSING_SCOPES``.

Knobs (constructor arguments and attributes): ``client_id``, ``client_secret``,
``redirect_uris``, ``hub_id``, ``hub_domain``, ``versions``, ``rotation``, ``expires_in``,
``grant_scopes``, ``authorize``, ``search_delay``, ``whole_batch_rejects``, ``clock``.
Scripted failures: ``fake.fail("batch_create", status=429, body=…, retry_after=1)`` answers the
next call of that endpoint so; ``fake.reject("tasks", lambda item: …)`` refuses matching batch
inputs (one 207 error each) ``times`` times (``"associations"``: association inputs).
Records: ``fake.requests``, ``fake.calls(name, object_type=None)``, ``fake.objects`` (type → id →
:class:`CrmObject`), ``fake.updates``, ``fake.revoked``.
Helpers: ``install()`` (tokens as a finished OAuth flow leaves them), ``service_key()``,
``add_contact``, ``add_owner``, ``expire_access_tokens()``, ``revoke_all()``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.support.fake_hubspot_api import ENDPOINTS, CrmObject, HubRequest, Reply, Token, hub_error
from tests.support.fake_hubspot_oauth import OAUTH_ENDPOINTS, authorize
from tests.support.fake_oauth import FakeOAuthServer, json_body, read_body

__all__ = ["CrmObject", "FakeHubSpot", "HubRequest", "fake_hubspot"]

DEFAULT_SCOPES = ("oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.owners.read")
_CRM_RE = re.compile(
    r"^/crm/objects/(?P<version>[^/]+)/(?P<type>[a-z0-9_-]+)/(?P<op>search|batch/create|batch/update)$"
)
_ASSOC_RE = re.compile(r"^/crm/associations/(?P<version>[^/]+)/(?P<type>[a-z0-9_-]+)/[a-z0-9_-]+/batch/create$")
_OAUTH_RE = re.compile(r"^/oauth/(?P<version>[^/]+)/token(?P<op>/introspect|/revoke)?$")


class FakeHubSpot(FakeOAuthServer[HubRequest]):
    """The fake server; see the module docstring. Thread-safe: every request is handled under
    one lock."""

    env_prefix = "HUBSPOT"
    thread_name = "fake-hubspot"
    json_type = "application/json;charset=utf-8"

    def __init__(
        self,
        *,
        client_id: str = "5f7e6d5c-4b3a-2910-8f7e-6d5c4b3a2910",
        client_secret: str = "fake-hubspot-secret-0123456789abcdef",
        redirect_uris: Sequence[str] | None = None,
        hub_id: str = "62515",
        hub_domain: str = "fake-portal.hubspot.com",
        versions: Sequence[str] = ("2026-09", "2026-03"),
        rotation: bool = True,
        expires_in: int = 1800,
        grant_scopes: Sequence[str] | None = None,
        authorize: Literal["approve", "deny"] = "approve",
        search_delay: float = 0.0,
        whole_batch_rejects: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=redirect_uris,
            rotation=rotation,
            expires_in=expires_in,
            grant_scopes=grant_scopes,
            clock=clock,
        )
        self.hub_id, self.hub_domain, self.versions = hub_id, hub_domain, tuple(versions)
        self.app_id, self.user_id, self.user_email = "456789", "123456", "installer@example.com"
        self.authorize: Literal["approve", "deny"] = authorize
        self.search_delay, self.whole_batch_rejects = search_delay, whole_batch_rejects
        # code → (redirect_uri, scopes, issued at, PKCE challenge or None)
        self.codes: dict[str, tuple[str, tuple[str, ...], float, str | None]] = {}
        self.revoked: list[str] = []
        self.objects: dict[str, dict[str, CrmObject]] = {"contacts": {}, "meetings": {}, "tasks": {}}
        self.updates: list[tuple[str, str]] = []
        self.owners: list[dict[str, Any]] = []
        self._ids = itertools.count(1001)
        self._rejects: list[list[Any]] = []  # [object_type, predicate, times left, message]

    @property
    def authorize_url(self) -> str:
        """``HUBSPOT_OAUTH_AUTHORIZE_URL`` for this fake."""
        return f"{self.url}/oauth/authorize"

    def settings_env(self) -> dict[str, str]:
        """``HUBSPOT_API_BASE`` (the fake's URL), ``HUBSPOT_API_VERSION`` (its newest version) and
        ``HUBSPOT_OAUTH_AUTHORIZE_URL``."""
        return {
            "HUBSPOT_API_BASE": self.url,
            "HUBSPOT_API_VERSION": self.versions[0],
            "HUBSPOT_OAUTH_AUTHORIZE_URL": self.authorize_url,
        }

    # ------------------------------------------------------------------ knobs, data and records

    def fail(
        self, name: str, *, status: int, body: Mapping[str, Any], retry_after: float | None = None, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls of endpoint ``name`` with ``status`` and ``body``
        (and ``Retry-After`` when given), before any other check."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self.script(name, Reply(dict(body), status, headers), times=times)

    def reject(
        self, object_type: str, match: Callable[[Mapping[str, Any]], bool], *, times: int = 1, message: str = ""
    ) -> None:
        """Refuse the next ``times`` batch inputs of ``object_type`` for which ``match(input)`` is
        true, each with its own 207 error (``VALIDATION_ERROR``)."""
        with self.lock:
            self._rejects.append([object_type, match, times, message or "Property values were not valid"])

    def rejection(self, object_type: str, item: Mapping[str, Any]) -> str | None:
        """The scripted rejection of one input (lock held), or None."""
        for entry in self._rejects:
            if entry[0] == object_type and entry[2] > 0 and entry[1](item):
                entry[2] -= 1
                return str(entry[3])
        return None

    def calls(self, name: str, object_type: str | None = None) -> list[HubRequest]:
        """Recorded requests of one endpoint (and object type)."""
        with self.lock:
            return [r for r in self.requests if r.name == name and object_type in (None, r.object_type)]

    def mint(self, scopes: tuple[str, ...], *, refresh: str | None = None) -> dict[str, Any]:
        """New tokens; the token-endpoint success body (lock held by callers inside requests)."""
        access = f"CJ{secrets.token_urlsafe(48)}"
        self.access_tokens[access] = Token(scopes, self.clock() + self.expires_in)
        if refresh is None:
            refresh = f"na1-{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(12)}"
            self.refresh_tokens[refresh] = scopes
        return {
            "access_token": access, "refresh_token": refresh, "expires_in": self.expires_in,
            "token_type": "bearer", "token_use": "access_token", "hub_id": int(self.hub_id),
            "scopes": list(scopes), "user_id": int(self.user_id),
        }  # fmt: skip

    def install(self, scopes: Sequence[str] = DEFAULT_SCOPES) -> dict[str, Any]:
        """Tokens as a finished OAuth flow leaves them (the token-endpoint body)."""
        with self.lock:
            return self.mint(tuple(scopes))

    def service_key(self, scopes: Sequence[str] = DEFAULT_SCOPES) -> str:
        """A static token (service key): never expires, never refreshed."""
        with self.lock:
            key = f"pat-na1-{secrets.token_hex(16)}"
            self.access_tokens[key] = Token(tuple(scopes), None)
            return key

    def new_object(self, object_type: str, properties: dict[str, str], links: list[tuple[str, int]]) -> CrmObject:
        """Store a new object with the next ID (lock held)."""
        now = self.clock()
        obj = CrmObject(str(next(self._ids)), dict(properties), list(links), now, now)
        self.objects.setdefault(object_type, {})[obj.id] = obj
        return obj

    def add_contact(
        self, email: str, firstname: str = "", lastname: str = "", company: str = "", additional: Sequence[str] = ()
    ) -> str:
        """A contact that existed before the test (visible to search at once); its ID."""
        props = {"email": email.lower(), "firstname": firstname, "lastname": lastname, "company": company}
        if additional:
            props["hs_additional_emails"] = ";".join(additional)
        with self.lock:
            obj = self.new_object("contacts", {k: v for k, v in props.items() if v}, [])
            obj.created_at = obj.updated_at = self.clock() - 3600
            return obj.id

    def add_owner(self, email: str, first: str = "", last: str = "") -> str:
        """A HubSpot owner (a user who can own records); its owner ID."""
        with self.lock:
            owner_id = str(41_000_000 + len(self.owners))
            self.owners.append(
                {"id": owner_id, "email": email, "type": "PERSON", "firstName": first, "lastName": last,
                 "userId": 9_000_000 + len(self.owners), "archived": False}
            )  # fmt: skip
            return owner_id

    def expire_access_tokens(self) -> None:
        """Every OAuth access token issued so far is past its expiry from now on."""
        with self.lock:
            for info in self.access_tokens.values():
                if info.expires_at is not None:
                    info.expires_at = self.clock() - 1

    # ------------------------------------------------------------------ dispatch

    def endpoint_of(self, req: HubRequest) -> str:
        return req.name

    def answer(self, req: HubRequest) -> Reply:
        """The authorize page, an OAuth or a CRM endpoint of a served version (lock held)."""
        if req.name == "authorize":
            return authorize(self, req)
        endpoint = ENDPOINTS.get(req.name) or OAUTH_ENDPOINTS.get(req.name)
        if req.version not in self.versions or endpoint is None:
            raise hub_error(404, "OBJECT_NOT_FOUND", f"no such endpoint: {req.http_method} {req.path}")
        status, body = endpoint(self, req)
        return Reply(body, status)

    def parse(self, handler: BaseHTTPRequestHandler) -> HubRequest:
        """The query, a form body or a JSON body (kept apart), the bearer token, the endpoint."""
        split = urlsplit(handler.path)
        raw, ctype = read_body(handler)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        form: dict[str, str] = {}
        body: Any = None
        if ctype == "application/json" and raw:
            body = json_body(raw)
        elif raw:
            form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        auth = headers.get("authorization", "")
        token = auth[7:] if auth[:7].lower() == "bearer " else None
        name, object_type, version = _route(handler.command, split.path)
        return HubRequest(handler.command, split.path, name, object_type, version, query, form, body, headers, token)


def _route(method: str, path: str) -> tuple[str, str | None, str | None]:
    """``(endpoint name, object type, version)`` of a request path."""
    if method == "GET" and path == "/oauth/authorize":
        return "authorize", None, None
    if found := _OAUTH_RE.match(path):
        op = {None: "token", "/introspect": "introspect", "/revoke": "revoke"}[found["op"]]
        return (op if method == "POST" else "unknown"), None, found["version"]
    if found := _CRM_RE.match(path):
        op = {"search": "search", "batch/create": "batch_create", "batch/update": "batch_update"}[found["op"]]
        return (op if method == "POST" else "unknown"), found["type"], found["version"]
    if found := _ASSOC_RE.match(path):
        return ("associate" if method == "POST" else "unknown"), found["type"], found["version"]
    if found := re.match(r"^/crm/owners/(?P<version>[^/]+)/?$", path):
        return ("owners" if method == "GET" else "unknown"), None, found["version"]
    if found := re.match(r"^/account-info/(?P<version>[^/]+)/details$", path):
        return ("account" if method == "GET" else "unknown"), None, found["version"]
    return "unknown", None, None


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    """A started :class:`FakeHubSpot` with the default knobs (change them as attributes)."""
    with FakeHubSpot() as fake:
        yield fake
