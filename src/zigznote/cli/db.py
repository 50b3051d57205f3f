"""`zigznote db`: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from zigznote.cli._context import get_app

app = typer.Typer(help="Migrate the database schema.", no_args_is_help=True, rich_markup_mode=None)


@app.command("upgrade")
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Migrate the database to the newest schema (creates a SQLite file if needed).

    Example: zigznote db upgrade
    """
    from zigznote.services import setup

    ctx = get_app()
    result = setup.db_upgrade(ctx.db(check=False, create=True), revision)
    if ctx.out.json:
        ctx.out.item(result)
    elif result["from"] == result["to"]:
        target = "the newest schema" if revision == "head" else "schema"
        ctx.out.success(f"already at {target} ({result['to']})")
    else:
        ctx.out.success(f"schema {result['from'] or 'empty'} → {result['to']}")


@app.command("downgrade")
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, 'base' for empty, or -1.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; a downgrade can drop data.")] = False,
) -> None:
    """Migrate the schema back to REVISION (drops the tables of later revisions).

    Example: zigznote db downgrade 0001_foundation --yes
    """
    from zigznote.errors import InvalidInput
    from zigznote.services import setup

    ctx = get_app()
    if not yes:
        raise InvalidInput("a downgrade can destroy data", hint="pass --yes to confirm")
    result = setup.db_downgrade(ctx.db(check=False), revision)
    ctx.out.item(result) if ctx.out.json else ctx.out.success(f"schema {result['from']} → {result['to'] or 'empty'}")


@app.command("current")
def current() -> None:
    """Print the schema revision of the database.

    Example: zigznote db current
    """
    from zigznote.services import setup
    from zigznote.store.migrations.revisions import HEAD_REVISION

    ctx = get_app()
    rev = setup.db_current(ctx.db(check=False))
    data = {"current": rev, "head": HEAD_REVISION, "up_to_date": rev == HEAD_REVISION}
    ctx.out.item(data)


@app.command("history")
def history() -> None:
    """List the migrations this zigznote ships, oldest first.

    Example: zigznote db history
    """
    from zigznote.errors import ZigznoteError
    from zigznote.services import setup

    ctx = get_app()
    try:
        db = ctx.db(check=False)
    except ZigznoteError:
        db = None  # history is known without a database
    rows = setup.db_history(db)
    ctx.out.items(rows, [("revision", "revision"), ("message", "description"), ("current", "current")])
