"""`zigznote slack connect` against respx on SLACK_API_BASE: by pasted redirect URL
(--no-browser) and by bot token (--token-stdin); every failure leaves nothing stored, and the
stored tokens are nowhere in plaintext (SQLite file, pg_dump). The loopback callback flow is in
test_slack_connect_flow.py."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import respx

from tests.cli._slack_support import (
    ACCESS,
    AUTHORIZE,
    CLIENT_ID,
    CLIENT_SECRET,
    ISO_RE,
    REDIRECT,
    REFRESH,
    STORED_VIEW,
    TEAM_ID,
    api,
    basic_of,
    bearer_of,
    fixture,
    form_of,
    nothing_stored,
    slack_env,
    store,
    stored_tokens,
)
from tests.cli.test_secrets_at_rest import stored_bytes
from tests.conftest import Cli
from zigznote.timeutil import parse_timestamp

__all__ = ["api", "slack_env", "store"]  # fixtures used by name

STATE = "S" * 43
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"


@pytest.fixture
def fixed_state(monkeypatch: pytest.MonkeyPatch) -> str:
    """The OAuth state of the next authorize URL (so a test can paste a redirect for it)."""
    real = secrets.token_urlsafe
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n=None: STATE if n == 32 else real(n))
    return STATE


def connect_pasting(cli: Cli, pasted: str, *extra: str) -> Any:
    return cli("--json", "--org", "acme", "slack", "connect", "--no-browser", *extra, input=pasted + "\n")


# -- connect: OAuth by pasting the redirect URL --------------------------------------------------


def test_no_browser_paste_flow_stores_the_rotating_tokens_encrypted(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, fixed_state: str, store: Any
) -> None:
    exchange = api.post("/oauth.v2.access").respond(200, json=fixture("oauth_v2_access_rotation.json"))
    before = datetime.now(UTC)
    ran = connect_pasting(cli, f"{REDIRECT}?code=4724469134.1234&state={fixed_state}")
    assert ran.exit_code == 0, ran.stderr

    # stderr: the URL alone on its line before anything else happens, then the paste prompt.
    lines = ran.stderr.splitlines()
    assert lines[0] == "Open this URL in a browser to authorize zigznote with Slack:"
    assert lines[1] == (
        f"{AUTHORIZE}?response_type=code&client_id={CLIENT_ID}&redirect_uri=https%3A%2F%2Flocalhost%3A8765"
        f"%2Fcallback&state={STATE}&scope=chat%3Awrite%2Cchat%3Awrite.public%2Cchannels%3Aread%2Cgroups%3Aread"
    )
    assert "Paste the full URL your browser was redirected to: " in ran.stderr
    # The code was exchanged once, with the app's credentials as HTTP Basic and the same redirect URI.
    [call] = exchange.calls
    assert basic_of(call.request) == (CLIENT_ID, CLIENT_SECRET)
    assert form_of(call.request) == {"code": "4724469134.1234", "redirect_uri": REDIRECT}

    shown = ran.json
    connected_at = shown.pop("connected_at")
    token_expires_at = shown.pop("token_expires_at")
    assert shown == {**STORED_VIEW, "method": "oauth", "released_jobs": 0, "auto_send_dropped": False}
    assert ISO_RE.match(connected_at)
    lifetime = parse_timestamp(token_expires_at).replace(tzinfo=UTC) - before
    assert timedelta(seconds=43_200 - 60) < lifetime <= timedelta(seconds=43_200 + 1)
    tokens = stored_tokens(store)
    assert (tokens.access_token, tokens.refresh_token, tokens.token_type) == (ACCESS, REFRESH, "bot")
    raw = stored_bytes(cli.db_url)  # the SQLite file and its WAL, or a pg_dump of the schema
    assert TEAM_ID.encode() in raw  # the connection row is in there…
    assert ACCESS.encode() not in raw and REFRESH.encode() not in raw and b"xoxe" not in raw  # …its tokens not
    assert ACCESS not in ran.stdout + ran.stderr and REFRESH not in ran.stdout + ran.stderr


@pytest.mark.parametrize(
    ("pasted", "exit_code", "code"),
    [
        (f"{REDIRECT}?code=abc&state=another-state", 7, "state_mismatch"),
        (f"{REDIRECT}?code=abc", 7, "state_mismatch"),
        (f"{REDIRECT}?error=access_denied&state={STATE}", 6, "access_denied"),
        (f"{REDIRECT}?state={STATE}", 2, "missing_code"),
        ("", 2, "invalid_input"),
    ],
)
def test_a_bad_paste_stores_nothing_and_exchanges_nothing(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, fixed_state: str, pasted: str, exit_code: int, code: str
) -> None:
    exchange = api.post("/oauth.v2.access").respond(200, json=fixture("oauth_v2_access.json"))
    ran = connect_pasting(cli, pasted)
    assert ran.exit_code == exit_code, ran.stderr
    assert ran.stdout == ""
    assert ran.error["code"] == code
    assert exchange.calls.call_count == 0
    nothing_stored(cli)


@pytest.mark.parametrize(("error", "exit_code"), [("invalid_code", 6), ("bad_client_secret", 6)])
def test_a_refused_exchange_stores_nothing(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, fixed_state: str, error: str, exit_code: int
) -> None:
    api.post("/oauth.v2.access").respond(200, json={"ok": False, "error": error})
    ran = connect_pasting(cli, f"{REDIRECT}?code=abc&state={fixed_state}")
    assert ran.exit_code == exit_code
    assert ran.error["code"] == error
    assert ran.error["message"] == f"Slack refused oauth.v2.access: {error}"
    nothing_stored(cli)


def test_slack_down_during_the_exchange_is_exit_5(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, fixed_state: str
) -> None:
    api.post("/oauth.v2.access").respond(503)
    ran = connect_pasting(cli, f"{REDIRECT}?code=abc&state={fixed_state}")
    assert ran.exit_code == 5
    assert ran.error["code"] == "slack_unavailable"
    nothing_stored(cli)


def test_oauth_without_the_app_credentials_is_exit_6_before_anything(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_CLIENT_SECRET")
    ran = cli("--org", "acme", "slack", "connect", "--no-browser", input="")
    assert ran.exit_code == 6
    assert ran.stderr.splitlines() == [
        "error: connecting Slack with OAuth needs the Slack app's credentials: SLACK_CLIENT_SECRET is not set",
        "hint: copy the Client ID and Client Secret from the Basic Information page of the Slack app into "
        "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (or slack_client_id / slack_client_secret in the config file); "
        "to store a bot token instead, use `slack connect --token-stdin`",
    ]
    assert api.calls.call_count == 0
    nothing_stored(cli)


def test_connect_for_an_unknown_org_fails_before_the_flow(cli: Cli, api: respx.MockRouter) -> None:
    ran = cli("--org", "nope", "slack", "connect", "--no-browser", input="")
    assert ran.exit_code == 3
    assert "Open this URL" not in ran.stderr
    assert ran.stderr.startswith("error: organization 'nope' not found")


# -- connect: a bot token on stdin ---------------------------------------------------------------


def test_token_stdin_checks_the_token_and_stores_it(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    who = api.post("/auth.test").respond(
        200, json=fixture("auth_test_bot.json"), headers={"X-OAuth-Scopes": "chat:write,channels:read"}
    )
    ran = cli("--json", "--org", "acme", "slack", "connect", "--token-stdin", input=f"  {BOT_TOKEN}\n")
    assert ran.exit_code == 0, ran.stderr
    assert bearer_of(who.calls.last.request) == BOT_TOKEN
    shown = ran.json
    shown.pop("connected_at")
    assert shown == {
        "provider": "slack",
        "status": "connected",
        "team": "Subarachnoid Workspace",
        "team_id": "T0G9PQBBK",
        "bot_user_id": "W23456789",
        "app_id": None,
        "scopes": ["chat:write", "channels:read"],
        "token_expires_at": None,
        "refreshable": False,
        "channel_id": None,
        "channel_name": None,
        "auto_send": False,
        "last_error": None,
        "last_error_at": None,
        "refreshed_at": None,
        "method": "token",
        "released_jobs": 0,
        "auto_send_dropped": False,
    }
    assert ran.stderr == ""  # no OAuth flow, nothing to say
    tokens = stored_tokens(store)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == (BOT_TOKEN, None, None)
    raw = stored_bytes(cli.db_url)
    assert b"T0G9PQBBK" in raw  # the dump holds the connection row…
    assert BOT_TOKEN.encode() not in raw and b"xoxb" not in raw  # …but never the token


def test_token_stdin_human_output(cli: Cli, org: dict[str, Any], api: respx.MockRouter) -> None:
    api.post("/auth.test").respond(200, json=fixture("auth_test_bot.json"), headers={"X-OAuth-Scopes": "chat:write"})
    ran = cli("--org", "acme", "slack", "connect", "--token-stdin", input=BOT_TOKEN)
    assert ran.exit_code == 0
    assert ran.stderr.splitlines() == [
        "✓ connected Slack workspace Subarachnoid Workspace (T0G9PQBBK) with bot user W23456789",
        "scopes: chat:write; the token does not expire",
    ]


@pytest.mark.parametrize(
    ("answer", "stdin", "exit_code", "code"),
    [
        (fixture("auth_test_user.json"), BOT_TOKEN, 2, "not_a_bot_token"),
        ({"ok": False, "error": "invalid_auth"}, BOT_TOKEN, 6, "credentials_rejected"),
        (None, "   \n", 2, "missing_token"),
        (None, f"{BOT_TOKEN} extra", 2, "invalid_token"),
    ],
)
def test_token_stdin_failures_store_nothing(
    cli: Cli,
    org: dict[str, Any],
    api: respx.MockRouter,
    answer: dict[str, Any] | None,
    stdin: str,
    exit_code: int,
    code: str,
) -> None:
    route = api.post("/auth.test").respond(200, json=answer or {})
    ran = cli("--json", "--org", "acme", "slack", "connect", "--token-stdin", input=stdin)
    assert ran.exit_code == exit_code
    assert ran.error["code"] == code
    assert BOT_TOKEN not in ran.stderr
    assert route.calls.call_count == (1 if answer else 0)
    nothing_stored(cli)


def test_token_stdin_with_oauth_options_is_a_usage_error(cli: Cli, org: dict[str, Any], api: respx.MockRouter) -> None:
    error = cli.fails(2, "--org", "acme", "slack", "connect", "--token-stdin", "--no-browser", input=BOT_TOKEN)
    assert error["code"] == "usage_error"
    assert api.calls.call_count == 0
