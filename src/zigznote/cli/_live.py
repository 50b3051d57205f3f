"""The live terminal panel of `worker run` (only when stdout is a terminal)."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table


class LivePanel:
    def __init__(self, console: Console, db: Any) -> None:
        self.console = console
        self.db = db
        self.counts = {"delivered": 0, "retrying": 0, "failed": 0, "held": 0, "disabled": 0}
        self.started = time.monotonic()
        self.last: list[str] = []
        self.queue_depth: int | None = None
        self._live = Live(self._render(), console=console, refresh_per_second=4, transient=False)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_depth, daemon=True)

    def _poll_depth(self) -> None:
        from zigznote.delivery.queue import due_count
        from zigznote.timeutil import utcnow

        while not self._stop.wait(2.0):
            try:
                self.queue_depth = due_count(self.db.engine, now=utcnow())
            except Exception:
                self.queue_depth = None

    def _render(self) -> Table:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        table = Table(title="zigznote worker", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in self.counts.items():
            table.add_row(key, str(value))
        table.add_row("rate", f"{self.counts['delivered'] / elapsed:.1f}/s")
        table.add_row("due now", "…" if self.queue_depth is None else str(self.queue_depth))
        for line in self.last[-5:]:
            table.add_row("", line)
        return table

    def handle(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "attempt":
            outcome = {"succeeded": "delivered", "pending": "retrying"}.get(event["outcome"], event["outcome"])
            if outcome in self.counts:
                self.counts[outcome] += 1
            if outcome != "delivered":
                self.last.append(f"{event['delivery']} → {event['error'] or event['status_code']} ({outcome})")
        elif kind == "webhook_disabled":
            self.counts["disabled"] += 1
            self.last.append(f"disabled {event['webhook']}")
        self._live.update(self._render())

    def start(self) -> None:
        self._live.start()
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        self._live.stop()
