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
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

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


class FakeSlack:
    """The fake server; see the module docstring for endpoints and knobs. Thread-safe: every
    request is handled under one lock (after its ``delays`` sleep)."""

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
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.team_id, self.team_name, self.bot_user_id, self.app_id = team_id, team_name, bot_user_id, app_id
        self.bot_id = "B0FAKEBOT1"
        self.rotation, self.expires_in = rotation, expires_in
        self.grant_scopes = list(grant_scopes) if grant_scopes is not None else None
        self.channel_pages: list[list[dict[str, Any]]] = [list(page) for page in channel_pages]
        self.authorize: AuthorizeMode = authorize
        self.validate_blocks, self.max_block_text = validate_blocks, max_block_text
        self.delays: dict[str, float] = dict(delays or {})
        self.clock = clock
        self.requests: list[SlackRequest] = []
        self.messages: list[dict[str, Any]] = []
        # State the methods in fake_slack_api read and change (always under self.lock).
        self.lock = threading.RLock()
        self.codes: dict[str, tuple[str, tuple[str, ...], float]] = {}  # code → redirect_uri, scopes, issued at
        self.access_tokens: dict[str, Access] = {}
        self.refresh_tokens: dict[str, tuple[str, ...] | None] = {}  # → scopes; None once spent
        self._fails: dict[str, deque[Reply]] = {}
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> FakeSlack:
        """Binds 127.0.0.1 on a free port and serves in a daemon thread; returns self."""
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the listening socket (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeSlack is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``"""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """``SLACK_API_BASE`` for this fake: every method is ``{api_base}/{method}``."""
        return f"{self.url}/api"

    @property
    def authorize_url(self) -> str:
        """``SLACK_OAUTH_AUTHORIZE_URL`` for this fake."""
        return f"{self.url}/oauth/v2/authorize"

    def env(self, *, redirect_uri: str | None = None) -> dict[str, str]:
        """The ``SLACK_*`` settings that point zigznote at this fake (``SLACK_REDIRECT_URI`` if given)."""
        values = {
            "SLACK_CLIENT_ID": self.client_id,
            "SLACK_CLIENT_SECRET": self.client_secret,
            "SLACK_API_BASE": self.api_base,
            "SLACK_OAUTH_AUTHORIZE_URL": self.authorize_url,
        }
        if redirect_uri is not None:
            values["SLACK_REDIRECT_URI"] = redirect_uri
        return values

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
        with self.lock:
            queue = self._fails.setdefault(method, deque())
            queue.extend(Reply({"ok": False, "error": error, **(extra or {})}, status, headers) for _ in range(times))

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

    def revoke_all(self) -> None:
        """Revokes every access and refresh token (what an uninstall does)."""
        with self.lock:
            for info in self.access_tokens.values():
                info.revoked = True
            self.refresh_tokens = dict.fromkeys(self.refresh_tokens)

    def valid_access_tokens(self) -> list[str]:
        """Access tokens that would pass a token check now."""
        with self.lock:
            now = self.clock()
            return [
                t
                for t, i in self.access_tokens.items()
                if not i.revoked and (i.expires_at is None or i.expires_at > now)
            ]

    def valid_refresh_tokens(self) -> list[str]:
        """Refresh tokens not yet spent or revoked."""
        with self.lock:
            return [t for t, scopes in self.refresh_tokens.items() if scopes is not None]

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

    def handle(self, req: SlackRequest) -> Reply:
        """Records ``req`` and computes the answer."""
        delay = self.delays.get(req.method, 0.0)
        if delay:
            time.sleep(delay)  # outside the lock: concurrent callers really overlap
        with self.lock:
            self.requests.append(req)
            queued = self._fails.get(req.method)
            if queued:
                return queued.popleft()
            try:
                if req.method == "authorize":
                    return authorize(self, req)
                method = METHODS.get(req.method)
                if method is None:
                    return Reply({"ok": False, "error": "unknown_method"}, 404)
                return Reply(method(self, req))
            except Reply as reply:
                return reply


def _parse(handler: BaseHTTPRequestHandler) -> SlackRequest:
    split = urlsplit(handler.path)
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    form = dict(parse_qsl(split.query, keep_blank_values=True))
    body: Any = None
    ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype == "application/json" and raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
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


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # fake.requests is the record; the default writes every request to stderr

        def _serve(self) -> None:
            reply = fake.handle(_parse(self))
            self.send_response(reply.status)
            if "_location" in reply.body:
                data, ctype = b"", "text/plain"
                self.send_header("Location", reply.body["_location"])
            elif "_html" in reply.body:
                data, ctype = reply.body["_html"].encode(), "text/html; charset=utf-8"
            else:
                data, ctype = json.dumps(reply.body).encode(), "application/json; charset=utf-8"
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started :class:`FakeSlack` with the default knobs (a test changes them as attributes:
    ``fake_slack.rotation = True``); stopped afterwards. To use it outside ``tests/browser``,
    import it into the test module or a conftest: ``from tests.support.fake_slack import fake_slack``."""
    with FakeSlack() as fake:
        yield fake
