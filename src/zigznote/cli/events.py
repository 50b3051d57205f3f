"""`zigznote events`: the event catalog, emitting events, and their history."""

from __future__ import annotations

from typing import Annotated

import typer

from zigznote.cli._context import get_app
from zigznote.cli._options import Limit, Since
from zigznote.wording import plural

app = typer.Typer(help="List event types, emit events and inspect them.", no_args_is_help=True, rich_markup_mode=None)

COLUMNS = [("id", "id"), ("type", "type"), ("created_at", "created"), ("data", "data")]
DELIVERY_COLUMNS = [
    ("id", "delivery"),
    ("webhook_id", "webhook"),
    ("kind", "kind"),  # "webhook", or an integration job's kind (no webhook)
    ("status", "status"),
    ("attempts", "attempts"),
    ("last_status_code", "last code"),
    ("delivered_at", "delivered"),
]


@app.command("types")
def types() -> None:
    """List the event types webhooks can subscribe to, with required fields and an example.

    Example: zigznote --json events types
    """
    from zigznote.services import events

    ctx = get_app()
    ctx.out.items(
        events.types(),
        [("name", "type"), ("required", "required data"), ("description", "description")],
    )


@app.command("emit")
def emit(
    type_: Annotated[str | None, typer.Argument(metavar="TYPE", help="Event type (see `events types`).")] = None,
    data: Annotated[
        str, typer.Option("--data", metavar="JSON|@FILE|-", help="The event's data object (inline, @file or -).")
    ] = "{}",
    jsonl: Annotated[
        str | None,
        typer.Option("--jsonl", metavar="FILE|-", help='Many events, one {"type","data","org"?} object per line.'),
    ] = None,
) -> None:
    """Emit events, queue a delivery to every subscribed webhook and the integration jobs the
    organization's rules ask for (all or nothing).

    Example: zigznote --org acme events emit meeting.ended --data '{"meeting_id": "mtg_1"}'
    """
    from zigznote.cli._input import read_inline, read_source
    from zigznote.errors import InvalidInput
    from zigznote.services import events

    ctx = get_app()
    if (type_ is None) == (jsonl is None):
        raise InvalidInput(
            "pass either an event TYPE or --jsonl FILE",
            hint='zigznote --org acme events emit meeting.ended --data \'{"meeting_id": "m-1"}\'',
            code="usage",
        )
    if jsonl is not None:
        # Lines may name their own org, so --org is optional here.
        org = ctx.settings.org
        result = events.emit_jsonl(ctx.db(), str(org) if org else None, read_source(jsonl))
        if ctx.out.json:
            ctx.out.item(result)
        else:
            queued = fan_out_phrase(result["deliveries"], result["held"], result["job_kinds"], result["jobs_held"])
            ctx.out.success(f"emitted {plural(result['events'], 'event')} → {queued}")
        return
    assert type_ is not None
    org_ref = ctx.org_ref()
    raw = read_inline(data)
    item = events.emit(ctx.db(), org_ref, type_, raw)
    if ctx.out.json:
        ctx.out.item(item)
        return
    held = sum(1 for d in item["deliveries"] if d["status"] == "held")
    kinds: dict[str, int] = {}
    for job in item["jobs"]:
        kinds[job["kind"]] = kinds.get(job["kind"], 0) + 1
    jobs_held = sum(1 for j in item["jobs"] if j["status"] == "held")
    ctx.out.success(
        f"emitted {item['id']} ({item['type']}) → {fan_out_phrase(len(item['deliveries']), held, kinds, jobs_held)}"
    )


def fan_out_phrase(deliveries: int, held: int, job_kinds: dict[str, int], jobs_held: int) -> str:
    """What an emit queued, for people: ``2 deliveries (1 held)``, ``0 deliveries, 1 job
    (slack.summary)``, ``1 delivery, 3 jobs (1 hubspot.sync, 2 slack.summary; 1 held)``.
    ``job_kinds`` maps each kind to its job count; kinds and held counts appear only when
    there is something to say."""
    text = plural(deliveries, "delivery") + (f" ({held} held)" if held else "")
    jobs = sum(job_kinds.values())
    if jobs:
        if len(job_kinds) == 1:
            kinds = next(iter(job_kinds))
        else:
            kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(job_kinds.items()))
        text += f", {plural(jobs, 'job')} ({kinds}{f'; {jobs_held} held' if jobs_held else ''})"
    return text


@app.command("list")
def list_(
    type_: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    since: Since = None,
    limit: Limit = 50,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Print one JSON object per line.")] = False,
) -> None:
    """List the organization's events, newest first.

    Example: zigznote --org acme events list --type meeting.ended --since 24h
    """
    from zigznote.services import events

    ctx = get_app()
    rows = events.list_events(ctx.db(), ctx.org_ref(), type_=type_, since=since, limit=limit)
    if jsonl:
        ctx.out.lines(rows)
    else:
        ctx.out.items(rows, COLUMNS, empty="no events")


@app.command("show")
def show(event: Annotated[str, typer.Argument(metavar="EVENT", help="Event ID (evt_…).")]) -> None:
    """Show one event with its data and its deliveries.

    Example: zigznote --org acme events show evt_01JD…
    """
    from zigznote.services import events

    ctx = get_app()
    data = events.show(ctx.db(), ctx.org_ref(), event)
    if ctx.out.json:
        ctx.out.item(data)
        return
    ctx.out.item({k: v for k, v in data.items() if k != "deliveries"})
    ctx.out.items(data["deliveries"], DELIVERY_COLUMNS, title="deliveries", empty="no deliveries (no subscribers)")


@app.command("prune")
def prune(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", metavar="AGE", help="Remove finished history older than this (ZIGZNOTE_RETENTION, 30d)."
        ),
    ] = None,
    failed_older_than: Annotated[
        str | None,
        typer.Option(
            "--failed-older-than",
            metavar="AGE",
            help="Keep events with a failed delivery this long (ZIGZNOTE_RETENTION_FAILED, 90d).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, max=5000, help="Events per transaction.")] = 1000,
    duty: Annotated[
        float,
        typer.Option(
            "--duty",
            min=0.01,
            max=1.0,
            help="Share of the time spent in transactions, resting in between (worker run's pruner: 0.03).",
        ),
    ] = 1.0,
) -> None:
    """Remove old finished events with their deliveries and attempts (never queued work), for cron.

    Example: 17 3 * * * zigznote events prune --older-than 30d
    """
    from zigznote.services import retention

    ctx = get_app()
    data = retention.prune(
        ctx.db(),
        ctx.settings,
        older_than=older_than,
        failed_older_than=failed_older_than,
        batch=batch,
        dry_run=dry_run,
        duty=duty,
    )
    if ctx.out.json:
        ctx.out.item(data)
        return
    verb = "would remove" if dry_run else "removed"
    ctx.out.success(
        f"{verb} {plural(data['events'], 'event')}, {plural(data['deliveries'], 'delivery')}, "
        f"{plural(data['attempts'], 'attempt')}, "
        f"{plural(data['endpoint_events'], 'endpoint event')} (kept {data['kept']} with queued or recent failed work)"
    )
    if data.get("sqlite_auto_vacuum") == "none" and data["events"] and not dry_run:
        ctx.out.notice(
            "the SQLite file keeps its size until `sqlite3 FILE 'PRAGMA auto_vacuum=INCREMENTAL; VACUUM'` is run once"
        )
