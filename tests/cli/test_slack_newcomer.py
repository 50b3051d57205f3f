"""What a newcomer following the README meets on `zigznote slack …` (findings of a trial run):
hints that fit the command at hand (with `--org`), usage slips as exit 2, a prompt line that is
always ended, counts in good English, a way out of a disconnect Slack cannot answer
(`--local-only`), and a warning for a redirect URI Slack refuses. Slack is respx on SLACK_API_BASE."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import respx

from tests.cli._slack_support import (
    TEAM_ID,
    TEAM_NAME,
    api,
    connect_stored,
    connection,
    fixture,
    nothing_stored,
    pages,
    slack_env,
    store,
)
from tests.conftest import Cli
from tests.support import factory
from zigznote.cli import _connect
from zigznote.delivery.queue import jobs as qjobs
from zigznote.timeutil import utcnow

__all__ = ["api", "slack_env", "store"]  # fixtures used by name

BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
WHERE = (
    "copy the Client ID and Client Secret from the Basic Information page of the Slack app into SLACK_CLIENT_ID "
    "and SLACK_CLIENT_SECRET (or slack_client_id / slack_client_secret in the config file)"
)


def test_both_app_credentials_missing_are_named_in_plural(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_CLIENT_ID")
    monkeypatch.delenv("SLACK_CLIENT_SECRET")
    error = cli.fails(6, "--org", "acme", "slack", "connect", "--no-browser", input="")
    assert error == {
        "code": "slack_not_configured",
        "message": "connecting Slack with OAuth needs the Slack app's credentials: SLACK_CLIENT_ID and "
        "SLACK_CLIENT_SECRET are not set",
        "hint": f"{WHERE}; to store a bot token instead, use `slack connect --token-stdin`",
    }
    assert api.calls.call_count == 0


def test_uninstall_without_the_app_credentials_offers_a_plain_disconnect(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--token-stdin is no way to uninstall: the hint offers what does work without the secret."""
    connect_stored(store)
    monkeypatch.delenv("SLACK_CLIENT_SECRET")
    error = cli.fails(6, "--org", "acme", "slack", "disconnect", "--uninstall")
    assert error == {
        "code": "slack_not_configured",
        "message": "uninstalling the Slack app needs the Slack app's credentials: SLACK_CLIENT_SECRET is not set",
        "hint": f"{WHERE}; or run `slack disconnect` without --uninstall to revoke only this token",
    }
    assert api.calls.call_count == 0
    assert connection(store)["account_id"] == TEAM_ID  # type: ignore[index]


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked"])
def test_a_refused_pasted_token_says_to_check_the_token_not_to_connect_again(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, error: str
) -> None:
    route = api.post("/auth.test").respond(200, json={"ok": False, "error": error})
    ran = cli("--json", "--org", "acme", "slack", "connect", "--token-stdin", input=BOT_TOKEN)
    assert ran.exit_code == 6
    assert ran.stdout == ""
    assert ran.error == {
        "code": "credentials_rejected",
        "message": f"Slack refused the access token (auth.test: {error})",
        "hint": "check the token: copy the Bot User OAuth Token (xoxb-…) again from OAuth & Permissions in the "
        "Slack app settings (after a revoke or an uninstall, reinstall the app to the workspace first)",
    }
    assert route.calls.call_count == 1
    assert BOT_TOKEN not in ran.stderr
    nothing_stored(cli)


@pytest.mark.parametrize("given", [("--tls-cert", "cert.pem"), ("--tls-key", "key.pem")])
def test_half_a_tls_pair_is_a_usage_error_before_anything(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, given: tuple[str, str]
) -> None:
    ran = cli("--json", "--org", "acme", "slack", "connect", *given, input="")
    assert ran.exit_code == 2
    assert ran.stdout == ""
    assert ran.error == {
        "code": "usage_error",
        "message": "--tls-cert and --tls-key go together: give both (the certificate and its private key) or neither",
        "hint": "e.g. `slack connect --tls-cert localhost+2.pem --tls-key localhost+2-key.pem` (mkcert's file names)",
    }
    assert "Open this URL" not in ran.stderr  # refused before the flow started
    assert api.calls.call_count == 0
    nothing_stored(cli)


def test_one_released_job_is_said_in_the_singular(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    db, _ = store
    factory.emit(db, org["id"], [None], 1, kind="slack.summary")
    with db.engine.begin() as conn:
        assert qjobs.hold(conn, org["id"], "slack.summary", reason="integration revoked", now=utcnow()) == 1
    api.post("/auth.test").respond(200, json=fixture("auth_test_bot.json"), headers={"X-OAuth-Scopes": "chat:write"})
    ran = cli("--org", "acme", "slack", "connect", "--token-stdin", input=BOT_TOKEN)
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr.splitlines()[-1] == "released 1 held Slack job: they run again now"


class _CtrlC:
    """A stdin whose read is interrupted, as Ctrl-C at the paste prompt does."""

    def readline(self, limit: int = -1) -> str:
        raise KeyboardInterrupt

    def isatty(self) -> bool:
        return True


def test_ctrl_c_at_the_paste_prompt_ends_the_prompt_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The terminal echoes no newline for Ctrl-C: "interrupted" would follow the prompt on its line.
    (`slack connect` and `hubspot connect` share the prompt: cli/_connect.py.)"""
    monkeypatch.setattr(sys, "stdin", _CtrlC())
    with pytest.raises(KeyboardInterrupt):
        _connect.read_pasted("Paste here: ")
    assert capsys.readouterr().err == "Paste here: \n"


# -- disconnect --local-only (finding F) ----------------------------------------------------------

LOCAL_ONLY = "to delete the stored connection without revoking, run `zigznote --org acme slack disconnect --local-only`"
REVOKE_THERE = (
    "remove the app from the workspace (Manage apps in the workspace settings) or revoke its tokens under "
    "OAuth & Permissions in the Slack app settings"
)


def test_disconnect_when_slack_is_down_offers_local_only_which_deletes_without_asking_slack(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    connect_stored(store, refresh=None, expires_in=None)
    api.post("/auth.revoke").respond(502)
    error = cli.fails(5, "--org", "acme", "slack", "disconnect")
    assert error == {
        "code": "slack_unavailable",
        "message": "Slack answered HTTP 502 to auth.revoke",
        "hint": f"Slack has a problem; try again later; {LOCAL_ONLY}",
    }
    assert connection(store)["account_id"] == TEAM_ID  # type: ignore[index]
    asked = api.calls.call_count

    ran = cli("--org", "acme", "slack", "disconnect", "--local-only")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr.splitlines() == [
        f"✓ disconnected Slack workspace {TEAM_NAME} ({TEAM_ID}): the stored connection was deleted without revoking",
        f"warning: the Slack bot token stays valid until it is revoked at Slack: {REVOKE_THERE}",
    ]
    assert api.calls.call_count == asked  # Slack was not asked again
    nothing_stored(cli)


def test_disconnect_local_only_without_the_secret_for_an_expiring_token(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotating token about to expire needs a refresh before auth.revoke, and the refresh needs the
    lost secret: the error offers --local-only, which works without it (and under --json)."""
    saved = connect_stored(store, expires_in=60)
    monkeypatch.delenv("SLACK_CLIENT_SECRET")
    error = cli.fails(6, "--org", "acme", "slack", "disconnect")
    assert error["code"] == "slack_not_configured"
    assert error["hint"].endswith(f"; {LOCAL_ONLY}")
    assert connection(store) is not None

    ran = cli("--json", "--org", "acme", "slack", "disconnect", "--local-only")
    assert ran.exit_code == 0, ran.stderr
    still_valid = (
        f"the Slack access token stays valid until {saved['token_expires_at']} and its refresh token until it "
        f"is revoked at Slack: {REVOKE_THERE}"
    )
    assert ran.json == {
        "provider": "slack",
        "team": TEAM_NAME,
        "team_id": TEAM_ID,
        "revoked": False,
        "already_invalid": False,
        "uninstalled": None,
        "deleted": True,
        "auto_send_dropped": False,
        "local_only": True,
        "still_valid": still_valid,
    }
    assert ran.stderr == f"warning: {still_valid}\n"  # said plainly on stderr, also under --json
    assert api.calls.call_count == 0
    nothing_stored(cli)


def test_local_only_and_uninstall_are_a_usage_error(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any
) -> None:
    connect_stored(store)
    error = cli.fails(2, "--org", "acme", "slack", "disconnect", "--uninstall", "--local-only")
    assert error == {
        "code": "usage_error",
        "message": "--uninstall asks Slack to remove the app, --local-only asks Slack nothing: choose one",
        "hint": None,
    }
    assert api.calls.call_count == 0
    assert connection(store) is not None


# -- redirect URIs Slack refuses (finding H) ------------------------------------------------------


def test_an_http_redirect_uri_is_warned_about_right_after_the_url(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_REDIRECT_URI", "http://localhost:8765/callback")
    ran = cli("--org", "acme", "slack", "connect", "--no-browser", input="")
    assert ran.exit_code == 2  # nothing pasted: the flow went on after the warning
    lines = ran.stderr.splitlines()
    assert lines[0] == "Open this URL in a browser to authorize zigznote with Slack:"
    assert "redirect_uri=http%3A%2F%2Flocalhost%3A8765%2Fcallback" in lines[1]
    assert lines[2] == (
        "warning: Slack accepts only https redirect URLs, and SLACK_REDIRECT_URI is http://localhost:8765/callback: "
        "Slack's authorize page will likely refuse it unless a proxy or tunnel serves it over https (the default "
        "https://localhost:8765/callback works with a generated certificate)"
    )
    assert lines[3].startswith("After you approve, the browser goes to http://localhost:8765/callback")
    assert api.calls.call_count == 0
    nothing_stored(cli)


def test_the_default_https_redirect_gets_no_warning(cli: Cli, org: dict[str, Any], api: respx.MockRouter) -> None:
    ran = cli("--org", "acme", "slack", "connect", "--no-browser", input="")
    assert ran.exit_code == 2
    assert ran.stderr.splitlines()[2].startswith("After you approve, the browser goes to https://localhost:8765/")
    assert "warning" not in ran.stderr


# -- send and channel hints (finding I) -----------------------------------------------------------


@pytest.mark.parametrize("meeting", ["", "   "])
def test_send_with_an_empty_meeting_reference_says_so_first(
    cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any, meeting: str
) -> None:
    connect_stored(store)  # no default channel: that is not what is wrong here
    error = cli.fails(2, "--org", "acme", "slack", "send", meeting)
    assert error == {
        "code": "meeting_required",
        "message": "meeting reference is empty",
        "hint": "give a meeting ID or external ID; `zigznote --org acme meetings list` shows them",
    }
    assert api.calls.call_count == 0


def test_channel_hints_name_the_organization(cli: Cli, org: dict[str, Any], api: respx.MockRouter, store: Any) -> None:
    connect_stored(store)
    pages(api)
    malformed = cli.fails(2, "--org", "acme", "slack", "settings", "--channel", "two words")
    assert (
        malformed["hint"] == "give a channel ID (C0123ABCD) or #name; `zigznote --org acme slack channels` lists them"
    )
    unknown = cli.fails(3, "--org", "acme", "slack", "settings", "--channel", "#nope")
    assert unknown["hint"] == (
        "`zigznote --org acme slack channels` lists the channels the app can see; a private channel must invite "
        "the app first (/invite @<bot> in the channel)"
    )
    meeting = {"external_id": "m-1", "title": "Planning", "started_at": "2026-11-02T09:00:00Z"}
    cli.ok("--org", "acme", "meetings", "import", "-", input=json.dumps(meeting))
    api.post("/chat.postMessage").respond(200, json={"ok": False, "error": "channel_not_found"})
    gone = cli.fails(3, "--org", "acme", "slack", "send", "m-1", "--channel", "C0GONE0001")
    assert gone["hint"] == (
        "check the channel ID with `zigznote --org acme slack channels`; a private channel must invite the app first"
    )
