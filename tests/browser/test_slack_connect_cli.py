"""`zigznote slack connect` end to end, as a user runs it: the command in a subprocess, BROWSER =
the headless Chromium wrapper, SLACK_OAUTH_AUTHORIZE_URL and SLACK_API_BASE at the loopback fake
Slack. Chromium follows the fake's authorize redirect to the command's callback server (http, and
https with the certificate the command generates, Chromium told to accept it), the code is
exchanged, and the connection is stored encrypted: the row's ``token_enc`` is a vault ciphertext
of the token set the fake issued, and `integrations list --json` shows Slack connected."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import port_is_free
from tests.cli._webhooks_support import sql
from tests.conftest import Cli
from tests.support.chromium import ChromiumWrapper
from tests.support.fake_slack import FakeSlack
from zigznote.integrations.base import TokenSet
from zigznote.vault import MasterKey, Vault

pytestmark = pytest.mark.browser

SCOPES = ["chat:write", "chat:write.public", "channels:read", "groups:read"]


def run_connect(
    cli: Cli, fake: FakeSlack, browser: ChromiumWrapper, redirect_uri: str
) -> subprocess.CompletedProcess[str]:
    """`zigznote --json --org acme slack connect --timeout 60s` in a subprocess with the test's
    environment (XDG dirs, master key), the fake's SLACK_* settings and BROWSER; no display
    variables, so nothing but BROWSER decides how the URL is opened."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "SSH_TTY"):
        env.pop(name, None)
    env.update(fake.env(redirect_uri=redirect_uri))
    env["BROWSER"] = str(browser.script)
    argv = [sys.executable, "-m", "zigznote", "--db", cli.db_url, "--json", "--org", "acme"]
    return subprocess.run(
        [*argv, "slack", "connect", "--timeout", "60s"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stored_connection(cli: Cli, master_key: str) -> tuple[dict[str, Any], TokenSet]:
    """The integration_connection row (as a dict) and its decrypted token set."""
    [row] = sql(cli.db_url, "SELECT * FROM integration_connection")
    record = dict(row._mapping)
    vault = Vault([MasterKey(base64.b64decode(master_key), "env")])
    plain = vault.decrypt(record["token_enc"], table="integration_connection", row=record["id"], field="token_enc")
    return record, TokenSet.from_json(plain)


def assert_connected(
    cli: Cli,
    fake: FakeSlack,
    browser: ChromiumWrapper,
    ran: subprocess.CompletedProcess[str],
    env: dict[str, str],
    redirect_uri: str,
) -> TokenSet:
    assert ran.returncode == 0, ran.stderr
    # The authorize URL went to stderr before the browser opened it; the browser ran once, to the end.
    [launch] = browser.launches()
    assert launch.url.startswith(fake.authorize_url + "?")
    assert launch.url in ran.stderr.splitlines()
    assert browser.wait_until_exited(30)
    assert browser.exits()[launch.n]["timed_out"] is False
    assert "you can close this tab" in browser.final_page(launch)
    [authorize] = fake.authorize_requests
    assert (authorize.form["redirect_uri"], authorize.form["scope"]) == (redirect_uri, ",".join(SCOPES))
    [exchange] = fake.calls("oauth.v2.access")
    assert (exchange.client_auth, exchange.form["redirect_uri"]) == ("basic", redirect_uri)

    shown = json.loads(ran.stdout)
    assert (shown["team"], shown["team_id"], shown["bot_user_id"], shown["scopes"]) == (
        "Fake Workspace",
        "T0FAKE0001",
        "U0FAKEBOT1",
        SCOPES,
    )
    # Stored encrypted: a vault ciphertext bound to the row, holding exactly what the fake issued.
    record, tokens = stored_connection(cli, env["ZIGZNOTE_MASTER_KEY"])
    assert record["token_enc"].startswith("zv1:")
    assert tokens.access_token not in record["token_enc"]
    assert fake.valid_access_tokens() == [tokens.access_token]
    assert (tokens.token_type, list(tokens.scopes)) == ("bot", SCOPES)
    assert (record["provider"], record["status"], record["account_id"]) == ("slack", "connected", "T0FAKE0001")
    # Nothing secret in what the command printed.
    assert tokens.access_token not in ran.stdout + ran.stderr

    [slack, hubspot] = [
        r for r in cli.ok("--org", "acme", "integrations", "list") if r["provider"] in ("slack", "hubspot")
    ]
    assert (slack["status"], slack["account_id"], slack["account_name"], slack["scopes"]) == (
        "connected",
        "T0FAKE0001",
        "Fake Workspace",
        SCOPES,
    )
    assert hubspot["status"] == "not connected"
    return tokens


def test_slack_connect_over_http_stores_the_rotating_token_set_encrypted(
    cli: Cli, env: dict[str, str], fake_slack: FakeSlack, headless_chromium: ChromiumWrapper, callback_port: int
) -> None:
    fake_slack.rotation = True
    cli.ok("orgs", "create", "acme")
    redirect_uri = f"http://localhost:{callback_port}/callback"
    before = datetime.now(UTC)

    ran = run_connect(cli, fake_slack, headless_chromium, redirect_uri)

    tokens = assert_connected(cli, fake_slack, headless_chromium, ran, env, redirect_uri)
    assert fake_slack.valid_refresh_tokens() == [tokens.refresh_token]
    assert tokens.expires_at is not None
    assert timedelta(hours=12) - timedelta(minutes=1) < tokens.expires_at - before < timedelta(hours=12, minutes=1)
    assert tokens.refresh_token is not None and tokens.refresh_token not in ran.stdout + ran.stderr
    [slack] = [r for r in cli.ok("--org", "acme", "integrations", "list") if r["provider"] == "slack"]
    assert slack["refreshable"] is True and slack["token_expires_at"] is not None
    assert port_is_free(callback_port)


def test_slack_connect_over_https_with_the_generated_certificate(
    cli: Cli,
    env: dict[str, str],
    fake_slack: FakeSlack,
    headless_chromium: ChromiumWrapper,
    callback_port: int,
) -> None:
    cli.ok("orgs", "create", "acme")
    redirect_uri = f"https://localhost:{callback_port}/callback"
    cert_dir = Path(env["XDG_DATA_HOME"]) / "zigznote"

    ran = run_connect(cli, fake_slack, headless_chromium, redirect_uri)

    tokens = assert_connected(cli, fake_slack, headless_chromium, ran, env, redirect_uri)
    assert (tokens.refresh_token, tokens.expires_at) == (None, None)  # rotation off: a lasting bot token
    # The command generated the localhost certificate in the data directory and said the browser will warn.
    cert = cert_dir / "tls" / "localhost-cert.pem"
    assert f"Generated a self-signed certificate for the https://localhost callback: {cert}" in ran.stderr
    assert sorted(p.name for p in cert.parent.iterdir()) == ["localhost-cert.pem", "localhost-key.pem"]
    assert port_is_free(callback_port)
