"""Endpoint management: create, list, show, update (URL, events, name, headers, caps),
delete and rotate the signing secret."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlmodel import col, select

from zigznote.delivery.queue import admin, views
from zigznote.errors import ConfigError, Conflict, InvalidInput
from zigznote.ids import new_id
from zigznote.services import orgs
from zigznote.services.webhooks import health
from zigznote.services.webhooks.lookups import free_name, require_free_name, resolve
from zigznote.services.webhooks.render import public
from zigznote.services.webhooks.secret_fields import custom_headers, encrypt, encrypt_headers, signing_secrets
from zigznote.services.webhooks.validation import (
    check_header_count,
    merge_header,
    parse_grace,
    parse_headers,
    parse_rate_limit,
    validate_description,
    validate_max_concurrency,
    validate_name,
    validate_url,
)
from zigznote.store.engine import Database
from zigznote.store.models import Webhook
from zigznote.store.models.delivery import DELIVERING, HELD, PENDING
from zigznote.timeutil import iso, utcnow
from zigznote.webhooks import events as catalog
from zigznote.webhooks import signing
from zigznote.wording import plural

if TYPE_CHECKING:
    from zigznote.vault import Vault

DEFAULT_GRACE = "24h"
# Deliveries that are still queued: deleting their endpoint would silently drop them.
OPEN_STATUSES = (PENDING, DELIVERING, HELD)


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
    max_concurrency: int | None = None,
    rate_limit: str | None = None,
) -> dict[str, Any]:
    """Create a webhook; the result carries its new ``secret`` (the only time it is returned).

    ``max_concurrency`` (1-10,000) and ``rate_limit`` (``5``, ``5/s``, ``120/m``) are optional
    operator caps. Raises InvalidInput (exit 2) before writing anything for bad input,
    Conflict (exit 4) for a name already used in the organization.
    """
    clean_url = validate_url(url, nets=nets, allow_http=allow_http)
    subscribed = catalog.parse_subscription(events)
    header_map = parse_headers(headers)
    clean_name = validate_name(name) if name is not None else None
    clean_description = validate_description(description)
    cap = validate_max_concurrency(max_concurrency) if max_concurrency is not None else None
    rate = parse_rate_limit(rate_limit) if rate_limit is not None else None
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        if clean_name is None:
            clean_name = free_name(session, org.id, validate_name(urlsplit(clean_url).hostname or clean_url))
        else:
            require_free_name(session, org.id, clean_name)
        wh_id = new_id("wh")
        secret = signing.generate_secret()
        wh = Webhook(
            id=wh_id,
            org_id=org.id,
            name=clean_name,
            description=clean_description,
            url=clean_url,
            event_types=subscribed,
            secret_enc=encrypt(vault, wh_id, "secret_enc", secret),
            headers_enc=encrypt_headers(vault, wh_id, header_map),
            max_concurrency=cap,
            rate_limit=rate,
        )
        session.add(wh)
        session.flush()
        data = public(wh)
        data["secret"] = secret
        return data


def list_webhooks(db: Database, org_ref: str, *, failing: bool = False) -> list[dict[str, Any]]:
    """The organization's webhooks, oldest first; with ``failing``, only those disabled or
    in a failure streak, each with its ``last_failure`` (see :func:`health.failing`)."""
    if failing:
        return health.failing(db, org_ref)
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        now = utcnow()
        query = select(Webhook).where(Webhook.org_id == org.id).order_by(col(Webhook.created_at), col(Webhook.id))
        return [public(wh, now=now) for wh in session.exec(query)]


def show(db: Database, org_ref: str, ref: str, *, vault: Vault | None = None) -> dict[str, Any]:
    """One webhook with its delivery counts, last failed attempt and last few endpoint
    events; with a ``vault``, also its secrets and headers."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        data = public(wh, now=now)
        conn = session.connection()
        data["deliveries"] = views.status_counts(conn, webhook_id=wh.id)
        data["last_failure"] = health.last_failure(conn, wh)
        data["endpoint_events"] = health.recent_events(session, wh, limit=health.SHOW_EVENTS)
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
    max_concurrency: int | None = None,
    clear_max_concurrency: bool = False,
    rate_limit: str | None = None,
    clear_rate_limit: bool = False,
) -> dict[str, Any]:
    """Change a webhook. ``headers`` are merged into the existing ones (same name replaces);
    ``clear_headers`` drops the existing ones first. ``clear_max_concurrency`` /
    ``clear_rate_limit`` remove a cap. Bad input raises InvalidInput before any write."""
    changes = (url, events, name, description, max_concurrency, rate_limit)
    flags = (headers, clear_headers, clear_max_concurrency, clear_rate_limit)
    if all(v is None for v in changes) and not any(flags):
        raise InvalidInput(
            "nothing to update",
            hint="pass --url, --events, --name, --description, --header, --clear-headers, "
            "--max-concurrency, --rate-limit, --no-max-concurrency or --no-rate-limit",
            code="nothing_to_update",
        )
    if max_concurrency is not None and clear_max_concurrency:
        raise InvalidInput("pass --max-concurrency or --no-max-concurrency, not both", code="usage")
    if rate_limit is not None and clear_rate_limit:
        raise InvalidInput("pass --rate-limit or --no-rate-limit, not both", code="usage")
    clean_url = validate_url(url, nets=nets, allow_http=allow_http) if url is not None else None
    subscribed = catalog.parse_subscription(events) if events is not None else None
    clean_name = validate_name(name) if name is not None else None
    clean_description = validate_description(description) if description is not None else None
    cap = validate_max_concurrency(max_concurrency) if max_concurrency is not None else None
    rate = parse_rate_limit(rate_limit) if rate_limit is not None else None
    new_headers = parse_headers(headers)
    if new_headers and vault is None:
        raise ConfigError("setting headers needs the master key", code="vault_required")  # the CLI passes one
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        if clean_url is not None:
            wh.url = clean_url
        if subscribed is not None:
            wh.event_types = subscribed
        if clean_name is not None:
            if clean_name != wh.name:
                require_free_name(session, org.id, clean_name, exclude=wh.id)
                wh.name = clean_name
            wh.renamed_from = None
        if description is not None:
            wh.description = clean_description
        if cap is not None or clear_max_concurrency:
            wh.max_concurrency = cap
        if rate is not None or clear_rate_limit:
            wh.rate_limit = rate
        if new_headers and vault is not None:
            merged = {} if clear_headers else custom_headers(vault, wh)
            for key, value in new_headers.items():
                merge_header(merged, key, value)
            check_header_count(merged)
            wh.headers_enc = encrypt_headers(vault, wh.id, merged)
        elif clear_headers:
            wh.headers_enc = None
        wh.updated_at = utcnow()
        session.add(wh)
        session.flush()
        return public(wh)


def delete(db: Database, org_ref: str, ref: str, *, force: bool = False) -> dict[str, Any]:
    """Delete a webhook with its deliveries, attempts and endpoint events; refuses (Conflict,
    exit 4) while deliveries are queued unless ``force``."""
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        conn = session.connection()
        counts = views.status_counts(conn, webhook_id=wh.id)
        queued = sum(counts[s] for s in OPEN_STATUSES)
        if queued and not force:
            raise Conflict(
                f"webhook {wh.id} still has {plural(queued, 'queued delivery', 'queued deliveries')} "
                "(pending, delivering or held)",
                hint="wait for them, or pass --force to delete them with the webhook",
                code="webhook_has_pending",
            )
        deliveries, attempts = admin.delete_webhook_rows(conn, wh.id)
        health.delete_events(session, wh.id)
        session.delete(wh)
        return {"id": wh.id, "name": wh.name, "deleted": True, "deliveries": deliveries, "attempts": attempts}


def rotate_secret(db: Database, vault: Vault, org_ref: str, ref: str, *, grace: str = DEFAULT_GRACE) -> dict[str, Any]:
    """A new signing secret; the old one keeps signing too for ``grace`` (0: stops at once)."""
    from zigznote.services.webhooks.secret_fields import current_secret

    seconds = parse_grace(grace)
    with db.session() as session:
        org = orgs.resolve(session, org_ref)
        wh = resolve(session, org.id, ref)
        now = utcnow()
        old = current_secret(vault, wh)
        new = signing.generate_secret()
        wh.secret_enc = encrypt(vault, wh.id, "secret_enc", new)
        if seconds > 0:
            # Re-encrypted, not copied: the AAD binds a ciphertext to its column.
            wh.previous_secret_enc = encrypt(vault, wh.id, "previous_secret_enc", old)
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
