"""The live terminal panel of `worker run` (only when stdout is a terminal)."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from zigznote.untrusted import for_terminal


class LivePanel:
    def __init__(self, console: Console, db: Any) -> None:
        self.console = console
        self.db = db
        self.counts = {"delivered": 0, "retrying": 0, "failed": 0, "held": 0, "disabled": 0}
        self.started = time.monotonic()
        self.last: list[str] = []
        self.queue_depth: int | None = None
        # Each endpoint's adaptive concurrency level, as the engine reports changes.
        self.levels: dict[str, int] = {}
        # get_renderable: Live re-renders 4 times a second by itself; rendering per event
        # would cost more than the delivery it reports.
        self._live = Live(get_renderable=self._render, console=console, refresh_per_second=4, transient=False)
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
        if self.levels:
            busiest = sorted(self.levels.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            table.add_row("concurrency", ", ".join(f"{w} {n}" for w, n in busiest))
        for line in self.last[-5:]:
            # Error texts come from receivers: shown escaped, never as markup (see untrusted.py).
            table.add_row("", Text(for_terminal(line)))
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
            # The reason says how many attempts failed over how long (queue/health.py).
            reason = event.get("reason")
            self.last.append(f"disabled {event['webhook']}" + (f": {reason}" if reason else ""))
        elif kind == "concurrency":
            self.levels.update(event["levels"])
        del self.last[:-5]  # only the last five are shown

    def start(self) -> None:
        self._live.start()
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        self._live.stop()
