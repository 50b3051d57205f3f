"""`zigznote worker`: the delivery engine in the foreground, or one sweep for cron."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from zigznote.cli._context import get_app

app = typer.Typer(help="Run the delivery engine.", no_args_is_help=True, rich_markup_mode=None)

Concurrency = Annotated[
    int | None, typer.Option("--concurrency", min=1, max=10_000, help="Requests in flight per process (default 50).")
]
PerEndpoint = Annotated[
    int | None, typer.Option("--per-endpoint", min=1, max=10_000, help="Requests in flight per endpoint (default 10).")
]
Batch = Annotated[
    int | None, typer.Option("--batch", min=1, max=10_000, help="Deliveries claimed per query (default 100).")
]
Grace = Annotated[str, typer.Option("--grace", help="On SIGINT/SIGTERM, how long in-flight requests may finish.")]


def _summary_fields() -> list[tuple[str, str]]:
    return [
        (k, k)
        for k in (
            "delivered",
            "retrying",
            "failed",
            "held",
            "released",
            "disabled_webhooks",
            "attempts",
            "seconds",
            "rate_per_second",
        )
    ]


def _run(
    once: bool,
    concurrency: int | None,
    per_endpoint: int | None,
    batch: int | None,
    max_seconds: float | None,
    grace: str,
    *,
    sweep: bool,
) -> None:
    from zigznote.services import worker
    from zigznote.timeutil import parse_duration

    ctx = get_app()
    out = ctx.out
    config = worker.engine_config(
        ctx.settings,
        concurrency=concurrency,
        per_endpoint=per_endpoint,
        batch=batch,
        grace_seconds=parse_duration(grace),
    )
    db = ctx.db()
    vault = ctx.vault()
    live = None
    on_event: Any
    if sweep:
        # A sweep prints one summary; attempt lines only when asked for (-v).
        on_event = (lambda e: out.line(e) if e["event"] != "worker_stopped" else None) if out.verbose else None
    elif sys.stdout.isatty() and not out.json:
        from zigznote.cli._live import LivePanel

        live = LivePanel(out.console, db)
        on_event = live.handle
    elif out.quiet:
        on_event = lambda e: out.line(e) if e["event"] != "attempt" else None  # noqa: E731
    else:
        on_event = out.line
    try:
        if live is not None:
            live.start()
        stats = worker.run(db, vault, config, once=once, max_seconds=max_seconds, on_event=on_event)
    finally:
        if live is not None:
            live.stop()
    if sweep:
        out.item(stats.as_dict(), fields=_summary_fields(), title="sweep")


@app.command("run")
def run(
    concurrency: Concurrency = None,
    per_endpoint: PerEndpoint = None,
    batch: Batch = None,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit (like sweep).")] = False,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", min=0.1, help="Stop after this many seconds.")
    ] = None,
    grace: Grace = "10s",
) -> None:
    """Deliver webhooks in the foreground until SIGINT/SIGTERM (a live panel on a terminal, JSON lines otherwise).

    Example: zigznote worker run --concurrency 100 --per-endpoint 10
    """
    _run(once, concurrency, per_endpoint, batch, max_seconds, grace, sweep=False)


@app.command("sweep")
def sweep(
    concurrency: Concurrency = None,
    per_endpoint: PerEndpoint = None,
    batch: Batch = None,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", min=0.1, help="Give up after this many seconds.")
    ] = None,
    grace: Grace = "10s",
) -> None:
    """Deliver everything due now, print a summary and exit (for cron; safe beside running workers).

    Example: * * * * * zigznote worker sweep --max-seconds 55
    """
    _run(True, concurrency, per_endpoint, batch, max_seconds, grace, sweep=True)
