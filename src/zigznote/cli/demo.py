"""`zigznote demo`: the main job end to end on a throw-away installation."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zigznote.cli._output import Output

NEXT_STEPS = (
    "try next:",
    "  zigznote demo --keep                  # keep this demo's store and look around in it",
    "  zigznote init --key-file ~/.local/share/zigznote/master.key   # your own installation",
    "  README.md, 'A first delivery, end to end': the same steps by hand, with your receiver",
)


def demo(
    ctx: typer.Context,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the demo's directory (database, key, config) and print its path.")
    ] = False,
) -> None:
    """Show the main job on a throw-away installation: events in, signed webhooks out, a retry.

    Creates a temporary org, a webhook to a local `webhooks listen` receiver that fails the
    first request, emits three meeting events, delivers them with the worker, and prints the
    delivery and attempt history. Offline; never touches your own database or key.

    Example: zigznote demo
    """
    from zigznote.errors import InvalidInput
    from zigznote.services import demo as demo_service

    root = ctx.find_root().obj
    out: Output = root.out
    if root.flags.get("db_url"):
        raise InvalidInput(
            "`demo` always runs on its own throw-away database; it does not take --db",
            hint="run `zigznote demo` without --db (`--keep` keeps its database for a look afterwards)",
            code="usage",
        )
    result = demo_service.run(keep=keep, step=out.notice)
    if out.json:
        out.item(result)
        return
    _render(out, result)


def _render(out: Output, result: dict[str, Any]) -> None:
    """The history for people: deliveries, every attempt, what the receiver saw, next steps."""
    deliveries = result["deliveries"]
    by_id = {d["id"]: d["event_type"] for d in deliveries}
    out.items(
        deliveries,
        [("event_type", "event"), ("id", "delivery"), ("status", "status"), ("attempts", "attempts")],
        title=f"deliveries to {result['webhook']['name']} ({result['receiver_url']})",
    )
    attempts = [
        {**a, "event_type": by_id.get(a["delivery_id"]), "result": a["status_code"] or a["error"]}
        for d in deliveries
        for a in d["attempts_log"]
    ]
    out.items(
        attempts,
        [
            ("event_type", "event"),
            ("attempt_number", "#"),
            ("attempted_at", "attempted_at"),
            ("result", "status"),
            ("duration_ms", "ms"),
        ],
        title="attempts",
    )
    out.items(
        result["received"],
        [("time", "received_at"), ("event_type", "event"), ("signature", "signature"), ("status", "answered")],
        title="what the receiver saw",
    )
    retried = [d for d in deliveries if d["attempts"] > 1]
    valid = sum(1 for r in result["received"] if r["signature"] == "valid")
    out.success(
        f"{len(deliveries)} events delivered, {len(retried)} after a retry; the receiver checked "
        f"{valid} of {len(result['received'])} signatures as valid ({result['seconds']} s)"
    )
    if result["workdir"]:
        out.notice(f"kept in {result['workdir']}; look at it with:")
        out.notice(f"  ZIGZNOTE_CONFIG={result['config']} zigznote --org demo webhooks deliveries receiver")
    for line in NEXT_STEPS:
        if not (result["workdir"] and "demo --keep" in line):  # already kept: not a next step
            out.notice(line)


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)
