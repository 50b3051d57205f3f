"""The integration-job registry: which async handler runs each job kind, and which jobs an
event fans out to.

A *job* is a ``webhook_delivery`` row with ``kind`` other than ``"webhook"`` and no
``webhook_id`` (Slack auto-send, HubSpot auto-sync, …). The delivery engine claims, leases,
retries and records jobs exactly like webhook deliveries; what a job *does* is its handler:

    async def handler(claim: Claimed) -> AttemptResult

The handler contract (what the engine does with each answer):

* an ``AttemptResult`` with a 2xx ``status_code``: the job **succeeded**;
* :func:`gone` (``AttemptResult(410, reason)``): the integration is revoked or needs a
  re-connect. The job is **held**, and so is every other pending job of the same kind in the
  same organization (never dropped). The action that fixes the cause, a successful
  re-connect, calls ``services.jobs.release_held(db, org, kind)``; operators can run
  ``zigznote jobs release KIND``;
* any other result (no status plus an ``error``, or a 4xx/5xx): a **failed attempt**,
  retried on the engine's schedule and finally ``failed`` (``zigznote jobs retry`` /
  ``replay`` start a new cycle);
* raising any exception: also a failed attempt, retried on the schedule; the exception's
  type and message become the attempt's error. Handlers should still translate the errors
  they expect into a result with a useful message;
* ``asyncio.CancelledError`` is the engine shutting down: the claim is released unattempted.

A handler must be idempotent per claim ID (``claim.id`` is stable across retries, use it as
the provider's idempotency key where there is one): a crashed worker's lease expires and the
job runs again. Where the provider has no idempotency key (Slack), the handler records its
progress as it goes with ``JobContext.save_state(claim, state)`` (table ``job_state``, one JSON
document per job, written only while the claim holds the lease) and reads it back at the next
attempt with ``JobContext.job(claim)``, which also gives the job's ``target``. Saving
``claim.attempts`` (attempts recorded before this one) in the state tells, later, a re-run whose
result was never written (same count) from a new attempt (``integrations/slack/handlers.py``).

Fan-out: a *rule* ``(org_settings, event_type, data) -> targets`` decides, when an event is
emitted, which targets (a Slack channel, a HubSpot portal, …) of a kind get a job. The
default rule reads the organization's settings (``zigznote jobs rules set``)::

    {"jobs": {"slack.summary": {"events": ["summary.ready"], "targets": ["C0123"]}}}

Registering. Most handlers need the worker's database, vault and settings (a Slack handler
reads the connection's tokens and the meeting): they register a *factory*,
``register_factory(kind, factory)`` with ``factory(context: JobContext) -> JobHandler``, and the
worker builds every handler once at start with ``handlers(JobContext(db, vault, settings))``
(``services/worker.py``). A factory should only capture the context (no I/O): one that raises
yields a handler whose attempts fail with that error, so one broken integration never stops
the worker, its webhooks or the other kinds. Handlers that need nothing register directly,
``register(kind, handler)`` (tests: ``test.echo``). A handler runs on the worker's event loop:
blocking work (sync httpx, database calls) goes to a thread (``asyncio.to_thread``).

Built-in kinds register at import of their module (listed in :data:`BUILTIN_MODULES`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zigznote.delivery.queue import Claimed
from zigznote.delivery.queue import jobs as qjobs
from zigznote.delivery.result import AttemptResult
from zigznote.errors import InvalidInput
from zigznote.timeutil import utcnow

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database
    from zigznote.vault import Vault

JobHandler = Callable[[Claimed], Awaitable[AttemptResult]]
# (organization settings, event type, event data) -> targets that get a job, in order.
FanoutRule = Callable[[Mapping[str, Any], str, Mapping[str, Any]], list[str]]

#: The status code meaning "gone: hold this kind for the organization until re-connected".
GONE_STATUS = 410
#: Modules whose import registers a built-in kind (Slack auto-send, HubSpot auto-sync, …).
BUILTIN_MODULES: tuple[str, ...] = (
    "zigznote.integrations.slack.handlers",
    "zigznote.integrations.hubspot.handlers",
)
#: Where an organization's job rules live in ``organization.settings``.
SETTINGS_KEY = "jobs"
# "slack.summary": lowercase words joined by dots; never "webhook" (that kind is built in).
KIND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}(?:\.[a-z0-9_-]{1,30})+$")
MAX_KIND = 32  # webhook_delivery.kind
MAX_TARGET = 200  # webhook_delivery.target


@dataclass(frozen=True)
class JobContext:
    """What a worker gives the handler factories: its database, vault and settings, and the
    job's own row (blocking calls: run them in a thread)."""

    db: Database
    vault: Vault
    settings: Settings

    def job(self, claim: Claimed) -> tuple[str | None, dict[str, Any]] | None:
        """``(target, state)`` of the claimed job: the target it acts on (a channel ID…) and
        the state its handler saved in earlier attempts (``{}`` if none). None if the job row
        was deleted meanwhile."""
        with self.db.engine.connect() as conn:
            return qjobs.read_job(conn, claim.id)

    def save_state(self, claim: Claimed, state: Mapping[str, Any]) -> bool:
        """Store the job's handler state (JSON: str keys, JSON values; a few KB at most),
        kept across retries and replays; only while ``claim`` still holds the lease. False:
        the lease was lost (another worker may now run the job), stop working on it."""
        with self.db.engine.begin() as conn:
            return qjobs.save_state(conn, claim.id, claim.token, state, now=utcnow())


#: Builds a kind's handler for one worker (see the module docstring).
HandlerFactory = Callable[[JobContext], JobHandler]


@dataclass(frozen=True)
class JobKind:
    """One registered kind: its handler (or the factory that builds it) and its fan-out rule."""

    kind: str
    handler: JobHandler | None
    fanout: FanoutRule
    factory: HandlerFactory | None = None

    def build(self, context: JobContext | None) -> JobHandler | None:
        """The handler for a worker with ``context``; None for a factory kind without a context.
        A factory that raises gives a handler that fails every attempt with the factory's error."""
        if self.handler is not None:
            return self.handler
        if self.factory is None or context is None:
            return None
        try:
            return self.factory(context)
        except Exception as exc:
            return _failing(f"the {self.kind} handler could not be set up: {type(exc).__name__}: {exc}")


def _failing(message: str) -> JobHandler:
    async def handler(claim: Claimed) -> AttemptResult:
        return AttemptResult(None, message, 0)

    return handler


_registry: dict[str, JobKind] = {}
_builtins_loaded = False


def validate_kind(kind: str) -> str:
    """Check a kind's spelling (``vendor.action``); raises InvalidInput (exit 2)."""
    if len(kind) > MAX_KIND or not KIND_RE.match(kind):
        raise InvalidInput(
            f"invalid job kind {kind!r}",
            hint="a kind is lowercase words joined by dots, at most 32 characters, e.g. slack.summary",
            code="invalid_job_kind",
        )
    return kind


def settings_rule(kind: str) -> FanoutRule:
    """The default fan-out rule: ``settings["jobs"][kind]`` names the event types and targets.

    ``{"events": ["summary.ready"], "targets": ["C0123"]}``; ``"*"`` in ``events`` matches
    every type. A missing or malformed entry enqueues nothing (the settings are validated
    when written; a hand-edited row must not break ``events emit``).
    """

    def rule(org_settings: Mapping[str, Any], event_type: str, data: Mapping[str, Any]) -> list[str]:
        jobs = org_settings.get(SETTINGS_KEY)
        entry = jobs.get(kind) if isinstance(jobs, Mapping) else None
        if not isinstance(entry, Mapping):
            return []
        events = entry.get("events")
        targets = entry.get("targets")
        if not isinstance(events, list) or not isinstance(targets, list):
            return []
        if "*" not in events and event_type not in events:
            return []
        return [t for t in targets if isinstance(t, str) and t]

    return rule


def register(kind: str, handler: JobHandler, *, fanout: FanoutRule | None = None) -> None:
    """Register (or replace) the handler of ``kind``; ``fanout`` defaults to :func:`settings_rule`.

    Raises InvalidInput for a malformed kind or the reserved kind ``webhook``.
    """
    validate_kind(kind)
    _registry[kind] = JobKind(kind, handler, fanout or settings_rule(kind))


def register_factory(kind: str, factory: HandlerFactory, *, fanout: FanoutRule | None = None) -> None:
    """Register (or replace) ``kind`` with a handler built per worker by ``factory(context)``
    (see the module docstring); ``fanout`` as in :func:`register`. Raises InvalidInput for a
    malformed or reserved kind."""
    validate_kind(kind)
    _registry[kind] = JobKind(kind, None, fanout or settings_rule(kind), factory)


def unregister(kind: str) -> None:
    """Forget a kind (tests clean up their kinds with this)."""
    _registry.pop(kind, None)


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        _builtins_loaded = True


def kinds() -> dict[str, JobKind]:
    """Every registered kind (built-in kinds are imported on first use)."""
    _load_builtins()
    return dict(_registry)


def handlers(context: JobContext | None = None) -> dict[str, JobHandler]:
    """``kind -> handler`` for one worker (``Worker(handlers=handlers(context))``), factories
    called once each with ``context``. Without a context, kinds registered by factory are left
    out: a worker built so answers their jobs "no handler" (retried, then ``failed``, never
    dropped), so every worker that may claim integration jobs passes one."""
    built = {kind: entry.build(context) for kind, entry in kinds().items()}
    return {kind: handler for kind, handler in built.items() if handler is not None}


def rule_for(kind: str) -> FanoutRule:
    """The fan-out rule of ``kind``: its registered one, else the settings rule (so jobs
    configured for a kind this process does not know are still enqueued, never dropped)."""
    entry = kinds().get(kind)
    return entry.fanout if entry is not None else settings_rule(kind)


def gone(reason: str, *, duration_ms: int = 0) -> AttemptResult:
    """The result a handler returns when its integration is revoked or needs a re-connect:
    the job and the organization's other pending jobs of its kind are held until released."""
    return AttemptResult(GONE_STATUS, reason, duration_ms)
