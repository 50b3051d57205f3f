"""Drawing endpoint health for people: failing webhooks and endpoint events as tables.

Used by `webhooks list --failing`, `webhooks show`, `webhooks health`, and meant for the
`status` command's human output (its JSON carries the same rows as ``failing_webhooks`` and
``endpoint_events``). Values go through ``Output.items``, which escapes untrusted text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zigznote.cli._output import Output

# Most telling first: on a narrow terminal the rightmost columns are left out, and the reason
# says "disabled: …" itself, so `enabled` and the adaptive level can go before it.
FAILING_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("failing_since", "failing since"),
    ("consecutive_failures", "failures"),
    ("reason", "last reason"),
    ("enabled", "enabled"),
    ("concurrency_level", "level"),
]
EVENT_COLUMNS = [
    ("created_at", "time"),
    ("webhook_name", "webhook"),
    ("type", "event"),
    ("reason", "reason"),
    ("failures", "failures"),
    ("streak_since", "streak since"),
]


def failure_text(value: Any) -> str:
    """A last failed attempt (``at, status_code, error``) as one line: its reason and when."""
    if not value:
        return "-"
    reason = value["error"] or (f"HTTP {value['status_code']}" if value["status_code"] is not None else "failed")
    return f"{reason} (at {value['at']})"


def reason_text(row: Mapping[str, Any]) -> str:
    """Why a webhook counts as failing: the disable reason, else its last failure."""
    failure = failure_text(row.get("last_failure"))
    if not row["enabled"]:
        return f"disabled: {row['disabled_reason'] or '-'}" + (f"; last: {failure}" if failure != "-" else "")
    return failure


def failing_table(out: Output, rows: Sequence[Mapping[str, Any]], *, title: str | None = None) -> None:
    """Failing webhooks (public webhook dicts with ``last_failure``); JSON: the rows as given."""
    shown = rows if out.json else [{**row, "reason": reason_text(row)} for row in rows]
    out.items(shown, FAILING_COLUMNS, title=title, empty="no webhook is disabled or failing")


def events_table(out: Output, rows: Sequence[Mapping[str, Any]], *, title: str | None = None) -> None:
    """Endpoint events, newest first."""
    out.items(rows, EVENT_COLUMNS, title=title, empty="no endpoint events")
