"""End to end in headless Chromium: the Slack OAuth flow against a fake Slack on loopback.

The flow under test is the real one (``connect.obtain_grant`` with ``SlackOAuth``): it prints the
authorize URL, binds the redirect URI's port, opens the browser through ``webbrowser`` with
``BROWSER`` = the Chromium wrapper, Chromium loads the fake authorize page, follows its 302 to the
loopback callback (http, or https with the generated self-signed certificate), and the code is
exchanged at the fake's ``oauth.v2.access``. Nothing is mocked between the browser, the callback
server and the token endpoint: real sockets, real TLS, real HTTP.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.browser.conftest import only_page, port_is_free, run_flow
from tests.support.chromium import ChromiumWrapper, chromium_or_skip
from tests.support.fake_slack import FakeSlack
from zigznote.errors import ConfigError, ProviderError
from zigznote.integrations.base import Grant
from zigznote.integrations.http import make_client
from zigznote.integrations.slack.oauth import DEFAULT_SCOPES, SlackOAuth
from zigznote.integrations.tls import TlsFiles, localhost_tls

pytestmark = pytest.mark.browser

SUCCESS_PAGE = "you can close this tab"


def _connect(
    fake: FakeSlack,
    browser: ChromiumWrapper,
    redirect_uri: str,
    *,
    timeout: float = 60.0,
    tls: TlsFiles | None = None,
    notify: Callable[[str], None] | None = None,
) -> Grant:
    """obtain_grant as `slack connect` runs it (:func:`run_flow`), over the fake Slack."""
    with make_client() as http:
        slack = SlackOAuth(
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            redirect_uri=redirect_uri,
            authorize_url=fake.authorize_url,
            api_base=fake.api_base,
            http=http,
        )
        return run_flow(slack, browser, timeout=timeout, tls=tls, notify=notify)


def _assert_connected(
    fake: FakeSlack, browser: ChromiumWrapper, grant: Grant, redirect_uri: str, lines: list[str]
) -> None:
    # The grant is the fake's installation, with tokens the fake still honours.
    assert grant.account_id == "T0FAKE0001"
    assert grant.account_name == "Fake Workspace"
    assert grant.details["bot_user_id"] == "U0FAKEBOT1"
    assert grant.details["app_id"] == "A0FAKEAPP1"
    assert grant.details["authed_user_id"] == "U0INSTALL1"
    assert grant.tokens.token_type == "bot"
    assert grant.tokens.scopes == DEFAULT_SCOPES
    assert fake.valid_access_tokens() == [grant.tokens.access_token]
    # What the browser asked for: Slack's authorize parameters, comma-joined scopes, no PKCE.
    [authorize] = fake.authorize_requests
    assert authorize.form["client_id"] == fake.client_id
    assert authorize.form["redirect_uri"] == redirect_uri
    assert authorize.form["scope"] == "chat:write,chat:write.public,channels:read,groups:read"
    assert len(authorize.form["state"]) >= 43  # token_urlsafe(32)
    assert "code_challenge" not in authorize.form
    # The code was exchanged once, with HTTP Basic client auth and the same redirect URI.
    [exchange] = fake.calls("oauth.v2.access")
    assert exchange.client_auth == "basic"
    assert "client_secret" not in exchange.form
    assert exchange.form["redirect_uri"] == redirect_uri
    assert exchange.form.get("grant_type", "authorization_code") == "authorization_code"
    # The URL was printed before the browser opened it, and the browser ran once, to the end.
    [launch] = browser.launches()
    assert lines[1] == launch.url
    assert launch.url.startswith(fake.authorize_url + "?")
    assert browser.wait_until_exited(30)
    assert browser.exits()[launch.n]["timed_out"] is False
    assert SUCCESS_PAGE in browser.final_page(launch)


def test_connect_over_http_localhost(
    fake_slack: FakeSlack, headless_chromium: ChromiumWrapper, callback_port: int
) -> None:
    fake_slack.rotation = True
    redirect_uri = f"http://localhost:{callback_port}/callback"
    lines: list[str] = []
    before = datetime.now(UTC)
    grant = _connect(fake_slack, headless_chromium, redirect_uri, notify=lines.append)

    _assert_connected(fake_slack, headless_chromium, grant, redirect_uri, lines)
    # Rotation on: a 12-hour token and a refresh token the fake will accept once.
    assert fake_slack.valid_refresh_tokens() == [grant.tokens.refresh_token]
    assert grant.tokens.expires_at is not None
    lifetime = grant.tokens.expires_at - before
    assert timedelta(seconds=43_200 - 60) < lifetime < timedelta(seconds=43_200 + 60)
    assert port_is_free(callback_port), "the callback port must be released after the flow"


def test_connect_over_https_with_generated_certificate(
    fake_slack: FakeSlack, headless_chromium: ChromiumWrapper, callback_port: int, tmp_path: Path
) -> None:
    tls, generated = localhost_tls(tmp_path / "data", cert=None, key=None)
    assert generated is True
    redirect_uri = f"https://localhost:{callback_port}/callback"
    lines: list[str] = []
    grant = _connect(fake_slack, headless_chromium, redirect_uri, tls=tls, notify=lines.append)

    _assert_connected(fake_slack, headless_chromium, grant, redirect_uri, lines)
    # Rotation off: a bot token that does not expire.
    assert grant.tokens.refresh_token is None
    assert grant.tokens.expires_at is None
    assert port_is_free(callback_port)


@pytest.mark.slow
def test_https_needs_the_browser_to_accept_the_certificate(
    fake_slack: FakeSlack, callback_port: int, tmp_path: Path
) -> None:
    """The control for the https test: without --ignore-certificate-errors Chromium refuses the
    self-signed certificate, so the callback never arrives (the https path really is TLS)."""
    strict = ChromiumWrapper(tmp_path / "strict", chromium=chromium_or_skip(), ignore_certificate_errors=False)
    tls, _ = localhost_tls(tmp_path / "data", cert=None, key=None)
    try:
        with pytest.raises(ProviderError) as caught:
            _connect(fake_slack, strict, f"https://localhost:{callback_port}/callback", timeout=8, tls=tls)
        assert caught.value.code == "authorization_timeout"
        assert len(fake_slack.authorize_requests) == 1  # the browser did get to the authorize page
        assert fake_slack.calls("oauth.v2.access") == []
        assert strict.wait_until_exited(30)
        [launch] = strict.launches()
        assert SUCCESS_PAGE not in strict.final_page(launch)
    finally:
        strict.kill_all()
    assert strict.surviving_pids() == []
    assert port_is_free(callback_port)


def test_access_denied_returns_nothing(
    fake_slack: FakeSlack, headless_chromium: ChromiumWrapper, callback_port: int
) -> None:
    fake_slack.authorize = "deny"
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        _connect(fake_slack, headless_chromium, f"http://localhost:{callback_port}/callback")

    assert caught.value.code == "access_denied"
    assert caught.value.exit_code == 6
    assert "error=access_denied" in caught.value.message
    assert time.monotonic() - started < 30  # ended by the redirect, not by the 60 s timeout
    assert fake_slack.calls("oauth.v2.access") == []
    assert fake_slack.valid_access_tokens() == []
    assert "not granted" in only_page(headless_chromium)
    assert port_is_free(callback_port)


@pytest.mark.slow
def test_wrong_state_is_ignored_until_the_timeout(
    fake_slack: FakeSlack, headless_chromium: ChromiumWrapper, callback_port: int
) -> None:
    fake_slack.authorize = "wrong_state"
    started = time.monotonic()
    # 8 s: time for Chromium to start and reach the callback on a loaded machine, then be ignored.
    with pytest.raises(ProviderError) as caught:
        _connect(fake_slack, headless_chromium, f"http://localhost:{callback_port}/callback", timeout=8)

    assert caught.value.code == "authorization_timeout"
    assert time.monotonic() - started >= 8
    assert len(fake_slack.authorize_requests) == 1
    assert fake_slack.calls("oauth.v2.access") == []  # a code with a foreign state is never exchanged
    assert SUCCESS_PAGE not in only_page(headless_chromium)
    assert port_is_free(callback_port)


def test_wrapper_kills_a_browser_that_never_finishes(tmp_path: Path) -> None:
    """A page that never loads: the supervisor's timeout kills Chromium's whole process group (and
    its crashpad handlers), logs a timed-out exit, and removes the profile."""
    browser = ChromiumWrapper(tmp_path / "hang", chromium=chromium_or_skip(), timeout=3)
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        try:
            started = time.monotonic()
            ran = subprocess.run([str(browser.script), f"http://127.0.0.1:{silent.getsockname()[1]}/"], timeout=10)
            assert ran.returncode == 0
            assert time.monotonic() - started < 5  # the wrapper returns at once (not after 3 s); Chromium runs on
            [launch] = browser.wait_for_launches(1)
            assert browser.surviving_pids() != []  # running now
            assert browser.wait_until_exited(20)
            assert browser.exits()[launch.n]["timed_out"] is True
            assert browser.surviving_pids() == []
            assert not Path(launch.profile).exists()
        finally:
            browser.kill_all()
