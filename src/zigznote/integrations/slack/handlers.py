"""The ``slack.summary`` job: Slack auto-send of a meeting summary, run by the delivery worker.

An organization with ``zigznote slack settings --channel C --auto-send`` has the job rule
``{"events": ["summary.ready"], "targets": ["C…"]}`` (``services/slack``); emitting
``summary.ready`` with ``data.meeting_id`` (the meeting's ID or external ID) then queues one
``slack.summary`` job whose ``target`` is the channel ID. The worker claims, leases, retries
and records it like a webhook delivery (``delivery/handlers.py`` has the contract); this
handler posts the summary with ``services.slack.send_summary`` (sync httpx and database calls,
so in a thread) and answers:

- posted: 200, with "posted N message(s) to C… (ts …)" as the response excerpt;
- the credentials no longer work (``CredentialsRejected``: token revoked, refresh refused, the
  connection in state ``error``), Slack is not connected, or the token lacks a scope
  (``missing_scope``): ``gone``. The org's ``slack.summary`` jobs are held until a successful
  ``slack connect`` (``save_grant`` releases them) or ``zigznote jobs release slack.summary``;
- anything else is a failed attempt, retried on the engine's schedule and finally ``failed``:
  Slack unreachable, 5xx or still rate limited after the client's bounded wait (a later retry
  can succeed), and also ``not_in_channel``, ``channel_not_found``, an unknown meeting and
  ``invalid_blocks`` (retrying will not fix those, but the attempts show the hint, and after the
  fix ``zigznote jobs retry`` / ``replay`` sends it).

Idempotency. ``chat.postMessage`` has no idempotency key, and a long summary is several
messages (the first in the channel, the rest in its thread). After each message reaches Slack
the handler stores its ``ts`` in the job's state (``JobContext.save_state``: table
``job_state``, one JSON row per job, written only while this claim holds the lease)::

    {"channel": "C…", "sent": {"0": "1700000001.000100", "1": "…"}, "complete": false,
     "attempts": 3}

and the next attempt passes ``sent`` to ``send_summary``, which posts only the missing messages
(in the same thread). So a retry after a partial post, a crash between two messages, or a
lapsed lease re-posts nothing already recorded. At most one message can reach Slack twice: the
one in flight when the worker died or its lease lapsed (e.g. while the Slack client waited out
a long rate limit), since its ``ts`` could not be recorded. A handler that finds its lease lost
stops after that message (another worker has the job).
``complete`` with ``attempts`` equal to the claim's ``attempts`` means the attempt that finished
posting was never recorded (the worker died before writing the result): the job succeeds
without posting again. A job run again after a *recorded* success (``jobs replay``) posts the
summary anew.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zigznote.delivery import handlers
from zigznote.delivery.result import AttemptResult
from zigznote.errors import ZigznoteError
from zigznote.integrations import job_support
from zigznote.integrations.job_support import elapsed_ms

if TYPE_CHECKING:
    from zigznote.delivery.queue import Claimed

__all__ = ["KIND", "factory", "outcome_of", "run"]

#: The job kind (``services.slack.KIND``).
KIND = "slack.summary"


class _LeaseLost(Exception):
    """The claim lost its lease mid-send: stop posting (another worker runs the job now)."""


def outcome_of(exc: ZigznoteError, *, duration_ms: int) -> AttemptResult:
    """The attempt result for an error of ``send_summary`` (see the module docstring and
    ``job_support.outcome_of``): ``gone`` for CredentialsRejected, ``not_connected`` and
    ``missing_scope``; otherwise a failed attempt whose error names the code, message and hint."""
    return job_support.outcome_of("slack", exc, duration_ms=duration_ms)


def _sent_of(state: Mapping[str, Any]) -> dict[int, str]:
    """``state["sent"]`` (JSON: string keys) as ``{index: ts}``; malformed entries are dropped."""
    raw = state.get("sent")
    if not isinstance(raw, Mapping):
        return {}
    sent: dict[int, str] = {}
    for key, ts in raw.items():
        if isinstance(key, str) and key.isdigit() and isinstance(ts, str) and ts:
            sent[int(key)] = ts
    return sent


def _state(channel: str, sent: Mapping[int, str], *, complete: bool, attempts: int) -> dict[str, Any]:
    return {
        "channel": channel,
        "sent": {str(i): ts for i, ts in sorted(sent.items())},
        "complete": complete,
        "attempts": attempts,
    }


def run(context: handlers.JobContext, claim: Claimed) -> AttemptResult:
    """One attempt of a ``slack.summary`` job (blocking: the handler runs it in a thread).

    Reads the job's target and state, posts what is missing with
    ``services.slack.send_summary(..., sent=, on_posted=)`` and records each posted ``ts``.
    Returns the attempt result; never raises a ZigznoteError (unexpected exceptions propagate
    and the engine records them as failed attempts)."""
    from zigznote.services import slack

    started = time.perf_counter()
    job = job_support.open_job(context, claim, started=started, target="channel")
    if isinstance(job, AttemptResult):
        return job
    channel, state = str(job.target), job.state
    sent = _sent_of(state)
    if state.get("complete") is True:
        if state.get("attempts") == claim.attempts:
            # Posting finished but its result was never written (the worker stopped first).
            return AttemptResult(200, None, elapsed_ms(started), response_excerpt=_posted(channel, sent, again=True))
        # A recorded success run again (jobs replay): post it anew, forgetting the old messages
        # first so that a failure before the first post is not taken for "already posted".
        sent = {}
        if not context.save_state(claim, _state(channel, sent, complete=False, attempts=claim.attempts)):
            return AttemptResult(None, "lost the job's lease before posting", elapsed_ms(started))

    def on_posted(index: int, ts: str) -> None:
        sent[index] = ts
        if not context.save_state(claim, _state(channel, sent, complete=False, attempts=claim.attempts)):
            raise _LeaseLost

    try:
        answer = slack.send_summary(
            context.db,
            context.vault,
            context.settings,
            org_id=claim.org_id,
            meeting_ref=job.meeting,
            channel=channel,
            sent=dict(sent),
            on_posted=on_posted,
        )
    except _LeaseLost:
        return AttemptResult(
            None, f"lost the job's lease after posting message {max(sent) + 1}; stopped", elapsed_ms(started)
        )
    except ZigznoteError as exc:
        return outcome_of(exc, duration_ms=elapsed_ms(started))
    done = dict(enumerate(answer["messages"]))
    # Recorded before answering: if this result is lost, the next run sees "complete".
    context.save_state(claim, _state(channel, done, complete=True, attempts=claim.attempts))
    return AttemptResult(200, None, elapsed_ms(started), response_excerpt=_posted(str(answer["channel"]), done))


def _posted(channel: str, sent: Mapping[int, str], *, again: bool = False) -> str:
    first = sent.get(0, "?")
    what = f"posted {len(sent)} message(s) to {channel} (ts {first})"
    return what + (", recorded by an earlier attempt" if again else "")


#: The ``slack.summary`` handler factory of one worker: :func:`run` in a thread.
factory = job_support.threaded_factory(run, KIND)

handlers.register_factory(KIND, factory)
