"""`zigznote integrations`: the organization's provider connections at a glance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from zigznote.cli._context import get_app
from zigznote.cli._output import Column
from zigznote.wording import plural

app = typer.Typer(help="See the organization's integration connections.", no_args_is_help=True, rich_markup_mode=None)


def _scope_count(scopes: Any) -> str:
    """``4 scopes``: the list itself folds badly on 80 columns; --json and `slack status` have it."""
    return plural(len(scopes), "scope") if scopes else "-"


COLUMNS: list[Column] = [
    ("provider", "provider"),
    ("status", "state"),
    ("account", "account"),
    ("scopes", "scopes", _scope_count),
    ("token_expires_at", "token expires"),
]
# The errors get a table of their own, below: a column beside the others would be left out on
# 80 columns, or squeezed to a few characters a line.
ERROR_COLUMNS: list[Column] = [("provider", "provider"), ("last_error_at", "since"), ("last_error", "last error")]


def _account(row: Mapping[str, Any]) -> str | None:
    """``Acme (T0123)``: the name people know, and the ID the provider uses."""
    name, ident = row.get("account_name"), row.get("account_id")
    if name and ident:
        return f"{name} ({ident})"
    return name or ident


@app.command("list")
def list_() -> None:
    """List each provider's connection: state (connected, error, not connected), account,
    scope count, token expiry (- when the token does not expire), then the last errors.

    Example: zigznote --org acme integrations list
    """
    from zigznote.services import integrations

    ctx = get_app()
    rows = integrations.list_connections(ctx.db(), org_id=ctx.org_ref())
    if ctx.out.json:
        ctx.out.items(rows, COLUMNS)  # every key, scopes and the last error included
        return
    ctx.out.items([{**row, "account": _account(row)} for row in rows], COLUMNS)
    failed = [row for row in rows if row.get("last_error")]
    if failed:
        ctx.out.items(failed, ERROR_COLUMNS)
