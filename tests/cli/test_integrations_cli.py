"""`zigznote integrations list`: each provider's connection for the organization."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Cli
from zigznote.integrations.base import Grant, TokenSet
from zigznote.services import integrations
from zigznote.store.engine import Database
from zigznote.vault import MasterKey, Vault

ACCESS, REFRESH = "xoxe.xoxb-PLAINTEXT-access", "xoxe-PLAINTEXT-refresh"


def not_connected(provider: str) -> dict[str, Any]:
    return {
        "id": None,
        "provider": provider,
        "status": "not connected",
        "account_id": None,
        "account_name": None,
        "scopes": [],
        "token_expires_at": None,
        "refreshable": None,
        "settings": {},
        "details": {},
        "last_error": None,
        "last_error_at": None,
        "connected_at": None,
        "refreshed_at": None,
    }


@pytest.fixture
def store(cli: Cli, env: dict[str, str]) -> Any:
    """(database, vault) of the CLI's store, under the CLI's master key."""
    db = Database(cli.db_url)
    yield db, Vault([MasterKey(base64.b64decode(env["ZIGZNOTE_MASTER_KEY"]), "env")])
    db.dispose()


def connect_both(store: Any, *, slack_name: str = "Acme HQ") -> tuple[dict[str, Any], dict[str, Any]]:
    db, vault = store
    slack_tokens = TokenSet(ACCESS, REFRESH, datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), ("chat:write", "channels:read"))
    slack = integrations.save_grant(
        db,
        vault,
        org_id="acme",
        provider="slack",
        grant=Grant(slack_tokens, "T0123", slack_name, {"bot_user_id": "U1"}),
    )
    integrations.save_grant(
        db, vault, org_id="acme", provider="hubspot", grant=Grant(TokenSet("pat-PLAINTEXT"), "4242", None, {})
    )
    integrations.mark_error(
        db, org_id="acme", provider="hubspot", message="HubSpot refused the access token (HTTP 401)"
    )
    shown = integrations.get(db, org_id="acme", provider="hubspot")
    slack.pop("released_jobs")
    assert shown is not None
    return slack, shown


def cells(stdout: str) -> list[list[str]]:
    """The body rows of a Rich table, cell by cell."""
    rows = [line for line in stdout.splitlines() if line.startswith("│")]
    return [[c.strip() for c in line.split("│")[1:-1]] for line in rows]


def test_nothing_connected(cli: Cli, org: dict[str, Any]) -> None:
    assert cli.ok("--org", "acme", "integrations", "list") == [not_connected("slack"), not_connected("hubspot")]
    ran = cli("--org", "acme", "integrations", "list")
    assert (ran.exit_code, ran.stderr) == (0, "")
    assert cells(ran.stdout) == [
        ["slack", "not connected", "-", "-", "-"],
        ["hubspot", "not connected", "-", "-", "-"],
    ]
    assert "last error" not in ran.stdout  # no error table without an error


def test_connected_and_error(cli: Cli, org: dict[str, Any], store: Any) -> None:
    slack, hubspot = connect_both(store)
    listed = cli.ok("--org", "acme", "integrations", "list")
    assert listed == [slack, hubspot]
    assert listed[0] == {
        "id": slack["id"],
        "provider": "slack",
        "status": "connected",
        "account_id": "T0123",
        "account_name": "Acme HQ",
        "scopes": ["chat:write", "channels:read"],
        "token_expires_at": "2030-01-02T03:04:05Z",
        "refreshable": True,
        "settings": {},
        "details": {"bot_user_id": "U1"},
        "last_error": None,
        "last_error_at": None,
        "connected_at": slack["connected_at"],
        "refreshed_at": None,
    }
    assert (listed[1]["status"], listed[1]["last_error"], listed[1]["refreshable"]) == (
        "error",
        "HubSpot refused the access token (HTTP 401)",
        False,
    )
    assert listed[1]["last_error_at"] is not None

    ran = cli("--org", "acme", "integrations", "list")
    assert (ran.exit_code, ran.stderr) == (0, "")
    assert cells(ran.stdout) == [
        ["slack", "connected", "Acme HQ (T0123)", "2 scopes", "2030-01-02T03:04:05Z"],
        ["hubspot", "error", "4242", "-", "-"],
        ["hubspot", listed[1]["last_error_at"], "HubSpot refused the access token (HTTP 401)"],
    ]
    assert ran.stdout.count("HubSpot refused") == 1


def test_fits_80_columns_without_splitting_words_or_ids(
    cli: Cli, org: dict[str, Any], store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four scopes, a long workspace name and a long error on an 80-column pipe: the scopes are
    a count (the list is in --json), the account ID and every word stay whole, each error is
    said once, in a table of its own."""
    db, vault = store
    scopes = ("chat:write", "channels:read", "groups:read", "channels:join")
    tokens = TokenSet(ACCESS, REFRESH, datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), scopes)
    grant = Grant(tokens, "T0123ABCD", "Acme Corporation Worldwide HQ", {"bot_user_id": "U1"})
    integrations.save_grant(db, vault, org_id="acme", provider="slack", grant=grant)
    error = "Slack refused the access token (auth.test: invalid_auth)"
    integrations.mark_error(db, org_id="acme", provider="slack", message=error)
    since = cli.ok("--org", "acme", "integrations", "list")[0]["last_error_at"]
    assert cli.ok("--org", "acme", "integrations", "list")[0]["scopes"] == list(scopes)

    monkeypatch.setenv("COLUMNS", "80")
    ran = cli("--org", "acme", "integrations", "list")
    assert (ran.exit_code, ran.stderr) == (0, "")
    assert ran.stdout == (
        "┏━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┓\n"
        "┃ provider ┃ state         ┃ account         ┃ scopes   ┃ token expires        ┃\n"
        "┡━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━┩\n"
        "│ slack    │ error         │ Acme            │ 4 scopes │ 2030-01-02T03:04:05Z │\n"
        "│          │               │ Corporation     │          │                      │\n"
        "│          │               │ Worldwide HQ    │          │                      │\n"
        "│          │               │ (T0123ABCD)     │          │                      │\n"
        "│ hubspot  │ not connected │ -               │ -        │ -                    │\n"
        "└──────────┴───────────────┴─────────────────┴──────────┴──────────────────────┘\n"
        "┏━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓\n"
        "┃ provider ┃ since                       ┃ last error                          ┃\n"
        "┡━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩\n"
        f"│ slack    │ {since:<27} │ Slack refused the access token      │\n"
        "│          │                             │ (auth.test: invalid_auth)           │\n"
        "└──────────┴─────────────────────────────┴─────────────────────────────────────┘\n"
    )


def test_tokens_are_never_shown(cli: Cli, org: dict[str, Any], store: Any) -> None:
    connect_both(store)
    for args in (["--json"], []):
        ran = cli(*args, "--org", "acme", "integrations", "list")
        assert ran.exit_code == 0 and "T0123" in ran.stdout
        for secret in (ACCESS, REFRESH, "pat-PLAINTEXT", "zv1:"):
            assert secret not in ran.stdout + ran.stderr


def test_provider_text_is_escaped_for_people(cli: Cli, org: dict[str, Any], store: Any) -> None:
    connect_both(store, slack_name="\x1b[2J[red]Acme[/red]")
    ran = cli("--org", "acme", "integrations", "list")
    assert ran.exit_code == 0 and "\x1b" not in ran.stdout
    assert cells(ran.stdout)[0][2] == "\\x1b[2J[red]Acme[/red] (T0123)"
    assert cli.ok("--org", "acme", "integrations", "list")[0]["account_name"] == "\x1b[2J[red]Acme[/red]"


def test_organization_required_and_checked(cli: Cli, org: dict[str, Any]) -> None:
    err = cli.fails(2, "integrations", "list")
    assert err["code"] == "org_required"
    err = cli.fails(3, "--org", "nope", "integrations", "list")
    assert err == {
        "code": "org_not_found",
        "message": "organization 'nope' not found",
        "hint": "`zigznote orgs list` shows the organizations",
    }


def test_keys_status_and_rotate_cover_connection_tokens(
    cli: Cli, org: dict[str, Any], store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_both(store)
    old_kid = store[1].current.kid
    assert cli.ok("keys", "status")["secrets_by_key"] == {old_kid: 2}

    new_text = cli.ok("keys", "generate")["key"]
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY_NEW", new_text)
    rotated = cli.ok("keys", "rotate")
    assert rotated["reencrypted"] == 2
    new_vault = Vault([MasterKey(base64.b64decode(new_text), "env")])
    db = store[0]
    slack = integrations.stored_tokens(db, new_vault, org_id="acme", provider="slack")
    assert (slack.access_token, slack.refresh_token) == (ACCESS, REFRESH)
    assert integrations.stored_tokens(db, new_vault, org_id="acme", provider="hubspot").access_token == "pat-PLAINTEXT"
    monkeypatch.setenv("ZIGZNOTE_MASTER_KEY", new_text)
    monkeypatch.delenv("ZIGZNOTE_MASTER_KEY_NEW")
    assert cli.ok("keys", "status")["secrets_by_key"] == {rotated["new_key_id"]: 2}
