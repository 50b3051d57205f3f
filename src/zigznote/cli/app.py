"""Root wiring only: global options, then one sub-app per command group."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from zigznote import __version__
from zigznote.cli import config_cmd, db, events, keys, meetings, orgs, setup, webhooks, worker
from zigznote.cli._context import AppContext
from zigznote.cli._group import ZigznoteGroup
from zigznote.cli._output import Output

app = typer.Typer(
    name="zigznote",
    cls=ZigznoteGroup,
    help="Administer zigznote's integrations, outbound webhooks and billing.\n\n"
    "Example: zigznote --org acme webhooks list",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zigznote {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db_url: Annotated[
        str | None, typer.Option("--db", metavar="URL", help="Database URL (default: SQLite in the user data dir).")
    ] = None,
    org: Annotated[str | None, typer.Option("--org", metavar="SLUG|ID", help="Organization to act on.")] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print JSON on stdout (one document; JSON Lines for streams).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only print results and errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print more detail, and tracebacks of bugs.")
    ] = False,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    """Administer zigznote's integrations, outbound webhooks and billing.

    Example: zigznote --org acme webhooks list
    """
    json_mode = json_ or os.environ.get("ZIGZNOTE_OUTPUT", "").lower() == "json"
    out = Output(json=json_mode, quiet=quiet, verbose=verbose)
    # Store the output first so a configuration error below is still rendered right.
    ctx.obj = out
    from zigznote.config import load_settings

    settings = load_settings({"db_url": db_url, "org": org, "output": "json" if json_ else None})
    ctx.obj = AppContext(settings=settings, out=out)


setup.register(app)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(orgs.app, name="orgs")
app.add_typer(meetings.app, name="meetings")
app.add_typer(events.app, name="events")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(worker.app, name="worker")


def main() -> None:
    app(prog_name="zigznote")
