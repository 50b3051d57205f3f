"""`zigznote hubspot connect | status | test | settings | contacts | disconnect` against a fake
HubSpot on loopback (real HTTP)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.cli._hubspot_support import HUB_ID, connect_with, hub, import_meeting, store, stored_tokens
from tests.conftest import Cli
from tests.support.fake_hubspot import FakeHubSpot
from zigznote.cli import _connect
from zigznote.services import integrations
from zigznote.services.hubspot import links
from zigznote.store.engine import Database
from zigznote.vault import Vault

__all__ = ["hub", "store"]  # fixtures

Store = tuple[Database, Vault]
SCOPES = ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.owners.read"]


def test_connect_with_a_service_key(cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot) -> None:
    key = hub.service_key()
    data = cli.ok("--org", "acme", "hubspot", "connect", "--token-stdin", input=key + "\n")
    assert data["method"] == "token" and data["token_kind"] == "static"
    assert data["hub_id"] == HUB_ID and data["token_expires_at"] is None and data["refreshable"] is False
    assert stored_tokens(store).access_token == key
    assert [r.name for r in hub.requests] == ["account"]
    status = cli.ok("--org", "acme", "hubspot", "status")
    assert status["check"]["ok"] is True and status["status"] == "connected"
    tested = cli.ok("--org", "acme", "hubspot", "test")
    assert tested == {
        "ok": True, "hub_id": HUB_ID, "ui_domain": "app.hubspot.com", "time_zone": "US/Eastern",
        "account_type": "STANDARD", "token_kind": "static", "scopes": [], "missing_scopes": [],
    }  # fmt: skip
    assert cli.fails(2, "--org", "acme", "hubspot", "connect", "--token-stdin", input="two words\n")["code"] == (
        "invalid_token"
    )


def test_connect_with_oauth_in_paste_mode(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user opens the printed URL elsewhere and pastes the address the browser ends on."""
    lines: list[str] = []
    monkeypatch.setattr(_connect, "say", lines.append)

    def paste(prompt: str) -> str:
        answer = httpx.get(lines[1], follow_redirects=False)  # the authorize URL, alone on its line
        assert answer.status_code == 302
        return answer.headers["location"] + "\n"

    monkeypatch.setattr(_connect, "read_pasted", paste)
    data = cli.ok("--org", "acme", "hubspot", "connect", "--no-browser")
    assert lines[0] == "Open this URL in a browser to authorize zigznote with HubSpot:"  # its proper name
    assert data["method"] == "oauth" and data["token_kind"] == "oauth"
    assert data["hub_id"] == HUB_ID and data["hub_domain"] == "fake-portal.hubspot.com"
    assert data["scopes"] == SCOPES and data["refreshable"] is True
    [authorize] = hub.calls("authorize")
    assert authorize.query["redirect_uri"] == "http://localhost:8765/callback"
    assert authorize.query["scope"] == " ".join(SCOPES)
    [exchange] = hub.calls("token")
    assert exchange.form["grant_type"] == "authorization_code" and exchange.query == {}
    assert exchange.form["client_secret"] == hub.client_secret and exchange.path == "/oauth/2026-09/token"
    tested = cli.ok("--org", "acme", "hubspot", "test")
    assert tested["token_kind"] == "oauth" and tested["scopes"] == SCOPES and tested["missing_scopes"] == []
    listed = cli.ok("--org", "acme", "integrations", "list")
    assert [(r["provider"], r["status"], r["account_id"]) for r in listed] == [
        ("slack", "not connected", None), ("hubspot", "connected", HUB_ID),
    ]  # fmt: skip


def test_connect_needs_the_app_credentials(cli: Cli, org: dict[str, Any], hub: FakeHubSpot, monkeypatch: Any) -> None:
    monkeypatch.delenv("HUBSPOT_CLIENT_SECRET")
    err = cli.fails(6, "--org", "acme", "hubspot", "connect", "--no-browser")
    assert err["code"] == "hubspot_not_configured"
    assert (
        err["message"]
        == "connecting HubSpot with OAuth needs the HubSpot app's credentials: HUBSPOT_CLIENT_SECRET is not set"
    )
    assert hub.requests == []


def test_settings_write_and_remove_the_auto_sync_rule(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    shown = cli.ok("--org", "acme", "hubspot", "settings")
    assert shown == {
        "auto_sync": False,
        "create_contacts": False,
        "default_owner": None,
        "default_owner_id": None,
        "rule": None,
    }
    owner = hub.owners[0]["id"]
    data = cli.ok(
        "--org",
        "acme",
        "hubspot",
        "settings",
        "--auto-sync",
        "--create-contacts",
        "--default-owner",
        "Alice@Example.com",
    )
    rule = {"events": ["summary.ready", "action_items.ready"], "targets": [HUB_ID]}
    assert data == {"auto_sync": True, "create_contacts": True, "default_owner": "alice@example.com",
                    "default_owner_id": owner, "rule": rule}  # fmt: skip
    [listed] = [r for r in cli.ok("--org", "acme", "jobs", "rules", "list") if r["kind"] == "hubspot.sync"]
    assert listed["events"] == rule["events"] and listed["targets"] == rule["targets"]
    err = cli.fails(3, "--org", "acme", "hubspot", "settings", "--default-owner", "nobody@example.com")
    assert err["code"] == "owner_not_found"
    assert cli.fails(2, "--org", "acme", "hubspot", "settings", "--default-owner", "not-an-email")["code"] == (
        "invalid_email"
    )
    off = cli.ok("--org", "acme", "hubspot", "settings", "--no-auto-sync", "--default-owner", "")
    assert off == {
        "auto_sync": False,
        "create_contacts": True,
        "default_owner": None,
        "default_owner_id": None,
        "rule": None,
    }


def test_contacts_by_email_and_by_query(cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot) -> None:
    connect_with(store, hub.install())
    rows = cli.ok("--org", "acme", "hubspot", "contacts", "ADA@example.com", "grace@example.com", "nobody@example.com")
    assert [(r["searched"], r["id"], r["name"], r["email"]) for r in rows] == [
        ("ada@example.com", "1001", "Ada Lovelace", "ada@example.com"),
        ("grace@example.com", "1002", "Grace Hopper", "grace@navy.example"),  # an additional email
        ("nobody@example.com", None, None, None),
    ]
    [search] = hub.calls("search", "contacts")
    assert search.json["filterGroups"][0]["filters"][0]["values"] == [
        "ada@example.com", "grace@example.com", "nobody@example.com",
    ]  # fmt: skip
    found = cli.ok("--org", "acme", "hubspot", "contacts", "--query", "Lovelace")
    assert [(r["id"], r["company"]) for r in found] == [("1001", "Analytical")]
    human = cli("--org", "acme", "hubspot", "contacts", "ada@example.com")
    assert human.exit_code == 0 and "Ada Lovelace" in human.stdout
    assert cli.fails(2, "--org", "acme", "hubspot", "contacts")["code"] == "usage_error"


def test_disconnect_revokes_and_deletes(cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot) -> None:
    body = hub.install()
    connect_with(store, body)
    import_meeting(cli)
    cli.ok("--org", "acme", "hubspot", "settings", "--auto-sync")
    cli.ok("--org", "acme", "hubspot", "sync", "m-100")
    db, _ = store
    assert links.read(db, org_id=org["id"], provider="hubspot", local_type="action_item", prefix="") != {}

    data = cli.ok("--org", "acme", "hubspot", "disconnect")
    assert data["revoked"] is True and data["deleted"] is True and data["auto_sync_dropped"] is True
    assert data["links_dropped"] == 3 and data["static"] is False
    assert "stays installed" in data["uninstall"]
    assert hub.revoked == [body["refresh_token"]]
    [revoke] = hub.calls("revoke")
    assert revoke.form["token_type_hint"] == "refresh_token" and revoke.path == "/oauth/2026-09/token/revoke"
    assert integrations.get(db, org_id="acme", provider="hubspot") is None
    assert links.read(db, org_id=org["id"], provider="hubspot", local_type="action_item", prefix="") == {}
    assert [r for r in cli.ok("--org", "acme", "jobs", "rules", "list") if r["kind"] == "hubspot.sync"] == []
    err = cli.fails(3, "--org", "acme", "hubspot", "status")
    assert err["code"] == "not_connected" and err["hint"] == "run `zigznote --org acme hubspot connect`"

    # Connected again to the same portal: the objects are found by their keys, not duplicated.
    connect_with(store, hub.install())
    again = cli.ok("--org", "acme", "hubspot", "sync", "m-100")
    assert [i["action"] for i in again["items"] if i["object"] in ("meeting", "task")] == ["updated"] * 3
    # The links (and the record of which contacts were associated) went with the disconnect: the
    # contacts are associated once more, and HubSpot keeps one association per pair.
    assert [i["action"] for i in again["items"] if i["object"] == "association"] == ["associated"] * 6
    assert len(hub.objects["meetings"]) == 1 and len(hub.objects["tasks"]) == 2
    objects = [*hub.objects["meetings"].values(), *hub.objects["tasks"].values()]
    assert [len(set(o.associations)) for o in objects] == [2, 2, 2] == [len(o.associations) for o in objects]


def test_disconnect_human_output_says_where_to_uninstall(
    cli: Cli, org: dict[str, Any], store: Store, hub: FakeHubSpot
) -> None:
    connect_with(store, hub.install())
    ran = cli("--org", "acme", "hubspot", "disconnect")
    assert ran.exit_code == 0
    assert f"disconnected HubSpot portal {HUB_ID}: refresh token revoked" in ran.stderr
    assert "uninstall it there" in ran.stderr
