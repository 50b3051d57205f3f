"""`zigznote webhooks` commands about deliveries: test sends, history, attempts, retries,
replays and statistics. Registered on the one `webhooks` group by ``cli/webhooks.py``."""

from __future__ import annotations

from typing import Annotated

import typer

from zigznote.cli._context import get_app
from zigznote.cli._deliveries_view import StatusFilter, show_attempts, show_queued
from zigznote.cli._options import Limit, Since
from zigznote.cli._webhook_args import DeliveryRef, WebhookRef

DELIVERY_COLUMNS = [
    ("id", "id"),
    ("event_type", "event"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("last_status_code", "last code"),
    ("next_attempt_at", "next attempt"),
    ("created_at", "created"),
]


def test(webhook: WebhookRef) -> None:
    """Send a signed webhook.test event now; exit 5 if the endpoint does not answer 2xx.

    Example: zigznote --org acme webhooks test wh_01JD…
    """
    from zigznote.errors import ProviderError
    from zigznote.services import webhooks

    ctx = get_app()
    org = ctx.org_ref()
    vault = ctx.vault()
    data = webhooks.send_test(
        ctx.db(), vault, org, webhook, nets=ctx.settings.webhook_allow_nets, timeout=ctx.settings.attempt_timeout
    )
    if not data["ok"]:
        code = f"HTTP {data['status_code']}" if data["status_code"] is not None else "no response"
        excerpt = (data["response_excerpt"] or "").strip()[:200]
        raise ProviderError(
            f"test delivery {data['delivery_id']} failed after {data['duration_ms']} ms: {data['error'] or code}"
            + (f" (response: {excerpt})" if excerpt else ""),
            hint=f"`zigznote --org {org} webhooks attempts {data['delivery_id']}` shows the recorded attempt",
            code="webhook_test_failed",
        )
    if ctx.out.json:
        ctx.out.item(data)
        return
    ctx.out.item(
        data,
        fields=[
            ("delivery_id", "delivery"),
            ("url", "url"),
            ("status", "status"),
            ("status_code", "status code"),
            ("duration_ms", "latency ms"),
            ("response_excerpt", "response", lambda v: (v or "").strip() or "-"),
        ],
    )


def deliveries(
    webhook: WebhookRef,
    status: StatusFilter = None,
    since: Since = None,
    limit: Limit = 50,
) -> None:
    """List a webhook's deliveries, newest first.

    Example: zigznote --org acme webhooks deliveries wh_01JD… --status failed --since 24h
    """
    from zigznote.services import webhooks

    ctx = get_app()
    rows = webhooks.list_deliveries(ctx.db(), ctx.org_ref(), webhook, status=status, since=since, limit=limit)
    ctx.out.items(rows, DELIVERY_COLUMNS, empty="no deliveries")


def attempts(delivery: DeliveryRef) -> None:
    """List every attempt of one delivery (or integration job): time, duration, status code, error.

    Example: zigznote --org acme webhooks attempts msg_01JD…
    """
    from zigznote.services import webhooks

    ctx = get_app()
    show_attempts(webhooks.list_attempts(ctx.db(), ctx.org_ref(), delivery))


def retry(
    delivery: DeliveryRef,
    force: Annotated[bool, typer.Option("--force", help="Also re-send a succeeded delivery or one in flight.")] = False,
) -> None:
    """Queue one delivery (or integration job) again now, with a fresh retry schedule.

    Example: zigznote --org acme webhooks retry msg_01JD…
    """
    from zigznote.services import webhooks

    ctx = get_app()
    data = webhooks.retry(ctx.db(), ctx.org_ref(), delivery, force=force)
    if data["webhook_id"] is None:
        held = f"job kind {data['kind']} is held for this organization: {data['id']} waits for its fix"
    else:
        held = f"webhook {data['webhook_id']} is disabled: {data['id']} is held until `webhooks enable`"
    show_queued(data, held=held, queued=f"queued {data['id']} (was {data['previous_status']})")


def replay(
    webhook: WebhookRef,
    since: Annotated[str, typer.Option("--since", help="Deliveries created since: 2h, 7d or 2026-11-01.")],
    status: Annotated[
        str, typer.Option("--status", help="failed, succeeded or all (finished deliveries only).")
    ] = "failed",
) -> None:
    """Queue again every finished delivery of a webhook created since a time.

    Example: zigznote --org acme webhooks replay wh_01JD… --since 6h --status failed
    """
    from zigznote.services import webhooks

    ctx = get_app()
    data = webhooks.replay(ctx.db(), ctx.org_ref(), webhook, since=since, status=status)
    show_queued(
        data,
        held=f"webhook {data['webhook_id']} is disabled: {data['replayed']} deliveries held until enabled",
        queued=f"queued {data['replayed']} deliveries of {data['webhook_id']} again",
    )


def stats(
    webhook: WebhookRef,
    since: Annotated[str, typer.Option("--since", help="Window: a duration (24h, 7d) or a date.")] = "24h",
) -> None:
    """Show delivery statistics: success rate, latency percentiles and histogram, timeline.

    Example: zigznote --org acme webhooks stats wh_01JD… --since 7d
    """
    from zigznote.cli._output_stats import webhook_stats
    from zigznote.services import stats as stats_service

    ctx = get_app()
    data = stats_service.webhook_stats(ctx.db(), ctx.org_ref(), webhook, since=since)
    if ctx.out.json:
        ctx.out.item(data)
        return
    webhook_stats(ctx.out, data)


def register(app: typer.Typer) -> None:
    """Add these commands to the `webhooks` group."""
    app.command("test")(test)
    app.command("deliveries")(deliveries)
    app.command("attempts")(attempts)
    app.command("retry")(retry)
    app.command("replay")(replay)
    app.command("stats")(stats)
