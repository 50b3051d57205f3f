"""`zigznote worker`: the delivery engine in the foreground, or one sweep for cron."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zigznote.cli._context import get_app

if TYPE_CHECKING:
    from zigznote.cli._output import Output
    from zigznote.delivery.stats import Stats

app = typer.Typer(help="Run the delivery engine.", no_args_is_help=True, rich_markup_mode=None)

Concurrency = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        min=1,
        max=10_000,
        help="Deliveries leased and not yet written back per process (default 256): the most a crash can send twice.",
    ),
]
PerEndpoint = Annotated[
    int | None,
    typer.Option(
        "--per-endpoint",
        min=1,
        max=10_000,
        help="Starting requests in flight per endpoint, then adaptive (default 10).",
    ),
]
PerEndpointMax = Annotated[
    int | None,
    typer.Option(
        "--per-endpoint-max",
        min=1,
        max=10_000,
        help="Ceiling of each endpoint's adaptive concurrency (default 100; ZIGZNOTE_PER_ENDPOINT_MAX).",
    ),
]
Batch = Annotated[
    int | None, typer.Option("--batch", min=1, max=10_000, help="Deliveries claimed per query (default 200).")
]
Grace = Annotated[str, typer.Option("--grace", help="On SIGINT/SIGTERM, how long in-flight requests may finish.")]

_SUMMARY_FIELDS = [
    (k, k)
    for k in (
        "delivered",
        "retrying",
        "failed",
        "held",
        "released",
        "disabled_webhooks",
        "poison",
        "attempts",
        "seconds",
        "rate_per_second",
    )
]
_FAILURE_COLUMNS = [("webhook", "endpoint"), ("failures", "failures"), ("reason", "reason"), ("count", "count")]


class _JsonLines:
    """The engine's events as JSON Lines on stdout. Attempt lines are collected and written
    with one write per written batch (the worker calls ``flush`` after each batch's
    events); every other event is written at once."""

    def __init__(self, out: Output, *, attempts: bool = True) -> None:
        from zigznote.cli._output import dumps

        self._dumps = dumps
        self._out = out
        self._attempts = attempts
        self._lines: list[str] = []

    def event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "attempt":
            # Attempts come in batches, each followed by the worker's call to flush.
            if self._attempts:
                self._lines.append(self._dumps(event, indent=None))
            return
        self._lines.append(self._dumps(event, indent=None))
        self.flush()

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        try:
            if lines:
                lines.append("")
                sys.stdout.write("\n".join(lines))
            sys.stdout.flush()
        except BrokenPipeError:
            self._out.broken_pipe()
            raise


def _failure_rows(stats: Stats) -> list[dict[str, Any]]:
    return [
        {"webhook": top["lane"], "failures": top["failures"], "reason": r["reason"], "count": r["count"]}
        for top in stats.top_failures()
        for r in top["reasons"]
    ]


def _summary_line(title: str, summary: dict[str, Any]) -> str:
    line = (
        f"{title}: {summary['delivered']} delivered, {summary['retrying']} retrying, {summary['failed']} failed, "
        f"{summary['held']} held, {summary['poison']} poison, {summary['disabled_webhooks']} endpoints disabled "
        f"in {summary['seconds']:g}s"
    )
    return line


def _print_summary(out: Output, stats: Stats, *, title: str) -> None:
    summary = stats.as_dict()
    if out.json:
        out.item(summary)
        return
    if out.quiet:
        out.raw(_summary_line(title, summary))
    else:
        out.item(summary, fields=_SUMMARY_FIELDS, title=title)
        rows = _failure_rows(stats)
        if rows:
            out.items(rows, _FAILURE_COLUMNS, title="top failure reasons")
    if summary["poison"]:
        out.warn(
            f"{summary['poison']} attempts failed inside the worker (payloads it cannot send, or a job "
            "handler's error); see the reasons above and `zigznote webhooks attempts`"
        )


def _run(
    once: bool,
    concurrency: int | None,
    per_endpoint: int | None,
    per_endpoint_max: int | None,
    batch: int | None,
    max_seconds: float | None,
    grace: str,
    *,
    sweep: bool,
) -> None:
    from zigznote.services import retention, worker
    from zigznote.timeutil import parse_duration

    ctx = get_app()
    out = ctx.out
    config = worker.engine_config(
        ctx.settings,
        concurrency=concurrency,
        per_endpoint=per_endpoint,
        per_endpoint_max=per_endpoint_max,
        batch=batch,
        grace_seconds=parse_duration(grace),
    )
    db = ctx.db()
    vault = ctx.vault()
    live = None
    sink: _JsonLines | None = None
    on_event: Any = None
    if sweep:
        # A sweep prints one summary; event lines only when asked for (-v).
        if out.verbose:
            sink = _JsonLines(out)
    elif sys.stdout.isatty() and not out.json:
        from zigznote.cli._live import LivePanel

        live = LivePanel(out.console, db)
        on_event = live.handle
    else:
        sink = _JsonLines(out, attempts=not out.quiet)
        # The reader went away (`| head`): stop like on SIGTERM (claims released, work kept);
        # the command then exits 141 (see cli/_group.py).
        out.stop_on_broken_pipe()
    if sink is not None:
        on_event = (lambda e: sink.event(e) if e["event"] != "worker_stopped" else None) if sweep else sink.event
    try:
        if live is not None:
            live.start()
        stats = worker.run(
            db,
            vault,
            config,
            settings=ctx.settings,
            once=once,
            max_seconds=max_seconds,
            on_event=on_event,
            on_batch_end=sink.flush if sink is not None else None,
            # `worker run` also prunes expired history in the background (services/retention.py).
            retention=None if sweep else retention.policy(ctx.settings),
        )
    finally:
        if live is not None:
            live.stop()
        if sink is not None:
            sink.flush()
    if sweep or live is not None:
        _print_summary(out, stats, title="sweep" if sweep else "worker")


@app.command("run")
def run(
    concurrency: Concurrency = None,
    per_endpoint: PerEndpoint = None,
    per_endpoint_max: PerEndpointMax = None,
    batch: Batch = None,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit (like sweep).")] = False,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", min=0.1, help="Stop after this many seconds.")
    ] = None,
    grace: Grace = "10s",
) -> None:
    """Deliver webhooks in the foreground until SIGINT/SIGTERM (a live panel on a terminal, JSON lines otherwise).

    The last JSON line (worker_stopped) is the summary, with the top failure reasons per endpoint.

    Example: zigznote worker run --concurrency 256 --per-endpoint-max 50
    """
    _run(once, concurrency, per_endpoint, per_endpoint_max, batch, max_seconds, grace, sweep=False)


@app.command("sweep")
def sweep(
    concurrency: Concurrency = None,
    per_endpoint: PerEndpoint = None,
    per_endpoint_max: PerEndpointMax = None,
    batch: Batch = None,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", min=0.1, help="Give up after this many seconds.")
    ] = None,
    grace: Grace = "10s",
) -> None:
    """Deliver everything due now, print a summary and exit (for cron; safe beside running workers).

    The summary counts failed deliveries and poison messages (exit status stays 0: a
    delivery's failure is not the sweep's); -q prints only errors and one summary line.

    Example: * * * * * zigznote -q worker sweep --max-seconds 55
    """
    _run(True, concurrency, per_endpoint, per_endpoint_max, batch, max_seconds, grace, sweep=True)
