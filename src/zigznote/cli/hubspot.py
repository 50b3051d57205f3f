"""`zigznote hubspot`: connect a HubSpot portal, check it, search contacts, sync meetings."""

from __future__ import annotations

from typing import Annotated

import typer

from zigznote.cli import _connect
from zigznote.cli._output import Column

app = typer.Typer(
    help="Connect HubSpot, search contacts, and log meetings and action-item tasks there.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

STATUS_FIELDS: list[Column] = [
    ("hub_id", "portal (hub ID)"),
    ("hub_domain", "hub domain"),
    ("status", "state"),
    ("check", "check", _connect.check_cell),
    ("token_kind", "token"),
    ("user", "connected by"),
    ("scopes", "scopes"),
    ("token_expires_at", "token expires"),
    ("refreshable", "renewable"),
    ("auto_sync", "auto-sync"),
    ("create_contacts", "create contacts"),
    ("default_owner", "default owner"),
    ("last_error", "last error"),
    ("last_error_at", "last error at"),
    ("connected_at", "connected"),
    ("refreshed_at", "token renewed"),
]
CONTACT_COLUMNS = [("searched", "searched"), ("id", "id"), ("name", "name"), ("email", "email"), ("company", "company")]
QUERY_COLUMNS = CONTACT_COLUMNS[1:]
ITEM_COLUMNS = [
    ("object", "object"),
    ("action", "outcome"),
    ("hubspot_id", "HubSpot ID"),
    ("label", "item"),
    ("error", "error"),
]


@app.command("connect")
def connect(
    no_browser: _connect.NoBrowser = False,
    token_stdin: Annotated[
        bool,
        typer.Option("--token-stdin", help="Store a service key (or legacy private-app token) read from stdin."),
    ] = False,
    timeout: _connect.Timeout = None,
) -> None:
    """Connect the organization's HubSpot portal and store its tokens encrypted.

    OAuth in the browser with the redirect to http://localhost:8765/callback (HUBSPOT_REDIRECT_URI);
    the authorize URL is printed first; without a graphical browser (or with --no-browser)
    paste the URL the browser ends on. Needs HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET,
    except with --token-stdin.

    Example: zigznote --org acme hubspot connect
    """
    from zigznote.services import hubspot

    _connect.token_stdin_alone(token_stdin, {"--no-browser": no_browser, "--timeout": timeout})
    how = _connect.flow(no_browser=no_browser, timeout=timeout)
    ctx, org, db, vault = _connect.opened()
    data = hubspot.connect(
        db,
        vault,
        ctx.settings,
        org_ref=org,
        token=_connect.read_token("HubSpot service key or private-app token (not shown): ") if token_stdin else None,
        flow=how,
    )
    where = f"{data['hub_domain']} ({data['hub_id']})" if data.get("hub_domain") else f"portal {data['hub_id']}"
    connected = f"connected HubSpot {where} with {'a static token' if data['method'] == 'token' else 'OAuth'}"
    shown = _connect.show_connected(ctx, data, title="HubSpot", connected=connected, token="access token")
    if shown and (data["auto_sync_dropped"] or data["links_dropped"]):
        ctx.out.warn("another portal: auto-sync was turned off and earlier sync links were dropped")


@app.command("status")
def status() -> None:
    """Show the connection and check it live (HubSpot's account details).

    Portal, token kind, scopes, expiry, settings and the last error. A failed check is shown
    (exit 0), not an error: use `hubspot test` in scripts.

    Example: zigznote --org acme hubspot status
    """
    from zigznote.services import hubspot

    ctx, org, db, vault = _connect.opened()
    _connect.show_status(ctx, hubspot.status(db, vault, ctx.settings, org_ref=org), STATUS_FIELDS)


@app.command("test")
def test() -> None:
    """Check that HubSpot accepts the stored token (and which scopes it has); exit 6 if not.

    Example: zigznote --org acme hubspot test
    """
    from zigznote.services import hubspot

    ctx, org, db, vault = _connect.opened()
    data = hubspot.test(db, vault, ctx.settings, org_ref=org)
    accepted = f"HubSpot accepts the token: portal {data['hub_id']} ({data['ui_domain'] or '?'})"
    _connect.show_tested(ctx, data, accepted=accepted, where="to the HubSpot app")


@app.command("settings")
def settings(
    auto_sync: Annotated[
        bool | None,
        typer.Option("--auto-sync/--no-auto-sync", help="Sync each meeting on summary.ready and action_items.ready."),
    ] = None,
    create_contacts: Annotated[
        bool | None,
        typer.Option("--create-contacts/--no-create-contacts", help="Create a contact for participants HubSpot lacks."),
    ] = None,
    default_owner: Annotated[
        str | None,
        typer.Option("--default-owner", metavar="EMAIL", help="Owner of tasks whose assignee is no owner ('' clears)."),
    ] = None,
) -> None:
    """Turn auto-sync and contact creation on or off, set the default task owner (no options: show them).

    Auto-sync makes each summary.ready and action_items.ready event queue a hubspot.sync job
    for the portal (see `jobs rules list`).

    Example: zigznote --org acme hubspot settings --auto-sync --default-owner ops@example.com
    """
    from zigznote.services import hubspot

    ctx, org, db, vault = _connect.opened()
    data = hubspot.update_settings(
        db,
        vault,
        ctx.settings,
        org_ref=org,
        auto_sync=auto_sync,
        create_contacts=create_contacts,
        default_owner=default_owner,
    )
    fields: list[Column] = [
        ("auto_sync", "auto-sync"),
        ("create_contacts", "create contacts"),
        ("default_owner", "default owner"),
        ("default_owner_id", "owner ID"),
        ("rule", "job rule", _connect.rule_cell),
    ]
    ctx.out.item(data, fields=fields)


@app.command("contacts")
def contacts(
    emails: Annotated[list[str] | None, typer.Argument(metavar="EMAIL", help="Email addresses to look up.")] = None,
    query: Annotated[
        str | None, typer.Option("--query", metavar="TEXT", help="Free-text search (name, email, company …).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Most results of --query.")] = 100,
) -> None:
    """Find contacts by email (also their additional emails) or by free text: id, name, email, company.

    Example: zigznote --org acme hubspot contacts ada@example.com grace@example.com
    """
    from zigznote.services import hubspot

    ctx, org, db, vault = _connect.opened()
    rows = hubspot.contacts(db, vault, ctx.settings, org_ref=org, emails=emails or [], query=query, limit=limit)
    ctx.out.items(rows, QUERY_COLUMNS if query else CONTACT_COLUMNS, empty="no contacts found")


@app.command("sync")
def sync(
    meeting: Annotated[str, typer.Argument(metavar="MEETING", help="Meeting ID or external ID.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be created or updated; write nothing.")
    ] = False,
    create_contacts: Annotated[
        bool | None,
        typer.Option("--create-contacts/--no-create-contacts", help="Override the setting for this sync."),
    ] = None,
) -> None:
    """Log a meeting in HubSpot: the meeting with its contacts, one task per action item.

    Participants are matched to contacts by email. A re-sync updates what it created before
    and creates only what is new. Each item's outcome is listed; exit 5 when any failed (run
    it again: it completes only what is missing).

    Example: zigznote --org acme hubspot sync m-123 --dry-run
    """
    from zigznote.errors import ProviderError
    from zigznote.services import hubspot

    ctx, org, db, vault = _connect.opened()
    data = hubspot.sync_meeting(
        db, vault, ctx.settings, org_ref=org, meeting_ref=meeting, dry_run=dry_run, create_contacts=create_contacts
    )
    if ctx.out.json:
        ctx.out.item(data)
    else:
        title = f"{'dry run: ' if dry_run else ''}meeting {data['meeting_id']} → HubSpot portal {data['hub_id']}"
        ctx.out.items(data["items"], ITEM_COLUMNS, title=title, empty="nothing to sync")
        summary = ", ".join(f"{n} {action}" for action, n in sorted(data["counts"].items()))
        if data["ok"]:
            ctx.out.success(f"{'nothing written (dry run): ' if dry_run else ''}{summary or 'nothing to do'}")
    if not data["ok"]:
        failed = data["counts"].get("failed", 0)
        raise ProviderError(
            f"{failed} of {len(data['items'])} item(s) could not be synced to HubSpot",
            hint=f"the items marked failed give HubSpot's reason; run `zigznote --org {org} hubspot sync {meeting}` "
            "again to complete only what is missing",
            code="sync_incomplete",
        )


@app.command("disconnect")
def disconnect(local_only: _connect.LocalOnly = False) -> None:
    """Revoke the refresh token at HubSpot and delete the stored connection.

    Auto-sync and the sync links go too. The app stays installed in the HubSpot account:
    uninstall it there. When HubSpot cannot be reached or the app's credentials are gone,
    --local-only deletes the stored connection without revoking: the refresh token then stays
    valid until the app is uninstalled from the account.

    Example: zigznote --org acme hubspot disconnect
    """
    from zigznote.services import hubspot

    ctx, org, db, vault = _connect.opened()
    data = hubspot.disconnect(db, vault, ctx.settings, org_ref=org, local_only=local_only)
    if data["static"]:
        how = "the static token is managed in HubSpot (delete or rotate it there)"
    elif data["already_invalid"]:
        how = "the refresh token was already invalid"
    else:
        how = "refresh token revoked"
    if _connect.show_disconnected(ctx, data, what=f"HubSpot portal {data['hub_id']}", how=how) and data["uninstall"]:
        ctx.out.notice(data["uninstall"])
