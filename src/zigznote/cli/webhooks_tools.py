"""`zigznote webhooks verify` and `listen`: the receiver's side, no database. Registered on
the one `webhooks` group by ``cli/webhooks.py``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zigznote.cli._context import get_app


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
    out.stop_on_broken_pipe()  # `listen | head`: stop like Ctrl-C, then exit 141

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


def register(app: typer.Typer) -> None:
    """Add these commands to the `webhooks` group."""
    app.command("verify")(verify)
    app.command("listen")(listen)
