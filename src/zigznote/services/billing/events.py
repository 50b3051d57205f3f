"""Inbound provider events (``billing events …`` and ``billing serve``, issue 12).

:func:`ingest` is the one path every inbound webhook takes, from ``billing serve`` or piped to
``billing events ingest``: the provider verifies the exact bytes (``construct_event``; a failure
stores nothing), then ``billing/events.py`` stores the event (deduplicated on the provider's
event ID) and applies it through the provider's handler table in one transaction. The outcome is
``processed``, ``ignored``, ``duplicate`` or ``failed`` (stored, replayable).

:func:`list_events`, :func:`show_event` and :func:`replay` read and re-apply the stored events;
:class:`Receiver` and :func:`serve` run the HTTP receiver. JSON shapes: :func:`event_json`,
:func:`outcome_json`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from zigznote.billing import events, providers
from zigznote.billing.providers.base import PaymentProvider
from zigznote.errors import ConfigError, InvalidInput, NotFound, ZigznoteError
from zigznote.services.billing._common import open_provider, provider_name
from zigznote.store.models import Organization, ProviderEvent
from zigznote.store.models.billing import EVENT_STATUSES
from zigznote.timeutil import iso, parse_since, utcnow
from zigznote.untrusted import decode_text

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database

__all__ = ["Receiver", "event_json", "ingest", "list_events", "outcome_json", "replay", "serve", "show_event"]

#: ``replay --failed`` also takes events stored but never applied for this long (a receiver
#: that stopped between storing and applying).
STALE_RECEIVED = timedelta(seconds=60)


def outcome_json(
    stored_id: str, event: Mapping[str, Any], applied: events.Applied, *, redelivery: bool
) -> dict[str, Any]:
    """``{"id": "pev_…", "provider", "provider_event_id", "type", "outcome": "processed" |
    "ignored" | "duplicate" | "failed", "redelivery": bool, "error", "note", "org_id"}``."""
    return {
        "id": stored_id, "provider": event["provider"], "provider_event_id": event["provider_event_id"],
        "type": event["type"], "outcome": applied.status, "redelivery": redelivery, "error": applied.error,
        "note": applied.note, "org_id": applied.org_id,
    }  # fmt: skip


def _ingest(
    db: Database, client: PaymentProvider, name: str, payload: bytes, headers: Mapping[str, str]
) -> dict[str, Any]:
    event = client.construct_event(payload, headers)  # raises before anything is stored
    if event.provider != name:
        raise ZigznoteError(f"the {name} provider produced a {event.provider!r} event")
    stored = events.store(db, event)
    applied = events.apply(db, client, stored.id)
    facts = {"provider": name, "provider_event_id": event.id, "type": event.type}
    return outcome_json(stored.id, facts, applied, redelivery=not stored.inserted)


def ingest(
    db: Database,
    settings: Settings,
    *,
    provider: str | None,
    payload: bytes,
    headers: Mapping[str, str],
    client: PaymentProvider | None = None,
) -> dict[str, Any]:
    """Verify, store and apply one inbound webhook (``payload``: the exact bytes received;
    ``headers``: names case-insensitive). Returns :func:`outcome_json`; a handler's failure is
    the outcome ``failed``, not an exception. Raises SignatureInvalid (7: nothing stored),
    InvalidInput (2: unknown provider, a verified body that is not an event), ConfigError (6:
    the provider's keys or webhook secret missing), DatabaseUnavailable (5)."""
    name = provider_name(settings, provider)
    if client is not None:
        return _ingest(db, client, name, payload, headers)
    with open_provider(settings, name) as opened:
        return _ingest(db, opened, name, payload, headers)


# -- reading ---------------------------------------------------------------------------------------


def event_json(row: ProviderEvent, *, payload: bool = False) -> dict[str, Any]:
    """One stored event: ``{"id", "provider", "provider_event_id", "type", "object_type",
    "object_id", "livemode", "org_id", "status", "error" (why it failed), "note" (why it was
    ignored), "attempts", "created" (at the provider), "received_at", "processed_at"}``, and
    ``"payload"`` (the exact stored text) when asked."""
    data = {
        "id": row.id, "provider": row.provider, "provider_event_id": row.provider_event_id, "type": row.type,
        "object_type": row.object_type, "object_id": row.object_id, "livemode": row.livemode, "org_id": row.org_id,
        "status": row.status, "error": row.error if row.status == events.FAILED else None,
        "note": row.error if row.status == events.IGNORED else None, "attempts": row.attempts,
        "created": iso(row.provider_created_at), "received_at": iso(row.received_at),
        "processed_at": iso(row.processed_at),
    }  # fmt: skip
    if payload:
        data["payload"] = decode_text(bytes(row.payload), where="stored event payload")
    return data


def _provider(value: str) -> str:
    """A ``--provider`` filter as stored (``Stripe `` → ``stripe``); any name, so events of a
    provider no longer registered can still be listed."""
    return value.strip().lower()


def _status(value: str | None) -> str | None:
    if value is None:
        return None
    status = value.strip().lower()
    if status not in EVENT_STATUSES:
        raise InvalidInput(
            f"invalid status {value!r}", hint=f"use one of {', '.join(EVENT_STATUSES)}", code="invalid_status"
        )
    return status


def list_events(
    db: Database,
    *,
    status: str | None = None,
    type_: str | None = None,
    since: str | None = None,
    provider: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Stored events, newest first (:func:`event_json`), filtered by ``status`` (received,
    processed, failed, ignored), event ``type_``, ``since`` (2h, 2026-11-01) and ``provider``."""
    wanted = _status(status)
    query = select(ProviderEvent)
    if wanted is not None:
        query = query.where(ProviderEvent.status == wanted)
    if type_ is not None:
        query = query.where(ProviderEvent.type == type_.strip())
    if since is not None:
        query = query.where(col(ProviderEvent.received_at) >= parse_since(since))
    if provider is not None:
        query = query.where(ProviderEvent.provider == _provider(provider))
    query = query.order_by(col(ProviderEvent.received_at).desc(), col(ProviderEvent.id).desc()).limit(limit)
    with db.session() as session:
        return [event_json(row) for row in session.exec(query).all()]


def _find(db: Database, ref: str, provider: str | None) -> ProviderEvent:
    ref = ref.strip()
    with db.session() as session:
        if ref.startswith("pev_"):
            row = session.get(ProviderEvent, ref)
            rows = [row] if row is not None else []
        else:
            query = select(ProviderEvent).where(ProviderEvent.provider_event_id == ref)
            if provider is not None:
                query = query.where(ProviderEvent.provider == _provider(provider))
            rows = list(session.exec(query.order_by(ProviderEvent.provider)).all())
    if not rows:
        raise NotFound(
            f"no stored provider event {ref!r}",
            hint="`zigznote billing events list` shows them",
            code="event_not_found",
        )
    if len(rows) > 1:
        raise InvalidInput(
            f"{ref!r} is an event ID at several providers ({', '.join(r.provider for r in rows)})",
            hint="pass --provider, or use our ID (pev_…)",
            code="ambiguous_event",
        )
    return rows[0]


def show_event(db: Database, ref: str, *, provider: str | None = None, payload: bool = False) -> dict[str, Any]:
    """One stored event by our ID (``pev_…``) or the provider's (``evt_…``; ``provider`` when
    several providers used it): :func:`event_json` and ``"org"``, the slug of its organization
    (None when it concerns none, or the organization is gone); ``payload`` adds the exact stored
    text. NotFound (3)."""
    row = _find(db, ref, provider)
    slug = None
    if row.org_id is not None:
        with db.session() as session:
            org = session.get(Organization, row.org_id)
            slug = org.slug if org is not None else None
    return {**event_json(row, payload=payload), "org": slug}


# -- replaying -----------------------------------------------------------------------------------


def _replay_rows(db: Database, settings: Settings, rows: list[ProviderEvent], *, redo: bool) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    clients: dict[str, PaymentProvider] = {}
    try:
        for row in rows:
            if row.provider not in clients:
                clients[row.provider] = providers.create(row.provider, settings)
            applied = events.apply(db, clients[row.provider], row.id, redo=redo)
            facts = {"provider": row.provider, "provider_event_id": row.provider_event_id, "type": row.type}
            results.append(outcome_json(row.id, facts, applied, redelivery=True))
    finally:
        for client in clients.values():
            client.close()
    return results


def replay(
    db: Database, settings: Settings, *, ref: str | None = None, failed: bool = False, provider: str | None = None
) -> dict[str, Any]:
    """Apply stored events again through the same handlers: one event (``ref``, whatever its
    status; its side effects are not repeated), or every ``failed`` one (and every one stored
    but never applied for a minute), oldest first. Returns ``{"replayed", "processed",
    "ignored", "failed", "duplicate", "events": [outcome_json…]}``. Raises InvalidInput (usage),
    NotFound (3), ConfigError (6: the provider's keys missing)."""
    if (ref is None) == (not failed):
        raise InvalidInput("pass an event ID or --failed", hint="zigznote billing events replay --failed", code="usage")
    if ref is not None:
        results = _replay_rows(db, settings, [_find(db, ref, provider)], redo=True)
    else:
        stale = utcnow() - STALE_RECEIVED
        query = select(ProviderEvent).where(
            sa.or_(
                col(ProviderEvent.status) == events.FAILED,
                sa.and_(col(ProviderEvent.status) == events.RECEIVED, col(ProviderEvent.received_at) < stale),
            )
        )
        if provider is not None:
            query = query.where(ProviderEvent.provider == _provider(provider))
        with db.session() as session:
            rows = list(session.exec(query.order_by(col(ProviderEvent.received_at), col(ProviderEvent.id))).all())
        results = _replay_rows(db, settings, rows, redo=False)
    counts = {s: sum(1 for r in results if r["outcome"] == s) for s in ("processed", "ignored", "failed", "duplicate")}
    return {"replayed": len(results), **counts, "events": results}


# -- the HTTP receiver ------------------------------------------------------------------------------


class Receiver:
    """:func:`ingest` for ``billing serve``'s worker threads: one provider client per thread and
    provider (SDK clients are built once, not per request), closed by :meth:`close`."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[PaymentProvider] = []

    def _client(self, name: str) -> PaymentProvider:
        cache: dict[str, PaymentProvider] = self._local.__dict__.setdefault("clients", {})
        if name not in cache:
            client = providers.create(name, self.settings)  # unknown: InvalidInput; keys: ConfigError
            cache[name] = client
            with self._lock:
                self._all.append(client)
        return cache[name]

    def ingest(self, name: str, payload: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        """:func:`ingest` with this thread's client for ``name``."""
        return ingest(
            self.db, self.settings, provider=name, payload=payload, headers=headers, client=self._client(name)
        )

    def problem(self, name: str) -> str | None:
        """Why ``name`` cannot receive events now (keys or webhook secret missing), or None."""
        try:
            with providers.create(name, self.settings) as client:
                client.construct_event(b"{}", {})  # no header: a configured provider refuses the signature
        except ConfigError as exc:
            return exc.message
        except ZigznoteError:
            return None
        return None

    def healthy(self) -> bool:
        """Whether the database answers."""
        try:
            with self.db.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True

    def close(self) -> None:
        """Close every provider client the worker threads opened."""
        with self._lock:
            for client in self._all:
                client.close()
            self._all.clear()


@contextmanager
def _signals(stop: Callable[[], None]) -> Iterator[None]:
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _nothing_to_serve(states: list[dict[str, Any]]) -> ConfigError:
    """ConfigError (exit 6) for a receiver every request to which would be answered 404: no
    provider has its keys and webhook secret. The hint names the settings of each."""
    from zigznote.billing.providers._shared import KeyedProvider

    problems = "; ".join(f"{s['name']}: {s['problem']}" for s in states) or "none is registered"
    settings = [
        f"{n.upper()}_SECRET_KEY and {n.upper()}_WEBHOOK_SECRET"
        for n in (s["name"] for s in states)
        if issubclass(providers.get(n), KeyedProvider)
    ]
    hint = f"set {', or '.join(settings)}" if settings else "configure a provider"
    return ConfigError(
        f"no payment provider can receive events, so billing serve would answer every request 404 ({problems})",
        hint=f"{hint}; `zigznote billing providers` shows what each one lacks",
        code="no_provider_configured",
    )


def serve(
    db: Database,
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8790,
    grace: float = 30.0,
    on_request: Callable[[dict[str, Any]], None],
    on_ready: Callable[[str, list[dict[str, Any]]], None],
) -> None:
    """Run ``billing serve`` until SIGINT or SIGTERM, then return normally (in-flight requests
    finish first). ``on_ready(url, providers)`` once listening, ``providers`` being
    ``[{"name", "path", "ready", "problem"}]`` for every registered provider;
    ``on_request(record)`` per request (``billing.serve.AccessRecord``). Raises InvalidInput
    for a host or port that cannot be bound, ConfigError ``no_provider_configured`` (exit 6)
    before listening when no provider has its keys and webhook secret."""
    import asyncio
    import contextlib

    from zigznote.billing.serve import ServeOptions
    from zigznote.billing.serve import serve as run_server

    options = ServeOptions(host=host, port=port, grace=grace)
    options.validate()
    receiver = Receiver(db, settings)
    states = [
        {"name": n, "path": f"/billing/webhooks/{n}", "ready": (p := receiver.problem(n)) is None, "problem": p}
        for n in providers.names()
    ]
    if not any(state["ready"] for state in states):
        raise _nothing_to_serve(states)

    def ready(bound: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{bound}", states)

    async def main() -> None:
        stop = asyncio.Event()
        with _signals(stop.set):
            await run_server(
                options, receiver.ingest, healthy=receiver.healthy, on_request=on_request, stop=stop, ready=ready
            )

    try:
        with contextlib.suppress(KeyboardInterrupt):  # a Ctrl-C before the handlers are in place
            asyncio.run(main())
    finally:
        receiver.close()
