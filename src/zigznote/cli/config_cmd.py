"""`zigznote config`: the effective configuration and where each value came from."""

from __future__ import annotations

import typer

from zigznote.cli._context import get_app

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True, rich_markup_mode=None)


@app.command("show")
def show() -> None:
    """Print every setting, its value (secrets masked) and its source.

    Example: zigznote config show
    """
    ctx = get_app()
    rows = ctx.settings.describe()
    if ctx.out.json:
        ctx.out.item(
            {
                "config_file": str(ctx.settings.config_path),
                "settings": {r["name"]: {"value": r["value"], "source": r["source"]} for r in rows},
            }
        )
        return
    ctx.out.items(
        rows,
        [("name", "setting"), ("value", "value"), ("source", "source")],
        title=f"config file: {ctx.settings.config_path}",
    )
