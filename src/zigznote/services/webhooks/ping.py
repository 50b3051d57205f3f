"""`webhooks test`: one signed ``webhook.test`` message to one endpoint, now, recorded like
any delivery (event, delivery row, attempt) so it shows in the endpoint's history.

Secrets come from :func:`zigznote.delivery.endpoints.load_endpoints`, the loader the engine
uses, so a test signs exactly as real deliveries do; the outcome is written by
:func:`zigznote.delivery.queue.admin.record_test_attempt`.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from zigznote.delivery.queue import admin
from zigznote.delivery.result import AttemptResult
from zigznote.errors import NotFound, VaultError
from zigznote.ids import new_id
from zigznote.services import orgs
from zigznote.services.webhooks.lookups import resolve
from zigznote.services.webhooks.validation import allow_nets
from zigznote.store.engine import Database
from zigznote.store.models.delivery import DELIVERING, SUCCEEDED, TRIGGER_TEST
from zigznote.timeutil import utcnow
from zigznote.webhooks import events as catalog

if TYPE_CHECKING:
    from zigznote.vault import Vault

TEST_MESSAGE = "test from zigznote"
# How `load_endpoints` words a refusal by the SSRF guard (see delivery/endpoints.py): that is
# the endpoint's failure, recorded as an attempt; any other refusal (a secret this process
# cannot decrypt) is our configuration, reported before anything is written.
_SSRF_REFUSAL = "refused by SSRF guard"
# The lease on the test delivery outlives the request, so a running worker never sends it too.
_LEASE_MARGIN = 30.0


def send_test(
    db: Database, vault: Vault, org_ref: str, ref: str, *, nets: str | None = None, timeout: float = 15.0
) -> dict[str, Any]:
    """Send a signed ``webhook.test`` event to one webhook now and record the attempt.

    Two short transactions around the HTTP call, never one held open across it: the first
    writes the event and a delivery leased to us (``delivering`` until the attempt's timeout,
    so a running worker does not send it too), the second records the outcome. The
    endpoint's failure streak is left alone: a test is not traffic. Raises VaultError
    (exit 6, nothing written) when the endpoint's secrets cannot be decrypted; a failed
    request is a result (``ok`` False), not an exception.
    """
    from zigznote.delivery.endpoints import load_endpoints
    from zigznote.delivery.sender import send_once
    from zigznote.webhooks.envelope import attempt_headers, body_bytes

    nets_parsed = allow_nets(nets)
    token = new_id("att")  # any unique value works as a claim token
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh_id = resolve(session, org.id, ref).id
    now = utcnow()
    endpoint = load_endpoints(db.engine, vault, [wh_id], allow_nets=nets_parsed, now=now).get(wh_id)
    if endpoint is None:  # deleted between the two reads
        raise NotFound(f"webhook {ref!r} not found in this organization", code="webhook_not_found")
    if endpoint.refused is not None and not endpoint.refused.startswith(_SSRF_REFUSAL):
        raise VaultError(endpoint.refused, code="vault_error")
    data = {"webhook_id": wh_id, "message": TEST_MESSAGE}
    event_id, delivery_id = new_id("evt"), new_id("msg")
    with db.session() as session:
        conn = session.connection()
        admin.insert_events(
            conn, [{"id": event_id, "org_id": org.id, "type": catalog.TEST_EVENT, "data": data, "created_at": now}]
        )
        admin.enqueue_rows(
            conn,
            [
                {
                    "id": delivery_id,
                    "org_id": org.id,
                    "event_id": event_id,
                    "webhook_id": wh_id,
                    "status": DELIVERING,
                    "next_trigger": TRIGGER_TEST,
                    "next_attempt_at": now + timedelta(seconds=timeout + _LEASE_MARGIN),
                    "claim_token": token,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
    attempted_at = utcnow()
    if endpoint.refused is not None:
        result = AttemptResult(status_code=None, error=endpoint.refused, duration_ms=0)
    else:
        body = body_bytes(event_id, catalog.TEST_EVENT, now, org.id, data)
        headers = attempt_headers(endpoint.headers, endpoint.keys, delivery_id, int(time.time()), body)
        # The literal-host check already ran in load_endpoints; hostnames are checked at connect.
        result = send_once(endpoint.url, body, headers, allow_nets=nets_parsed, timeout=timeout)
    with db.session() as session:
        status = admin.record_test_attempt(
            session.connection(),
            delivery_id=delivery_id,
            token=token,
            webhook_id=wh_id,
            result=result,
            attempted_at=attempted_at,
            now=utcnow(),
        )
    return {
        "webhook_id": wh_id,
        "event_id": event_id,
        "delivery_id": delivery_id,
        "url": endpoint.url,
        "ok": status == SUCCEEDED,
        "status": status,
        "status_code": result.status_code,
        "error": result.error,
        "duration_ms": result.duration_ms,
        "response_excerpt": result.response_excerpt,
        "signatures": len(endpoint.keys),
    }
