"""The ``hubspot.sync`` job: HubSpot auto-sync of a meeting, run by the delivery worker.

An organization with ``zigznote hubspot settings --auto-sync`` has the job rule
``{"events": ["summary.ready", "action_items.ready"], "targets": ["<hub id>"]}``
(``services/hubspot``); emitting either event with ``data.meeting_id`` (the meeting's ID or
external ID) then queues one ``hubspot.sync`` job whose ``target`` is the portal. The worker
claims, leases, retries and records it like a webhook delivery (``delivery/handlers.py`` has
the contract); this handler runs ``services.hubspot.sync_meeting`` (sync httpx and database
calls, so in a thread) and answers:

- every item synced: 200, with the counts as the response excerpt ("created 1 meeting…");
- some items failed (HubSpot refused them in a 207): a failed attempt naming them, retried on
  the engine's schedule; each retry completes only what is missing (the links make the sync
  idempotent, so no handler state is needed: a crashed or repeated attempt updates what it
  finds linked and looks up by external key before creating);
- the credentials no longer work (``CredentialsRejected``), HubSpot is not connected, or the
  token lacks a scope: ``gone``. The org's ``hubspot.sync`` jobs are held until a successful
  ``hubspot connect`` (``save_grant`` releases them) or ``zigznote jobs release hubspot.sync``;
- the connected portal is not the job's target (a re-connect to another portal): a failed
  attempt saying so (nothing is written to either portal);
- anything else (HubSpot unreachable, 5xx, rate limited beyond the wait, an unknown meeting) is
  a failed attempt, retried and finally ``failed``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zigznote.delivery import handlers
from zigznote.delivery.result import AttemptResult
from zigznote.errors import ZigznoteError
from zigznote.integrations import job_support
from zigznote.integrations.job_support import MAX_ERROR, elapsed_ms
from zigznote.untrusted import storable_text

if TYPE_CHECKING:
    from zigznote.delivery.queue import Claimed

__all__ = ["KIND", "factory", "outcome_of", "run"]

#: The job kind (``services.hubspot.KIND``).
KIND = "hubspot.sync"


def outcome_of(exc: ZigznoteError, *, duration_ms: int) -> AttemptResult:
    """The attempt result for an error of ``sync_meeting`` (``job_support.outcome_of``):
    ``gone`` for CredentialsRejected, ``not_connected`` and ``missing_scope``; otherwise a
    failed attempt naming the error."""
    return job_support.outcome_of("hubspot", exc, duration_ms=duration_ms)


def _summary(result: Mapping[str, Any]) -> str:
    counts = result.get("counts") or {}
    parts = [f"{action} {n}" for action, n in sorted(counts.items())]
    return f"meeting {result.get('meeting_id')}: " + (", ".join(parts) or "nothing to do")


def _failures(result: Mapping[str, Any]) -> str:
    failed = [i for i in result.get("items") or [] if i.get("action") == "failed"]
    shown = "; ".join(f"{i['object']} {i['label']!r}: {i['error']}" for i in failed[:5])
    more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
    text = f"{len(failed)} item(s) failed ({_summary(result)}): {shown}{more}"
    return storable_text(text, max_chars=MAX_ERROR) or "items failed"


def run(context: handlers.JobContext, claim: Claimed) -> AttemptResult:
    """One attempt of a ``hubspot.sync`` job (blocking: the handler runs it in a thread).
    Returns the attempt result; never raises a ZigznoteError (unexpected exceptions propagate
    and the engine records them as failed attempts)."""
    from zigznote.services import hubspot, integrations

    started = time.perf_counter()
    job = job_support.open_job(context, claim, started=started)
    if isinstance(job, AttemptResult):
        return job
    target = job.target
    try:
        shown = integrations.get(context.db, org_id=claim.org_id, provider=hubspot.PROVIDER)
        if shown is not None and target and shown["account_id"] != target:
            return AttemptResult(
                None,
                f"this job is for HubSpot portal {target}, but the organization is now connected to portal "
                f"{shown['account_id']}: nothing was synced (`hubspot settings --auto-sync` sets the rule anew)",
                elapsed_ms(started),
            )
        result = hubspot.sync_meeting(
            context.db, context.vault, context.settings, org_ref=claim.org_id, meeting_ref=job.meeting
        )
    except ZigznoteError as exc:
        return outcome_of(exc, duration_ms=elapsed_ms(started))
    if not result["ok"]:
        return AttemptResult(None, _failures(result), elapsed_ms(started))
    return AttemptResult(
        200, None, elapsed_ms(started), response_excerpt=storable_text(_summary(result), max_chars=1000)
    )


#: The ``hubspot.sync`` handler factory of one worker: :func:`run` in a thread.
factory = job_support.threaded_factory(run, KIND)

handlers.register_factory(KIND, factory)
