"""`zigznote keys`: the master key that encrypts every stored secret."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zigznote.cli._context import get_app

app = typer.Typer(
    help="Manage the master key (AES-256-GCM) protecting stored secrets.", no_args_is_help=True, rich_markup_mode=None
)


@app.command("init")
def init(
    file: Annotated[
        Path | None, typer.Option("--file", help="Write the key to this file (mode 0600) instead of the OS keyring.")
    ] = None,
) -> None:
    """Create the master key in the OS keyring or a 0600 file; does nothing if one exists.

    Example: zigznote keys init --file ~/.config/zigznote/master.key
    """
    from zigznote.services import keys

    ctx = get_app()
    result = keys.init(ctx.settings, file=file)
    if ctx.out.json:
        ctx.out.item(result)
    elif result["created"]:
        ctx.out.success(f"master key {result['key_id']} created in {result['source']}")
    else:
        ctx.out.success(f"master key {result['key_id']} already present in {result['source']}")


@app.command("status")
def status() -> None:
    """Say where the master key comes from and how many secrets it protects (never the key).

    Example: zigznote keys status
    """
    from zigznote.errors import ZigznoteError
    from zigznote.services import keys

    ctx = get_app()
    try:
        db = ctx.db()
    except ZigznoteError as exc:
        ctx.out.debug(f"database unavailable, not counting secrets: {exc.message}")
        db = None
    ctx.out.item(keys.status(ctx.settings, db))


@app.command("rotate")
def rotate() -> None:
    """Re-encrypt every secret under a new master key, in one transaction.

    Running workers on a key file or the OS keyring pick up the new key by themselves. With
    ZIGZNOTE_MASTER_KEY, set ZIGZNOTE_MASTER_KEY_NEW to the new key (`keys generate`) and restart
    the workers with it before rotating; afterwards make it ZIGZNOTE_MASTER_KEY.

    Example: zigznote keys rotate
    """
    from zigznote.services import keys

    ctx = get_app()
    result = keys.rotate(ctx.settings, ctx.db())
    if ctx.out.json:
        ctx.out.item(result)
        return
    ctx.out.success(
        f"rotated {result['old_key_id']} → {result['new_key_id']}, {result['reencrypted']} secret(s) re-encrypted"
    )
    if "action_required" in result:
        ctx.out.warn(result["action_required"])


@app.command("generate")
def generate() -> None:
    """Print a new random master key (base64) for use in ZIGZNOTE_MASTER_KEY.

    Example: export ZIGZNOTE_MASTER_KEY=$(zigznote keys generate)
    """
    from zigznote.services import keys

    out = get_app().out
    key = keys.generate()
    # Under --json stdout must be one JSON document; a bare base64 line is not one.
    out.item({"key": key}) if out.json else out.raw(key)
