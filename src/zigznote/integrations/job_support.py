"""What the provider job handlers (``slack.summary``, ``hubspot.sync``) share: timing, the
mapping of a service error to an attempt result, the meeting a job is about, and the factory
that runs a blocking handler in a thread (the contract is in ``delivery/handlers.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zigznote.delivery import handlers
from zigznote.delivery.result import AttemptResult
from zigznote.errors import ConfigError, CredentialsRejected, NotFound, ZigznoteError
from zigznote.untrusted import storable_text

if TYPE_CHECKING:
    from zigznote.delivery.queue import Claimed

__all__ = ["MAX_ERROR", "Job", "elapsed_ms", "error_text", "open_job", "outcome_of", "threaded_factory"]

#: Longest attempt error (characters) a handler records.
MAX_ERROR = 1000
# Errors that only a new `<provider> connect` repairs: hold the kind instead of burning retries.
_RECONNECT_CODES = frozenset({"not_connected", "missing_scope"})

Run = Callable[[handlers.JobContext, "Claimed"], AttemptResult]


def elapsed_ms(started: float) -> int:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return int((time.perf_counter() - started) * 1000)


def error_text(provider: str, exc: ZigznoteError) -> str:
    """``<provider> <code>: <message> (<hint>)``, bounded to :data:`MAX_ERROR` and storable;
    service errors never hold a token."""
    text = f"{provider} {exc.code}: {exc.message}"
    if exc.hint:
        text += f" ({exc.hint})"
    return storable_text(text, max_chars=MAX_ERROR) or f"{provider} {exc.code}"


def outcome_of(provider: str, exc: ZigznoteError, *, duration_ms: int) -> AttemptResult:
    """The attempt result for a service error: ``gone`` (hold the kind until a re-connect) for
    CredentialsRejected, ``not_connected`` and ``missing_scope``; otherwise a failed attempt (no
    status code) whose error is :func:`error_text`, retried on the engine's schedule."""
    if isinstance(exc, CredentialsRejected) or (
        isinstance(exc, NotFound | ConfigError) and exc.code in _RECONNECT_CODES
    ):
        return handlers.gone(error_text(provider, exc), duration_ms=duration_ms)
    return AttemptResult(None, error_text(provider, exc), duration_ms)


@dataclass(frozen=True)
class Job:
    """A claimed job about to run: its ``target`` (a channel, a portal), the ``state`` its
    handler saved in earlier attempts (``{}`` if none) and the ``meeting`` reference of its
    event (``data.meeting_id``, stripped)."""

    target: str | None
    state: dict[str, Any]
    meeting: str


def open_job(
    context: handlers.JobContext, claim: Claimed, *, started: float, target: str | None = None
) -> Job | AttemptResult:
    """The claimed job, or the failed attempt that ends it at once: the job row was deleted
    meanwhile, it has no target although one is needed (``target``: what it names, e.g.
    "channel"), or its event has no meeting reference. Durations count from ``started``."""
    job = context.job(claim)
    if job is None:
        return AttemptResult(None, "the job was deleted while it ran", elapsed_ms(started))
    aim, state = job
    if target is not None and not aim:
        return AttemptResult(None, f"{claim.kind} job without a target {target}", elapsed_ms(started))
    data = claim.event_data
    meeting = data.get("meeting_id") if isinstance(data, Mapping) else None
    if not isinstance(meeting, str) or not meeting.strip():
        what = f"the {claim.event_type} event has no data.meeting_id (a meeting ID or external ID)"
        return AttemptResult(None, what, elapsed_ms(started))
    return Job(aim, state, meeting.strip())


def threaded_factory(run: Run, kind: str) -> handlers.HandlerFactory:
    """The handler factory of a blocking ``run(context, claim)``: each worker's handler runs it
    in a thread (sync httpx and database calls must not block the worker's event loop)."""

    def factory(context: handlers.JobContext) -> handlers.JobHandler:
        async def handle(claim: Claimed) -> AttemptResult:
            return await asyncio.to_thread(run, context, claim)

        return handle

    factory.__doc__ = f"The ``{kind}`` handler of one worker: ``run`` in a thread."
    return factory
