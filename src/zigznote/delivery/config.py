"""The delivery engine's configuration (one frozen value, validated once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from zigznote.delivery.queue import Claimed
from zigznote.delivery.result import AttemptResult
from zigznote.delivery.retry import RetryPolicy
from zigznote.errors import ConfigError

# An integration job (Slack auto-send, HubSpot auto-sync, …): given its claim, do the
# work and say how it went. Registered per kind; webhook POSTs are built in.
JobHandler = Callable[[Claimed], Awaitable[AttemptResult]]

# How stale a worker's view of an endpoint (URL, secrets, caps, enabled) may get.
WEBHOOK_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class EngineConfig:
    """How one worker process runs.

    ``concurrency``: work leased and not yet written back, per process (requests in
    flight plus local backlog plus unwritten results): the bound on duplicates a crash
    can cause. ``per_endpoint``: the starting in-flight level of each endpoint, adapted
    within ``[1, per_endpoint_max]`` (see ``delivery/adaptive.py``); integration-job
    lanes use ``per_endpoint`` as a fixed limit. ``batch``: rows per claim query.
    Times are seconds. ``allow_nets`` is the SSRF guard's allow-list.
    """

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 256
    per_endpoint: int = 10
    per_endpoint_max: int = 100
    batch: int = 200
    lease_seconds: float = 30.0
    attempt_timeout: float = 15.0
    poll_interval: float = 0.25
    grace_seconds: float = 10.0
    flush_interval: float = 0.05
    allow_nets: Any = None

    def validate(self) -> None:
        """Raise ``ConfigError`` (exit 6) for values the engine cannot run with."""
        for name in ("concurrency", "per_endpoint", "per_endpoint_max", "batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.per_endpoint > self.per_endpoint_max:
            raise ConfigError(
                f"per_endpoint ({self.per_endpoint}) must not exceed per_endpoint_max ({self.per_endpoint_max})",
                hint="raise --per-endpoint-max (ZIGZNOTE_PER_ENDPOINT_MAX) or lower --per-endpoint",
            )
        if self.lease_seconds < self.attempt_timeout + 5:
            # A lease shorter than an attempt would let a second worker send the same
            # delivery while the first is still waiting for the response.
            raise ConfigError(
                f"lease ({self.lease_seconds:g}s) must exceed the attempt timeout "
                f"({self.attempt_timeout:g}s) by at least 5s",
                hint="raise ZIGZNOTE_LEASE_SECONDS or lower ZIGZNOTE_ATTEMPT_TIMEOUT",
            )
