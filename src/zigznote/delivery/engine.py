"""The delivery engine: a foreground asyncio loop shaped like procrastinate's worker.

    claim (DB thread) ──► lane backlog ──► send (aiohttp, bounded) ──► results ──► finish (DB thread)

- A stop event ends the loop; SIGINT/SIGTERM set it (the CLI wires the signals).
- Concurrency is bounded per process and per *lane* (one webhook endpoint, or one kind
  of integration job). Claimed work beyond a lane's share waits in that lane's local
  backlog (it is leased to us already) and starts as the lane's requests finish; a lane
  with a backlog is left out of the next claims, so a slow endpoint cannot starve the
  fast ones.
- Polling is the safety net; on Postgres LISTEN/NOTIFY wakes an idle worker early.
- Shutdown: stop claiming, let in-flight requests finish within a grace period, give
  back (release) what did not finish, write every result, exit.
- Stalled work recovers by itself: a claim is a lease, and an expired lease is due.

All SQL runs in one dedicated thread so the event loop keeps sending while a batch of
results is written. Work that is claimed but not yet written (backlog, in flight,
unwritten and being-written results) never exceeds ``concurrency``: that bound is what
limits the duplicates a crash can cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from zigznote.delivery import queue
from zigznote.delivery.queue import Claimed, Outcome
from zigznote.delivery.result import AttemptResult
from zigznote.delivery.retry import RetryPolicy
from zigznote.errors import ConfigError, InvalidInput
from zigznote.store.engine import Database
from zigznote.store.models.delivery import FAILED, HELD, PENDING, SUCCEEDED
from zigznote.timeutil import iso, utcnow
from zigznote.vault import Vault
from zigznote.webhooks.envelope import attempt_headers, base_headers, body_bytes
from zigznote.webhooks.signing import decode_secret

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
    """A worker's cached, decrypted view of one webhook, prepared for the hot path."""

    id: str
    url: str
    keys: list[bytes]  # decoded signing keys: current, plus the previous one during a rotation grace
    headers: dict[str, str]  # everything but the per-attempt id/timestamp/signature
    enabled: bool
    loaded_at: float
    # Consecutive failures as this worker knows them (the store's count when loaded, then
    # updated as results arrive, before they are written). Used to throttle a failing
    # endpoint to one probe at a time, so it is disabled after exactly the configured
    # number of failures instead of after whatever was in flight.
    failures: int = 0
    # Why every request to this endpoint is refused before sending (an IP-literal URL
    # outside the SSRF allow-list), checked once at load instead of per request.
    refused: str | None = None

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
        self.db = db
        self.vault = vault
        self.config = config
        self.handlers: dict[str, JobHandler] = dict(handlers or {})
        self.on_event = on_event
        self.stats = Stats()
        self._endpoints: dict[str, Endpoint] = {}
        self._inflight: dict[asyncio.Task[None], Claimed] = {}
        self._lane_inflight: dict[str, int] = {}
        self._backlog: dict[str, deque[tuple[Claimed, float]]] = {}
        self._backlog_size = 0
        self._results: list[Outcome] = []
        self._writing = 0
        self._results_ready = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._session: Any = None
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

    def _claimed_work(self) -> int:
        """Everything leased to this worker and not yet written back."""
        return self._backlog_size + len(self._inflight) + len(self._results) + self._writing

    # -- endpoints -----------------------------------------------------------
    def _load_endpoints(self, ids: list[str]) -> dict[str, Endpoint]:
        from zigznote.delivery.sender import check_literal_host

        names = ", ".join(f":w{i}" for i in range(len(ids)))
        sql = sa.text(
            "SELECT id, url, secret_enc, previous_secret_enc, previous_secret_expires_at, headers_enc, enabled, "
            f"consecutive_failures FROM webhook WHERE id IN ({names})"
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
            custom = {}
            if r.headers_enc:
                custom = json.loads(self.vault.decrypt(r.headers_enc, table="webhook", row=r.id, field="headers_enc"))
            refused = None
            try:
                check_literal_host(r.url, self.config.allow_nets)
            except InvalidInput as exc:
                refused = f"refused by SSRF guard: {exc.message}"
            keys = [decode_secret(s) for s in dict.fromkeys(secrets)]
            loaded[r.id] = Endpoint(
                r.id,
                r.url,
                keys,
                base_headers(custom),
                bool(r.enabled),
                time.monotonic(),
                int(r.consecutive_failures),
                refused,
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
            fresh = await self._db(self._load_endpoints, stale)
            for webhook_id in stale:
                old = self._endpoints.get(webhook_id)
                new = fresh.get(webhook_id)
                if new is None:
                    self._endpoints.pop(webhook_id, None)
                    continue
                if old is not None and old.failures > new.failures:
                    # Our failures may still be unwritten; keep the higher count.
                    new.failures = old.failures
                self._endpoints[webhook_id] = new

    def _lane_limit(self, lane: str, claim: Claimed) -> int | None:
        """How many requests this lane may have in flight now; None if its work is void."""
        cfg = self.config
        if claim.webhook_id is None:
            return cfg.per_endpoint
        endpoint = self._endpoints.get(claim.webhook_id)
        if endpoint is None or not endpoint.enabled:
            return None
        return endpoint.allowed_in_flight(cfg.per_endpoint, cfg.policy.disable_after)

    # -- sending -------------------------------------------------------------
    def _record(self, claim: Claimed, result: AttemptResult, attempted_at: datetime) -> None:
        outcome = queue.decide(claim, result, policy=self.config.policy, attempted_at=attempted_at, now=utcnow())
        if claim.webhook_id is not None and (endpoint := self._endpoints.get(claim.webhook_id)) is not None:
            endpoint.failures = 0 if outcome.status == SUCCEEDED else endpoint.failures + 1
        self._results.append(outcome)
        self._results_ready.set()
        if len(self._results) >= self.config.batch:
            self._flush_now.set()

    async def _deliver(self, claim: Claimed, endpoint: Endpoint) -> None:
        from zigznote.delivery.sender import post

        attempted_at = utcnow()
        if endpoint.refused is not None:
            self._record(claim, AttemptResult(None, endpoint.refused, 0), attempted_at)
            return
        body = body_bytes(claim.event_id, claim.event_type, claim.event_created_at, claim.org_id, claim.event_data)
        headers = attempt_headers(endpoint.headers, endpoint.keys, claim.id, int(time.time()), body)
        try:
            result = await post(
                self._session, endpoint.url, body, headers, allow_nets=self.config.allow_nets, check_literal=False
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never lose a claim to an unexpected error: record it as a failure
            log.exception("unexpected error delivering %s", claim.id)
            result = AttemptResult(None, f"internal error: {type(exc).__name__}: {exc}"[:500], 0)
        self._record(claim, result, attempted_at)

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
            elapsed = int((time.perf_counter() - started) * 1000)
            result = AttemptResult(None, f"{type(exc).__name__}: {exc}"[:500], elapsed)
        self._record(claim, result, attempted_at)

    def _launch(self, claim: Claimed) -> None:
        coro: Coroutine[Any, Any, None]
        if claim.webhook_id is None:
            coro = self._run_job(claim)
        else:
            coro = self._deliver(claim, self._endpoints[claim.webhook_id])
        self._lane_inflight[claim.lane] = self._lane_inflight.get(claim.lane, 0) + 1
        task = asyncio.create_task(coro)
        self._inflight[task] = claim
        task.add_done_callback(self._task_done)

    def _pump(self, lane: str) -> None:
        """Start backlog work of one lane while the lane has room."""
        backlog = self._backlog.get(lane)
        while backlog and not self._stopping:
            claim, _ = backlog[0]
            limit = self._lane_limit(lane, claim)
            if limit is None:
                # Endpoint disabled or deleted meanwhile: the store already holds (or
                # deleted) these rows and voided our claim tokens; forget them.
                self._backlog_size -= len(backlog)
                backlog.clear()
                break
            if self._lane_inflight.get(lane, 0) >= limit:
                break
            backlog.popleft()
            self._backlog_size -= 1
            self._launch(claim)
        if not backlog:
            self._backlog.pop(lane, None)
        self.stats.in_flight = len(self._inflight)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        claim = self._inflight.pop(task, None)
        if claim is not None:
            left = self._lane_inflight.get(claim.lane, 1) - 1
            if left <= 0:
                self._lane_inflight.pop(claim.lane, None)
            else:
                self._lane_inflight[claim.lane] = left
            self._pump(claim.lane)
        self.stats.in_flight = len(self._inflight)
        if self._claimed_work() - self._writing >= self.config.concurrency:
            # Unwritten results are what blocks claiming now: write them without lingering.
            self._flush_now.set()
        self._wake.set()

    # -- finishing -----------------------------------------------------------
    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        self._results_ready.clear()
        self._flush_now.clear()
        self._writing += len(batch)
        now = utcnow()
        fut = asyncio.get_running_loop().run_in_executor(
            self._db_thread,
            functools.partial(
                queue.finish, self.db.engine, batch, disable_after=self.config.policy.disable_after, now=now
            ),
        )
        cancelled = False
        try:
            try:
                disabled = await asyncio.shield(fut)
            except asyncio.CancelledError:
                # The write is queued or running in the DB thread; let it land, or its
                # results would be lost (and their deliveries sent again after the lease).
                cancelled = True
                disabled = await fut
        except Exception:
            # Keep every result: they are written by the next flush (nothing is dropped).
            self._results[:0] = batch
            self._results_ready.set()
            raise
        finally:
            self._writing -= len(batch)
            self._wake.set()  # written results free capacity: claim more now
        self._account(batch, disabled, now)
        if cancelled:
            raise asyncio.CancelledError

    def _account(self, batch: list[Outcome], disabled: list[str], now: datetime) -> None:
        counters = {SUCCEEDED: "delivered", PENDING: "retrying", FAILED: "failed", HELD: "held"}
        for o in batch:
            self.stats.attempts += 1
            name = counters.get(o.status)
            if name:
                setattr(self.stats, name, getattr(self.stats, name) + 1)
            if self.on_event is not None:
                c, r = o.claimed, o.result
                self._emit(
                    {
                        "event": "attempt",
                        "delivery": c.id,
                        "webhook": c.webhook_id,
                        "kind": c.kind,
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
        cfg = self.config
        while True:
            await self._results_ready.wait()
            # Linger briefly so one transaction records many attempts, unless unwritten
            # results are already what keeps the loop from claiming more.
            if not self._flush_now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush_now.wait(), timeout=cfg.flush_interval)
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
        self._session = make_session(allow_nets=cfg.allow_nets, limit=cfg.concurrency, timeout=cfg.attempt_timeout)
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
                    await self._flush()  # anything the finisher restored on its way out
                self._db_thread.shutdown(wait=True)
                self._emit({"event": "worker_stopped", **self.stats.as_dict(), "at": iso(utcnow())})
        return self.stats

    def _saturated(self) -> list[str]:
        """Lanes that must not get more work now: a backlog, or at their in-flight limit."""
        cfg = self.config
        out = set(self._backlog)
        for lane, n in self._lane_inflight.items():
            if n >= cfg.per_endpoint:
                out.add(lane)
        for endpoint in self._endpoints.values():
            if endpoint.failures and self._lane_inflight.get(endpoint.id, 0) >= endpoint.allowed_in_flight(
                cfg.per_endpoint, cfg.policy.disable_after
            ):
                out.add(endpoint.id)
        return sorted(out)

    async def _loop(self, stop: asyncio.Event, *, once: bool, cutoff: datetime | None, deadline: float | None) -> None:
        cfg = self.config
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            await self._release_stale_backlog(due=cutoff)
            free = cfg.concurrency - self._claimed_work()
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
                # Done only if nothing was left out of that claim: a lane excluded as
                # saturated may have work, even if its requests finished meanwhile.
                if once and not self._inflight and not self._backlog and not saturated:
                    await self._flush()
                    if not self._results and not self._writing:
                        return
                    continue
                await self._wait(stop, timeout=cfg.poll_interval)
                continue
            await self._start(claims)

    async def _start(self, claims: list[Claimed]) -> None:
        await self._ensure_endpoints(claims)
        parked: list[Claimed] = []
        lanes: list[str] = []
        taken = time.monotonic()
        for claim in claims:
            if claim.webhook_id is not None:
                endpoint = self._endpoints.get(claim.webhook_id)
                if endpoint is None:
                    continue  # deleted meanwhile (its deliveries went with it)
                if not endpoint.enabled:
                    parked.append(claim)
                    continue
            if claim.lane not in self._backlog:
                self._backlog[claim.lane] = deque()
                lanes.append(claim.lane)
            self._backlog[claim.lane].append((claim, taken))
            self._backlog_size += 1
        for lane in lanes:
            self._pump(lane)
        if parked:
            await self._db(queue.hold, self.db.engine, parked, now=utcnow())

    async def _release_stale_backlog(self, *, due: datetime | None) -> None:
        """Give back backlog work whose lease would run out before it could be sent."""
        if not self._backlog:
            return
        horizon = time.monotonic() - (self.config.lease_seconds - self.config.attempt_timeout - 5)
        stale: list[Claimed] = []
        for lane, backlog in list(self._backlog.items()):
            while backlog and backlog[0][1] < horizon:
                stale.append(backlog.popleft()[0])
            if not backlog:
                self._backlog.pop(lane, None)
        if stale:
            self._backlog_size -= len(stale)
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
        self._stopping = True
        waiting = [c for backlog in self._backlog.values() for c, _ in backlog]
        self._backlog.clear()
        self._backlog_size = 0
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
        await self._flush()
        give_back = waiting + [c for _, c in unfinished]
        if give_back:
            self.stats.released += len(give_back)
            await self._db(queue.release, self.db.engine, give_back, now=utcnow())
