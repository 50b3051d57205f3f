"""What a newcomer following the README meets on `zigznote slack …` (findings of a trial run):
hints that fit the command at hand, usage slips as exit 2, a prompt line that is always ended,
and counts in good English. Slack is respx on SLACK_API_BASE."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import respx

from tests.cli._slack_support import (
    TEAM_ID,
    api,
    connect_stored,
    connection,
    fixture,
    nothing_stored,
    slack_env,
    store,
)
from tests.conftest import Cli
from tests.support import factory
from zigznote.cli import hubspot as hubspot_cli
from zigznote.cli import slack as slack_cli
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


@pytest.mark.parametrize("module", [slack_cli, hubspot_cli], ids=["slack", "hubspot"])
def test_ctrl_c_at_the_paste_prompt_ends_the_prompt_line(
    module: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The terminal echoes no newline for Ctrl-C: "interrupted" would follow the prompt on its line."""
    monkeypatch.setattr(sys, "stdin", _CtrlC())
    with pytest.raises(KeyboardInterrupt):
        module._read_pasted("Paste here: ")
    assert capsys.readouterr().err == "Paste here: \n"
