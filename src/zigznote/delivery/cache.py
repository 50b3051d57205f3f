"""A worker's cache of endpoints (webhook ID → ``Endpoint``), never staler than the window.

Endpoints are loaded when claims need them and re-read once older than
``WEBHOOK_CACHE_SECONDS``. Endpoints a worker holds a local backlog for are re-read in
the background too, so a disable or delete by another process stops the sending within
the window, not only when new work for that endpoint is claimed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from zigznote.delivery.config import WEBHOOK_CACHE_SECONDS
from zigznote.delivery.endpoints import Endpoint, load_endpoints
from zigznote.delivery.queue import Claimed
from zigznote.store.engine import Database
from zigznote.timeutil import utcnow
from zigznote.vault import Vault

log = logging.getLogger(__name__)

# How often endpoints with a local backlog are checked for staleness (seconds).
REFRESH_TICK = 0.25

RunDb = Callable[..., Awaitable[Any]]


class EndpointCache:
    """``endpoints`` is the live dict (shared with the lanes); loading runs through
    ``run_db`` (the worker's DB thread)."""

    def __init__(self, db: Database, vault: Vault, allow_nets: Any, run_db: RunDb) -> None:
        self.db = db
        self.vault = vault
        self.allow_nets = allow_nets
        self._run_db = run_db
        self.endpoints: dict[str, Endpoint] = {}
        self._next_refresh = 0.0

    async def ensure(self, claims: Iterable[Claimed]) -> None:
        """Load (or re-read, when stale) the endpoints of ``claims``. A cached *disabled*
        endpoint is always re-read: work claimed for it means it was enabled since (its
        rows are held while disabled), and parking that work on a stale view would hold
        it again. Raises on a DB error."""
        horizon = time.monotonic() - WEBHOOK_CACHE_SECONDS
        endpoints = self.endpoints
        stale = sorted(
            {
                w
                for c in claims
                if (w := c.webhook_id) is not None
                and ((e := endpoints.get(w)) is None or e.loaded_at < horizon or not e.enabled)
            }
        )
        if stale:
            await self.load(stale)

    async def load(self, ids: list[str]) -> None:
        """Re-read ``ids``; deleted ones leave the cache. Raises on a DB error."""
        endpoints = self.endpoints
        fresh = await self._run_db(
            load_endpoints, self.db.engine, self.vault, ids, allow_nets=self.allow_nets, now=utcnow()
        )
        for webhook_id in ids:
            old = endpoints.get(webhook_id)
            new = fresh.get(webhook_id)
            if new is None:
                endpoints.pop(webhook_id, None)
                continue
            if old is not None and old.failures > new.failures:
                # Our failures may still be unwritten; keep the higher count.
                new.failures = old.failures
            endpoints[webhook_id] = new

    async def refresh(self, lanes: Iterable[str]) -> list[str]:
        """Every REFRESH_TICK at most: re-read those of ``lanes`` (the lanes with a local
        backlog) whose view is about to be stale; returns the re-read ones. Never raises
        (a failed re-read is logged; the next tick tries again)."""
        now = time.monotonic()
        if now < self._next_refresh:
            return []
        self._next_refresh = now + REFRESH_TICK
        horizon = now - (WEBHOOK_CACHE_SECONDS - 2 * REFRESH_TICK)
        stale = sorted(lane for lane in lanes if (e := self.endpoints.get(lane)) is not None and e.loaded_at < horizon)
        if not stale:
            return []
        try:
            await self.load(stale)
        except Exception:
            log.warning("re-reading %d endpoints failed", len(stale), exc_info=True)
            return []
        return stale
