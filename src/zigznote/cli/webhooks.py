"""`zigznote webhooks`: customer endpoints, their secrets, health, deliveries and receiver tools.

This module holds the endpoint commands (create, list, show, update, delete, enable, disable,
rotate-secret, health); ``webhooks_deliveries.py`` and ``webhooks_tools.py`` add theirs to the
same group (see the end of this file).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zigznote.cli import webhooks_deliveries, webhooks_tools
from zigznote.cli._context import get_app
from zigznote.cli._options import Force, Limit, ShowSecret, Since
from zigznote.cli._webhook_args import AllowHttp, Headers, MaxConcurrency, RateLimit, WebhookRef
from zigznote.cli._webhook_health import events_table, failing_table, failure_text
from zigznote.wording import plural

app = typer.Typer(
    help="Manage outbound webhooks and inspect their deliveries.", no_args_is_help=True, rich_markup_mode=None
)

COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("url", "url"),
    ("events", "events"),
    ("enabled", "enabled"),
    ("consecutive_failures", "failures"),
]


def _level(value: Any) -> str:
    return "-" if value is None else str(value)


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:g}/s"


def _counts(value: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in (value or {}).items())


def _headers(value: Any) -> str:
    return "; ".join(f"{k}: {v}" for k, v in (value or {}).items()) or "-"


SHOW_FIELDS: list[Any] = [
    ("id", "id"),
    ("name", "name"),
    ("description", "description"),
    ("url", "url"),
    ("events", "events"),
    ("enabled", "enabled"),
    ("disabled_reason", "disabled reason"),
    ("disabled_at", "disabled at"),
    ("consecutive_failures", "consecutive failures"),
    ("failing_since", "failing since"),
    ("last_failure", "last failure", failure_text),
    ("concurrency_level", "concurrency level", _level),
    ("max_concurrency", "max concurrency", _level),
    ("rate_limit", "rate limit", _rate),
    ("has_headers", "custom headers"),
    ("has_previous_secret", "previous secret"),
    ("previous_secret_expires_at", "previous until"),
    ("created_at", "created"),
    ("updated_at", "updated"),
    ("deliveries", "deliveries", _counts),
]


@app.command("list")
def list_(
    failing: Annotated[
        bool, typer.Option("--failing", help="Only webhooks that are disabled or in a failure streak.")
    ] = False,
) -> None:
    """List the organization's webhooks; --failing: the disabled or failing ones, with why.

    Example: zigznote --org acme webhooks list --failing
    """
    from zigznote.services import webhooks

    ctx = get_app()
    rows = webhooks.list_webhooks(ctx.db(), ctx.org_ref(), failing=failing)
    if failing:
        failing_table(ctx.out, rows)
        return
    ctx.out.items(rows, COLUMNS, empty="no webhooks yet")


@app.command("create")
def create(
    url: Annotated[str, typer.Option("--url", help="Endpoint URL (https; checked against the SSRF guard).")],
    events: Annotated[str, typer.Option("--events", help="Comma-separated event types, or * for all.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the URL's host).")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Free text.")] = None,
    header: Headers = None,
    allow_http: AllowHttp = False,
    max_concurrency: MaxConcurrency = None,
    rate_limit: RateLimit = None,
) -> None:
    """Create a webhook and print its signing secret (shown only this once).

    Example: zigznote --org acme webhooks create --url https://hooks.example.com/zz --events meeting.ended,summary.ready
    """
    from zigznote.services import webhooks

    ctx = get_app()
    org = ctx.org_ref()
    vault = ctx.vault()  # no key, no webhook: checked before anything is written
    data = webhooks.create(
        ctx.db(),
        vault,
        org,
        url=url,
        events=events,
        name=name,
        description=description,
        headers=header or [],
        allow_http=allow_http,
        nets=ctx.settings.webhook_allow_nets,
        max_concurrency=max_concurrency,
        rate_limit=rate_limit,
    )
    if ctx.out.json:
        ctx.out.item(data)
        return
    ctx.out.item(data, fields=[*COLUMNS[:5], ("secret", "secret")])
    ctx.out.notice("store the secret now: it is not shown again (only `webhooks show --show-secret`)")


@app.command("show")
def show(webhook: WebhookRef, show_secret: ShowSecret = False) -> None:
    """Show a webhook: state, failure streak, concurrency level and caps, last failure,
    delivery counts and recent endpoint events; secrets only with --show-secret.

    Example: zigznote --org acme webhooks show wh_01JD… --show-secret
    """
    from zigznote.services import webhooks

    ctx = get_app()
    org = ctx.org_ref()
    vault = ctx.vault() if show_secret else None
    data = webhooks.show(ctx.db(), org, webhook, vault=vault)
    if ctx.out.json:
        ctx.out.item(data)
        return
    fields = list(SHOW_FIELDS)
    if show_secret:
        fields += [("secret", "secret"), ("previous_secret", "previous secret"), ("headers", "headers", _headers)]
    ctx.out.item(data, fields=fields)
    if data["endpoint_events"]:
        events_table(ctx.out, data["endpoint_events"], title="last endpoint events")


@app.command("update")
def update(
    webhook: WebhookRef,
    url: Annotated[str | None, typer.Option("--url", help="New endpoint URL (re-checked).")] = None,
    events: Annotated[str | None, typer.Option("--events", help="New subscription: types or *.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="New display name.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="New description ('' clears).")] = None,
    header: Headers = None,
    clear_headers: Annotated[
        bool, typer.Option("--clear-headers", help="Remove every custom header (before adding any --header).")
    ] = False,
    allow_http: AllowHttp = False,
    max_concurrency: MaxConcurrency = None,
    no_max_concurrency: Annotated[
        bool, typer.Option("--no-max-concurrency", help="Remove the concurrency cap (the engine adapts).")
    ] = False,
    rate_limit: RateLimit = None,
    no_rate_limit: Annotated[bool, typer.Option("--no-rate-limit", help="Remove the rate limit.")] = False,
) -> None:
    """Change a webhook's URL, events, name, description, custom headers or caps.

    Example: zigznote --org acme webhooks update wh_01JD… --max-concurrency 5 --rate-limit 20/s
    """
    from zigznote.services import webhooks

    ctx = get_app()
    org = ctx.org_ref()
    vault = ctx.vault() if header else None  # merging headers decrypts the current ones
    data = webhooks.update(
        ctx.db(),
        org,
        webhook,
        vault=vault,
        url=url,
        events=events,
        name=name,
        description=description,
        headers=header or [],
        clear_headers=clear_headers,
        allow_http=allow_http,
        nets=ctx.settings.webhook_allow_nets,
        max_concurrency=max_concurrency,
        clear_max_concurrency=no_max_concurrency,
        rate_limit=rate_limit,
        clear_rate_limit=no_rate_limit,
    )
    ctx.out.item(data) if ctx.out.json else ctx.out.success(f"updated {data['id']} ({data['name']})")


@app.command("delete")
def delete(webhook: WebhookRef, force: Force = False) -> None:
    """Delete a webhook with its history; refuses while deliveries are queued unless --force.

    Example: zigznote --org acme webhooks delete wh_01JD… --force
    """
    from zigznote.services import webhooks

    ctx = get_app()
    data = webhooks.delete(ctx.db(), ctx.org_ref(), webhook, force=force)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(
            f"deleted {data['id']} with {plural(data['deliveries'], 'delivery')} "
            f"and {plural(data['attempts'], 'attempt')}"
        )


@app.command("enable")
def enable(webhook: WebhookRef) -> None:
    """Enable a webhook: end its failure streak and release its held deliveries.

    Example: zigznote --org acme webhooks enable wh_01JD…
    """
    from zigznote.services import webhooks

    ctx = get_app()
    data = webhooks.enable(ctx.db(), ctx.org_ref(), webhook)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(
            f"enabled {data['id']}; {plural(data['released'], 'held delivery', 'held deliveries')} released"
        )


@app.command("disable")
def disable(
    webhook: WebhookRef,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded and shown).")] = None,
) -> None:
    """Disable a webhook; its queued deliveries are held (not dropped) until it is enabled.

    Example: zigznote --org acme webhooks disable wh_01JD… --reason "endpoint migration"
    """
    from zigznote.services import webhooks

    ctx = get_app()
    data = webhooks.disable(ctx.db(), ctx.org_ref(), webhook, reason=reason)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(f"disabled {data['id']} ({data['disabled_reason']}); {plural(data['held'], 'delivery')} held")


@app.command("health")
def health(
    webhook: Annotated[
        str | None,
        typer.Argument(metavar="[WEBHOOK]", help="Webhook ID or name (default: every webhook of the org)."),
    ] = None,
    since: Since = None,
    limit: Limit = 50,
) -> None:
    """List endpoint health events, newest first: disabled, enabled, recovered.

    Example: zigznote --org acme webhooks health crm --since 7d
    """
    from zigznote.services import webhooks

    ctx = get_app()
    rows = webhooks.endpoint_events(ctx.db(), ctx.org_ref(), webhook, since=since, limit=limit)
    events_table(ctx.out, rows)


@app.command("rotate-secret")
def rotate_secret(
    webhook: WebhookRef,
    grace: Annotated[
        str, typer.Option("--grace", help="How long the old secret keeps signing too (0: stop at once).")
    ] = "24h",
) -> None:
    """Replace the signing secret; during --grace both secrets sign. Prints the new one once.

    Example: zigznote --org acme webhooks rotate-secret wh_01JD… --grace 48h
    """
    from zigznote.services import webhooks

    ctx = get_app()
    org = ctx.org_ref()
    vault = ctx.vault()
    data = webhooks.rotate_secret(ctx.db(), vault, org, webhook, grace=grace)
    if ctx.out.json:
        ctx.out.item(data)
        return
    ctx.out.item(data, fields=[("id", "id"), ("secret", "secret"), ("previous_secret_expires_at", "old secret until")])
    ctx.out.notice("store the new secret now: it is not shown again (only `webhooks show --show-secret`)")


# One `webhooks` group: the delivery and receiver commands live in their own modules.
webhooks_deliveries.register(app)
webhooks_tools.register(app)
