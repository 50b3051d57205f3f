"""What a worker did: counters for the summary, and the top failure reasons per lane."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Bounds on what a long-running worker remembers about failures: distinct reasons per
# lane and characters per reason (reasons carry receiver-chosen text).
MAX_REASONS_PER_LANE = 20
MAX_REASON_CHARS = 200
MAX_LANES_TRACKED = 1000


@dataclass
class Stats:
    """Counters of one worker run. ``poison``: attempts that failed inside the worker
    (the body could not be built, signing failed, a handler raised, an endpoint's
    secret could not be decrypted) rather than at the receiver; they are also counted
    in ``retrying``/``failed``/``held``."""

    started: float = field(default_factory=time.monotonic)
    attempts: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0
    released: int = 0
    disabled_webhooks: int = 0
    poison: int = 0
    in_flight: int = 0
    # lane (webhook ID or job kind) → reason → count of failed attempts
    failures: dict[str, Counter[str]] = field(default_factory=dict)

    def rate(self) -> float:
        """Delivered per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.delivered / elapsed if elapsed > 0 else 0.0

    def failure(self, lane: str, reason: str) -> None:
        """Count one failed attempt of ``lane`` with ``reason`` (bounded memory)."""
        reasons = self.failures.get(lane)
        if reasons is None:
            if len(self.failures) >= MAX_LANES_TRACKED:
                return
            reasons = self.failures[lane] = Counter()
        reason = reason[:MAX_REASON_CHARS]
        if reason in reasons or len(reasons) < MAX_REASONS_PER_LANE:
            reasons[reason] += 1
        else:
            reasons["(other reasons)"] += 1

    def top_failures(self, lanes: int = 5, reasons: int = 3) -> list[dict[str, Any]]:
        """The lanes with the most failed attempts, each with its commonest reasons:
        ``[{"lane": id, "failures": n, "reasons": [{"reason": text, "count": n}, …]}, …]``."""
        ranked = sorted(self.failures.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:lanes]
        return [
            {
                "lane": lane,
                "failures": sum(counts.values()),
                "reasons": [{"reason": r, "count": n} for r, n in counts.most_common(reasons)],
            }
            for lane, counts in ranked
        ]

    def as_dict(self) -> dict[str, Any]:
        """The summary (JSON-ready)."""
        return {
            "attempts": self.attempts,
            "delivered": self.delivered,
            "retrying": self.retrying,
            "failed": self.failed,
            "held": self.held,
            "released": self.released,
            "disabled_webhooks": self.disabled_webhooks,
            "poison": self.poison,
            "seconds": round(time.monotonic() - self.started, 3),
            "rate_per_second": round(self.rate(), 1),
            "top_failures": self.top_failures(),
        }
