"""`zigznote hubspot`: connect a HubSpot portal, check it, search contacts, sync meetings."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from zigznote.cli._context import AppContext, get_app
from zigznote.cli._output import Column
from zigznote.errors import InvalidInput
from zigznote.untrusted import for_terminal

app = typer.Typer(
    help="Connect HubSpot, search contacts, and log meetings and action-item tasks there.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

STATUS_FIELDS: list[Column] = [
    ("hub_id", "portal (hub ID)"),
    ("hub_domain", "hub domain"),
    ("status", "state"),
    ("check", "check", lambda c: "ok" if c and c["ok"] else f"failed: {c['error']['message']}" if c else "-"),
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


def _say(line: str) -> None:
    """A line of the connect flow on stderr, also under --quiet and --json: the user needs the
    authorize URL and the prompts to finish the flow at all."""
    sys.stderr.write(for_terminal(line) + "\n")
    sys.stderr.flush()


def _read_pasted(prompt: str) -> str:
    """The pasted redirect URL (one line of stdin), the prompt on stderr. The line the prompt
    opened is always ended, so what follows (the result, an error, "interrupted") starts a line."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    try:
        pasted = sys.stdin.readline(20_000)
    except KeyboardInterrupt:  # Ctrl-C at the prompt: the terminal echoes no newline
        sys.stderr.write("\n")
        raise
    if not sys.stdin.isatty():  # a terminal echoes the Enter; piped input leaves the line open
        sys.stderr.write("\n")
    return pasted


def _read_token() -> str:
    """The token from stdin: hidden input on a terminal, else everything piped in."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("HubSpot service key or private-app token (not shown): ", stream=sys.stderr)
    return sys.stdin.read(10_000)


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    from zigznote.timeutil import parse_duration

    seconds = parse_duration(value)
    if seconds <= 0:
        raise InvalidInput(f"--timeout must be above zero, not {value!r}", code="invalid_timeout")
    return seconds


def _services(ctx: AppContext) -> tuple[Any, Any]:
    """The database and the vault, opened before anything talks to HubSpot (a missing key or
    schema fails first, with nothing sent)."""
    return ctx.db(), ctx.vault()


def _expiry(data: Mapping[str, Any]) -> str:
    if data.get("token_expires_at"):
        return f"the access token expires {data['token_expires_at']} and is renewed automatically"
    return "the token does not expire"


@app.command("connect")
def connect(
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL and paste the redirect URL back (SSH, no display).")
    ] = False,
    token_stdin: Annotated[
        bool,
        typer.Option("--token-stdin", help="Store a service key (or legacy private-app token) read from stdin."),
    ] = False,
    timeout: Annotated[
        str | None, typer.Option("--timeout", metavar="DURATION", help="Wait this long for the redirect (5m).")
    ] = None,
) -> None:
    """Connect the organization's HubSpot portal and store its tokens encrypted.

    OAuth in the browser with the redirect to http://localhost:8765/callback (HUBSPOT_REDIRECT_URI);
    the authorize URL is printed first; without a graphical browser (or with --no-browser)
    paste the URL the browser ends on. Needs HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET,
    except with --token-stdin.

    Example: zigznote --org acme hubspot connect
    """
    from zigznote.services import hubspot

    ctx = get_app()
    if token_stdin and (no_browser or timeout):
        raise InvalidInput(
            "--token-stdin stores a token without the OAuth flow: --no-browser and --timeout do not apply",
            code="usage_error",
        )
    seconds = _duration(timeout)
    org = ctx.org_ref()
    db, vault = _services(ctx)
    data = hubspot.connect(
        db,
        vault,
        ctx.settings,
        org_ref=org,
        no_browser=no_browser,
        token=_read_token() if token_stdin else None,
        notify=_say,
        read_pasted=_read_pasted,
        env=os.environ,
        timeout=seconds,
    )
    if ctx.out.json:
        ctx.out.item(data)
        return
    where = f"{data['hub_domain']} ({data['hub_id']})" if data.get("hub_domain") else f"portal {data['hub_id']}"
    how = "a static token" if data["method"] == "token" else "OAuth"
    ctx.out.success(f"connected HubSpot {where} with {how}")
    scopes = ", ".join(data["scopes"]) or "(HubSpot did not say)"
    ctx.out.notice(f"scopes: {scopes}; {_expiry(data)}")
    if data["released_jobs"]:
        released = data["released_jobs"]
        ctx.out.notice(f"released {released} held HubSpot job{'s' if released != 1 else ''}: they run again now")
    if data["auto_sync_dropped"] or data["links_dropped"]:
        ctx.out.warn("another portal: auto-sync was turned off and earlier sync links were dropped")


@app.command("status")
def status() -> None:
    """Show the connection and check it live (HubSpot's account details).

    Portal, token kind, scopes, expiry, settings and the last error. A failed check is shown
    (exit 0), not an error: use `hubspot test` in scripts.

    Example: zigznote --org acme hubspot status
    """
    from zigznote.services import hubspot

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
    data = hubspot.status(db, vault, ctx.settings, org_ref=org)
    ctx.out.item(data, fields=STATUS_FIELDS)
    if not ctx.out.json and not data["check"]["ok"] and data["check"]["error"].get("hint"):
        ctx.out.notice(f"hint: {data['check']['error']['hint']}")


@app.command("test")
def test() -> None:
    """Check that HubSpot accepts the stored token (and which scopes it has); exit 6 if not.

    Example: zigznote --org acme hubspot test
    """
    from zigznote.services import hubspot

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
    data = hubspot.test(db, vault, ctx.settings, org_ref=org)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(f"HubSpot accepts the token: portal {data['hub_id']} ({data['ui_domain'] or '?'})")
    if data["missing_scopes"]:
        ctx.out.warn(
            f"the token lacks {', '.join(data['missing_scopes'])}: add them to the HubSpot app and connect again"
        )


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

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
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
        ("rule", "job rule", lambda r: f"{', '.join(r['events'])} → {', '.join(r['targets'])}" if r else "-"),
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

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
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

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
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
def disconnect() -> None:
    """Revoke the refresh token at HubSpot and delete the stored connection.

    Auto-sync and the sync links go too. The app stays installed in the HubSpot account:
    uninstall it there.

    Example: zigznote --org acme hubspot disconnect
    """
    from zigznote.services import hubspot

    ctx = get_app()
    org = ctx.org_ref()
    db, vault = _services(ctx)
    data = hubspot.disconnect(db, vault, ctx.settings, org_ref=org)
    if ctx.out.json:
        ctx.out.item(data)
        return
    if data["static"]:
        how = "the static token is managed in HubSpot (delete or rotate it there)"
    elif data["already_invalid"]:
        how = "the refresh token was already invalid"
    else:
        how = "refresh token revoked"
    ctx.out.success(f"disconnected HubSpot portal {data['hub_id']}: {how}")
    if data["uninstall"]:
        ctx.out.notice(data["uninstall"])
