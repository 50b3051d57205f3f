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
job runs again.

Fan-out: a *rule* ``(org_settings, event_type, data) -> targets`` decides, when an event is
emitted, which targets (a Slack channel, a HubSpot portal, …) of a kind get a job. The
default rule reads the organization's settings (``zigznote jobs rules set``)::

    {"jobs": {"slack.summary": {"events": ["summary.ready"], "targets": ["C0123"]}}}

Built-in kinds register at import of their module (listed in :data:`BUILTIN_MODULES`); tests
register their own (``test.echo``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zigznote.delivery.queue import Claimed
from zigznote.delivery.result import AttemptResult
from zigznote.errors import InvalidInput

JobHandler = Callable[[Claimed], Awaitable[AttemptResult]]
# (organization settings, event type, event data) -> targets that get a job, in order.
FanoutRule = Callable[[Mapping[str, Any], str, Mapping[str, Any]], list[str]]

#: The status code meaning "gone: hold this kind for the organization until re-connected".
GONE_STATUS = 410
#: Modules whose import registers a built-in kind (Slack auto-send, HubSpot auto-sync, …).
BUILTIN_MODULES: tuple[str, ...] = ()
#: Where an organization's job rules live in ``organization.settings``.
SETTINGS_KEY = "jobs"
# "slack.summary": lowercase words joined by dots; never "webhook" (that kind is built in).
KIND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}(?:\.[a-z0-9_-]{1,30})+$")
MAX_KIND = 32  # webhook_delivery.kind
MAX_TARGET = 200  # webhook_delivery.target


@dataclass(frozen=True)
class JobKind:
    """One registered kind: its handler and its fan-out rule."""

    kind: str
    handler: JobHandler
    fanout: FanoutRule


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


def handlers() -> dict[str, JobHandler]:
    """``kind -> handler`` for the worker (``Worker(handlers=handlers())``)."""
    return {kind: entry.handler for kind, entry in kinds().items()}


def rule_for(kind: str) -> FanoutRule:
    """The fan-out rule of ``kind``: its registered one, else the settings rule (so jobs
    configured for a kind this process does not know are still enqueued, never dropped)."""
    entry = kinds().get(kind)
    return entry.fanout if entry is not None else settings_rule(kind)


def gone(reason: str, *, duration_ms: int = 0) -> AttemptResult:
    """The result a handler returns when its integration is revoked or needs a re-connect:
    the job and the organization's other pending jobs of its kind are held until released."""
    return AttemptResult(GONE_STATUS, reason, duration_ms)
