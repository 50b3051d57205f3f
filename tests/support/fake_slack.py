"""A fake Slack on loopback: the OAuth v2 authorize page and the Web API methods zigznote calls.

A real HTTP server (``http.server``, one thread per request) on ``127.0.0.1`` and an ephemeral
port, started in a background thread of the test process. Code under test, a headless browser or
another process reaches it over HTTP exactly as it would reach Slack, through the configurable
endpoints (``fake.env()``: ``SLACK_OAUTH_AUTHORIZE_URL``, ``SLACK_API_BASE``, client id/secret).

    with FakeSlack(rotation=True) as fake:           # or the ``fake_slack`` fixture (tests/browser/conftest.py)
        for name, value in fake.env(redirect_uri="http://localhost:8765/callback").items():
            monkeypatch.setenv(name, value)
        ...                                           # run the code under test
        [exchange] = fake.calls("oauth.v2.access", grant_type="authorization_code")
        assert exchange.client_auth == "basic"

Endpoints and the documented behaviour they copy (shapes from docs.slack.dev/reference/methods/<method>):

- ``GET /oauth/v2/authorize`` (docs.slack.dev/authentication/installing-with-oauth): needs
  ``client_id`` (ours), ``redirect_uri`` (in ``redirect_uris`` when that is set), ``scope``, ``state``;
  otherwise 400 and a short page. Then, per ``fake.authorize``: ``"approve"`` → 302 to
  ``redirect_uri?code=…&state=…``; ``"deny"`` → ``?error=access_denied&state=…``; ``"wrong_state"``
  → ``?code=…&state=<another value>``.
- ``POST /api/oauth.v2.access``: client auth by HTTP Basic (recorded as ``client_auth="basic"``) or
  form ``client_id``/``client_secret`` (``"form"``); ``invalid_client_id`` / ``bad_client_secret``.
  ``grant_type`` ``authorization_code`` (default): the code is single-use and expires after 600 s
  (``invalid_code``), ``redirect_uri`` must equal the authorize one (``bad_redirect_uri``). Answer:
  ``ok, access_token, token_type "bot", scope (comma-joined), bot_user_id, app_id, team{id,name},
  enterprise (null), authed_user{id}, is_enterprise_install`` and, with ``rotation``, ``expires_in``
  and ``refresh_token``. ``grant_type=refresh_token`` (docs.slack.dev/authentication/using-token-rotation):
  the same body with a new access *and* refresh token; the old refresh token is spent — presenting it again (or any
  unknown one) answers ``invalid_refresh_token``. Old access tokens stay valid until they expire.
- ``POST /api/auth.test``, ``conversations.list``, ``chat.postMessage``, ``auth.revoke``,
  ``apps.uninstall``: token from ``Authorization: Bearer`` or form ``token``; missing →
  ``not_authed``, unknown/revoked → ``invalid_auth``, past expiry → ``token_expired``; missing scope →
  ``missing_scope`` with ``needed``/``provided``. conversations.list: one configured page per call,
  filtered by ``types`` (default ``public_channel``; each type needs its read scope) and
  ``exclude_archived``, ``response_metadata.next_cursor`` (``""`` after the last page; a bad cursor:
  ``invalid_cursor``). chat.postMessage (JSON or form): channel by ID or name; unknown, or private
  without the bot → ``channel_not_found``; public without the bot and no ``chat:write.public`` →
  ``not_in_channel``; neither text nor blocks → ``no_text``; answers ``{ok, channel, ts, message}``.
  auth.revoke (``test=true`` revokes nothing) → ``{ok, revoked: true}``; apps.uninstall (token and
  client credentials) revokes every token. Any other method: 404 ``unknown_method``.
  The method logic lives in :mod:`tests.support.fake_slack_api`.

Knobs (constructor arguments, also plain attributes that a test may change while running):
``client_id``, ``client_secret``, ``redirect_uris`` (allowed list; ``None`` = any), ``team_id``,
``team_name``, ``bot_user_id``, ``app_id``, ``rotation`` (bool), ``expires_in`` (seconds),
``grant_scopes`` (scopes granted; ``None`` = those asked), ``channel_pages`` (list of pages, each a
list of :func:`channel` dicts; a page may be empty: the cursor still leads on), ``authorize``
(above), ``validate_blocks`` (chat.postMessage refuses > 50 blocks, a header > 150 or a section
text > 3000 characters with ``invalid_blocks``, more than ``max_block_text`` characters of block text
with ``msg_blocks_too_long``), ``delays`` (method → seconds slept before answering, e.g. to make two
refreshes overlap), ``clock`` (``time.time``-like; tests may move time).

Scripted failures: ``fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=2)`` answers
the next call of that method so (``times`` calls; ``extra`` fields are merged into the body).

Records: ``fake.requests`` (every request, :class:`SlackRequest`), ``fake.calls(method, **form)``,
``fake.messages`` (chat.postMessage payloads with the ``ts`` given), ``fake.authorize_requests``.
Helpers: ``fake.install()`` mints an installation without a browser (the oauth.v2.access body),
``fake.expire_access_tokens()``, ``fake.revoke_all()``, ``fake.valid_access_tokens()``,
``fake.valid_refresh_tokens()``. ``fake.url``, ``fake.api_base``, ``fake.authorize_url``, ``fake.port``.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from tests.support.fake_oauth import FakeOAuthServer, json_body, read_body
from tests.support.fake_slack_api import METHODS, Access, Reply, SlackRequest, authorize

__all__ = ["FakeSlack", "SlackRequest", "channel", "fake_slack"]

AuthorizeMode = Literal["approve", "deny", "wrong_state"]


def channel(
    cid: str, name: str, *, private: bool = False, member: bool = True, archived: bool = False
) -> dict[str, Any]:
    """A conversation object as conversations.list returns it (what zigznote reads, and a few more)."""
    return {
        "id": cid,
        "name": name,
        "name_normalized": name,
        "is_channel": not private,
        "is_group": private,
        "is_im": False,
        "is_mpim": False,
        "is_private": private,
        "is_archived": archived,
        "is_general": name == "general",
        "is_member": member,
        "created": 1_700_000_000,
        "num_members": 3,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
    }


DEFAULT_CHANNELS = (
    (channel("C0GENERAL1", "general"), channel("C0RANDOM01", "random", member=False)),
    (channel("G0PRIVATE1", "leads", private=True),),
)


class FakeSlack(FakeOAuthServer[SlackRequest]):
    """The fake server; see the module docstring for endpoints and knobs. Thread-safe: every
    request is handled under one lock (after its ``delays`` sleep)."""

    env_prefix = "SLACK"
    thread_name = "fake-slack"

    def __init__(
        self,
        *,
        client_id: str = "4724469134.4644010092847",
        client_secret: str = "fake-client-secret-0123456789abcdef",
        redirect_uris: Sequence[str] | None = None,
        team_id: str = "T0FAKE0001",
        team_name: str = "Fake Workspace",
        bot_user_id: str = "U0FAKEBOT1",
        app_id: str = "A0FAKEAPP1",
        rotation: bool = False,
        expires_in: int = 43_200,
        grant_scopes: Sequence[str] | None = None,
        channel_pages: Sequence[Sequence[dict[str, Any]]] = DEFAULT_CHANNELS,
        authorize: AuthorizeMode = "approve",
        validate_blocks: bool = True,
        max_block_text: int = 12_000,
        delays: Mapping[str, float] | None = None,
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
        self.team_id, self.team_name, self.bot_user_id, self.app_id = team_id, team_name, bot_user_id, app_id
        self.bot_id = "B0FAKEBOT1"
        self.channel_pages: list[list[dict[str, Any]]] = [list(page) for page in channel_pages]
        self.authorize: AuthorizeMode = authorize
        self.validate_blocks, self.max_block_text = validate_blocks, max_block_text
        self.delays: dict[str, float] = dict(delays or {})
        self.messages: list[dict[str, Any]] = []
        # State the methods in fake_slack_api read and change (always under self.lock).
        self.codes: dict[str, tuple[str, tuple[str, ...], float]] = {}  # code → redirect_uri, scopes, issued at
        self._ts = itertools.count(1)

    @property
    def api_base(self) -> str:
        """``SLACK_API_BASE`` for this fake: every method is ``{api_base}/{method}``."""
        return f"{self.url}/api"

    @property
    def authorize_url(self) -> str:
        """``SLACK_OAUTH_AUTHORIZE_URL`` for this fake."""
        return f"{self.url}/oauth/v2/authorize"

    def settings_env(self) -> dict[str, str]:
        """``SLACK_API_BASE`` and ``SLACK_OAUTH_AUTHORIZE_URL`` of this fake."""
        return {"SLACK_API_BASE": self.api_base, "SLACK_OAUTH_AUTHORIZE_URL": self.authorize_url}

    # ------------------------------------------------------------------ knobs and records

    def fail(
        self,
        method: str,
        error: str,
        *,
        status: int = 200,
        retry_after: float | None = None,
        times: int = 1,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"authorize"`` too) with
        ``{"ok": false, "error": error, **extra}``, HTTP ``status``, and a ``Retry-After`` header
        (seconds) when ``retry_after`` is given. Token checks are skipped for those calls."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self.script(method, Reply({"ok": False, "error": error, **(extra or {})}, status, headers), times=times)

    def calls(self, method: str, **form: str) -> list[SlackRequest]:
        """Recorded requests of one method whose form fields include every ``form`` item given,
        e.g. ``fake.calls("oauth.v2.access", grant_type="refresh_token")``."""
        with self.lock:
            return [r for r in self.requests if r.method == method and all(r.form.get(k) == v for k, v in form.items())]

    @property
    def authorize_requests(self) -> list[SlackRequest]:
        """Every GET of the authorize page."""
        return self.calls("authorize")

    def install(self, *, scopes: Iterable[str] = ("chat:write", "channels:read", "groups:read")) -> dict[str, Any]:
        """Mints an installation as a finished OAuth flow would; returns the oauth.v2.access body."""
        with self.lock:
            return self.mint(tuple(scopes))

    def expire_access_tokens(self) -> None:
        """Every access token issued so far answers ``token_expired`` from now on."""
        with self.lock:
            for info in self.access_tokens.values():
                info.expires_at = self.clock() - 1

    def valid_access_tokens(self) -> list[str]:
        """Access tokens that would pass a token check now."""
        with self.lock:
            now = self.clock()
            return [
                t
                for t, i in self.access_tokens.items()
                if not i.revoked and (i.expires_at is None or i.expires_at > now)
            ]

    # ------------------------------------------------------------------ used by fake_slack_api

    def mint(self, scopes: tuple[str, ...]) -> dict[str, Any]:
        """New tokens for the installation; the oauth.v2.access success body. Lock held."""
        if self.rotation:
            access = f"xoxe.xoxb-1-{secrets.token_hex(20)}"
        else:
            access = f"xoxb-{self.team_id[1:]}-{secrets.randbelow(10**12)}-{secrets.token_hex(12)}"
        self.access_tokens[access] = Access(scopes, self.clock() + self.expires_in if self.rotation else None)
        body: dict[str, Any] = {
            "ok": True,
            "app_id": self.app_id,
            "access_token": access,
            "token_type": "bot",
            "scope": ",".join(scopes),
            "bot_user_id": self.bot_user_id,
            "team": {"id": self.team_id, "name": self.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": "U0INSTALL1"},  # the installing user; no user token (no user_scope asked)
        }
        if self.rotation:
            refresh = f"xoxe-1-{secrets.token_hex(24)}"
            self.refresh_tokens[refresh] = scopes
            body["expires_in"] = self.expires_in
            body["refresh_token"] = refresh
        return body

    def next_ts(self) -> str:
        """A message timestamp, increasing like Slack's ``ts``."""
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def endpoint_of(self, req: SlackRequest) -> str:
        return req.method

    def before_lock(self, req: SlackRequest) -> None:
        delay = self.delays.get(req.method, 0.0)
        if delay:
            time.sleep(delay)  # outside the lock: concurrent callers really overlap

    def answer(self, req: SlackRequest) -> Reply:
        """The authorize page or a Web API method (lock held)."""
        if req.method == "authorize":
            return authorize(self, req)
        method = METHODS.get(req.method)
        if method is None:
            return Reply({"ok": False, "error": "unknown_method"}, 404)
        return Reply(method(self, req))

    def parse(self, handler: BaseHTTPRequestHandler) -> SlackRequest:
        """The query and the form or JSON body's string fields merged into ``form``; the token from
        ``Authorization: Bearer`` or the form; client auth by Basic header or form secret."""
        split = urlsplit(handler.path)
        raw, ctype = read_body(handler)
        form = dict(parse_qsl(split.query, keep_blank_values=True))
        body: Any = None
        if ctype == "application/json" and raw:
            body = json_body(raw)
            if isinstance(body, dict):
                form.update({k: v for k, v in body.items() if isinstance(v, str)})
        elif raw:
            fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            form.update({k: v[-1] for k, v in fields.items()})
        headers = {k.lower(): v for k, v in handler.headers.items()}
        auth = headers.get("authorization", "")
        token = auth[7:] if auth[:7].lower() == "bearer " else form.get("token") or None
        client_auth = "basic" if auth[:6].lower() == "basic " else "form" if "client_secret" in form else None
        method = "authorize" if split.path == "/oauth/v2/authorize" else split.path.removeprefix("/api/")
        return SlackRequest(handler.command, split.path, method, form, body, headers, token, client_auth)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started :class:`FakeSlack` with the default knobs (a test changes them as attributes:
    ``fake_slack.rotation = True``); stopped afterwards. To use it outside ``tests/browser``,
    import it into the test module or a conftest: ``from tests.support.fake_slack import fake_slack``."""
    with FakeSlack() as fake:
        yield fake
