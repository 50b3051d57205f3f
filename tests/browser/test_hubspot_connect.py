"""End to end in headless Chromium: `zigznote hubspot connect` against the fake HubSpot on loopback.

The command is the real one: it prints the authorize URL, binds the redirect URI's port
(``http://localhost``, which HubSpot accepts for development), opens the browser through
``webbrowser`` with ``BROWSER`` = the Chromium wrapper; Chromium loads the fake authorize page,
follows its 302 to the loopback callback, and the code is exchanged at the fake's dated token
endpoint (``/oauth/2026-09/token``, credentials in the form body) and the tokens stored
encrypted. Nothing is mocked between the browser, the callback server and the token endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import only_page, port_is_free, run_flow
from tests.conftest import Cli
from tests.support.chromium import ChromiumWrapper
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.provider_helpers import without_provider_env
from zigznote.errors import ConfigError, ProviderError
from zigznote.integrations.hubspot.oauth import DEFAULT_SCOPES, HubSpotOAuth

pytestmark = pytest.mark.browser

SUCCESS_PAGE = "you can close this tab"


@pytest.fixture
def fake_hubspot(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHubSpot]:
    without_provider_env(monkeypatch, "HUBSPOT")
    with FakeHubSpot() as fake:
        yield fake


def test_cli_connect_over_http_localhost(
    cli: Cli,
    org: dict[str, Any],
    fake_hubspot: FakeHubSpot,
    headless_chromium: ChromiumWrapper,
    callback_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redirect_uri = f"http://localhost:{callback_port}/callback"
    fake_hubspot.redirect_uris = [redirect_uri]  # registered in the app, exactly
    for name, value in fake_hubspot.env(redirect_uri=redirect_uri).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BROWSER", str(headless_chromium.script))
    monkeypatch.setenv("ZIGZNOTE_OAUTH_TIMEOUT", "60s")

    ran = cli("--json", "--org", "acme", "hubspot", "connect")

    assert ran.exit_code == 0, ran.stderr
    data = ran.json
    assert (data["method"], data["hub_id"], data["hub_domain"]) == ("oauth", "62515", "fake-portal.hubspot.com")
    assert data["scopes"] == list(DEFAULT_SCOPES) and data["refreshable"] is True
    assert data["user"] == "installer@example.com"
    # The browser asked HubSpot's authorize page with the app, the redirect, space-separated scopes.
    [authorize] = fake_hubspot.calls("authorize")
    assert authorize.query["client_id"] == fake_hubspot.client_id
    assert authorize.query["redirect_uri"] == redirect_uri
    assert authorize.query["scope"] == " ".join(DEFAULT_SCOPES)
    assert len(authorize.query["state"]) >= 43
    # One exchange on the dated endpoint, the secret in the body, then an introspection.
    [exchange] = fake_hubspot.calls("token")
    assert exchange.path == "/oauth/2026-09/token" and exchange.query == {}
    assert exchange.form["grant_type"] == "authorization_code" and exchange.form["redirect_uri"] == redirect_uri
    assert exchange.form["client_secret"] == fake_hubspot.client_secret
    assert [r.name for r in fake_hubspot.requests] == ["authorize", "token", "introspect"]
    # The URL was printed (stderr, also under --json) before the browser opened it.
    [launch] = headless_chromium.launches()
    assert launch.url in ran.stderr.splitlines()
    assert headless_chromium.wait_until_exited(30)
    assert SUCCESS_PAGE in headless_chromium.final_page(launch)
    assert port_is_free(callback_port)
    # Stored, and it works: a live check with the new token.
    status = cli.ok("--org", "acme", "hubspot", "status")
    assert status["status"] == "connected" and status["check"]["ok"] is True
    assert fake_hubspot.calls("account")[-1].token in fake_hubspot.access_tokens


def test_denied_in_the_browser_stores_nothing(
    fake_hubspot: FakeHubSpot, headless_chromium: ChromiumWrapper, callback_port: int
) -> None:
    fake_hubspot.authorize = "deny"
    app = HubSpotOAuth(
        client_id=fake_hubspot.client_id,
        client_secret=fake_hubspot.client_secret,
        redirect_uri=f"http://localhost:{callback_port}/callback",
        authorize_url=fake_hubspot.authorize_url,
        api_base=fake_hubspot.url,
    )
    with pytest.raises(ConfigError) as caught:
        run_flow(app, headless_chromium)
    assert caught.value.code == "access_denied"
    assert fake_hubspot.calls("token") == []
    assert "not granted" in only_page(headless_chromium)
    assert port_is_free(callback_port)


@pytest.mark.slow
def test_an_ip_literal_redirect_is_refused_by_hubspot(
    fake_hubspot: FakeHubSpot, headless_chromium: ChromiumWrapper, callback_port: int
) -> None:
    """The control for the localhost redirect: HubSpot shows an error page for a redirect to
    127.0.0.1, so the callback never arrives (why HUBSPOT_REDIRECT_URI uses localhost)."""
    app = HubSpotOAuth(
        client_id=fake_hubspot.client_id,
        client_secret=fake_hubspot.client_secret,
        redirect_uri=f"http://127.0.0.1:{callback_port}/callback",
        authorize_url=fake_hubspot.authorize_url,
        api_base=fake_hubspot.url,
    )
    with pytest.raises(ProviderError) as caught:
        run_flow(app, headless_chromium, timeout=8)
    assert caught.value.code == "authorization_timeout"
    assert len(fake_hubspot.calls("authorize")) == 1 and fake_hubspot.calls("token") == []
    assert "must not be an IP address" in only_page(headless_chromium)
