"""What a newcomer following the README meets on `zigznote hubspot …` (findings of a trial run):
hints that fit the command at hand, a paste prompt whose line is ended before what follows, no
app-uninstall advice for a static token, counts in good English, a way out of a disconnect
HubSpot cannot answer (`--local-only`), and a warning for a redirect URI HubSpot refuses.
HubSpot is the fake on loopback (real HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli._hubspot_support import HUB_ID, connect_static, connect_with, hub, store
from tests.conftest import Cli
from tests.support import factory
from tests.support.fake_hubspot import FakeHubSpot
from zigznote.delivery.queue import jobs as qjobs
from zigznote.services import integrations
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow
from zigznote.vault import Vault

__all__ = ["hub", "store"]  # fixtures

Store = tuple[Database, Vault]
WHERE = (
    "copy the Client ID and Client secret from the app's Auth page on HubSpot's developer platform into "
    "HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET (or hubspot_client_id / hubspot_client_secret in the config file)"
)


def test_the_paste_prompt_line_is_ended_before_the_error(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    """Piped input echoes no Enter: the error (and under --json the document) starts its own line."""
    human = cli("--org", "acme", "hubspot", "connect", "--no-browser", input="")
    assert human.exit_code == 2
    lines = human.stderr.splitlines()
    assert lines[-3:] == [
        "Paste the full URL your browser was redirected to: ",
        "error: nothing that looks like a redirect URL was pasted",
        "hint: paste the whole address the browser shows after approving (it starts like "
        "http://localhost:8765/callback?code=…)",
    ]
    error = cli.fails(2, "--org", "acme", "hubspot", "connect", "--no-browser", input="")
    assert error["message"] == "nothing that looks like a redirect URL was pasted"
    assert integrations.get(store[0], org_id="acme", provider="hubspot") is None


def test_both_app_credentials_missing_are_named_in_plural(
    cli: Cli, org: dict[str, Any], hub: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUBSPOT_CLIENT_ID")
    monkeypatch.delenv("HUBSPOT_CLIENT_SECRET")
    error = cli.fails(6, "--org", "acme", "hubspot", "connect", "--no-browser")
    assert error == {
        "code": "hubspot_not_configured",
        "message": "connecting HubSpot with OAuth needs the HubSpot app's credentials: HUBSPOT_CLIENT_ID and "
        "HUBSPOT_CLIENT_SECRET are not set",
        "hint": f"{WHERE}; to store a service key instead, use `hubspot connect --token-stdin`",
    }
    assert hub.requests == []


def test_disconnect_without_the_app_credentials_offers_local_only_not_a_service_key(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_with(store, hub.install())
    monkeypatch.delenv("HUBSPOT_CLIENT_SECRET")
    error = cli.fails(6, "--org", "acme", "hubspot", "disconnect")
    assert error == {
        "code": "hubspot_not_configured",
        "message": "revoking the HubSpot refresh token needs the HubSpot app's credentials: HUBSPOT_CLIENT_SECRET "
        "is not set",
        "hint": f"{WHERE}; to delete the stored connection without revoking, run "
        "`zigznote --org acme hubspot disconnect --local-only`",
    }
    assert hub.calls("revoke") == []
    assert integrations.get(store[0], org_id="acme", provider="hubspot")["account_id"] == HUB_ID  # type: ignore[index]


def test_a_refused_pasted_token_says_to_check_the_token_not_to_connect_again(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    token = "pat-na1-00000000-0000-0000-0000-000000000000"
    ran = cli("--json", "--org", "acme", "hubspot", "connect", "--token-stdin", input=token)
    assert ran.exit_code == 6
    assert ran.stdout == ""
    error = ran.error
    assert error["code"] == "credentials_rejected"
    assert error["message"].startswith("HubSpot refused the access token for account details: ")
    assert error["hint"] == (
        "check the token: copy the service key (or legacy private-app access token) again from the HubSpot "
        "account's settings; a deleted or rotated key must be replaced by the new one"
    )
    assert token not in ran.stderr
    assert [r.name for r in hub.requests] == ["account"]
    assert integrations.get(store[0], org_id="acme", provider="hubspot") is None


def test_disconnecting_a_static_token_gives_no_app_uninstall_advice(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    """A service key belongs to no installed app: 'uninstall it in Connected apps' would mislead."""
    connect_static(store, hub.service_key())
    data = cli.ok("--org", "acme", "hubspot", "disconnect")
    assert (data["static"], data["revoked"], data["uninstall"]) == (True, False, None)
    connect_static(store, hub.service_key())
    human = cli("--org", "acme", "hubspot", "disconnect")
    assert human.exit_code == 0
    assert human.stderr.splitlines() == [
        f"✓ disconnected HubSpot portal {HUB_ID}: the static token is managed in HubSpot (delete or rotate it there)"
    ]


@pytest.mark.parametrize(
    ("args", "code", "message", "hint"),
    [
        (
            ("contacts", "ada-at-example.com"),
            "invalid_email",
            "not an email address: 'ada-at-example.com'",
            "give email addresses (ada@example.com), or --query TEXT to search names and companies",
        ),
        (
            ("settings", "--default-owner", "ops"),
            "invalid_email",
            "--default-owner must be an email address, not 'ops'",
            "give the email of a HubSpot user who can own tasks, or '' to clear the default owner",
        ),
    ],
)
def test_a_malformed_email_is_exit_2_with_a_hint(
    cli: Cli,
    org: dict[str, Any],
    store: Store,
    hub: FakeHubSpot,
    args: tuple[str, ...],
    code: str,
    message: str,
    hint: str,
) -> None:
    connect_with(store, hub.install())
    assert cli.fails(2, "--org", "acme", "hubspot", *args) == {"code": code, "message": message, "hint": hint}
    assert hub.requests == []  # refused before HubSpot was asked


def test_one_released_job_is_said_in_the_singular(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    db, _ = store
    factory.emit(db, org["id"], [None], 1, kind="hubspot.sync")
    with db.engine.begin() as conn:
        assert qjobs.hold(conn, org["id"], "hubspot.sync", reason="integration revoked", now=utcnow()) == 1
    ran = cli("--org", "acme", "hubspot", "connect", "--token-stdin", input=hub.service_key())
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr.splitlines()[-1] == "released 1 held HubSpot job: they run again now"


# -- disconnect --local-only (finding F) ----------------------------------------------------------

LOCAL_ONLY = (
    "to delete the stored connection without revoking, run `zigznote --org acme hubspot disconnect --local-only`"
)


def test_disconnect_local_only_deletes_without_asking_hubspot(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator lost the client secret: --local-only deletes the connection, its rule and its
    links without a revoke, and says the refresh token stays valid until the app is uninstalled."""
    body = hub.install()
    connect_with(store, body)
    expires = integrations.get(store[0], org_id="acme", provider="hubspot")["token_expires_at"]  # type: ignore[index]
    monkeypatch.delenv("HUBSPOT_CLIENT_SECRET")
    ran = cli("--org", "acme", "hubspot", "disconnect", "--local-only")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stderr.splitlines() == [
        f"✓ disconnected HubSpot portal {HUB_ID}: the stored connection was deleted without revoking",
        "warning: the HubSpot refresh token stays valid until the app is uninstalled from the account (Settings → "
        f"Integrations → Connected apps), and the access token until {expires}",
    ]
    assert hub.requests == []
    assert hub.valid_refresh_tokens() == [body["refresh_token"]]  # what the warning says: still valid there
    assert integrations.get(store[0], org_id="acme", provider="hubspot") is None


def test_disconnect_when_hubspot_is_down_offers_local_only(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    hub.fail("revoke", status=503, body={"status": "error", "message": "Service Unavailable"}, times=10)
    error = cli.fails(5, "--org", "acme", "hubspot", "disconnect")
    assert error["hint"].endswith(LOCAL_ONLY)
    assert integrations.get(store[0], org_id="acme", provider="hubspot") is not None  # kept


def test_disconnect_local_only_of_a_static_token_under_json(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_static(store, hub.service_key())
    ran = cli("--json", "--org", "acme", "hubspot", "disconnect", "--local-only")
    assert ran.exit_code == 0, ran.stderr
    still_valid = "the static token stays valid at HubSpot: delete or rotate it in the HubSpot account's settings"
    assert ran.json == {
        "provider": "hubspot",
        "hub_id": HUB_ID,
        "revoked": False,
        "already_invalid": False,
        "static": True,
        "deleted": True,
        "auto_sync_dropped": False,
        "links_dropped": 0,
        "uninstall": None,
        "local_only": True,
        "still_valid": still_valid,
    }
    assert ran.stderr == f"warning: {still_valid}\n"
    assert hub.requests == []


# -- redirect URIs HubSpot refuses (finding H) ----------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_an_ip_literal_redirect_uri_is_warned_about_right_after_the_url(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    redirect = f"http://{host}:8765/callback"
    monkeypatch.setenv("HUBSPOT_REDIRECT_URI", redirect)
    ran = cli("--org", "acme", "hubspot", "connect", "--no-browser", input="")
    assert ran.exit_code == 2  # nothing pasted: the flow went on after the warning
    lines = ran.stderr.splitlines()
    assert lines[0] == "Open this URL in a browser to authorize zigznote with HubSpot:"
    assert lines[2] == (
        f"warning: HubSpot refuses redirect URIs with an IP address, and HUBSPOT_REDIRECT_URI is {redirect}: its "
        "authorize page will likely show an error unless a proxy or tunnel puts a host name in front; use "
        "http://localhost:PORT/… instead (registered in the app)"
    )
    assert lines[3].startswith(f"After you approve, the browser goes to {redirect}")
    assert hub.requests == []


def test_the_default_localhost_redirect_gets_no_warning(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    ran = cli("--org", "acme", "hubspot", "connect", "--no-browser", input="")
    assert ran.exit_code == 2
    assert "warning" not in ran.stderr
