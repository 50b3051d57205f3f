"""Outbound webhook endpoints: create and change them, their secrets, pause and resume,
delivery history, manual retries, one-off test sends, and the receiver-side tools
(`verify`, `listen`).

State changes the delivery engine depends on (DESIGN.md, "Outbound webhooks"):

* a disabled endpoint's queued deliveries are ``held`` (never dropped) and flow again,
  due at once, on enable;
* a manual retry or replay starts a new retry cycle (``cycle_attempts = 0``) marked
  ``next_trigger = manual``, and clears any claim so a stale worker cannot finish it;
* every bulk change is one conditional UPDATE, so a worker claiming rows at the same
  moment either sees the old state or the new one, never half of each.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from zigznote.delivery import queue
from zigznote.delivery.queue import notify
from zigznote.errors import ConfigError, Conflict, InvalidInput, NotFound
from zigznote.ids import looks_like, new_id, require
from zigznote.services import orgs
from zigznote.store.engine import Database
from zigznote.store.models import Delivery, DeliveryAttempt, Event, Webhook, table_of
from zigznote.store.models.delivery import (
    DELIVERING,
    FAILED,
    HELD,
    KIND_WEBHOOK,
    PENDING,
    STATUSES,
    SUCCEEDED,
    TRIGGER_MANUAL,
    TRIGGER_TEST,
)
from zigznote.timeutil import iso, parse_duration, parse_since, utcnow
from zigznote.webhooks import events as catalog
from zigznote.webhooks import signing, ssrf
from zigznote.webhooks.envelope import RESERVED_HEADERS

if TYPE_CHECKING:
    from zigznote.vault import Vault

TABLE = "webhook"
DEFAULT_DISABLED_REASON = "disabled by operator"
DEFAULT_GRACE = "24h"
# A rotation grace longer than this is a forgotten old secret, not a grace period.
MAX_GRACE_SECONDS = 30 * 86400
MAX_HEADERS = 20
MAX_HEADER_VALUE = 4096
# Deliveries that are still queued: deleting their endpoint would silently drop them.
OPEN_STATUSES = (PENDING, DELIVERING, HELD)
# What `replay --status` selects. "all" means every *finished* delivery: pending, held and
# in-flight ones are already queued, and resetting an in-flight one would send it twice.
REPLAY_STATUSES: dict[str, tuple[str, ...]] = {
    "failed": (FAILED,),
    "succeeded": (SUCCEEDED,),
    "all": (FAILED, SUCCEEDED),
}
TEST_MESSAGE = "test from zigznote"

# RFC 9110 field-name token characters.
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
# Hop-by-hop and framing headers: the HTTP client owns them, a customer value would break requests.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
     "proxy-connection", "expect"}
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _has_previous(wh: Webhook, now: datetime) -> bool:
    return bool(
        wh.previous_secret_enc and wh.previous_secret_expires_at is not None and wh.previous_secret_expires_at > now
    )


def public(wh: Webhook, *, now: datetime | None = None) -> dict[str, Any]:
    """A webhook as shown to people and scripts: never a secret or a header value."""
    now = now or utcnow()
    previous = _has_previous(wh, now)
    return {
        "id": wh.id,
        "org_id": wh.org_id,
        "name": wh.name,
        "description": wh.description,
        "url": wh.url,
        "events": list(wh.event_types),
        "enabled": wh.enabled,
        "disabled_reason": wh.disabled_reason,
        "disabled_at": iso(wh.disabled_at),
        "consecutive_failures": wh.consecutive_failures,
        "has_headers": wh.headers_enc is not None,
        "has_previous_secret": previous,
        "previous_secret_expires_at": iso(wh.previous_secret_expires_at) if previous else None,
        "created_at": iso(wh.created_at),
        "updated_at": iso(wh.updated_at),
    }


def delivery_public(d: Delivery, event_type: str | None = None) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event_id": d.event_id,
        "event_type": event_type,
        "status": d.status,
        "attempts": d.attempts,
        "cycle_attempts": d.cycle_attempts,
        "next_trigger": d.next_trigger,
        "next_attempt_at": iso(d.next_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": iso(d.delivered_at),
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
    }


def attempt_public(a: DeliveryAttempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "delivery_id": a.delivery_id,
        "webhook_id": a.webhook_id,
        "attempt_number": a.attempt_number,
        "trigger": a.trigger,
        "attempted_at": iso(a.attempted_at),
        "duration_ms": a.duration_ms,
        "status_code": a.status_code,
        "error": a.error,
        "response_excerpt": a.response_excerpt,
    }


# ---------------------------------------------------------------------------------------------
# Validation (all of it runs before a transaction opens, so bad input writes nothing)
# ---------------------------------------------------------------------------------------------


def allow_nets(spec: str | None) -> list[ssrf.IPNetwork]:
    """The configured allow-list; a malformed one is a configuration error, not bad input."""
    try:
        return ssrf.parse_allow_nets(spec or "")
    except InvalidInput as exc:
        raise ConfigError(exc.message, hint=exc.hint, code="invalid_allow_nets") from None


def validate_url(url: str, *, nets: str | None, allow_http: bool = False) -> str:
    return ssrf.validate_webhook_url(url, allow_nets=allow_nets(nets), allow_http=allow_http)


def parse_header(text: str) -> tuple[str, str]:
    """One ``Name: value`` custom header, checked the way an HTTP client would need it."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise InvalidInput(
            f"invalid header {text!r}: expected 'Name: value'",
            hint='for example --header "X-Api-Key: abc123"',
            code="invalid_header",
        )
    if not _HEADER_NAME_RE.match(name):
        raise InvalidInput(
            f"invalid header name {name!r}: use letters, digits and !#$%&'*+-.^_`|~ only",
            code="invalid_header",
        )
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith("webhook-") or lowered in _HOP_BY_HOP:
        raise InvalidInput(
            f"header {name!r} is reserved: zigznote sets it on every delivery",
            hint=f"reserved: {', '.join(sorted(RESERVED_HEADERS | _HOP_BY_HOP))} and webhook-*",
            code="reserved_header",
        )
    if _CONTROL_RE.search(value):
        raise InvalidInput(f"header {name!r} has control characters in its value", code="invalid_header")
    if len(value) > MAX_HEADER_VALUE:
        raise InvalidInput(
            f"header {name!r} is longer than {MAX_HEADER_VALUE} characters", code="invalid_header"
        )
    return name, value


def parse_headers(items: Iterable[str]) -> dict[str, str]:
    """``Name: value`` strings into a dict; a later duplicate (any case) replaces an earlier one."""
    headers: dict[str, str] = {}
    for item in items:
        name, value = parse_header(item)
        _merge_header(headers, name, value)
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(f"at most {MAX_HEADERS} custom headers per webhook", code="invalid_header")
    return headers


def _merge_header(headers: dict[str, str], name: str, value: str) -> None:
    for existing in [k for k in headers if k.lower() == name.lower()]:
        del headers[existing]
    headers[name] = value


def _validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("webhook name must be 1-200 characters", code="invalid_name")
    return name


def _name_taken(session: Session, org_id: str, name: str, exclude: str | None = None) -> bool:
    query = select(Webhook.id).where(Webhook.org_id == org_id, Webhook.name == name)
    if exclude is not None:
        query = query.where(Webhook.id != exclude)
    return session.exec(query).first() is not None


def _require_free_name(session: Session, org_id: str, name: str, exclude: str | None = None) -> None:
    """Names are unique per organization (commands address webhooks by name)."""
    if _name_taken(session, org_id, name, exclude):
        raise Conflict(
            f"a webhook named {name!r} already exists in this organization",
            hint="choose another --name (names are unique per organization), or update the existing webhook",
            code="duplicate_name",
        )


def _free_name(session: Session, org_id: str, base: str) -> str:
    """The default name (the URL's host), suffixed -2, -3, … when already taken."""
    name, n = base, 2
    while _name_taken(session, org_id, name):
        suffix = f"-{n}"
        name, n = f"{base[: 200 - len(suffix)]}{suffix}", n + 1
    return name


def _validate_description(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > 2000:
        raise InvalidInput("webhook description must be at most 2000 characters", code="invalid_description")
    return text or None


def parse_grace(text: str) -> float:
    seconds = parse_duration(text)
    if seconds > MAX_GRACE_SECONDS:
        raise InvalidInput(
            f"grace period {text!r} is longer than 30 days",
            hint="old secrets should stop signing soon after receivers switch",
            code="invalid_grace",
        )
    return seconds


# ---------------------------------------------------------------------------------------------
# Lookups (always inside the selected org: another org's ID is simply not found)
# ---------------------------------------------------------------------------------------------


def resolve(session: Session, org_id: str, ref: str) -> Webhook:
    """A webhook of this org by ID, or by name when that name is unique in the org."""
    if looks_like(ref, "wh"):
        found = list(session.exec(select(Webhook).where(Webhook.org_id == org_id, Webhook.id == ref)))
    else:
        found = list(session.exec(select(Webhook).where(Webhook.org_id == org_id, Webhook.name == ref).limit(2)))
        if len(found) > 1:
            raise InvalidInput(
                f"more than one webhook is named {ref!r}",
                hint="use the webhook's ID (`zigznote webhooks list` shows them)",
                code="ambiguous_webhook",
            )
    if not found:
        raise NotFound(
            f"webhook {ref!r} not found in this organization",
            hint="`zigznote webhooks list` shows this organization's webhooks",
            code="webhook_not_found",
        )
    return found[0]


def resolve_delivery(session: Session, org_id: str, ref: str) -> Delivery:
    require(ref, "msg")
    d = session.exec(select(Delivery).where(Delivery.org_id == org_id, Delivery.id == ref)).first()
    if d is None:
        raise NotFound(
            f"delivery {ref!r} not found in this organization",
            hint="`zigznote webhooks deliveries WEBHOOK` lists a webhook's deliveries",
            code="delivery_not_found",
        )
    return d


def _count(session: Session, statement: sa.Executable) -> int:
    """Run an UPDATE or DELETE in the session's transaction; how many rows it touched."""
    result = session.connection().execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def _delivery_counts(session: Session, webhook_id: str) -> dict[str, int]:
    rows = session.exec(
        select(Delivery.status, func.count()).where(Delivery.webhook_id == webhook_id).group_by(Delivery.status)
    ).all()
    found = {status: int(n) for status, n in rows}
    return {status: found.get(status, 0) for status in STATUSES}


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------


def _encrypt(vault: Vault, wh_id: str, field: str, plaintext: str) -> str:
    return vault.encrypt(plaintext, table=TABLE, row=wh_id, field=field)


def _decrypt(vault: Vault, wh: Webhook, field: str) -> str | None:
    token = getattr(wh, field)
    return vault.decrypt(token, table=TABLE, row=wh.id, field=field) if token else None


def signing_secrets(vault: Vault, wh: Webhook, now: datetime | None = None) -> list[str]:
    """The secrets that sign a delivery now: current, plus the previous one during its grace."""
    current = _decrypt(vault, wh, "secret_enc")
    assert current is not None  # the column is NOT NULL
    secrets = [current]
    if _has_previous(wh, now or utcnow()):
        previous = _decrypt(vault, wh, "previous_secret_enc")
        if previous:
            secrets.append(previous)
    return secrets


def custom_headers(vault: Vault, wh: Webhook) -> dict[str, str]:
    text = _decrypt(vault, wh, "headers_enc")
    if not text:
        return {}
    value = json.loads(text)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _encrypt_headers(vault: Vault, wh_id: str, headers: Mapping[str, str]) -> str | None:
    if not headers:
        return None
    return _encrypt(vault, wh_id, "headers_enc", json.dumps(dict(headers), ensure_ascii=False))


# ---------------------------------------------------------------------------------------------
# Endpoint management
# ---------------------------------------------------------------------------------------------


def create(
    db: Database,
    vault: Vault,
    org_ref: str,
    *,
    url: str,
    events: str | Sequence[str],
    name: str | None = None,
    description: str | None = None,
    headers: Iterable[str] = (),
    allow_http: bool = False,
    nets: str | None = None,
) -> dict[str, Any]:
    """Create a webhook; the result carries its new ``secret`` (the only time it is returned)."""
    clean_url = validate_url(url, nets=nets, allow_http=allow_http)
    subscribed = catalog.parse_subscription(events)
    header_map = parse_headers(headers)
    clean_name = _validate_name(name) if name is not None else None
    clean_description = _validate_description(description)
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        if clean_name is None:
            clean_name = _free_name(session, org.id, _validate_name(urlsplit(clean_url).hostname or clean_url))
        else:
            _require_free_name(session, org.id, clean_name)
        wh_id = new_id("wh")
        secret = signing.generate_secret()
        wh = Webhook(
            id=wh_id,
            org_id=org.id,
            name=clean_name,
            description=clean_description,
            url=clean_url,
            event_types=subscribed,
            secret_enc=_encrypt(vault, wh_id, "secret_enc", secret),
            headers_enc=_encrypt_headers(vault, wh_id, header_map),
        )
        session.add(wh)
        session.flush()
        data = public(wh)
        data["secret"] = secret
        return data


def list_webhooks(db: Database, org_ref: str) -> list[dict[str, Any]]:
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        now = utcnow()
        query = select(Webhook).where(Webhook.org_id == org.id).order_by(col(Webhook.created_at), col(Webhook.id))
        return [public(wh, now=now) for wh in session.exec(query)]


def show(db: Database, org_ref: str, ref: str, *, vault: Vault | None = None) -> dict[str, Any]:
    """One webhook with its delivery counts; with a ``vault``, also its secrets and headers."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        data = public(wh, now=now)
        data["deliveries"] = _delivery_counts(session, wh.id)
        if vault is not None:
            secrets = signing_secrets(vault, wh, now)
            data["secret"] = secrets[0]
            data["previous_secret"] = secrets[1] if len(secrets) > 1 else None
            data["headers"] = custom_headers(vault, wh)
        return data


def update(
    db: Database,
    org_ref: str,
    ref: str,
    *,
    vault: Vault | None = None,
    url: str | None = None,
    events: str | None = None,
    name: str | None = None,
    description: str | None = None,
    headers: Sequence[str] = (),
    clear_headers: bool = False,
    allow_http: bool = False,
    nets: str | None = None,
) -> dict[str, Any]:
    """Change a webhook. ``headers`` are merged into the existing ones (same name replaces);
    ``clear_headers`` drops the existing ones first."""
    if url is None and events is None and name is None and description is None and not headers and not clear_headers:
        raise InvalidInput(
            "nothing to update",
            hint="pass --url, --events, --name, --description, --header or --clear-headers",
            code="nothing_to_update",
        )
    clean_url = validate_url(url, nets=nets, allow_http=allow_http) if url is not None else None
    subscribed = catalog.parse_subscription(events) if events is not None else None
    clean_name = _validate_name(name) if name is not None else None
    new_headers = parse_headers(headers)
    if new_headers and vault is None:
        raise ConfigError("setting headers needs the master key")  # the CLI always passes one
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        if clean_url is not None:
            wh.url = clean_url
        if subscribed is not None:
            wh.event_types = subscribed
        if clean_name is not None and clean_name != wh.name:
            _require_free_name(session, org.id, clean_name, exclude=wh.id)
            wh.name = clean_name
        if clean_name is not None:
            wh.renamed_from = None
        if description is not None:
            wh.description = _validate_description(description)
        if new_headers:
            assert vault is not None
            merged = {} if clear_headers else custom_headers(vault, wh)
            for key, value in new_headers.items():
                _merge_header(merged, key, value)
            if len(merged) > MAX_HEADERS:
                raise InvalidInput(f"at most {MAX_HEADERS} custom headers per webhook", code="invalid_header")
            wh.headers_enc = _encrypt_headers(vault, wh.id, merged)
        elif clear_headers:
            wh.headers_enc = None
        wh.updated_at = utcnow()
        session.add(wh)
        session.flush()
        return public(wh)


def delete(db: Database, org_ref: str, ref: str, *, force: bool = False) -> dict[str, Any]:
    """Delete a webhook with its deliveries and attempts; refuses while deliveries are queued."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        counts = _delivery_counts(session, wh.id)
        queued = sum(counts[s] for s in OPEN_STATUSES)
        if queued and not force:
            raise Conflict(
                f"webhook {wh.id} still has {queued} queued deliveries (pending, delivering or held)",
                hint="wait for them, or pass --force to delete them with the webhook",
                code="webhook_has_pending",
            )
        attempts = _count(
            session,
            sa.delete(table_of(DeliveryAttempt)).where(table_of(DeliveryAttempt).c.webhook_id == wh.id)
        )
        session.execute(sa.delete(table_of(Delivery)).where(table_of(Delivery).c.webhook_id == wh.id))
        session.delete(wh)
        return {
            "id": wh.id,
            "name": wh.name,
            "deleted": True,
            "deliveries": sum(counts.values()),
            "attempts": attempts,
        }


def disable(db: Database, org_ref: str, ref: str, *, reason: str | None = None) -> dict[str, Any]:
    """Stop delivering to a webhook; its queued and in-flight deliveries are held, not dropped."""
    text = (reason if reason is not None else DEFAULT_DISABLED_REASON).strip()
    if not text or len(text) > 500:
        raise InvalidInput("the reason must be 1-500 characters", code="invalid_reason")
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        # The same statements the engine runs on auto-disable: one rule for holding work.
        # Clearing claim tokens means a worker holding an in-flight claim cannot finish it:
        # the held row waits for `enable` instead of being marked by a send we asked to stop.
        held = queue.disable(session.connection(), wh.id, reason=text, now=now)
        session.expire(wh)
        data = public(wh, now=now)
        data["held"] = held
        return data


def enable(db: Database, org_ref: str, ref: str) -> dict[str, Any]:
    """Resume a webhook: reset its failure count and release its held deliveries, due now."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        wh.enabled = True
        wh.consecutive_failures = 0
        wh.disabled_reason = None
        wh.disabled_at = None
        wh.updated_at = now
        session.add(wh)
        table = table_of(Delivery)
        released = _count(
            session,
            sa.update(table)
            .where(table.c.webhook_id == wh.id, table.c.status == HELD)
            .values(status=PENDING, next_attempt_at=now, claim_token=None, updated_at=now)
        )
        if released:
            notify(session.connection())
        session.flush()
        data = public(wh, now=now)
        data["released"] = released
        return data


def rotate_secret(db: Database, vault: Vault, org_ref: str, ref: str, *, grace: str = DEFAULT_GRACE) -> dict[str, Any]:
    """A new signing secret; the old one keeps signing too for ``grace`` (0: stops at once)."""
    seconds = parse_grace(grace)
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        old = _decrypt(vault, wh, "secret_enc")
        assert old is not None
        new = signing.generate_secret()
        wh.secret_enc = _encrypt(vault, wh.id, "secret_enc", new)
        if seconds > 0:
            # Re-encrypted, not copied: the AAD binds a ciphertext to its column.
            wh.previous_secret_enc = _encrypt(vault, wh.id, "previous_secret_enc", old)
            wh.previous_secret_expires_at = now + timedelta(seconds=seconds)
        else:
            wh.previous_secret_enc = None
            wh.previous_secret_expires_at = None
        wh.updated_at = now
        session.add(wh)
        session.flush()
        return {
            "id": wh.id,
            "secret": new,
            "grace_seconds": seconds,
            "previous_secret_expires_at": iso(wh.previous_secret_expires_at),
        }


# ---------------------------------------------------------------------------------------------
# Deliveries: history, retry, replay
# ---------------------------------------------------------------------------------------------


def list_deliveries(
    db: Database, org_ref: str, ref: str, *, status: str | None = None, since: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"unknown delivery status {status!r}", hint=f"one of {', '.join(STATUSES)}", code="invalid_status"
        )
    since_at = parse_since(since) if since else None
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        query = (
            select(Delivery, Event.type)
            .join(Event, col(Event.id) == col(Delivery.event_id))
            .where(Delivery.webhook_id == wh.id)
        )
        if status is not None:
            query = query.where(Delivery.status == status)
        if since_at is not None:
            query = query.where(col(Delivery.created_at) >= since_at)
        query = query.order_by(col(Delivery.created_at).desc(), col(Delivery.id).desc()).limit(limit)
        return [delivery_public(d, type_) for d, type_ in session.exec(query)]


def list_attempts(db: Database, org_ref: str, delivery_ref: str) -> list[dict[str, Any]]:
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        d = resolve_delivery(session, org.id, delivery_ref)
        query = (
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == d.id)
            .order_by(col(DeliveryAttempt.attempted_at), col(DeliveryAttempt.id))
        )
        return [attempt_public(a) for a in session.exec(query)]


def retry(db: Database, org_ref: str, delivery_ref: str, *, force: bool = False) -> dict[str, Any]:
    """Queue one delivery again now, with a fresh retry cycle (held if its webhook is disabled)."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        d = resolve_delivery(session, org.id, delivery_ref)
        wh = session.get(Webhook, d.webhook_id)
        assert wh is not None  # foreign key
        now = utcnow()
        if not force:
            if d.status == DELIVERING and d.next_attempt_at is not None and d.next_attempt_at > now:
                raise Conflict(
                    f"delivery {d.id} is being delivered right now (lease until {iso(d.next_attempt_at)})",
                    hint="wait for the attempt to finish, or pass --force to queue it again anyway",
                    code="delivery_in_flight",
                )
            if d.status == SUCCEEDED:
                raise Conflict(
                    f"delivery {d.id} already succeeded",
                    hint="pass --force to send it again (receivers dedupe on webhook-id)",
                    code="delivery_succeeded",
                )
        status = PENDING if wh.enabled else HELD
        table = table_of(Delivery)
        # Conditional on what we read: if a worker claimed or finished the row meanwhile, we
        # say so instead of overwriting its result.
        changed = _count(
            session,
            sa.update(table)
            .where(
                table.c.id == d.id,
                table.c.status == d.status,
                table.c.attempts == d.attempts,
                table.c.claim_token.is_not_distinct_from(d.claim_token),
            )
            .values(
                status=status,
                next_attempt_at=now,
                cycle_attempts=0,
                next_trigger=TRIGGER_MANUAL,
                claim_token=None,
                updated_at=now,
            )
        )
        if not changed:
            raise Conflict(
                f"delivery {d.id} changed while it was being queued (a worker picked it up)",
                hint="run the command again",
                code="delivery_changed",
            )
        if status == PENDING:
            notify(session.connection())
        return {
            "id": d.id,
            "webhook_id": d.webhook_id,
            "previous_status": d.status,
            "status": status,
            "held": status == HELD,
            "next_attempt_at": iso(now),
        }


def replay(db: Database, org_ref: str, ref: str, *, since: str, status: str = "failed") -> dict[str, Any]:
    """Queue again, in one UPDATE, every finished delivery of a webhook created since ``since``."""
    if status not in REPLAY_STATUSES:
        raise InvalidInput(
            f"unknown replay status {status!r}", hint=f"one of {', '.join(REPLAY_STATUSES)}", code="invalid_status"
        )
    since_at = parse_since(since)
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        new_status = PENDING if wh.enabled else HELD
        table = table_of(Delivery)
        count = _count(
            session,
            sa.update(table)
            .where(
                table.c.webhook_id == wh.id,
                table.c.created_at >= since_at,
                table.c.status.in_(REPLAY_STATUSES[status]),
            )
            .values(
                status=new_status,
                next_attempt_at=now,
                cycle_attempts=0,
                next_trigger=TRIGGER_MANUAL,
                claim_token=None,
                updated_at=now,
            )
        )
        if count and new_status == PENDING:
            notify(session.connection())
        return {
            "webhook_id": wh.id,
            "since": iso(since_at),
            "selected": status,
            "replayed": count,
            "status": new_status,
            "held": new_status == HELD,
        }


# ---------------------------------------------------------------------------------------------
# Test send
# ---------------------------------------------------------------------------------------------


def send_test(
    db: Database, vault: Vault, org_ref: str, ref: str, *, nets: str | None = None, timeout: float = 15.0
) -> dict[str, Any]:
    """Send a signed ``webhook.test`` event to one webhook now and record the attempt.

    Two short transactions around the HTTP call, never one held open across it: the first
    writes the event and a delivery leased to us (``delivering`` until the attempt's timeout,
    so a running worker does not send it too), the second records the outcome. The
    endpoint's ``consecutive_failures`` is left alone: a test is not traffic.
    """
    from zigznote.delivery.sender import send_once
    from zigznote.webhooks.envelope import body_bytes, request_headers

    nets_parsed = allow_nets(nets)
    token = new_id("att")  # any unique value works as a claim token
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        secrets = signing_secrets(vault, wh, now)  # a wrong key fails here, before any write
        headers = custom_headers(vault, wh)
        data = {"webhook_id": wh.id, "message": TEST_MESSAGE}
        event = Event(id=new_id("evt"), org_id=org.id, type=catalog.TEST_EVENT, data=data, created_at=now)
        delivery = Delivery(
            id=new_id("msg"),
            org_id=org.id,
            event_id=event.id,
            webhook_id=wh.id,
            kind=KIND_WEBHOOK,
            status=DELIVERING,
            next_trigger=TRIGGER_TEST,
            next_attempt_at=now + timedelta(seconds=timeout + 30),
            claim_token=token,
            created_at=now,
            updated_at=now,
        )
        session.add(event)
        session.flush()  # the event row first: the delivery's foreign key points at it
        session.add(delivery)
        url = wh.url
    body = body_bytes(event.id, event.type, event.created_at, org.id, data)
    attempted_at = utcnow()
    sent = request_headers(delivery.id, int(time.time()), body, secrets, custom=headers)
    result = send_once(url, body, sent, allow_nets=nets_parsed, timeout=timeout)
    with db.session() as session:
        finished = utcnow()
        session.add(
            DeliveryAttempt(
                id=new_id("att"),
                delivery_id=delivery.id,
                webhook_id=wh.id,
                attempt_number=1,
                trigger=TRIGGER_TEST,
                attempted_at=attempted_at,
                duration_ms=result.duration_ms,
                status_code=result.status_code,
                error=result.error,
                response_excerpt=result.response_excerpt,
            )
        )
        table = table_of(Delivery)
        _count(
            session,
            sa.update(table)
            .where(table.c.id == delivery.id, table.c.claim_token == token)
            .values(
                status=SUCCEEDED if result.ok else FAILED,
                attempts=1,
                cycle_attempts=1,
                next_attempt_at=None,
                claim_token=None,
                last_status_code=result.status_code,
                last_error=result.error,
                delivered_at=finished if result.ok else None,
                updated_at=finished,
            )
        )
    return {
        "webhook_id": wh.id,
        "event_id": event.id,
        "delivery_id": delivery.id,
        "url": url,
        "ok": result.ok,
        "status": SUCCEEDED if result.ok else FAILED,
        "status_code": result.status_code,
        "error": result.error,
        "duration_ms": result.duration_ms,
        "response_excerpt": result.response_excerpt,
        "signatures": len(secrets),
    }


# ---------------------------------------------------------------------------------------------
# Receiver-side tools (no database)
# ---------------------------------------------------------------------------------------------

_REQUEST_LINE_RE = re.compile(r"^[A-Z]+ \S+ HTTP/\d(?:\.\d)?$")


def parse_headers_text(raw: bytes) -> dict[str, str]:
    """Headers from a file: ``Name: value`` lines (an HTTP request line and ``#`` comments
    are skipped), or one JSON object."""
    from zigznote.services.records import decode_utf8

    text = decode_utf8(raw, what="headers file").strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"headers file is not valid JSON: {exc.msg}", code="invalid_json") from None
        if not isinstance(doc, dict):
            raise InvalidInput("headers file must be a JSON object of name: value", code="invalid_headers_file")
        return {str(k): str(v) for k, v in doc.items()}
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or (number == 1 and _REQUEST_LINE_RE.match(stripped)):
            continue
        name, sep, value = stripped.partition(":")
        if not sep or not name.strip():
            raise InvalidInput(
                f"headers file line {number} is not 'Name: value': {stripped[:80]!r}",
                code="invalid_headers_file",
            )
        headers[name.strip().lower()] = value.strip()
    return headers


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, tolerance: int = signing.DEFAULT_TOLERANCE
) -> dict[str, Any]:
    """Judge a received message as a Standard Webhooks receiver would (SignatureInvalid if not)."""
    if tolerance < 0:
        raise InvalidInput("--tolerance must not be negative", code="invalid_tolerance")
    signing.verify(secret, headers, body, tolerance=tolerance)
    lowered = {k.lower(): v for k, v in headers.items()}
    return {
        "valid": True,
        "webhook_id": lowered.get(signing.HEADER_ID),
        "timestamp": int(lowered[signing.HEADER_TIMESTAMP].strip()),
        "size": len(body),
    }


def listen(
    *,
    host: str,
    port: int,
    path: str | None,
    secret: str | None,
    status: int,
    fail_rate: float,
    fail_status: int,
    delay: str | None,
    reject_invalid: bool,
    tolerance: int,
    on_event: Callable[[dict[str, Any]], None],
    on_ready: Callable[[str], None],
) -> None:
    """Run the development receiver until SIGINT or SIGTERM, then return normally."""
    import asyncio
    import contextlib
    import signal

    from zigznote.webhooks.listen import ListenOptions, ReceivedEvent, serve

    options = ListenOptions(
        host=host,
        port=port,
        path=path,
        secret=secret,
        status=status,
        fail_rate=fail_rate,
        fail_status=fail_status,
        delay=parse_duration(delay) if delay else 0.0,
        tolerance=tolerance,
        reject_invalid=reject_invalid,
    )
    options.validate()

    def report(event: ReceivedEvent) -> None:
        on_event(
            {
                "time": iso(event.time),
                "method": event.method,
                "path": event.path,
                "webhook_id": event.webhook_id,
                "event_type": event.event_type,
                "size": event.size,
                "signature": event.signature,
                "reason": event.reason,
                "status": event.status_returned,
            }
        )

    def ready(bound: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{bound}{path or '/'}")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
                pass
        try:
            await serve(options, report, stop=stop, ready=ready)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    # A Ctrl-C that lands before the handlers are installed is still a clean stop.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
