"""Top-level commands: init, doctor, status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zigznote.cli._context import get_app


def init(
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Keep the master key in this 0600 file instead of the OS keyring.")
    ] = None,
) -> None:
    """Create the config file, the database (migrated) and the master key; safe to rerun.

    Example: zigznote init --key-file ~/.local/share/zigznote/master.key
    """
    from zigznote.services import setup

    app = get_app(config_may_be_missing=True)  # init writes the file ZIGZNOTE_CONFIG names
    report = setup.init(app.settings, key_file=key_file)
    if app.out.json:
        app.out.item(report)
        return
    cfg, db, key = report["config"], report["database"], report["key"]
    app.out.success(f"config   {cfg['path']} ({'created' if cfg['created'] else 'kept'})")
    state = "created" if db["created"] else ("upgraded" if db["from"] != db["to"] else "up to date")
    app.out.success(f"database {db['url']} ({state}, schema {db['to']})")
    app.out.success(f"key      {key['source']} ({'created' if key['created'] else 'kept'}, id {key['key_id']})")


def doctor() -> None:
    """Check configuration, database, master key and engine settings; exit 6 if any fails.

    Example: zigznote doctor
    """
    from rich.text import Text

    from zigznote.services import setup
    from zigznote.untrusted import for_terminal

    app = get_app()
    report = setup.doctor(app.settings)
    if app.out.json:
        app.out.item(report)
    else:
        # Details and warnings carry stored data (URLs, names, paths): plain Text with controls
        # made visible, never markup.
        console = app.out.console

        def print_(line: Text) -> None:
            console.print(line, soft_wrap=True)  # one check, one line: a path is not broken up

        for c in report["checks"]:
            # A passing check with warnings is not plainly ok: `warn`, like its warning lines.
            mark = ("FAIL", "red") if not c["ok"] else ("warn", "yellow") if c.get("warnings") else ("ok  ", "green")
            print_(Text.assemble(mark, for_terminal(f" {c['check']}: {c['detail']}")))
            if not c["ok"] and c.get("hint"):
                print_(Text(for_terminal(f"       hint: {c['hint']}")))
            for warning in c.get("warnings", []):
                print_(Text.assemble(("warn", "yellow"), for_terminal(f" {warning['message']}")))
                print_(Text(for_terminal(f"       hint: {warning['hint']}")))
    if not report["ok"]:
        raise typer.Exit(6)


def status() -> None:
    """Summarise what is stored and the state of the delivery queue.

    Example: zigznote --json status
    """
    from zigznote.services import setup

    app = get_app()
    data = setup.status(app.db())
    if app.out.json:
        app.out.item(data)
        return
    from zigznote.cli._webhook_health import events_table, failing_table

    tables = ("deliveries", "failing_webhooks", "endpoint_events")
    flat = {k: v for k, v in data.items() if k not in tables}
    flat.update({f"deliveries {k}": v for k, v in data["deliveries"].items()})
    app.out.item(flat, title="zigznote status")
    if data["failing_webhooks"]:
        failing_table(app.out, data["failing_webhooks"], title="failing webhooks (longest first)")
    if data["endpoint_events"]:
        events_table(app.out, data["endpoint_events"], title="last endpoint events")


def register(root: typer.Typer) -> None:
    root.command("init")(init)
    root.command("doctor")(doctor)
    root.command("status")(status)
