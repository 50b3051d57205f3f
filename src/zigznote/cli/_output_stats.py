"""Drawing `webhooks stats` for people: a summary, a latency histogram and a timeline.

Part of the output layer (see ``_output.py``): the command fetches the numbers, this module
draws them. Values go through ``Output.item`` or become Rich ``Text``, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zigznote.cli._charts import bar, sparkline
from zigznote.cli._output import Output
from zigznote.untrusted import for_terminal

_PERCENTILES = ("p50", "p95", "max")


def _summary(data: Mapping[str, Any]) -> dict[str, Any]:
    rate = data["success_rate"]
    latency = data["latency_ms"]
    codes = ", ".join(
        f"{c['status'] if c['status'] is not None else 'no response'}: {c['count']}" for c in data["status_codes"]
    )
    return {
        "webhook": data["webhook_id"],
        "window": f"{data['since']} → {data['until']}",
        "attempts": data["attempts"],
        "succeeded": data["succeeded"],
        "failed": data["failed"],
        "success rate": f"{rate * 100:.1f}%" if rate is not None else "-",
        "latency p50 / p95 / max": " / ".join("-" if latency[k] is None else f"{latency[k]} ms" for k in _PERCENTILES),
        "status codes": codes or "-",
    }


def webhook_stats(out: Output, data: Mapping[str, Any]) -> None:
    """Draw the result of ``services.stats.webhook_stats`` (its dict shape) on ``out``."""
    from rich.table import Table
    from rich.text import Text

    out.item(_summary(data))
    top = max((b["count"] for b in data["histogram"]), default=0)
    table = Table(title="latency", show_header=False, box=None, pad_edge=False)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    for b in data["histogram"]:
        table.add_row(Text(for_terminal(str(b["bucket"]))), Text(str(b["count"])), Text(bar(b["count"], top)))
    out.print(table)
    timeline = data["timeline"]
    volume = sparkline([t["attempts"] for t in timeline])
    # Success is on an absolute 0-100% scale: a steady 50% must not look like a full bar.
    success = sparkline([t["succeeded"] / t["attempts"] if t["attempts"] else None for t in timeline], top=1.0)
    out.print(Text(f"attempts     {volume}"))
    out.print(
        Text(
            f"success rate {success}  (blank: no attempts; {len(timeline)} buckets from {for_terminal(data['since'])})"
        )
    )
