"""`zigznote meetings`: the meetings Slack and HubSpot receive."""

from __future__ import annotations

from typing import Annotated

import typer

from zigznote.cli._context import get_app
from zigznote.cli._options import Limit, Since

app = typer.Typer(help="Import and inspect meetings.", no_args_is_help=True, rich_markup_mode=None)

COLUMNS = [
    ("id", "id"),
    ("external_id", "external id"),
    ("title", "title"),
    ("started_at", "started"),
    ("ended_at", "ended"),
]


@app.command("import")
def import_(
    source: Annotated[
        str, typer.Argument(metavar="FILE|-", help="JSON object, JSON array or JSON Lines; - reads stdin.")
    ],
) -> None:
    """Import meetings (idempotent on external_id); a bad record imports nothing.

    Example: zigznote --org acme meetings import meetings.jsonl
    """
    from zigznote.cli._input import read_source
    from zigznote.services import meetings

    ctx = get_app()
    org = ctx.org_ref()
    result = meetings.import_meetings(ctx.db(), org, read_source(source))
    if ctx.out.json:
        ctx.out.item(result)
    else:
        ctx.out.success(f"{result['created']} created, {result['updated']} updated in {result['org']}")


@app.command("list")
def list_(since: Since = None, limit: Limit = 50) -> None:
    """List meetings, newest first.

    Example: zigznote --org acme meetings list --since 7d
    """
    from zigznote.services import meetings

    ctx = get_app()
    rows = meetings.list_meetings(ctx.db(), ctx.org_ref(), since=since, limit=limit)
    ctx.out.items(rows, COLUMNS, empty="no meetings")


@app.command("show")
def show(
    meeting: Annotated[str, typer.Argument(metavar="ID|EXTERNAL_ID", help="Meeting ID or external ID.")],
) -> None:
    """Show one meeting with participants and action items.

    Example: zigznote --org acme meetings show mtg_01JD…
    """
    from zigznote.services import meetings

    ctx = get_app()
    ctx.out.item(meetings.show(ctx.db(), ctx.org_ref(), meeting))
