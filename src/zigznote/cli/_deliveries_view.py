"""What `webhooks deliveries|attempts|retry|replay` and `jobs list|attempts|retry|replay` show
the same way: the status filter, the attempt table and the line after a retry or replay.
Webhook deliveries and integration jobs are rows of one table with one attempt history."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zigznote.cli._context import get_app

StatusFilter = Annotated[str | None, typer.Option("--status", help="pending, delivering, succeeded, failed or held.")]

ATTEMPT_COLUMNS = [
    ("attempt_number", "#"),
    ("trigger", "trigger"),
    ("attempted_at", "time"),
    ("duration_ms", "ms"),
    ("status_code", "code"),
    ("error", "error"),
]


def show_attempts(rows: list[dict[str, Any]]) -> None:
    """Print attempt rows (oldest first, as the services return them) as a table or JSON."""
    get_app().out.items(rows, ATTEMPT_COLUMNS, empty="no attempts yet")


def show_queued(data: dict[str, Any], *, held: str, queued: str) -> None:
    """Print the result of a retry or replay (``data`` has a boolean ``held``): ``data`` as is
    with --json; otherwise the warning ``held`` when the work was held, else the success
    line ``queued``."""
    out = get_app().out
    if out.json:
        out.item(data)
    elif data["held"]:
        out.warn(held)
    else:
        out.success(queued)
