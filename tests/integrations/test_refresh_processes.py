"""Two processes refreshing one connection at once, against a real token server on loopback
that rotates refresh tokens and refuses a refresh token used before (as Slack's token rotation
does): one refresh call, both processes end with the new token, the connection stays valid.
On SQLite and Postgres."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa

from tests.support import factory
from zigznote.integrations.base import Grant, TokenSet
from zigznote.services import integrations
from zigznote.vault import MasterKey, Vault

REFRESH_SECONDS = 0.5  # how long the server takes to answer a refresh: the window for a race
# How long a refused API call takes: both processes read the old token before either can start
# refreshing (on SQLite a read waits while a refresh holds the write lock), with a generous margin
# for process scheduling after the barrier.
REFUSAL_SECONDS = 1.0


class TokenServer(ThreadingHTTPServer):
    """``POST /oauth.v2.access`` (form ``grant_type=refresh_token&refresh_token=…``) rotates
    both tokens and refuses any refresh token but the current one (``invalid_refresh_token``);
    ``POST /auth.test`` accepts only the current access token (``invalid_auth``). Slack's
    shapes: HTTP 200 with ``ok`` true or false."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.generation = 1
        self.refreshes: list[tuple[str, bool]] = []  # (refresh token presented, accepted)
        self.api_calls: list[tuple[str, bool]] = []  # (access token presented, accepted)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: TokenServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        srv = self.server
        if self.path == "/oauth.v2.access":
            presented = parse_qs(body).get("refresh_token", [""])[0]
            time.sleep(REFRESH_SECONDS)
            with srv.lock:
                accepted = presented == f"r{srv.generation}"
                srv.refreshes.append((presented, accepted))
                if accepted:
                    srv.generation += 1
                    n = srv.generation
                    answer = {"ok": True, "access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": 43200}
                else:
                    answer = {"ok": False, "error": "invalid_refresh_token"}
        elif self.path == "/auth.test":
            presented = self.headers.get("Authorization", "").removeprefix("Bearer ")
            with srv.lock:
                accepted = presented == f"a{srv.generation}"
                srv.api_calls.append((presented, accepted))
            if not accepted:
                time.sleep(REFUSAL_SECONDS)
            answer = {"ok": True, "team_id": "T1"} if accepted else {"ok": False, "error": "invalid_auth"}
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[TokenServer]:
    srv = TokenServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _refresh_and_call(db_url: str, key: str, base: str, barrier: Any, results: Any) -> None:
    """One process: wait for the other, then call ``auth.test`` through call_with_token."""
    import httpx

    from zigznote.errors import CredentialsRejected, ZigznoteError
    from zigznote.store.engine import Database

    db = Database(db_url)
    vault = Vault([MasterKey(base64.b64decode(key), "env")])
    with httpx.Client(timeout=10) as http:

        def refresher(tokens: TokenSet) -> TokenSet:
            form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token or ""}
            answer = http.post(f"{base}/oauth.v2.access", data=form).json()
            if not answer["ok"]:
                raise CredentialsRejected(answer["error"], provider="slack")
            expires = datetime.now(UTC) + timedelta(seconds=answer["expires_in"])
            return TokenSet(answer["access_token"], answer["refresh_token"], expires, tokens.scopes, "bot")

        def call(token: str) -> str:
            answer = http.post(f"{base}/auth.test", headers={"Authorization": f"Bearer {token}"}).json()
            if not answer["ok"]:
                raise CredentialsRejected(answer["error"], provider="slack")
            return token

        barrier.wait(60)
        try:
            used = integrations.call_with_token(
                db, vault, org_id="acme", provider="slack", refresher=refresher, call=call
            )
            results.put(("ok", used))
        except ZigznoteError as exc:
            results.put(("error", exc.code, exc.message))
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.mark.parametrize("why", ["expired", "refused"])
def test_two_processes_refresh_once_and_both_use_the_new_token(db_url: str, server: TokenServer, why: str) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    vault = Vault([MasterKey(base64.b64decode(key), "env")])
    db = factory.migrated(db_url)
    factory.add_org(db, "acme")
    if why == "expired":  # both see it expiring and refresh before calling
        expires = datetime.now(UTC) - timedelta(seconds=60)
        access = "a1"
    else:  # not expired, but the provider refuses it: both get invalid_auth, then refresh
        expires = datetime.now(UTC) + timedelta(hours=1)
        access = "a1-revoked"
    tokens = TokenSet(access, "r1", expires, ("chat:write",), "bot")
    integrations.save_grant(db, vault, org_id="acme", provider="slack", grant=Grant(tokens, "T1", "Acme", {}))

    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads and pools
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_refresh_and_call, args=(db_url, key, server.base, barrier, results)) for _ in range(2)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0

    assert outcomes == [("ok", "a2"), ("ok", "a2")]
    assert server.refreshes == [("r1", True)]  # exactly one refresh call, never a reused token
    assert [t for t, ok in server.api_calls if ok] == ["a2", "a2"]
    first_calls = [] if why == "expired" else [("a1-revoked", False)] * 2
    assert [c for c in server.api_calls if not c[1]] == first_calls
    with db.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT status, token_version, last_error FROM integration_connection")).one()
    assert tuple(row) == ("connected", 2, None)
    stored = integrations.stored_tokens(db, vault, org_id="acme", provider="slack")
    assert (stored.access_token, stored.refresh_token) == ("a2", "r2")
    db.dispose()
