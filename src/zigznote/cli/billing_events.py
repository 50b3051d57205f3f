"""`zigznote billing serve` and `billing events ingest | list | show | replay`: inbound provider events."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from zigznote.cli._context import AppContext, get_app
from zigznote.cli._options import Limit, Since
from zigznote.cli._output import Column
from zigznote.cli.billing_common import OnlyProvider, Provider, group

events_app = group("Inbound provider events (webhooks): ingest one, list, show, replay.")

#: The list: type and status first, so 80 columns keep them beside a long type
#: (``customer.subscription.updated``), then the provider's event ID (`events show` and
#: `replay` take it); our ``pev_`` ID is in --json and in `events show`.
EVENT_COLUMNS: list[Column] = [
    ("type", "type"),
    ("status", "status"),
    ("provider_event_id", "provider ID"),
    ("received_at", "received"),
    ("provider", "provider"),
    ("attempts", "attempts"),
    ("reason", "error / note"),
]
EVENT_FIELDS: list[Column] = [
    ("id", "id"),
    ("provider", "provider"),
    ("provider_event_id", "provider ID"),
    ("type", "type"),
    ("object_type", "object"),
    ("object_id", "object ID"),
    ("livemode", "live"),
    ("organization", "organization"),
    ("status", "status"),
    ("error", "error"),
    ("note", "note"),
    ("attempts", "attempts"),
    ("created", "created"),
    ("received_at", "received"),
    ("processed_at", "processed"),
]


def _headers(values: list[str]) -> dict[str, str]:
    from zigznote.errors import InvalidInput

    headers: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise InvalidInput(f"invalid --header {value!r}", hint="use NAME:VALUE, e.g. verif-hash:abc", code="usage")
        headers[name.strip()] = rest.strip()
    return headers


def _outcome_line(data: dict[str, Any]) -> str:
    what = f"{data['provider_event_id']} ({data['type']})"
    if data["outcome"] == "duplicate":
        return f"{what}: already applied ({data['id']})"
    note = f": {data['note']}" if data["outcome"] == "ignored" and data["note"] else ""
    return f"{what}: {data['outcome']}{note} ({data['id']})"


def _raise_failed(data: dict[str, Any]) -> None:
    from zigznote.errors import ProviderError

    raise ProviderError(
        f"event {data['provider_event_id']} ({data['type']}) is stored but could not be applied: {data['error']}",
        hint=f"`zigznote billing events replay {data['id']}` once the cause is fixed (the provider also retries)",
        code="event_failed",
    )


@events_app.command("ingest")
def ingest(
    provider: Provider = None,
    signature: Annotated[
        str | None,
        typer.Option("--signature", metavar="VALUE", help="The provider's signature header (Stripe-Signature …)."),
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", metavar="NAME:VALUE", help="A request header (repeatable).")
    ] = None,
    body_file: Annotated[
        str | None, typer.Option("--body-file", metavar="FILE", help="The raw body (default: stdin).")
    ] = None,
) -> None:
    """Verify, store and apply one webhook body from another receiver (exit 7: bad signature).

    The body must be the exact bytes the provider sent. Exit 5 when it is stored but a
    handler failed (replay it later), 0 for processed, ignored or an event already applied.

    Example: zigznote billing events ingest --provider stripe --signature "$STRIPE_SIGNATURE" < body.json
    """
    from zigznote.billing import events
    from zigznote.cli._input import read_source
    from zigznote.errors import InvalidInput
    from zigznote.services.billing import events as service
    from zigznote.services.billing._common import provider_name

    ctx = get_app()
    name = provider_name(ctx.settings, provider)
    headers = _headers(header or [])
    if signature is not None:
        header_name = events.signature_header(name)
        if header_name is None:
            raise InvalidInput(
                f"the {name} provider names no signature header", hint="pass it as --header NAME:VALUE", code="usage"
            )
        headers[header_name] = signature
    payload = read_source(body_file or "-")
    data = service.ingest(ctx.db(), ctx.settings, provider=name, payload=payload, headers=headers)
    if data["outcome"] == "failed":
        _raise_failed(data)
    if ctx.out.json:
        ctx.out.item(data)
    else:
        ctx.out.success(_outcome_line(data))


@events_app.command("list")
def list_(
    status: Annotated[str | None, typer.Option("--status", help="processed, ignored, failed or received.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only this event type (invoice.paid).")] = None,
    since: Since = None,
    provider: OnlyProvider = None,
    limit: Limit = 50,
) -> None:
    """List stored provider events, newest first.

    Example: zigznote billing events list --status failed --since 24h
    """
    from zigznote.services.billing import events as service

    ctx = get_app()
    rows = service.list_events(ctx.db(), status=status, type_=type_, since=since, provider=provider, limit=limit)
    if ctx.out.json:
        ctx.out.items(rows, EVENT_COLUMNS)
        return
    shown = [{**r, "reason": r["error"] or r["note"]} for r in rows]
    ctx.out.items(shown, EVENT_COLUMNS, empty="no provider events")


@events_app.command("show")
def show(
    event: Annotated[str, typer.Argument(metavar="EVENT", help="Our ID (pev_…) or the provider's (evt_…).")],
    raw: Annotated[bool, typer.Option("--raw", help="Also the payload as stored.")] = False,
    provider: OnlyProvider = None,
) -> None:
    """Show one stored event: status, error, and (--raw) its payload.

    Example: zigznote billing events show evt_1SZkBD… --raw
    """
    from zigznote.services.billing import events as service

    ctx = get_app()
    data = service.show_event(ctx.db(), event, provider=provider, payload=raw)
    if ctx.out.json:
        ctx.out.item(data)
        return
    org = f"{data['org']} ({data['org_id']})" if data.get("org") else data["org_id"]
    ctx.out.item({**data, "organization": org}, fields=EVENT_FIELDS)
    if raw:
        _print_payload(ctx, data["payload"])


def _print_payload(ctx: AppContext, text: str) -> None:
    from zigznote.cli._output import dumps
    from zigznote.errors import InvalidInput
    from zigznote.untrusted import load_json

    try:  # indented for reading; dumps escapes what a terminal could act on
        shown = dumps(load_json(text, where="stored event payload"))
    except InvalidInput:
        shown = text
    for line in shown.splitlines():
        ctx.out.raw(line)


@events_app.command("replay")
def replay(
    event: Annotated[
        str | None, typer.Argument(metavar="[EVENT]", help="Our ID (pev_…) or the provider's (evt_…).")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed event (oldest first).")] = False,
    provider: OnlyProvider = None,
) -> None:
    """Apply stored events again through the same handlers (idempotent): one, or every failed one.

    Exit 5 when one still fails. Side effects of an event already processed are not repeated.

    Example: zigznote billing events replay --failed
    """
    from zigznote.errors import ProviderError
    from zigznote.services.billing import events as service
    from zigznote.wording import plural

    ctx = get_app()
    data = service.replay(ctx.db(), ctx.settings, ref=event, failed=failed, provider=provider)
    still = [e for e in data["events"] if e["outcome"] == "failed"]
    if still:
        first = still[0]
        raise ProviderError(
            f"{len(still)} of {plural(data['replayed'], 'event')} failed again; first: "
            f"{first['provider_event_id']} ({first['type']}): {first['error']}",
            hint="`zigznote billing events list --status failed` shows them",
            code="event_failed",
        )
    if ctx.out.json:
        ctx.out.item(data)
        return
    for item in data["events"]:
        ctx.out.notice(_outcome_line(item))
    ctx.out.success(
        f"replayed {plural(data['replayed'], 'event')}: {data['processed']} processed, {data['ignored']} ignored, "
        f"{data['duplicate']} already applied"
    )


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 picks a free one).")] = 8790,
    grace: Annotated[str, typer.Option("--grace", help="How long requests in flight may finish on stop.")] = "30s",
) -> None:
    """Receive payment providers' webhooks over HTTP until SIGINT/SIGTERM.

    POST /billing/webhooks/stripe (and /flutterwave once registered), GET /healthz. One access
    line per request: JSON when stdout is not a terminal (or with --json).

    Example: zigznote billing serve --host 0.0.0.0 --port 8790
    """
    from zigznote.services.billing import events as service
    from zigznote.timeutil import parse_duration

    ctx = get_app()
    out = ctx.out
    out.stop_on_broken_pipe()  # `serve | head`: stop like SIGTERM, then exit 141
    as_json = out.json or not sys.stdout.isatty()

    def on_request(record: dict[str, Any]) -> None:
        if as_json:
            out.line(record)
            return
        tail = " ".join(str(record[k]) for k in ("provider", "event", "outcome") if record.get(k))
        why = f" ({record['reason']})" if record.get("reason") else ""
        out.raw(
            f"{record['time']} {record['method']} {record['path']} → {record['status']} {record['ms']}ms {tail}{why}"
        )

    def on_ready(url: str, states: list[dict[str, Any]]) -> None:
        out.notice(f"listening on {url} (Ctrl-C to stop)")
        for state in states:
            status = "ready" if state["ready"] else f"not configured: {state['problem']}"
            out.notice(f"  POST {state['path']}: {status}")

    service.serve(
        ctx.db(), ctx.settings, host=host, port=port, grace=parse_duration(grace),
        on_request=on_request, on_ready=on_ready,
    )  # fmt: skip
    out.notice("stopped")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``events`` group to ``billing``."""
    app.command("serve")(serve)
    app.add_typer(events_app, name="events")
