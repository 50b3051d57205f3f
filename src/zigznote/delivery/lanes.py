"""Lanes: fairness and per-endpoint limits inside one worker.

A lane is one webhook endpoint, or one kind of integration job. Claimed work beyond a
lane's limit waits in that lane's local backlog (it is leased to us already) and starts
as the lane's requests finish; a lane with a backlog, or at its limit, is left out of
the next claims, so a slow endpoint cannot starve the fast ones.

A webhook lane's limit is, in order:

1. one request while the endpoint is failing (a failure streak: one probe at a time,
   so it is disabled after exactly the configured number of failures);
2. otherwise its adaptive level (``adaptive.AdaptiveLimit``, per endpoint, kept across
   endpoint reloads), capped by the webhook's ``max_concurrency`` if set;
3. and starts are paced by the webhook's ``rate_limit`` (requests/s) if set.

Job lanes use the fixed ``per_endpoint`` limit.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable

from zigznote.delivery.adaptive import AdaptiveLimit, RateLimit, is_congestion
from zigznote.delivery.config import EngineConfig
from zigznote.delivery.endpoints import Endpoint
from zigznote.delivery.queue import Claimed
from zigznote.delivery.result import AttemptResult

# launch(claim, round): start one claim now; ``round`` is its adaptive round (0 for jobs).
Launch = Callable[[Claimed, int], None]


class Lanes:
    """Backlogs, in-flight counts and limits of every lane of one worker (event-loop only)."""

    def __init__(self, config: EngineConfig, endpoints: dict[str, Endpoint], launch: Launch) -> None:
        self.config = config
        self.endpoints = endpoints
        self._launch = launch
        self.backlog: dict[str, deque[tuple[Claimed, float]]] = {}
        self.backlog_size = 0
        self.inflight: dict[str, int] = {}
        self.levels: dict[str, AdaptiveLimit] = {}
        self._rates: dict[str, RateLimit] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._saved_levels: dict[str, int] = {}
        self.stopping = False
        # Set when a lane ran out of local work while it could take more: a claim that
        # left lanes out (saturated) is worth repeating only then (or after a poll).
        self.opened = False

    # -- limits ----------------------------------------------------------------
    def level(self, webhook_id: str) -> AdaptiveLimit:
        """The adaptive level of one endpoint (created at ``per_endpoint``)."""
        level = self.levels.get(webhook_id)
        if level is None:
            cfg = self.config
            level = self.levels[webhook_id] = AdaptiveLimit(cfg.per_endpoint, cfg.per_endpoint_max)
        return level

    def endpoint_limit(self, endpoint: Endpoint) -> int:
        """Requests this endpoint may have in flight now."""
        if endpoint.failures > 0:
            return 1
        limit = self.level(endpoint.id).level
        if endpoint.max_concurrency is not None:
            limit = min(limit, max(1, endpoint.max_concurrency))
        return limit

    def limit(self, claim: Claimed) -> int | None:
        """How many requests the claim's lane may have in flight; None if its work is void
        (the endpoint was deleted or disabled meanwhile)."""
        if claim.webhook_id is None:
            return self.config.per_endpoint
        endpoint = self.endpoints.get(claim.webhook_id)
        if endpoint is None or not endpoint.enabled:
            return None
        return self.endpoint_limit(endpoint)

    def _rate_wait(self, endpoint: Endpoint, now: float) -> float:
        if endpoint.rate_limit is None or endpoint.rate_limit <= 0:
            self._rates.pop(endpoint.id, None)
            return 0.0
        rate = self._rates.get(endpoint.id)
        if rate is None or rate.interval != 1.0 / endpoint.rate_limit:
            rate = self._rates[endpoint.id] = RateLimit(endpoint.rate_limit)
        return rate.wait(now)

    # -- work ------------------------------------------------------------------
    def add(self, claims: list[Claimed], taken: float) -> None:
        """Queue claims (already filtered to live lanes) and start what fits."""
        lanes: list[str] = []
        for claim in claims:
            backlog = self.backlog.get(claim.lane)
            if backlog is None:
                backlog = self.backlog[claim.lane] = deque()
                lanes.append(claim.lane)
            backlog.append((claim, taken))
            self.backlog_size += 1
        for lane in lanes:
            self.pump(lane)

    def pump(self, lane: str) -> None:
        """Start backlog work of one lane while the lane has room."""
        self._timers.pop(lane, None)
        backlog = self.backlog.get(lane)
        while backlog and not self.stopping:
            claim = backlog[0][0]
            limit = self.limit(claim)
            if limit is None:
                # Endpoint disabled or deleted meanwhile: the store already holds (or
                # deleted) these rows and voided our claim tokens; forget them.
                self.backlog_size -= len(backlog)
                backlog.clear()
                break
            if self.inflight.get(lane, 0) >= limit:
                break
            round_ = 0
            if claim.webhook_id is not None:
                endpoint = self.endpoints[claim.webhook_id]
                now = time.monotonic()
                wait = self._rate_wait(endpoint, now)
                if wait > 0:
                    if lane not in self._timers:
                        loop = asyncio.get_running_loop()
                        self._timers[lane] = loop.call_later(wait, self.pump, lane)
                    break
                if endpoint.id in self._rates:
                    self._rates[endpoint.id].take(now)
                round_ = self.level(claim.webhook_id).sent()
            backlog.popleft()
            self.backlog_size -= 1
            self.inflight[lane] = self.inflight.get(lane, 0) + 1
            self._launch(claim, round_)
        if not backlog:
            self.backlog.pop(lane, None)

    def observe(self, claim: Claimed, result: AttemptResult, round_: int, latency: float) -> None:
        """Feed one finished webhook attempt (``latency`` seconds) to its endpoint's level."""
        if claim.webhook_id is None:
            return
        level = self.level(claim.webhook_id)
        if result.ok:
            level.success(round_, latency, self.inflight.get(claim.lane, 1))
        elif is_congestion(result.status_code, result.error):
            level.congestion(round_)

    def finished(self, lane: str) -> None:
        """One request of ``lane`` ended: free its slot and start the next."""
        left = self.inflight.get(lane, 1) - 1
        if left <= 0:
            self.inflight.pop(lane, None)
        else:
            self.inflight[lane] = left
        self.pump(lane)
        if not self.opened and lane not in self.backlog:
            self.opened = self.inflight.get(lane, 0) < self._lane_limit(lane)

    def saturated(self) -> list[str]:
        """Lanes that must not get more work now: a backlog, or at their in-flight limit."""
        return sorted(set(self.backlog) | self.saturated_lanes(list(self.inflight)))

    def saturated_lanes(self, lanes: Iterable[str]) -> set[str]:
        """Those of ``lanes`` at their in-flight limit."""
        return {lane for lane in lanes if self.inflight.get(lane, 0) >= self._lane_limit(lane)}

    def _lane_limit(self, lane: str) -> int:
        endpoint = self.endpoints.get(lane)
        return self.config.per_endpoint if endpoint is None else self.endpoint_limit(endpoint)

    def take_stale(self, horizon: float) -> list[Claimed]:
        """Remove and return backlog work taken before ``horizon`` (monotonic seconds)."""
        stale: list[Claimed] = []
        for lane, backlog in list(self.backlog.items()):
            while backlog and backlog[0][1] < horizon:
                stale.append(backlog.popleft()[0])
            if not backlog:
                self.backlog.pop(lane, None)
        self.backlog_size -= len(stale)
        return stale

    def drain(self) -> list[Claimed]:
        """Stop starting work; remove and return the whole backlog."""
        self.stopping = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        waiting = [c for backlog in self.backlog.values() for c, _ in backlog]
        self.backlog.clear()
        self.backlog_size = 0
        return waiting

    def changed_levels(self) -> dict[str, int]:
        """Endpoint levels that changed since the last call (webhook ID → level)."""
        changed = {w: lvl.level for w, lvl in self.levels.items() if self._saved_levels.get(w) != lvl.level}
        self._saved_levels.update(changed)
        return changed
