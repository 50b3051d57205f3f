"""`zigznote config`: the effective configuration and where each value came from."""

from __future__ import annotations

import typer

from zigznote.cli._context import get_app

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True, rich_markup_mode=None)


@app.command("show")
def show() -> None:
    """Print every setting, its value (secrets masked) and its source; a refused value is shown
    with its error (the command still succeeds, so you can see what to fix).

    Example: zigznote config show
    """
    ctx = get_app(lenient_settings=True)
    settings = ctx.settings
    rows = settings.describe()
    if ctx.out.json:
        ctx.out.item(
            {
                "config_file": str(settings.config_path),
                "config_file_found": settings.config_found,
                "settings": {
                    r["name"]: {"value": r["value"], "source": r["source"]}
                    | ({"error": r["error"]} if r["error"] else {})
                    for r in rows
                },
            }
        )
        return
    state = "read" if settings.config_found else "not found: none read"
    ctx.out.items(
        rows,
        [("name", "setting"), ("shown", "value"), ("source", "source")],
        title=f"config file: {settings.config_path} ({state})",
    )
    for error in settings.errors.values():
        ctx.out.warn(error.message + (f" (hint: {error.hint})" if error.hint else ""))
