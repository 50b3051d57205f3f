"""Outbound webhook endpoints: create and change them, their secrets, pause and resume,
health (failure streaks, endpoint events), delivery history, manual retries, one-off test
sends, and the receiver-side tools (`verify`, `listen`).

One module per seam; everything public is re-exported here, so callers write
``from zigznote.services import webhooks`` and ``webhooks.create(...)``:

* :mod:`.render`: dicts for people and scripts (never a secret);
* :mod:`.validation`: operator input, checked before any transaction opens;
* :mod:`.lookups`: webhooks and deliveries by ID or name, inside one organization;
* :mod:`.secret_fields`: secrets at rest (vault ciphertexts bound to their column);
* :mod:`.endpoints`: create, list, show, update (caps too), delete, rotate the secret;
* :mod:`.health`: disable, enable, failing endpoints, endpoint events;
* :mod:`.deliveries`: history, retry, replay;
* :mod:`.ping`: `webhooks test`;
* :mod:`.receiver`: `verify` and `listen`.

State changes the delivery engine depends on (docs/architecture.md, "Delivery engine"):

* a disabled endpoint's queued deliveries are ``held`` (never dropped) and flow again,
  due at once, on enable;
* a manual retry or replay starts a new retry cycle (``cycle_attempts = 0``) marked
  ``next_trigger = manual``, and clears any claim so a stale worker cannot finish it;
* every change to delivery rows is one conditional statement in
  :mod:`zigznote.delivery.queue.admin`, so a worker claiming rows at the same moment sees
  either the old state or the new one, never half of each.
"""

from zigznote.services.webhooks.deliveries import REPLAY_STATUSES, list_attempts, list_deliveries, replay, retry
from zigznote.services.webhooks.endpoints import (
    DEFAULT_GRACE,
    OPEN_STATUSES,
    create,
    delete,
    list_webhooks,
    rotate_secret,
    show,
    update,
)
from zigznote.services.webhooks.health import (
    DEFAULT_DISABLED_REASON,
    disable,
    enable,
    endpoint_events,
    failing,
)
from zigznote.services.webhooks.lookups import resolve, resolve_delivery
from zigznote.services.webhooks.ping import TEST_MESSAGE, send_test
from zigznote.services.webhooks.receiver import listen, parse_headers_text, verify
from zigznote.services.webhooks.render import attempt_public, delivery_public, endpoint_event_public, public
from zigznote.services.webhooks.secret_fields import TABLE, custom_headers, signing_secrets
from zigznote.services.webhooks.validation import (
    MAX_GRACE_SECONDS,
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    allow_nets,
    parse_grace,
    parse_header,
    parse_headers,
    parse_rate_limit,
    validate_max_concurrency,
    validate_url,
)

__all__ = [
    "DEFAULT_DISABLED_REASON",
    "DEFAULT_GRACE",
    "MAX_GRACE_SECONDS",
    "MAX_HEADERS",
    "MAX_HEADER_VALUE",
    "OPEN_STATUSES",
    "REPLAY_STATUSES",
    "TABLE",
    "TEST_MESSAGE",
    "allow_nets",
    "attempt_public",
    "create",
    "custom_headers",
    "delete",
    "delivery_public",
    "disable",
    "enable",
    "endpoint_event_public",
    "endpoint_events",
    "failing",
    "list_attempts",
    "list_deliveries",
    "list_webhooks",
    "listen",
    "parse_grace",
    "parse_header",
    "parse_headers",
    "parse_headers_text",
    "parse_rate_limit",
    "public",
    "replay",
    "resolve",
    "resolve_delivery",
    "retry",
    "rotate_secret",
    "send_test",
    "show",
    "signing_secrets",
    "update",
    "validate_max_concurrency",
    "validate_url",
    "verify",
]
