"""`zigznote integrations`: the organization's provider connections at a glance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from zigznote.cli._context import get_app

app = typer.Typer(help="See the organization's integration connections.", no_args_is_help=True, rich_markup_mode=None)

COLUMNS = [
    ("provider", "provider"),
    ("status", "state"),
    ("account", "account"),
    ("scopes", "scopes"),
    ("token_expires_at", "token expires"),
    ("last_error", "last error"),
]


def _account(row: Mapping[str, Any]) -> str | None:
    """``Acme (T0123)``: the name people know, and the ID the provider uses."""
    name, ident = row.get("account_name"), row.get("account_id")
    if name and ident:
        return f"{name} ({ident})"
    return name or ident


@app.command("list")
def list_() -> None:
    """List each provider's connection: state (connected, error, not connected), account,
    scopes, token expiry (- when the token does not expire) and the last error.

    Example: zigznote --org acme integrations list
    """
    from zigznote.services import integrations

    ctx = get_app()
    rows = integrations.list_connections(ctx.db(), org_id=ctx.org_ref())
    if ctx.out.json:
        ctx.out.items(rows, COLUMNS)
        return
    ctx.out.items([{**row, "account": _account(row)} for row in rows], COLUMNS)
