"""Root wiring only: global options, then one sub-app per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from zigznote import __version__
from zigznote.cli import demo, setup
from zigznote.cli._context import AppContext, env_wants_json
from zigznote.cli._group import ZigznoteGroup
from zigznote.cli._output import Output


class RootGroup(ZigznoteGroup):
    # One sub-app per command group, imported and built only when it runs or is listed.
    lazy_groups = {
        "config": "zigznote.cli.config_cmd",
        "db": "zigznote.cli.db",
        "keys": "zigznote.cli.keys",
        "orgs": "zigznote.cli.orgs",
        "meetings": "zigznote.cli.meetings",
        "events": "zigznote.cli.events",
        "webhooks": "zigznote.cli.webhooks",
        "jobs": "zigznote.cli.jobs",
        "integrations": "zigznote.cli.integrations",
        "slack": "zigznote.cli.slack",
        "hubspot": "zigznote.cli.hubspot",
        "worker": "zigznote.cli.worker",
        "billing": "zigznote.cli.billing",
    }


app = typer.Typer(
    name="zigznote",
    cls=RootGroup,
    help="Administer zigznote's integrations, outbound webhooks and billing.\n\n"
    "Example: zigznote --org acme webhooks list",
    no_args_is_help=True,
    # Plain Click help: Typer's Rich formatter imports rich.markdown, rich.traceback, … (~45 ms)
    rich_markup_mode=None,
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
    # Settings load on first use inside the command (see _context.py); until then the
    # output mode is what the flag and ZIGZNOTE_OUTPUT say.
    out = Output(json=json_ or env_wants_json(), quiet=quiet, verbose=verbose)
    flags = {"db_url": db_url, "org": org, "output": "json" if json_ else None}
    ctx.obj = AppContext(out=out, flags=flags)


demo.register(app)  # first in --help: what a newcomer runs first
setup.register(app)


def main() -> None:
    app(prog_name="zigznote")
