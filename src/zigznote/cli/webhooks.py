"""`zigznote webhooks`: customer endpoints, their secrets, deliveries and receiver tools."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zigznote.cli._context import get_app
from zigznote.cli._options import Force, Limit, ShowSecret, Since

app = typer.Typer(
    help="Manage outbound webhooks and inspect their deliveries.", no_args_is_help=True, rich_markup_mode=None
)

WebhookRef = Annotated[str, typer.Argument(metavar="WEBHOOK", help="Webhook ID (wh_…) or its unique name.")]
DeliveryRef = Annotated[str, typer.Argument(metavar="DELIVERY", help="Delivery ID (msg_…).")]
Headers = Annotated[
    list[str] | None,
    typer.Option("--header", "-H", metavar="'NAME: VALUE'", help="Custom header sent with every delivery (repeat)."),
]
AllowHttp = Annotated[
    bool, typer.Option("--allow-http", help="Accept a plain http:// URL (the address must still be public).")
]

COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("url", "url"),
    ("events", "events"),
    ("enabled", "enabled"),
    ("consecutive_failures", "failures"),
]
DELIVERY_COLUMNS = [
    ("id", "id"),
    ("event_type", "event"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("last_status_code", "last code"),
    ("next_attempt_at", "next attempt"),
    ("created_at", "created"),
]
ATTEMPT_COLUMNS = [
    ("attempt_number", "#"),
    ("trigger", "trigger"),
    ("attempted_at", "time"),
    ("duration_ms", "ms"),
    ("status_code", "code"),
    ("error", "error"),
]
SHOW_FIELDS = [
    ("id", "id"),
    ("name", "name"),
    ("description", "description"),
    ("url", "url"),
    ("events", "events"),
    ("enabled", "enabled"),
    ("disabled_reason", "disabled reason"),
    ("disabled_at", "disabled at"),
    ("consecutive_failures", "consecutive failures"),
    ("has_headers", "custom headers"),
    ("has_previous_secret", "previous secret"),
    ("previous_secret_expires_at", "previous until"),
    ("created_at", "created"),
    ("updated_at", "updated"),
]


def _counts(value: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in (value or {}).items())


def _headers(value: Any) -> str:
    return "; ".join(f"{k}: {v}" for k, v in (value or {}).items()) or "-"


@app.command("list")
def list_() -> None:
    """List the organization's webhooks.

    Example: zigznote --org acme webhooks list
    """
    from zigznote.services import webhooks

    ctx = get_app()
    ctx.out.items(webhooks.list_webhooks(ctx.db(), ctx.org_ref()), COLUMNS, empty="no webhooks yet")


@app.command("create")
def create(
    url: Annotated[str, typer.Option("--url", help="Endpoint URL (https; checked against the SSRF guard).")],
    events: Annotated[str, typer.Option("--events", help="Comma-separated event types, or * for all.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the URL's host).")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Free text.")] = None,
    header: Headers = None,
    allow_http: AllowHttp = False,
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
    )
    if ctx.out.json:
        ctx.out.item(data)
        return
    ctx.out.item(data, fields=[*COLUMNS[:5], ("secret", "secret")])
    ctx.out.notice("store the secret now: it is not shown again (only `webhooks show --show-secret`)")


@app.command("show")
def show(webhook: WebhookRef, show_secret: ShowSecret = False) -> None:
    """Show a webhook: state, failures, delivery counts; secrets only with --show-secret.

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
    fields: list[Any] = [*SHOW_FIELDS, ("deliveries", "deliveries", _counts)]
    if show_secret:
        fields += [("secret", "secret"), ("previous_secret", "previous secret"), ("headers", "headers", _headers)]
    ctx.out.item(data, fields=fields)


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
) -> None:
    """Change a webhook's URL, events, name, description or custom headers.

    Example: zigznote --org acme webhooks update wh_01JD… --events '*' --header "X-Team: ops"
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
        ctx.out.success(f"deleted {data['id']} with {data['deliveries']} deliveries and {data['attempts']} attempts")


@app.command("enable")
def enable(webhook: WebhookRef) -> None:
    """Enable a webhook: reset its failure count and release its held deliveries.

    Example: zigznote --org acme webhooks enable wh_01JD…
    """
    from zigznote.services import webhooks

    ctx = get_app()
    data = webhooks.enable(ctx.db(), ctx.org_ref(), webhook)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(f"enabled {data['id']}; {data['released']} held deliveries released")


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
        ctx.out.success(f"disabled {data['id']} ({data['disabled_reason']}); {data['held']} deliveries held")


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


@app.command("test")
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
            hint="`zigznote webhooks attempts " + data["delivery_id"] + "` shows the recorded attempt",
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


@app.command("deliveries")
def deliveries(
    webhook: WebhookRef,
    status: Annotated[
        str | None, typer.Option("--status", help="pending, delivering, succeeded, failed or held.")
    ] = None,
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


@app.command("attempts")
def attempts(delivery: DeliveryRef) -> None:
    """List every attempt of one delivery: time, duration, status code, error.

    Example: zigznote --org acme webhooks attempts msg_01JD…
    """
    from zigznote.services import webhooks

    ctx = get_app()
    rows = webhooks.list_attempts(ctx.db(), ctx.org_ref(), delivery)
    ctx.out.items(rows, ATTEMPT_COLUMNS, empty="no attempts yet")


@app.command("retry")
def retry(delivery: DeliveryRef, force: Annotated[
    bool, typer.Option("--force", help="Also re-send a succeeded delivery or one in flight.")
] = False) -> None:
    """Queue one delivery again now, with a fresh retry schedule.

    Example: zigznote --org acme webhooks retry msg_01JD…
    """
    from zigznote.services import webhooks

    ctx = get_app()
    data = webhooks.retry(ctx.db(), ctx.org_ref(), delivery, force=force)
    if ctx.out.json:
        ctx.out.item(data)
    elif data["held"]:
        ctx.out.warn(f"webhook {data['webhook_id']} is disabled: {data['id']} is held until `webhooks enable`")
    else:
        ctx.out.success(f"queued {data['id']} (was {data['previous_status']})")


@app.command("replay")
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
    if ctx.out.json:
        ctx.out.item(data)
    elif data["held"]:
        ctx.out.warn(f"webhook {data['webhook_id']} is disabled: {data['replayed']} deliveries held until enabled")
    else:
        ctx.out.success(f"queued {data['replayed']} deliveries of {data['webhook_id']} again")


@app.command("verify")
def verify(
    secret: Annotated[
        str,
        typer.Option(
            "--secret",
            envvar="ZIGZNOTE_WEBHOOK_SECRET",
            help="The endpoint's whsec_… secret (@file reads it from a file).",
        ),
    ],
    headers_file: Annotated[
        str | None,
        typer.Option("--headers-file", metavar="FILE", help="'Name: value' lines or a JSON object."),
    ] = None,
    msg_id: Annotated[str | None, typer.Option("--id", help="webhook-id header.")] = None,
    timestamp: Annotated[str | None, typer.Option("--timestamp", help="webhook-timestamp header.")] = None,
    signature: Annotated[str | None, typer.Option("--signature", help="webhook-signature header.")] = None,
    body_file: Annotated[
        str | None, typer.Option("--body-file", metavar="FILE", help="The raw body (default: stdin).")
    ] = None,
    tolerance: Annotated[int, typer.Option("--tolerance", help="Accepted clock skew in seconds.")] = 300,
) -> None:
    """Check a received payload's signature like a receiver would; exit 7 if it is not valid.

    Example: zigznote webhooks verify --secret whsec_… --headers-file headers.txt --body-file body.json
    """
    from zigznote.cli._input import read_inline, read_source
    from zigznote.errors import InvalidInput
    from zigznote.services import webhooks

    ctx = get_app()
    flags = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    given = {k: v for k, v in flags.items() if v is not None}
    if headers_file is not None and given:
        raise InvalidInput("pass either --headers-file or --id/--timestamp/--signature, not both", code="usage")
    if headers_file is None and len(given) < 3:
        raise InvalidInput(
            "the message headers are missing",
            hint="pass --headers-file FILE, or all of --id, --timestamp and --signature",
            code="missing_headers",
        )
    if headers_file == "-" and (body_file or "-") == "-":
        raise InvalidInput("headers and body cannot both come from stdin", hint="pass --body-file", code="usage")
    headers = webhooks.parse_headers_text(read_source(headers_file)) if headers_file is not None else given
    key = read_inline(secret).decode("utf-8", "replace").strip()
    data = webhooks.verify(key, headers, read_source(body_file or "-"), tolerance=tolerance)
    ctx.out.item(data) if ctx.out.json else ctx.out.raw("valid")


@app.command("listen")
def listen(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 picks a free one).")] = 8787,
    path: Annotated[str | None, typer.Option("--path", help="Serve only this path (others get 404).")] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", envvar="ZIGZNOTE_WEBHOOK_SECRET", help="Check signatures with this.")
    ] = None,
    status: Annotated[int, typer.Option("--status", help="Status to answer with.")] = 200,
    fail_rate: Annotated[
        float, typer.Option("--fail-rate", help="Fraction 0-1 of requests answered with --fail-status.")
    ] = 0.0,
    fail_status: Annotated[int, typer.Option("--fail-status", help="Status of simulated failures.")] = 500,
    delay: Annotated[str | None, typer.Option("--delay", help="Wait before answering: 500ms, 2s.")] = None,
    reject_invalid: Annotated[
        bool, typer.Option("--reject-invalid", help="Answer 401 to a bad signature, like a real receiver.")
    ] = False,
    tolerance: Annotated[int, typer.Option("--tolerance", help="Accepted clock skew in seconds.")] = 300,
) -> None:
    """Run a local receiver that prints every delivery it gets (Ctrl-C stops it).

    Example: zigznote webhooks listen --port 8787 --secret whsec_… --fail-rate 0.3
    """
    from zigznote.services import webhooks

    ctx = get_app()
    out = ctx.out

    def on_event(event: dict[str, Any]) -> None:
        if out.json:
            out.line(event)
            return
        sig = "" if event["signature"] == "unchecked" else f" sig={event['signature']}"
        why = f" ({event['reason']})" if event["reason"] else ""
        out.raw(
            f"{event['time']} {event['method']} {event['path']} {event['webhook_id'] or '-'} "
            f"{event['event_type'] or '-'} {event['size']}B{sig} → {event['status']}{why}"
        )

    webhooks.listen(
        host=host,
        port=port,
        path=path,
        secret=read_secret(secret),
        status=status,
        fail_rate=fail_rate,
        fail_status=fail_status,
        delay=delay,
        reject_invalid=reject_invalid,
        tolerance=tolerance,
        on_event=on_event,
        on_ready=lambda url: out.notice(f"listening on {url} (Ctrl-C to stop)"),
    )
    out.notice("stopped")


def read_secret(value: str | None) -> str | None:
    if value is None:
        return None
    from zigznote.cli._input import read_inline

    return read_inline(value).decode("utf-8", "replace").strip()


@app.command("stats")
def stats(
    webhook: WebhookRef,
    since: Annotated[str, typer.Option("--since", help="Window: a duration (24h, 7d) or a date.")] = "24h",
) -> None:
    """Show delivery statistics: success rate, latency percentiles and histogram, timeline.

    Example: zigznote --org acme webhooks stats wh_01JD… --since 7d
    """
    from rich.table import Table
    from rich.text import Text

    from zigznote.cli._charts import bar, sparkline
    from zigznote.services import stats as stats_service

    ctx = get_app()
    data = stats_service.webhook_stats(ctx.db(), ctx.org_ref(), webhook, since=since)
    if ctx.out.json:
        ctx.out.item(data)
        return
    rate = data["success_rate"]
    latency = data["latency_ms"]
    codes = ", ".join(
        f"{c['status'] if c['status'] is not None else 'no response'}: {c['count']}" for c in data["status_codes"]
    )
    percentiles = ("p50", "p95", "max")
    summary = {
        "webhook": data["webhook_id"],
        "window": f"{data['since']} → {data['until']}",
        "attempts": data["attempts"],
        "succeeded": data["succeeded"],
        "failed": data["failed"],
        "success rate": f"{rate * 100:.1f}%" if rate is not None else "-",
        "latency p50 / p95 / max": " / ".join("-" if latency[k] is None else f"{latency[k]} ms" for k in percentiles),
        "status codes": codes or "-",
    }
    ctx.out.item(summary)
    top = max((b["count"] for b in data["histogram"]), default=0)
    table = Table(title="latency", show_header=False, box=None, pad_edge=False)
    table.add_column(justify="right")
    table.add_column(justify="right")
    table.add_column()
    for b in data["histogram"]:
        table.add_row(b["bucket"], str(b["count"]), bar(b["count"], top))
    ctx.out.print(table)
    timeline = data["timeline"]
    volume = sparkline([t["attempts"] for t in timeline])
    # Success is on an absolute 0-100% scale: a steady 50% must not look like a full bar.
    success = sparkline([t["succeeded"] / t["attempts"] if t["attempts"] else None for t in timeline], top=1.0)
    ctx.out.print(Text(f"attempts     {volume}"))
    ctx.out.print(Text(f"success rate {success}  (blank: no attempts; {len(timeline)} buckets from {data['since']})"))
