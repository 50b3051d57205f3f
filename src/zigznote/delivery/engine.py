"""The delivery engine: a foreground asyncio loop shaped like procrastinate's worker.

    claim (DB thread) ──► lane backlog ──► send (aiohttp, bounded) ──► results ──► finish (DB thread)

- A stop event ends the loop; SIGINT/SIGTERM set it (the CLI wires the signals).
- Concurrency is bounded per process and per *lane* (one webhook endpoint, or one kind
  of integration job). Each endpoint's limit adapts to how it answers (AIMD, see
  ``adaptive.py``): it grows while the endpoint answers 2xx with stable latency and
  halves on 429/503/timeouts/connection errors; while an endpoint is failing, exactly
  one request is in flight (a probe). Operators can cap an endpoint's concurrency and
  rate. Claimed work beyond a lane's limit waits in that lane's local backlog, and a
  lane with a backlog is left out of the next claims, so a slow endpoint cannot starve
  the fast ones (``lanes.py``).
- Polling is the safety net; on Postgres LISTEN/NOTIFY wakes an idle worker early
  (``queue/notify.py``).
- Shutdown: stop claiming, let in-flight requests finish within a grace period, give
  back (release) what did not finish, write every result, exit.
- Stalled work recovers by itself: a claim is a lease, and an expired lease is due.
- Nothing stops the engine over one delivery or one endpoint: an exception while
  building, signing or sending one delivery (a "poison message"), an endpoint whose
  secret cannot be decrypted, or a job handler's bug becomes a recorded failed attempt
  that follows the retry schedule (``worker.py``, ``endpoints.py``).

All SQL runs in one dedicated thread so the event loop keeps sending while a batch of
results is written (``finisher.py``). Work that is claimed but not yet written (backlog,
in flight, unwritten and being-written results) never exceeds ``concurrency``: that
bound is what limits the duplicates a crash can cause.

This module keeps the engine's public names in one place:
``from zigznote.delivery.engine import EngineConfig, Stats, Worker, JobHandler``.
"""

from __future__ import annotations

from zigznote.delivery.config import WEBHOOK_CACHE_SECONDS, EngineConfig, JobHandler
from zigznote.delivery.endpoints import Endpoint, load_endpoints
from zigznote.delivery.stats import Stats
from zigznote.delivery.worker import Worker

__all__ = ["WEBHOOK_CACHE_SECONDS", "Endpoint", "EngineConfig", "JobHandler", "Stats", "Worker", "load_endpoints"]
