"""`zigznote jobs`: integration jobs (Slack auto-send, HubSpot auto-sync, …), their rules,
history, retries and holds."""

from __future__ import annotations

from typing import Annotated

import typer

from zigznote.cli._context import get_app
from zigznote.cli._deliveries_view import StatusFilter, show_attempts, show_queued
from zigznote.cli._options import Limit, Since

app = typer.Typer(
    help="Inspect, retry and release integration jobs; set which events enqueue them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
rules_app = typer.Typer(
    help="Which emitted events enqueue which job kinds, and for which targets.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(rules_app, name="rules")

JobRef = Annotated[str, typer.Argument(metavar="JOB", help="Job ID (msg_…).")]
Kind = Annotated[str, typer.Argument(metavar="KIND", help="Job kind, e.g. slack.summary.")]

# Status and attempts before the event type: on 80 columns the rightmost go first, and what
# a job is doing matters more than which event queued it (`jobs show` has that).
COLUMNS = [
    ("id", "id"),
    ("kind", "kind"),
    ("target", "target"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("event_type", "event"),
    ("last_status_code", "last code"),
    ("next_attempt_at", "next attempt"),
    ("created_at", "created"),
]
SHOW_FIELDS = [
    ("id", "id"),
    ("kind", "kind"),
    ("target", "target"),
    ("event_id", "event"),
    ("event_type", "event type"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("next_trigger", "next trigger"),
    ("next_attempt_at", "next attempt"),
    ("last_status_code", "last code"),
    ("last_error", "last error"),
    ("delivered_at", "done at"),
    ("created_at", "created"),
]
RULE_COLUMNS = [
    ("kind", "kind"),
    ("events", "events"),
    ("targets", "targets"),
    ("held", "held"),
    ("held_reason", "held because"),
]


@app.command("list")
def list_(
    kind: Annotated[str | None, typer.Option("--kind", help="Only this job kind.")] = None,
    status: StatusFilter = None,
    since: Since = None,
    limit: Limit = 50,
) -> None:
    """List the organization's jobs, newest first.

    Example: zigznote --org acme jobs list --kind slack.summary --status failed --since 24h
    """
    from zigznote.services import job_history

    ctx = get_app()
    rows = job_history.list_jobs(ctx.db(), ctx.org_ref(), kind=kind, status=status, since=since, limit=limit)
    ctx.out.items(rows, COLUMNS, empty="no jobs")


@app.command("show")
def show(job: JobRef) -> None:
    """Show one job: kind, target, state and last result.

    Example: zigznote --org acme jobs show msg_01JD…
    """
    from zigznote.services import job_history

    ctx = get_app()
    ctx.out.item(job_history.show(ctx.db(), ctx.org_ref(), job), fields=SHOW_FIELDS)


@app.command("attempts")
def attempts(job: JobRef) -> None:
    """List every attempt of one job: time, duration, status code, error.

    Example: zigznote --org acme jobs attempts msg_01JD…
    """
    from zigznote.services import job_history

    ctx = get_app()
    show_attempts(job_history.attempts(ctx.db(), ctx.org_ref(), job))


@app.command("retry")
def retry(
    job: JobRef,
    force: Annotated[bool, typer.Option("--force", help="Also run a succeeded job or one in flight again.")] = False,
) -> None:
    """Queue one job again now, with a fresh retry schedule.

    Example: zigznote --org acme jobs retry msg_01JD…
    """
    from zigznote.services import job_history

    ctx = get_app()
    data = job_history.retry(ctx.db(), ctx.org_ref(), job, force=force)
    show_queued(
        data,
        held=f"{data['kind']} is held for this organization: {data['id']} waits for `jobs release`",
        queued=f"queued {data['id']} (was {data['previous_status']})",
    )


@app.command("replay")
def replay(
    kind: Annotated[str, typer.Option("--kind", help="The job kind to replay.")],
    since: Annotated[str, typer.Option("--since", help="Jobs created since: 2h, 7d or 2026-11-01.")],
    status: Annotated[str, typer.Option("--status", help="failed, succeeded or all (finished jobs only).")] = "failed",
) -> None:
    """Queue again every finished job of a kind created since a time.

    Example: zigznote --org acme jobs replay --kind slack.summary --since 6h
    """
    from zigznote.services import job_history

    ctx = get_app()
    data = job_history.replay(ctx.db(), ctx.org_ref(), kind=kind, since=since, status=status)
    show_queued(
        data,
        held=f"{kind} is held for this organization: {data['replayed']} jobs wait for `jobs release`",
        queued=f"queued {data['replayed']} {kind} jobs again",
    )


@app.command("release")
def release(kind: Kind) -> None:
    """Lift the hold of a kind (its integration was re-connected) and queue its held jobs now.

    Example: zigznote --org acme jobs release slack.summary
    """
    from zigznote.services import jobs

    ctx = get_app()
    data = jobs.release(ctx.db(), ctx.org_ref(), kind)
    if ctx.out.json:
        ctx.out.item(data)
    elif not data["was_held"] and not data["released"]:
        ctx.out.notice(f"{kind} was not held; nothing to release")
    else:
        ctx.out.success(f"released {data['released']} {kind} jobs")


@rules_app.command("list")
def rules_list() -> None:
    """List the organization's job rules and held kinds.

    Example: zigznote --org acme jobs rules list
    """
    from zigznote.services import jobs

    ctx = get_app()
    ctx.out.items(jobs.list_rules(ctx.db(), ctx.org_ref()), RULE_COLUMNS, empty="no job rules")


@rules_app.command("set")
def rules_set(
    kind: Kind,
    events: Annotated[str, typer.Option("--events", help="Comma list of event types, or '*'.")],
    target: Annotated[list[str], typer.Option("--target", help="What the job acts on (repeat for several).")],
) -> None:
    """Make emitted events of these types enqueue one KIND job per target (replaces the rule).

    Example: zigznote --org acme jobs rules set slack.summary --events summary.ready --target C0123
    """
    from zigznote.services import jobs

    ctx = get_app()
    data = jobs.set_rule(ctx.db(), ctx.org_ref(), kind, events=events, targets=target)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(f"{kind}: {', '.join(data['events'])} → {', '.join(data['targets'])}")


@rules_app.command("unset")
def rules_unset(kind: Kind) -> None:
    """Stop enqueueing KIND jobs (jobs already queued stay queued).

    Example: zigznote --org acme jobs rules unset slack.summary
    """
    from zigznote.services import jobs

    ctx = get_app()
    data = jobs.unset_rule(ctx.db(), ctx.org_ref(), kind)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(f"removed the {kind} rule")
