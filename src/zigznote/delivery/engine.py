"""The delivery engine: a foreground asyncio loop shaped like procrastinate's worker.

    claim (DB thread) ──► send (aiohttp, bounded) ──► results ──► finish (DB thread, batched)

- A stop event ends the loop; SIGINT/SIGTERM set it (the CLI wires the signals).
- Concurrency is bounded per process and per endpoint: a slow endpoint fills its own
  slots and is left out of the next claims, so it cannot starve the fast ones.
- Polling is the safety net; on Postgres LISTEN/NOTIFY wakes an idle worker early.
- Shutdown: stop claiming, let in-flight requests finish within a grace period, give
  back (release) what did not finish, write every result, exit.
- Stalled work recovers by itself: a claim is a lease, and an expired lease is due.

All SQL runs in one dedicated thread so the event loop keeps sending while a batch
of results is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from zigznote.delivery import queue
from zigznote.delivery.queue import Claimed, Outcome
from zigznote.delivery.result import AttemptResult
from zigznote.delivery.retry import RetryPolicy
from zigznote.errors import ConfigError
from zigznote.store.engine import Database
from zigznote.store.models.delivery import FAILED, HELD, PENDING, SUCCEEDED
from zigznote.timeutil import iso, utcnow
from zigznote.vault import Vault
from zigznote.webhooks.envelope import body_bytes, request_headers

log = logging.getLogger(__name__)
T = TypeVar("T")

# An integration job (Slack auto-send, HubSpot auto-sync, …): given its claim, do the
# work and say how it went. Registered per kind; webhook POSTs are built in.
JobHandler = Callable[[Claimed], Awaitable[AttemptResult]]

WEBHOOK_CACHE_SECONDS = 5.0  # how stale a worker's view of an endpoint may get


@dataclass(frozen=True)
class EngineConfig:
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 50
    per_endpoint: int = 10
    batch: int = 100
    lease_seconds: float = 30.0
    attempt_timeout: float = 15.0
    poll_interval: float = 0.25
    grace_seconds: float = 10.0
    flush_interval: float = 0.05
    allow_nets: Any = None

    def validate(self) -> None:
        for name in ("concurrency", "per_endpoint", "batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.lease_seconds < self.attempt_timeout + 5:
            # A lease shorter than an attempt would let a second worker send the same
            # delivery while the first is still waiting for the response.
            raise ConfigError(
                f"lease ({self.lease_seconds:g}s) must exceed the attempt timeout "
                f"({self.attempt_timeout:g}s) by at least 5s",
                hint="raise ZIGZNOTE_LEASE_SECONDS or lower ZIGZNOTE_ATTEMPT_TIMEOUT",
            )


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    attempts: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0
    released: int = 0
    disabled_webhooks: int = 0
    in_flight: int = 0

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.delivered / elapsed if elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "delivered": self.delivered,
            "retrying": self.retrying,
            "failed": self.failed,
            "held": self.held,
            "released": self.released,
            "disabled_webhooks": self.disabled_webhooks,
            "seconds": round(time.monotonic() - self.started, 3),
            "rate_per_second": round(self.rate(), 1),
        }


@dataclass
class Endpoint:
    """A worker's cached, decrypted view of one webhook."""

    id: str
    url: str
    secrets: list[str]
    headers: dict[str, str]
    enabled: bool
    loaded_at: float
    # Consecutive failures as this worker knows them (the store's count when loaded, then
    # updated as results arrive, before they are written). Used to throttle a failing
    # endpoint to one probe at a time, so it is disabled after exactly the configured
    # number of failures instead of after whatever was in flight.
    failures: int = 0

    def allowed_in_flight(self, per_endpoint: int, disable_after: int) -> int:
        if self.failures == 0:
            return per_endpoint
        return max(0, min(per_endpoint, disable_after - self.failures))


class Worker:
    def __init__(
        self,
        db: Database,
        vault: Vault,
        config: EngineConfig,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        handlers: Mapping[str, JobHandler] | None = None,
    ) -> None:
        config.validate()
        self.handlers: dict[str, JobHandler] = dict(handlers or {})
        self.db = db
        self.vault = vault
        self.config = config
        self.on_event = on_event or (lambda event: None)
        self.stats = Stats()
        self._endpoints: dict[str, Endpoint] = {}
        self._inflight: dict[asyncio.Task[None], Claimed] = {}
        self._per_endpoint: dict[str, int] = {}
        self._results: list[Outcome] = []
        self._results_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zigznote-db")

    # -- plumbing ------------------------------------------------------------
    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_thread, lambda: fn(*args, **kwargs))

    def _emit(self, event: dict[str, Any]) -> None:
        try:
            self.on_event(event)
        except Exception:  # a broken renderer must never stop deliveries
            log.exception("event handler failed")

    # -- endpoints -----------------------------------------------------------
    def _load_endpoints(self, ids: list[str]) -> dict[str, Endpoint]:
        names = ", ".join(f":w{i}" for i in range(len(ids)))
        sql = sa.text(
            "SELECT id, url, secret_enc, previous_secret_enc, previous_secret_expires_at, headers_enc, enabled, "
            "consecutive_failures "
            f"FROM webhook WHERE id IN ({names})"
        )
        now = utcnow()
        loaded = {}
        with self.db.engine.connect() as conn:
            rows = conn.execute(sql, {f"w{i}": w for i, w in enumerate(ids)}).all()
        for r in rows:
            secrets = [self.vault.decrypt(r.secret_enc, table="webhook", row=r.id, field="secret_enc")]
            expires = r.previous_secret_expires_at
            if isinstance(expires, str):
                expires = datetime.fromisoformat(expires)
            if r.previous_secret_enc and expires is not None and expires > now:
                # Rotation grace period: sign with both, so receivers holding either verify.
                secrets.append(
                    self.vault.decrypt(r.previous_secret_enc, table="webhook", row=r.id, field="previous_secret_enc")
                )
            headers = {}
            if r.headers_enc:
                headers = json.loads(self.vault.decrypt(r.headers_enc, table="webhook", row=r.id, field="headers_enc"))
            loaded[r.id] = Endpoint(
                r.id, r.url, secrets, headers, bool(r.enabled), time.monotonic(), int(r.consecutive_failures)
            )
        return loaded

    async def _ensure_endpoints(self, claims: list[Claimed]) -> None:
        horizon = time.monotonic() - WEBHOOK_CACHE_SECONDS
        stale = sorted(
            {
                c.webhook_id
                for c in claims
                if c.webhook_id is not None
                and (c.webhook_id not in self._endpoints or self._endpoints[c.webhook_id].loaded_at < horizon)
            }
        )
        if stale:
            self._endpoints.update(await self._db(self._load_endpoints, stale))

    # -- sending -------------------------------------------------------------
    async def _deliver(self, session: Any, claim: Claimed, endpoint: Endpoint, body: bytes) -> None:
        from zigznote.delivery.sender import post

        attempted_at = utcnow()
        headers = request_headers(claim.id, int(time.time()), body, endpoint.secrets, endpoint.headers)
        try:
            result = await post(session, endpoint.url, body, headers, allow_nets=self.config.allow_nets)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never lose a claim to an unexpected error: record it as a failure
            log.exception("unexpected error delivering %s", claim.id)
            result = AttemptResult(None, f"internal error: {type(exc).__name__}: {exc}"[:500], 0)
        outcome = queue.decide(claim, result, policy=self.config.policy, attempted_at=attempted_at, now=utcnow())
        endpoint.failures = 0 if outcome.status == SUCCEEDED else endpoint.failures + 1
        self._results.append(outcome)
        self._results_ready.set()

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
            log.exception("job %s failed", claim.id)
            result = AttemptResult(
                None, f"{type(exc).__name__}: {exc}"[:500], int((time.perf_counter() - started) * 1000)
            )
        outcome = queue.decide(claim, result, policy=self.config.policy, attempted_at=attempted_at, now=utcnow())
        self._results.append(outcome)
        self._results_ready.set()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        claim = self._inflight.pop(task, None)
        if claim is not None:
            left = self._per_endpoint.get(claim.lane, 1) - 1
            if left <= 0:
                self._per_endpoint.pop(claim.lane, None)
            else:
                self._per_endpoint[claim.lane] = left
        self.stats.in_flight = len(self._inflight)
        self._wake.set()

    # -- finishing -----------------------------------------------------------
    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        self._results_ready.clear()
        now = utcnow()
        try:
            disabled = await self._db(
                queue.finish, self.db.engine, batch, disable_after=self.config.policy.disable_after, now=now
            )
        except BaseException:
            # Keep every result: they are written by the next flush (nothing is dropped).
            self._results[:0] = batch
            self._results_ready.set()
            raise
        for o in batch:
            self.stats.attempts += 1
            if o.status == SUCCEEDED:
                self.stats.delivered += 1
            elif o.status == PENDING:
                self.stats.retrying += 1
            elif o.status == FAILED:
                self.stats.failed += 1
            elif o.status == HELD:
                self.stats.held += 1
            c, r = o.claimed, o.result
            self._emit(
                {
                    "event": "attempt",
                    "delivery": c.id,
                    "webhook": c.webhook_id,
                    "event_id": c.event_id,
                    "type": c.event_type,
                    "attempt": c.attempts + 1,
                    "trigger": c.trigger,
                    "status_code": r.status_code,
                    "error": r.error,
                    "duration_ms": r.duration_ms,
                    "outcome": o.status,
                    "next_attempt_at": iso(o.next_attempt_at),
                    "at": iso(o.attempted_at),
                }
            )
        for webhook_id in disabled:
            self.stats.disabled_webhooks += 1
            self._endpoints.pop(webhook_id, None)
            self._emit({"event": "webhook_disabled", "webhook": webhook_id, "at": iso(now)})

    async def _finisher(self) -> None:
        while True:
            await self._results_ready.wait()
            # Let a few more results arrive so one transaction records many attempts.
            await asyncio.sleep(self.config.flush_interval)
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database hiccuped: keep the results and try again; leases keep
                # the deliveries ours for a while, and if they lapse the work is redone.
                log.exception("recording results failed; retrying")
                await asyncio.sleep(1.0)

    # -- wake-up -------------------------------------------------------------
    async def _listen(self) -> None:
        """Postgres LISTEN: an emit wakes us at once instead of at the next poll."""
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # polling still covers us; retry the listener quietly
                log.debug("LISTEN connection failed: %s", exc)
                await asyncio.sleep(2.0)

    # -- the loop --------------------------------------------------------------
    async def run(
        self, *, once: bool = False, max_seconds: float | None = None, stop: asyncio.Event | None = None
    ) -> Stats:
        """Deliver until stopped (or, with ``once``, until nothing is due)."""
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
                "batch": cfg.batch,
                "at": iso(utcnow()),
            }
        )
        finisher = asyncio.create_task(self._finisher())
        listener = asyncio.create_task(self._listen()) if self.db.engine.dialect.name == "postgresql" else None
        session = make_session(allow_nets=cfg.allow_nets, limit=cfg.concurrency, timeout=cfg.attempt_timeout)
        try:
            await self._loop(session, stop, once=once, cutoff=cutoff, deadline=deadline)
        finally:
            await self._shutdown(session)
            for task in (finisher, listener):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            self._db_thread.shutdown(wait=True)
            self._emit({"event": "worker_stopped", **self.stats.as_dict(), "at": iso(utcnow())})
        return self.stats

    async def _loop(
        self, session: Any, stop: asyncio.Event, *, once: bool, cutoff: datetime | None, deadline: float | None
    ) -> None:
        cfg = self.config
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            # Results not yet written count as in flight: a crash loses them, so they are
            # what bounds the duplicates a crash can cause.
            free = cfg.concurrency - len(self._inflight) - len(self._results)
            if free <= 0:
                await self._wait(stop, timeout=cfg.poll_interval)
                continue
            saturated = self._saturated()
            now = utcnow()
            claims = await self._db(
                queue.claim,
                self.db.engine,
                limit=min(cfg.batch, free),
                lease_seconds=cfg.lease_seconds,
                now=now,
                cutoff=min(cutoff, now) if cutoff else now,
                exclude_lanes=saturated,
            )
            if not claims:
                # Done only if nothing was left out of that claim: an endpoint excluded as
                # saturated may have work, even if its requests finished meanwhile.
                if once and not self._inflight and not saturated:
                    await self._drain_results()
                    if not self._results:
                        return
                    continue
                await self._wait(stop, timeout=cfg.poll_interval)
                continue
            await self._start(session, claims, due=cutoff)

    async def _start(self, session: Any, claims: list[Claimed], *, due: datetime | None) -> None:
        cfg = self.config
        await self._ensure_endpoints(claims)
        bodies: dict[str, bytes] = {}
        over: list[Claimed] = []
        parked: list[Claimed] = []
        for claim in claims:
            coro: Awaitable[None]
            if claim.webhook_id is None:
                # An integration job: its kind's handler does the work, with the same
                # leases, retries and attempt history as a webhook POST.
                if self._per_endpoint.get(claim.lane, 0) >= cfg.per_endpoint:
                    over.append(claim)
                    continue
                coro = self._run_job(claim)
            else:
                endpoint = self._endpoints.get(claim.webhook_id)
                if endpoint is None:
                    continue  # deleted meanwhile (its deliveries went with it)
                if not endpoint.enabled:
                    parked.append(claim)
                    continue
                limit = endpoint.allowed_in_flight(cfg.per_endpoint, cfg.policy.disable_after)
                if self._per_endpoint.get(claim.lane, 0) >= limit:
                    over.append(claim)  # more than the endpoint's share: give it back for later
                    continue
                body = bodies.get(claim.event_id)
                if body is None:
                    body = bodies[claim.event_id] = body_bytes(
                        claim.event_id, claim.event_type, claim.event_created_at, claim.org_id, claim.event_data
                    )
                coro = self._deliver(session, claim, endpoint, body)
            self._per_endpoint[claim.lane] = self._per_endpoint.get(claim.lane, 0) + 1
            task = asyncio.create_task(coro)
            self._inflight[task] = claim
            task.add_done_callback(self._task_done)
        self.stats.in_flight = len(self._inflight)
        if over:
            self.stats.released += len(over)
            await self._db(queue.release, self.db.engine, over, now=utcnow(), due=due)
        if parked:
            await self._db(queue.hold, self.db.engine, parked, now=utcnow())

    def _saturated(self) -> list[str]:
        """Endpoints that must not get more work now (full, or failing and probing)."""
        cfg = self.config
        out = [w for w, n in self._per_endpoint.items() if n >= cfg.per_endpoint]
        for endpoint in self._endpoints.values():
            limit = endpoint.allowed_in_flight(cfg.per_endpoint, cfg.policy.disable_after)
            if endpoint.failures and endpoint.id not in out and self._per_endpoint.get(endpoint.id, 0) >= limit:
                out.append(endpoint.id)
        return out

    async def _wait(self, stop: asyncio.Event, *, timeout: float) -> None:
        self._wake.clear()
        waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _drain_results(self) -> None:
        await self._flush()

    async def _shutdown(self, session: Any) -> None:
        """Finish in-flight work within the grace period; release the rest."""
        if self._inflight:
            self._emit({"event": "draining", "in_flight": len(self._inflight), "at": iso(utcnow())})
            await asyncio.wait(list(self._inflight), timeout=self.config.grace_seconds)
        unfinished = list(self._inflight.items())
        for task, _ in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*(t for t, _ in unfinished), return_exceptions=True)
        await session.close()
        await self._flush()
        if unfinished:
            claims = [c for _, c in unfinished]
            self.stats.released += len(claims)
            await self._db(queue.release, self.db.engine, claims, now=utcnow())
