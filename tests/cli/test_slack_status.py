"""`zigznote slack status | test | disconnect` and the Slack settings, against respx on
SLACK_API_BASE: auth.test with proactive refresh and exactly one refresh-and-retry (rotated
tokens stored), the error state, revoke/uninstall and delete."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from tests.cli._slack_support import (
    ACCESS,
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    ISO_RE,
    REDIRECT,
    REFRESH,
    SCOPES,
    STORED_VIEW,
    TEAM_ID,
    TEAM_NAME,
    api,
    basic_of,
    bearer_of,
    connect_stored,
    connection,
    fixture,
    form_of,
    nothing_stored,
    slack_env,
    store,
    stored_tokens,
)
from tests.conftest import Cli

__all__ = ["api", "slack_env", "store"]  # fixtures used by name


# -- status and test -----------------------------------------------------------------------------


def test_status_checks_live_and_shows_the_stored_facts(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    saved = connect_stored(store)
    api.post("/auth.test").respond(200, json={**fixture("auth_test_bot.json"), "team_id": TEAM_ID, "user": "notes"})
    shown = cli.ok("--org", "acme", "slack", "status")
    at = shown["check"].pop("at")
    assert ISO_RE.match(at)
    assert shown == {
        **STORED_VIEW,
        "token_expires_at": saved["token_expires_at"],
        "connected_at": saved["connected_at"],
        "bot_user": "notes",
        "check": {"ok": True, "error": None},
    }


def test_status_of_a_revoked_token_shows_the_error_and_exits_0(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    connect_stored(store, refresh=None, expires_in=None)
    api.post("/auth.test").respond(200, json={"ok": False, "error": "token_revoked"})
    shown = cli.ok("--org", "acme", "slack", "status")
    message = "Slack refused the access token (auth.test: token_revoked)"
    assert shown["status"] == "error"
    assert shown["last_error"] == message
    assert shown["check"]["ok"] is False
    assert shown["check"]["error"] == {
        "code": "credentials_rejected",
        "message": message,
        "hint": "run `zigznote --org acme slack connect` again",
    }
    human = cli("--org", "acme", "slack", "status")
    assert human.exit_code == 0
    assert "failed: Slack refused the access token (auth.test: token_revoked)" in human.stdout
    assert "hint: run `zigznote --org acme slack connect` again" in human.stderr


def test_status_and_test_when_not_connected_exit_3(cli: Cli, org: dict[str, Any], api: respx.MockRouter) -> None:
    for command in ("status", "test", "channels", "disconnect"):
        error = cli.fails(3, "--org", "acme", "slack", command)
        assert error == {
            "code": "not_connected",
            "message": "Slack is not connected for this organization",
            "hint": "run `zigznote --org acme slack connect`",
        }
    assert api.calls.call_count == 0


def test_test_reports_the_token_and_missing_scopes(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    connect_stored(store)
    api.post("/auth.test").respond(
        200, json=fixture("auth_test_bot.json"), headers={"X-OAuth-Scopes": "chat:write,channels:read"}
    )
    assert cli.ok("--org", "acme", "slack", "test") == {
        "ok": True,
        "team": "Subarachnoid Workspace",
        "team_id": "T0G9PQBBK",
        "bot_user": "bot",
        "bot_user_id": "W23456789",
        "url": "https://subarachnoid.slack.com/",
        "scopes": ["chat:write", "channels:read"],
        "missing_scopes": ["chat:write.public", "groups:read"],
    }
    ran = cli("--org", "acme", "slack", "test")
    assert ran.stderr.splitlines() == [
        "✓ Slack accepts the token: workspace Subarachnoid Workspace (T0G9PQBBK), bot bot (W23456789)",
        "warning: the token lacks chat:write.public, groups:read: add them in the Slack app settings and connect again",
    ]


def test_test_fails_with_exit_6_when_slack_refuses_the_token(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    connect_stored(store, refresh=None, expires_in=None)
    api.post("/auth.test").respond(200, json={"ok": False, "error": "invalid_auth"})
    error = cli.fails(6, "--org", "acme", "slack", "test")
    assert error["code"] == "credentials_rejected"
    assert error["hint"] == "run `zigznote --org acme slack connect` again"
    assert connection(store)["status"] == "error"  # type: ignore[index]


def test_an_expired_access_token_is_refreshed_once_and_the_call_retried(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    """Slack says token_expired although our clock says it is valid: one refresh, one retry, and
    the new tokens (Slack rotated the refresh token too) are what is stored."""
    connect_stored(store)
    refreshed = fixture("oauth_v2_refresh.json")
    who = api.post("/auth.test").mock(
        side_effect=[
            respx.MockResponse(200, json={"ok": False, "error": "token_expired"}),
            respx.MockResponse(200, json=fixture("auth_test_bot.json")),
        ]
    )
    refresh = api.post("/oauth.v2.access").respond(200, json=refreshed)
    assert cli.ok("--org", "acme", "slack", "test")["ok"] is True
    assert [bearer_of(c.request) for c in who.calls] == [ACCESS, refreshed["access_token"]]
    [call] = refresh.calls
    assert form_of(call.request) == {"grant_type": "refresh_token", "refresh_token": REFRESH}
    assert basic_of(call.request) == (CLIENT_ID, CLIENT_SECRET)
    tokens = stored_tokens(store)
    assert (tokens.access_token, tokens.refresh_token) == (refreshed["access_token"], refreshed["refresh_token"])
    shown = connection(store)
    assert shown is not None and shown["status"] == "connected" and shown["refreshed_at"] is not None


def test_a_token_expiring_soon_is_refreshed_before_the_call(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    connect_stored(store, expires_in=60)
    refreshed = fixture("oauth_v2_refresh.json")
    who = api.post("/auth.test").respond(200, json=fixture("auth_test_bot.json"))
    refresh = api.post("/oauth.v2.access").respond(200, json=refreshed)
    cli.ok("--org", "acme", "slack", "test")
    assert refresh.calls.call_count == 1
    assert [bearer_of(c.request) for c in who.calls] == [refreshed["access_token"]]


def test_a_refused_refresh_token_puts_the_connection_in_error(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    connect_stored(store)
    api.post("/auth.test").respond(200, json={"ok": False, "error": "token_expired"})
    api.post("/oauth.v2.access").respond(200, json=fixture("error_invalid_refresh_token.json"))
    error = cli.fails(6, "--org", "acme", "slack", "test")
    assert error["code"] == "credentials_rejected"
    assert "invalid_refresh_token" in error["message"]
    assert error["hint"] == "run `zigznote --org acme slack connect` again"
    assert connection(store)["status"] == "error"  # type: ignore[index]


def test_refresh_needs_the_app_credentials(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_stored(store, expires_in=60)
    monkeypatch.delenv("SLACK_CLIENT_ID")
    error = cli.fails(6, "--org", "acme", "slack", "test")
    assert error["code"] == "slack_not_configured"
    assert error["message"].startswith("renewing the Slack access token needs the Slack app's credentials")
    assert api.calls.call_count == 0
    assert connection(store)["status"] == "connected"  # type: ignore[index]


# -- disconnect ----------------------------------------------------------------------------------


def test_disconnect_revokes_and_deletes(cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any) -> None:
    connect_stored(store)
    revoke = api.post("/auth.revoke").respond(200, json=fixture("auth_revoke.json"))
    assert cli.ok("--org", "acme", "slack", "disconnect") == {
        "provider": "slack",
        "team": TEAM_NAME,
        "team_id": TEAM_ID,
        "revoked": True,
        "already_invalid": False,
        "uninstalled": None,
        "deleted": True,
        "auto_send_dropped": False,
        "local_only": False,
        "still_valid": None,
    }
    assert [bearer_of(c.request) for c in revoke.calls] == [ACCESS]
    nothing_stored(cli)


@pytest.mark.parametrize("error", ["token_revoked", "invalid_auth", "account_inactive"])
def test_disconnect_with_a_dead_token_still_deletes(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any, error: str
) -> None:
    connect_stored(store, refresh=None, expires_in=None)
    api.post("/auth.revoke").respond(200, json={"ok": False, "error": error})
    ran = cli("--org", "acme", "slack", "disconnect")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr.splitlines() == [
        f"✓ disconnected Slack workspace {TEAM_NAME} ({TEAM_ID}): the token was already invalid"
    ]
    nothing_stored(cli)


def test_disconnect_when_slack_is_down_keeps_the_connection(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    connect_stored(store, refresh=None, expires_in=None)
    api.post("/auth.revoke").respond(502)
    assert cli.fails(5, "--org", "acme", "slack", "disconnect")["code"] == "slack_unavailable"
    assert connection(store)["status"] == "connected"  # type: ignore[index]


def test_disconnect_uninstall(cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any) -> None:
    connect_stored(store)
    uninstall = api.post("/apps.uninstall").respond(200, json=fixture("apps_uninstall.json"))
    revoke = api.post("/auth.revoke").respond(200, json=fixture("auth_revoke.json"))
    shown = cli.ok("--org", "acme", "slack", "disconnect", "--uninstall")
    assert (shown["uninstalled"], shown["already_invalid"], shown["deleted"]) == (True, False, True)
    [call] = uninstall.calls
    assert bearer_of(call.request) == ACCESS
    assert form_of(call.request) == {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert revoke.calls.call_count == 0  # uninstalling revokes every token of the installation
    nothing_stored(cli)


def test_disconnect_uninstall_needs_the_app_credentials_first(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_stored(store)
    monkeypatch.delenv("SLACK_CLIENT_ID")
    assert cli.fails(6, "--org", "acme", "slack", "disconnect", "--uninstall")["code"] == "slack_not_configured"
    assert api.calls.call_count == 0
    assert connection(store) is not None


def test_config_show_lists_the_slack_settings_with_the_secret_masked(
    cli: Cli, slack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIGZNOTE_OAUTH_TIMEOUT", "90s")
    settings = cli.ok("config", "show")["settings"]
    assert settings["slack_client_id"] == {"value": CLIENT_ID, "source": "env:SLACK_CLIENT_ID"}
    assert settings["slack_client_secret"] == {"value": "****", "source": "env:SLACK_CLIENT_SECRET"}
    assert settings["slack_api_base"] == {"value": API, "source": "env:SLACK_API_BASE"}
    assert settings["slack_redirect_uri"] == {"value": REDIRECT, "source": "default"}
    assert settings["slack_scopes"] == {"value": ",".join(SCOPES), "source": "default"}
    assert settings["oauth_timeout"] == {"value": 90.0, "source": "env:ZIGZNOTE_OAUTH_TIMEOUT"}
    assert settings["tls_cert"] == {"value": None, "source": "default"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("SLACK_API_BASE", "slack.com/api"), ("ZIGZNOTE_OAUTH_TIMEOUT", "0"), ("SLACK_SCOPES", "chat write")],
)
def test_bad_slack_settings_are_exit_6(
    cli: Cli, org: dict[str, Any], slack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    error = cli.fails(6, "--org", "acme", "slack", "status")
    assert error["message"].startswith(f"{name}: ")
