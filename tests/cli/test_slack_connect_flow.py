"""`zigznote slack connect` through the loopback callback, against the fake Slack on loopback.

Real sockets end to end: the CLI binds the redirect URI's port, opens ``BROWSER`` (a small
Python "browser" that loads the URL and follows redirects like a browser, or headless Chromium),
the fake's authorize page redirects to the callback, and the code is exchanged at the fake's
``oauth.v2.access``. Success stores the connection encrypted; access denied, a wrong state,
a timeout and a taken port store nothing and leave the port free.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import free_loopback_port, port_is_free
from tests.cli._slack_support import connection, slack_env, sqlite_bytes, store, stored_tokens
from tests.conftest import Cli
from tests.support.chromium import ChromiumWrapper, headless_chromium
from tests.support.fake_slack import FakeSlack

__all__ = ["headless_chromium", "slack_env", "store"]  # fixtures used by name

CLOSE_PAGE = "you can close this tab"

_BROWSER = """#!{python}
# A stand-in browser: GET the URL, follow redirects, accept the self-signed localhost certificate,
# and keep the final page (webbrowser waits for this program to exit).
import pathlib, ssl, sys, urllib.error, urllib.request
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}), urllib.request.HTTPSHandler(context=context))
here = pathlib.Path(__file__).parent
with open(here / "launches.log", "a") as log:
    log.write(sys.argv[1] + "\\n")
if {visit}:
    try:
        with opener.open(sys.argv[1], timeout=20) as answer:
            page = answer.read()
    except urllib.error.HTTPError as exc:
        page = exc.read()
    (here / "page.html").write_bytes(page)
"""


class Browser:
    """The stand-in browser's script and what it recorded."""

    def __init__(self, directory: Path, *, visit: bool = True) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.script = directory / "zigznote-test-stand-in-browser"
        self.script.write_text(_BROWSER.format(python=sys.executable, visit=visit))
        self.script.chmod(0o755)
        self.directory = directory

    def launches(self) -> list[str]:
        log = self.directory / "launches.log"
        return log.read_text().splitlines() if log.exists() else []

    def page(self) -> str:
        return (self.directory / "page.html").read_text()


@pytest.fixture
def port() -> int:
    return free_loopback_port()


@pytest.fixture
def fake(slack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, port: int) -> Iterator[FakeSlack]:
    """The fake Slack, with SLACK_* pointing at it and the redirect URI on ``port``."""
    with FakeSlack() as fake:
        for name, value in fake.env(redirect_uri=f"http://localhost:{port}/callback").items():
            monkeypatch.setenv(name, value)
        yield fake


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Browser:
    stand_in = Browser(tmp_path / "browser")
    monkeypatch.setenv("BROWSER", str(stand_in.script))
    return stand_in


def connect(cli: Cli, *args: str) -> Any:
    return cli("--json", "--org", "acme", "slack", "connect", *args)


def nothing_stored(cli: Cli) -> None:
    listed = cli.ok("--org", "acme", "integrations", "list")
    assert listed[0]["provider"] == "slack" and listed[0]["status"] == "not connected"


def test_connect_through_the_loopback_callback(
    cli: Cli, org: dict[str, Any], fake: FakeSlack, browser: Browser, port: int, store: Any
) -> None:
    fake.rotation = True
    ran = connect(cli)
    assert ran.exit_code == 0, ran.stderr
    shown = ran.json
    assert (shown["team"], shown["team_id"], shown["bot_user_id"]) == ("Fake Workspace", "T0FAKE0001", "U0FAKEBOT1")
    assert shown["refreshable"] is True and shown["method"] == "oauth"
    lines = ran.stderr.splitlines()
    assert lines[1].startswith(fake.authorize_url + "?")
    # The fake takes http (Slack would not): the command warns right after the URL, then waits.
    assert lines[2].startswith("warning: Slack accepts only https redirect URLs")
    assert lines[3] == f"Waiting up to 300 s for the redirect to http://localhost:{port}/callback; opening a browser."
    assert browser.launches() == [lines[1]]  # the printed URL is the one the browser opened
    assert CLOSE_PAGE in browser.page()
    [exchange] = fake.calls("oauth.v2.access")
    assert exchange.client_auth == "basic"
    assert exchange.form["redirect_uri"] == f"http://localhost:{port}/callback"
    tokens = stored_tokens(store)
    assert fake.valid_access_tokens() == [tokens.access_token]
    assert fake.valid_refresh_tokens() == [tokens.refresh_token]
    if cli.db_url.startswith("sqlite"):
        assert tokens.access_token.encode() not in sqlite_bytes(cli)
    assert port_is_free(port)


def test_https_callback_with_a_generated_certificate(
    cli: Cli,
    org: dict[str, Any],
    fake: FakeSlack,
    browser: Browser,
    port: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SLACK_REDIRECT_URI", f"https://localhost:{port}/callback")
    ran = connect(cli)
    assert ran.exit_code == 0, ran.stderr
    cert = tmp_path / "data" / "zigznote" / "tls" / "localhost-cert.pem"
    assert cert.is_file()
    lines = ran.stderr.splitlines()
    # The URL first, then what to expect from the browser, then the wait.
    assert lines[1].startswith(fake.authorize_url + "?")
    assert lines[2] == (
        f"Generated a self-signed certificate for the https://localhost callback: {cert} (reused from now on). "
        "Your browser will warn once that the connection is not private: choose to proceed to localhost "
        "to finish connecting."
    )
    assert "mkcert -install && mkcert localhost 127.0.0.1 ::1" in lines[3]
    assert lines[4].startswith("Waiting up to 300 s for the redirect to https://localhost:")
    assert CLOSE_PAGE in browser.page()
    assert connection_of(cli)["status"] == "connected"

    again = connect(cli)  # a re-connect reuses the certificate and says nothing about it
    assert again.exit_code == 0, again.stderr
    assert "self-signed" not in again.stderr
    assert port_is_free(port)


def test_an_operator_certificate_is_used_as_given(
    cli: Cli, org: dict[str, Any], fake: FakeSlack, browser: Browser, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_REDIRECT_URI", f"https://localhost:{port}/callback")
    ran = connect(cli, "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem")
    assert ran.exit_code == 6
    assert ran.error["code"] == "tls_unreadable"
    assert browser.launches() == []
    nothing_stored(cli)


def connection_of(cli: Cli) -> dict[str, Any]:
    return dict(cli.ok("--org", "acme", "integrations", "list")[0])


def test_access_denied_stores_nothing(
    cli: Cli, org: dict[str, Any], fake: FakeSlack, browser: Browser, port: int
) -> None:
    fake.authorize = "deny"
    started = time.monotonic()
    ran = connect(cli)
    assert ran.exit_code == 6
    assert ran.error["code"] == "access_denied"
    assert time.monotonic() - started < 60  # ended by the redirect, not by the 5-minute timeout
    assert fake.calls("oauth.v2.access") == []
    nothing_stored(cli)
    assert port_is_free(port)


def test_a_wrong_state_is_ignored_until_the_timeout(
    cli: Cli, org: dict[str, Any], fake: FakeSlack, browser: Browser, port: int
) -> None:
    fake.authorize = "wrong_state"
    ran = connect(cli, "--timeout", "3s")
    assert ran.exit_code == 5
    assert ran.error["code"] == "authorization_timeout"
    assert len(fake.authorize_requests) == 1  # the browser got there, and its callback was ignored
    assert CLOSE_PAGE not in browser.page()
    assert fake.calls("oauth.v2.access") == []
    nothing_stored(cli)
    assert port_is_free(port)


def test_timeout_stores_nothing(
    cli: Cli, org: dict[str, Any], fake: FakeSlack, port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idle = Browser(tmp_path / "idle", visit=False)  # opens nothing: the user walked away
    monkeypatch.setenv("BROWSER", str(idle.script))
    monkeypatch.setenv("ZIGZNOTE_OAUTH_TIMEOUT", "1s")
    started = time.monotonic()
    ran = connect(cli)
    assert ran.exit_code == 5
    assert time.monotonic() - started >= 1.0
    assert ran.error == {
        "code": "authorization_timeout",
        "message": f"no authorization reached http://localhost:{port}/callback within 1 s",
        "hint": "run the connect command again and approve the request in the browser; "
        "without a local browser use --no-browser",
    }
    assert len(idle.launches()) == 1
    nothing_stored(cli)
    assert port_is_free(port)


def test_a_taken_port_fails_at_once_and_stores_nothing(
    cli: Cli, org: dict[str, Any], fake: FakeSlack, browser: Browser, port: int
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen(1)
        started = time.monotonic()
        ran = connect(cli)
    assert ran.exit_code == 4
    assert time.monotonic() - started < 10
    assert ran.error["code"] == "port_in_use"
    assert f"localhost:{port}" in ran.error["message"]
    assert browser.launches() == []  # the browser only opens once the port is ours
    nothing_stored(cli)
    assert port_is_free(port)


def test_a_non_loopback_redirect_needs_no_browser(
    cli: Cli, org: dict[str, Any], fake: FakeSlack, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_REDIRECT_URI", "https://notes.example.com/slack/callback")
    ran = connect(cli)
    assert ran.exit_code == 6
    assert ran.error["code"] == "redirect_not_loopback"
    assert "--no-browser" in ran.error["hint"]
    assert browser.launches() == []
    nothing_stored(cli)


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_connect_in_headless_chromium(
    cli: Cli,
    org: dict[str, Any],
    fake: FakeSlack,
    headless_chromium: ChromiumWrapper,
    port: int,
    monkeypatch: pytest.MonkeyPatch,
    store: Any,
    scheme: str,
) -> None:
    """The issue's end-to-end test, through the command: Chromium is the browser."""
    monkeypatch.setenv("BROWSER", str(headless_chromium.script))
    monkeypatch.setenv("SLACK_REDIRECT_URI", f"{scheme}://localhost:{port}/callback")
    ran = connect(cli, "--timeout", "60s")
    assert ran.exit_code == 0, ran.stderr
    [launch] = headless_chromium.launches()
    assert ran.stderr.splitlines()[1] == launch.url
    assert headless_chromium.wait_until_exited(30)
    assert CLOSE_PAGE in headless_chromium.final_page(launch)
    tokens = stored_tokens(store)
    assert fake.valid_access_tokens() == [tokens.access_token]
    assert connection(store)["account_id"] == "T0FAKE0001"  # type: ignore[index]
    if cli.db_url.startswith("sqlite"):
        assert tokens.access_token.encode() not in sqlite_bytes(cli)
    assert port_is_free(port)
