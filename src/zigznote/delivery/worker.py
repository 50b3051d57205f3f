"""The delivery worker: claim, start per lane, send, record, write back; and shut down cleanly.

    claim (DB thread) ──► lane backlog ──► send (aiohttp, bounded) ──► results ──► finish (DB thread)

See ``engine.py`` for the whole design; ``lanes.py`` for per-endpoint limits,
``finisher.py`` for writing results, ``endpoints.py`` for loading secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from zigznote.delivery import queue
from zigznote.delivery.bodies import BodyCache
from zigznote.delivery.cache import EndpointCache
from zigznote.delivery.config import EngineConfig, JobHandler
from zigznote.delivery.endpoints import Endpoint
from zigznote.delivery.finisher import Finisher
from zigznote.delivery.lanes import Lanes
from zigznote.delivery.queue import Claimed
from zigznote.delivery.result import AttemptResult
from zigznote.delivery.stats import Stats
from zigznote.store.engine import Database
from zigznote.timeutil import iso, utcnow
from zigznote.untrusted import storable_text
from zigznote.vault import Vault
from zigznote.webhooks.envelope import attempt_headers

log = logging.getLogger(__name__)
T = TypeVar("T")

# After an unexpected error loading endpoints, the claims go back due this much later
# (a persistent bug must not spin the loop claiming and releasing the same rows).
LOAD_ERROR_BACKOFF = 1.0
MAX_ERROR_CHARS = 500


def _internal_error(stage: str, exc: BaseException) -> str:
    return storable_text(f"internal error {stage}: {type(exc).__name__}: {exc}", max_chars=MAX_ERROR_CHARS) or ""


class Worker:
    """One delivery worker (one asyncio loop). ``run()`` delivers until stopped.

    ``on_event`` receives JSON-ready dicts (``worker_started``, ``attempt``,
    ``webhook_disabled``, ``error``, ``draining``, ``worker_stopped``); ``on_batch_end``
    is called after each written batch's events (a sink can flush its output there).
    ``handlers`` run integration jobs by kind.
    """

    def __init__(
        self,
        db: Database,
        vault: Vault,
        config: EngineConfig,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        handlers: Mapping[str, JobHandler] | None = None,
        on_batch_end: Callable[[], None] | None = None,
    ) -> None:
        config.validate()
        self.db = db
        self.vault = vault
        self.config = config
        self.handlers: dict[str, JobHandler] = dict(handlers or {})
        self.on_event = on_event
        self.stats = Stats()
        self._cache = EndpointCache(db, vault, config.allow_nets, self._db)
        self._endpoints = self._cache.endpoints
        self._inflight: dict[asyncio.Task[None], Claimed] = {}
        self._lanes = Lanes(config, self._endpoints, self._launch)
        self._wake = asyncio.Event()
        self._notified = False  # a NOTIFY arrived since the last claim
        self._finisher = Finisher(
            db,
            config,
            self.stats,
            self._db,
            emit=self._emit if on_event is not None else None,
            on_disabled=self._forget_endpoint,
            levels=self._lanes.changed_levels,
            wake=self._wake.set,
            on_batch_end=on_batch_end,
        )
        self._session: Any = None
        self._bodies = BodyCache()
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zigznote-db")

    # -- plumbing ------------------------------------------------------------
    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_thread, functools.partial(fn, *args, **kwargs))

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a broken renderer must never stop deliveries
            log.exception("event handler failed")

    def _forget_endpoint(self, webhook_id: str) -> None:
        self._endpoints.pop(webhook_id, None)

    def _claimed_work(self) -> int:
        """Everything leased to this worker and not yet written back."""
        return self._lanes.backlog_size + len(self._inflight) + self._finisher.pending()

    async def _refresh_backlog_endpoints(self) -> None:
        if self._lanes.backlog:
            for lane in await self._cache.refresh(list(self._lanes.backlog)):
                self._lanes.pump(lane)  # forgets the backlog of an endpoint disabled or deleted meanwhile

    # -- sending -------------------------------------------------------------
    def _record(
        self, claim: Claimed, result: AttemptResult, attempted_at: datetime, round_: int = 0, latency: float = 0.0
    ) -> None:
        outcome = queue.decide(claim, result, policy=self.config.policy, attempted_at=attempted_at, now=utcnow())
        if claim.webhook_id is not None:
            self._lanes.observe(claim, result, round_, latency)
            if (endpoint := self._endpoints.get(claim.webhook_id)) is not None:
                endpoint.failures = 0 if result.ok else endpoint.failures + 1
        self._finisher.add(outcome)

    async def _deliver(self, claim: Claimed, endpoint: Endpoint, round_: int) -> None:
        from zigznote.delivery.sender import post

        attempted_at = utcnow()
        if endpoint.refused is not None:
            self._record(claim, AttemptResult(None, endpoint.refused, 0), attempted_at, round_)
            return
        stage = "building the request body"
        try:
            body = self._bodies.get(claim)
            stage = "signing the request"
            headers = attempt_headers(endpoint.headers, endpoint.keys, claim.id, int(time.time()), body)
            stage = "sending"
            started = time.perf_counter()
            result = await post(
                self._session,
                endpoint.target or endpoint.url,
                body,
                headers,
                allow_nets=self.config.allow_nets,
                check_literal=False,
            )
            latency = time.perf_counter() - started
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A poison message (or a bug of ours): a recorded failed attempt that follows
            # the retry schedule and ends `failed`, never a row stuck in `delivering`.
            log.warning("delivery %s: internal error %s", claim.id, stage, exc_info=True)
            self.stats.poison += 1
            result = AttemptResult(None, _internal_error(stage, exc), 0)
            latency = 0.0
        self._record(claim, result, attempted_at, round_, latency)

    async def _run_job(self, claim: Claimed) -> None:
        attempted_at = utcnow()
        started = time.perf_counter()
        handler = self.handlers.get(claim.kind)
        try:
            if handler is None:
                result = AttemptResult(None, f"no handler for job kind {claim.kind!r} in this worker", 0)
            else:
                result = await handler(claim)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failing job is a failed attempt, retried like any other
            log.warning("job %s failed", claim.id, exc_info=True)
            self.stats.poison += 1
            elapsed = int((time.perf_counter() - started) * 1000)
            result = AttemptResult(None, _internal_error("in the job handler", exc), elapsed)
        self._record(claim, result, attempted_at, 0)

    def _launch(self, claim: Claimed, round_: int) -> None:
        coro: Coroutine[Any, Any, None]
        if claim.webhook_id is None:
            coro = self._run_job(claim)
        else:
            coro = self._deliver(claim, self._endpoints[claim.webhook_id], round_)
        task = asyncio.create_task(coro)
        self._inflight[task] = claim
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        claim = self._inflight.pop(task, None)
        if claim is not None:
            self._lanes.finished(claim.lane)
        self.stats.in_flight = len(self._inflight)
        if self._claimed_work() - self._finisher.writing >= self.config.concurrency:
            # Unwritten results are what blocks claiming now: write them without lingering.
            self._finisher.now.set()
        self._wake.set()

    # -- the loop --------------------------------------------------------------
    async def run(
        self, *, once: bool = False, max_seconds: float | None = None, stop: asyncio.Event | None = None
    ) -> Stats:
        """Deliver until ``stop`` is set (or, with ``once``, until nothing is due, or
        after ``max_seconds``); then shut down gracefully and return the counters."""
        from zigznote.delivery.sender import make_session

        stop = stop or asyncio.Event()
        cfg = self.config
        deadline = time.monotonic() + max_seconds if max_seconds else None
        cutoff = utcnow() if once else None  # a sweep delivers what is due *now*, then ends
        self._emit(
            {
                "event": "worker_started",
                "once": once,
                "concurrency": cfg.concurrency,
                "per_endpoint": cfg.per_endpoint,
                "per_endpoint_max": cfg.per_endpoint_max,
                "batch": cfg.batch,
                "at": iso(utcnow()),
            }
        )
        finisher = asyncio.create_task(self._finisher.run())
        listener = None
        if self.db.engine.dialect.name == "postgresql":
            from zigznote.delivery.queue.notify import wake_on_notify

            url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            listener = asyncio.create_task(wake_on_notify(url, self._on_notify))
        self._session = make_session(allow_nets=cfg.allow_nets, timeout=cfg.attempt_timeout)
        try:
            await self._loop(stop, once=once, cutoff=cutoff, deadline=deadline)
        finally:
            try:
                await self._shutdown()
            finally:
                for task in (finisher, listener):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await task
                with contextlib.suppress(Exception):
                    await self._finisher.flush()  # anything the finisher restored on its way out
                with contextlib.suppress(Exception):
                    await self._finisher.save_levels(force=True)
                self._db_thread.shutdown(wait=True)
                self._emit({"event": "worker_stopped", **self.stats.as_dict(), "at": iso(utcnow())})
        return self.stats

    def _on_notify(self) -> None:
        self._notified = True
        self._wake.set()

    async def _loop(self, stop: asyncio.Event, *, once: bool, cutoff: datetime | None, deadline: float | None) -> None:
        """Claim while there is room. A claim query costs far more than one delivery (it
        scans the due rows of every lane it must leave out), so claims are batched:
        while half the capacity is in flight and work is plentiful, only once a quarter
        of the capacity is free; and after a claim that came back short (or whose lanes are all full now), only once a
        lane has room again, a NOTIFY arrived, or a poll interval passed."""
        cfg = self.config
        lanes = self._lanes
        floor = max(1, min(cfg.batch, cfg.concurrency) // 4)
        short = False
        last_claim = 0.0
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            await self._release_stale_backlog(due=cutoff)
            await self._refresh_backlog_endpoints()
            free = cfg.concurrency - self._claimed_work()
            # Busy on plenty of due work (the last claim was full, half the capacity is in
            # flight): claim in chunks. Otherwise claim as soon as there is room.
            busy = not short and len(self._inflight) >= cfg.concurrency // 2
            if free < (floor if busy else 1):
                await self._wait(stop, timeout=cfg.poll_interval)
                continue
            if short and not lanes.opened and not self._notified:
                remaining = last_claim + cfg.poll_interval - time.monotonic()
                if remaining > 0:
                    await self._wait(stop, timeout=remaining)
                    continue
            lanes.opened = self._notified = False
            saturated = lanes.saturated()
            now = utcnow()
            limit = min(cfg.batch, free)
            claims = await self._db(
                queue.claim,
                self.db.engine,
                limit=limit,
                lease_seconds=cfg.lease_seconds,
                now=now,
                cutoff=min(cutoff, now) if cutoff else now,
                exclude_lanes=saturated,
            )
            last_claim = time.monotonic()
            short = len(claims) < limit
            if not claims:
                # Done only if nothing was left out of that claim: a lane excluded as
                # saturated may have work, even if its requests finished meanwhile.
                if once and not self._inflight and not lanes.backlog and not saturated:
                    await self._finisher.flush()
                    if not self._finisher.pending():
                        return
                    continue
                await self._wait(stop, timeout=cfg.poll_interval)
                continue
            await self._start(claims)
            lanes.opened = False  # openings seen before these claims were placed are stale
            # Every lane that had work is full now: another claim would have to leave them
            # all out and most likely find nothing, at the price of scanning their rows.
            short = short or {c.lane for c in claims} <= set(lanes.saturated())

    async def _start(self, claims: list[Claimed]) -> None:
        try:
            await self._cache.ensure(claims)
        except Exception as exc:
            # Never stop the worker over one batch: record the error, give the claims
            # back a little later, and carry on with the next claim.
            log.exception("loading endpoints failed")
            error = storable_text(f"{type(exc).__name__}: {exc}", max_chars=MAX_ERROR_CHARS)
            self._emit({"event": "error", "stage": "loading endpoints", "error": error, "at": iso(utcnow())})
            await self._give_back(
                [c for c in claims if c.webhook_id is not None],
                due=utcnow() + timedelta(seconds=LOAD_ERROR_BACKOFF),
            )
            claims = [c for c in claims if c.webhook_id is None]
        parked: list[Claimed] = []
        live: list[Claimed] = []
        for claim in claims:
            if claim.webhook_id is not None:
                endpoint = self._endpoints.get(claim.webhook_id)
                if endpoint is None:
                    continue  # deleted meanwhile (its deliveries went with it)
                if not endpoint.enabled:
                    parked.append(claim)
                    continue
            live.append(claim)
        self._lanes.add(live, time.monotonic())
        self.stats.in_flight = len(self._inflight)
        if parked:
            await self._db(queue.hold, self.db.engine, parked, now=utcnow())

    async def _give_back(self, claims: list[Claimed], *, due: datetime | None = None) -> None:
        """Release claims unattempted; a failure here only delays them (leases expire)."""
        if not claims:
            return
        self.stats.released += len(claims)
        try:
            await self._db(queue.release, self.db.engine, claims, now=utcnow(), due=due)
        except Exception:
            log.exception("releasing %d claims failed; their leases will expire", len(claims))

    async def _release_stale_backlog(self, *, due: datetime | None) -> None:
        """Give back backlog work whose lease would run out before it could be sent."""
        if not self._lanes.backlog:
            return
        cfg = self.config
        stale = self._lanes.take_stale(time.monotonic() - (cfg.lease_seconds - cfg.attempt_timeout - 5))
        if stale:
            self.stats.released += len(stale)
            await self._db(queue.release, self.db.engine, stale, now=utcnow(), due=due)

    async def _wait(self, stop: asyncio.Event, *, timeout: float) -> None:
        self._wake.clear()
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _shutdown(self) -> None:
        """Finish in-flight work within the grace period; release the rest."""
        waiting = self._lanes.drain()
        if self._inflight:
            self._emit({"event": "draining", "in_flight": len(self._inflight), "at": iso(utcnow())})
            await asyncio.wait(list(self._inflight), timeout=self.config.grace_seconds)
        unfinished = list(self._inflight.items())
        for task, _ in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*(t for t, _ in unfinished), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await self._finisher.flush()
        give_back = waiting + [c for _, c in unfinished]
        if give_back:
            self.stats.released += len(give_back)
            await self._db(queue.release, self.db.engine, give_back, now=utcnow())
