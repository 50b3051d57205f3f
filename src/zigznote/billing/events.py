"""Inbound provider events (issue 12): the handler-table contract and the processing pipeline.

Every inbound webhook goes through the same steps, whatever the provider (the way dj-stripe's
event log and the pay gem's refetching handlers do it, https://docs.stripe.com/webhooks:
deliveries come at least once, in any order, retried for days until answered 2xx):

1. **Verify** the exact raw bytes: ``provider.construct_event(raw, headers)``; a failure stores
   nothing (the caller answers 400).
2. **Store** the verified event first (:func:`store`): one ``provider_event`` row, unique on
   (provider, provider's event ID), written with ``INSERT … ON CONFLICT DO NOTHING`` so any
   number of concurrent deliveries of one event leave exactly one row.
3. **Apply** it (:func:`apply`): the event type's handler from the provider's table runs, then
   everything it wrote commits in ONE transaction together with the event's new status
   (``processed`` or ``ignored``). A type without a handler is ``ignored``. An event already
   ``processed``/``ignored`` is a duplicate: answered 2xx, not applied again. A handler that
   raises leaves nothing written and the event ``failed`` with the error (answered 5xx, so the
   provider retries; ``zigznote billing events replay`` re-applies it).

The handler table (the contract a provider folder implements)
------------------------------------------------------------------

``Handler = Callable[[EventContext], str]``; ``HandlerTable = Mapping[str, Handler]`` maps the
provider's own event type (``"invoice.paid"``, ``"charge.completed"``) to its handler.

**Registration: by name, nothing to call.** A provider's table is the module attribute
``HANDLERS`` of ``handlers.py`` in the package of its provider class: for ``StripeProvider``
(``zigznote.billing.providers.stripe.provider``) that is
``zigznote.billing.providers.stripe.handlers.HANDLERS``; for a Flutterwave provider class in
``zigznote.billing.providers.flutterwave.provider`` it is
``zigznote.billing.providers.flutterwave.handlers.HANDLERS``. The same module may set
``SIGNATURE_HEADER: str``, the header ``billing events ingest --signature VALUE`` fills
(``"Stripe-Signature"``, ``"verif-hash"``). A registered provider without such a module has an
empty table (every event stored and ``ignored``). Tests and plug-ins may instead call
:func:`register_handlers` (it wins over the module).

**What a handler gets** (:class:`EventContext`): ``ctx.event`` (the verified, normalized
``billing.types.ProviderEvent``: ``id``, ``type``, ``object_type``, ``object_id``, ``data`` = the
parsed payload), ``ctx.provider`` (the live ``PaymentProvider``, for re-fetching), ``ctx.read``,
``ctx.write``, ``ctx.after_commit``, ``ctx.ignore``, ``ctx.concerns``.

**What a handler must do:**

1. *Re-fetch, never trust the payload for state.* Take the object's ID (``ctx.event.object_id``)
   or a pointer that never changes (a checkout session's ``client_reference_id``) from the event,
   and fetch the object's current state with ``ctx.provider.get_subscription(...)``,
   ``get_payment``, ``get_invoice``, ``get_customer``, ``list_refunds``. Whatever order events
   arrive in, the last one applied leaves the provider's current state.
2. *Read* local rows only through ``ctx.read(fn)``: ``fn(session)`` runs in a short transaction
   of its own; return plain values (IDs, tuples), not rows to write later. Never call the
   network inside ``fn``.
3. *Write* only through ``ctx.write(fn)``: ``fn(session)`` is **deferred**. After the handler
   returns, the pipeline runs every deferred write, in order, in one transaction that also
   claims the event (``received``/``failed`` → the handler's result). If another delivery of
   the same event committed first, nothing is written. Write with
   ``services.billing.records.upsert_*`` (insert-or-update by provider ID, safe when two
   events touch the same object at once; pass ``as_of=`` the time taken just before the fetch,
   so an older fetch never overwrites a newer one).
4. *Missing parents:* an object whose parent is unknown locally (an ``invoice.paid`` for a
   subscription never seen) fetches the parent and writes it first. The building blocks in
   :mod:`zigznote.billing.event_actions` (``sync_customer``, ``sync_subscription``,
   ``sync_invoice``, ``sync_payment``, ``sync_refunds``, ``owner``) do all of this for any
   provider implementing the ``PaymentProvider`` getters; most handlers are one line.
5. *Side effects* (e-mails, notifications, jobs) only through ``ctx.after_commit(fn)``: ``fn()``
   runs after the transaction that first marks this provider event ``processed`` commits, and
   never again: not on a duplicate, a failed attempt or a replay of an event already processed.
   So each runs at most once per provider event; use ``ctx.event.id`` as its own idempotency
   key where the other side takes one. Exceptions it raises are logged, not failures.
6. *Return* :data:`PROCESSED`, or :data:`IGNORED` when the event concerns nothing of
   zigznote's (``return ctx.ignore("why")`` records the reason, shown by ``events show``).
   ``ctx.concerns(org_id)`` records the organization the event is about.
7. *Fail* by raising a ``ZigznoteError`` (``ProviderError`` for a network failure, ``NotFound``,
   ``Conflict``, …): the event turns ``failed`` with the message as its error. Any other
   exception is a failure too, recorded as "internal error in the <type> handler (<class>)",
   its traceback logged, never answered.
8. *Be idempotent*: a handler may run again for the same event (the provider retries a failed
   delivery; ``events replay``). Re-fetch + upsert is.

Example (``billing/providers/<name>/handlers.py``)::

    from zigznote.billing import event_actions as act
    from zigznote.billing.events import EventContext, HandlerTable

    SIGNATURE_HEADER = "verif-hash"

    def charge_completed(ctx: EventContext) -> str:
        return act.sync_payment(ctx, ctx.event.object_id)  # None: ignored, "names no payment"

    HANDLERS: HandlerTable = {"charge.completed": charge_completed}
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from zigznote.billing.providers.base import PaymentProvider
from zigznote.billing.types import ProviderEvent
from zigznote.errors import DatabaseUnavailable, InvalidInput, NotFound, ZigznoteError
from zigznote.ids import new_id
from zigznote.store.models import ProviderEvent as EventRow
from zigznote.store.models import table_of
from zigznote.store.models.billing import EVENT_FAILED, EVENT_IGNORED, EVENT_PROCESSED, EVENT_RECEIVED
from zigznote.timeutil import utcnow
from zigznote.untrusted import load_json, storable_text

if TYPE_CHECKING:
    from zigznote.store.engine import Database

__all__ = [
    "DUPLICATE", "FAILED", "IGNORED", "PROCESSED", "RECEIVED", "Applied", "EventContext", "Handler", "HandlerTable",
    "Stored", "apply", "handler_table", "register_handlers", "signature_header", "store", "unregister_handlers",
]  # fmt: skip

log = logging.getLogger(__name__)
T = TypeVar("T")

PROCESSED: Final = EVENT_PROCESSED
IGNORED: Final = EVENT_IGNORED
FAILED: Final = EVENT_FAILED
RECEIVED: Final = EVENT_RECEIVED
#: An outcome, never a stored status: the event was already applied by another delivery.
DUPLICATE: Final = "duplicate"

Handler = Callable[["EventContext"], str]
HandlerTable = Mapping[str, Handler]

_MAX_ERROR = 2000
_explicit: dict[str, tuple[HandlerTable, str | None]] = {}
_found: dict[str, tuple[HandlerTable, str | None]] = {}


# -- the handler table -------------------------------------------------------------------------


def register_handlers(provider: str, table: HandlerTable, *, signature_header: str | None = None) -> None:
    """Use ``table`` for ``provider``'s events instead of its ``handlers`` module (tests,
    plug-ins). Raises ZigznoteError (a bug) when a key is not text or a value not callable."""
    _explicit[provider] = (_checked(provider, table), signature_header)


def unregister_handlers(provider: str) -> None:
    """Forget a :func:`register_handlers` table (and the cached module lookup)."""
    _explicit.pop(provider, None)
    _found.pop(provider, None)


def _checked(provider: str, table: object) -> HandlerTable:
    if not isinstance(table, Mapping) or not all(isinstance(k, str) and callable(v) for k, v in table.items()):
        raise ZigznoteError(f"the {provider} handler table must map event types to callables")
    return table


def _lookup(provider: str) -> tuple[HandlerTable, str | None]:
    if provider in _explicit:
        return _explicit[provider]
    if provider not in _found:
        from zigznote.billing import providers

        cls = providers.get(provider)  # InvalidInput unknown_provider
        module_name = cls.__module__.rpartition(".")[0] + ".handlers"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module exists but imports something missing: a bug
                raise
            _found[provider] = ({}, None)
        else:
            header = getattr(module, "SIGNATURE_HEADER", None)
            _found[provider] = (_checked(provider, getattr(module, "HANDLERS", {})), header)
    return _found[provider]


def handler_table(provider: str) -> HandlerTable:
    """``provider``'s event type → handler table (see the module docstring for where it comes
    from). Raises InvalidInput ``unknown_provider`` for a provider not registered."""
    return _lookup(provider)[0]


def signature_header(provider: str) -> str | None:
    """The header ``--signature`` stands for at ``provider`` (``SIGNATURE_HEADER``), if it says."""
    return _lookup(provider)[1]


# -- what a handler gets --------------------------------------------------------------------------


@dataclass
class EventContext:
    """One application of one stored event (see the module docstring for the rules).

    ``event``: the verified event, rebuilt from the stored bytes; ``provider``: the provider to
    re-fetch from; ``row_id``: our ``pev_…`` ID; ``replay``: applied again by ``events replay``
    after it was already processed or ignored; ``org_id``: the organization it concerns, once a
    handler knows (:meth:`concerns`); ``note``: why it was ignored (:meth:`ignore`).
    """

    event: ProviderEvent
    provider: PaymentProvider
    row_id: str
    db: Database = field(repr=False)
    replay: bool = False
    org_id: str | None = None
    note: str | None = None
    writes: list[Callable[[Session], object]] = field(default_factory=list, repr=False)
    effects: list[Callable[[], object]] = field(default_factory=list, repr=False)

    @property
    def provider_name(self) -> str:
        """The provider's registry name (``stripe``): the ``provider`` of every row written."""
        return self.event.provider

    def read(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in a short transaction of its own, now; returns its result."""
        with self.db.session() as session:
            return fn(session)

    def write(self, fn: Callable[[Session], object]) -> None:
        """Defer ``fn(session)`` to the one transaction that applies the event (run in order)."""
        self.writes.append(fn)

    def after_commit(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` once after the transaction that first marks the event processed."""
        self.effects.append(fn)

    def ignore(self, reason: str) -> str:
        """Record why the event concerns nothing of ours; returns :data:`IGNORED`."""
        self.note = reason
        return IGNORED

    def concerns(self, org_id: str | None) -> None:
        """Record the organization the event is about (the first one given is kept)."""
        if org_id and self.org_id is None:
            self.org_id = org_id


# -- storing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """The event's row: ``id`` (``pev_…``), its ``status`` now, ``inserted`` (False: a redelivery)."""

    id: str
    status: str
    inserted: bool


def store(db: Database, event: ProviderEvent) -> Stored:
    """Write the verified ``event`` (raw bytes and all) unless (provider, event ID) is stored
    already, in its own committed transaction. Safe under any number of concurrent calls for
    one event: exactly one row results. Raises InvalidInput for an ID or type no row can hold."""
    from zigznote.services.billing.records import insert_if_absent

    if not event.id or len(event.id) > 255 or not event.type or len(event.type) > 100:
        raise InvalidInput("the event's ID or type is empty or too long to store", code="invalid_event")
    values = {
        "id": new_id("pev"), "provider": event.provider, "provider_event_id": event.id,
        "type": storable_text(event.type, max_chars=100), "object_type": event.object_type,
        "object_id": event.object_id if event.object_id and len(event.object_id) <= 255 else None,
        "livemode": event.livemode, "payload": bytes(event.raw), "provider_created_at": event.created,
        "received_at": utcnow(), "status": RECEIVED, "attempts": 0,
    }  # fmt: skip
    table = table_of(EventRow)
    with db.session() as session:
        inserted = insert_if_absent(session, table, values)
        row = (
            session.connection()
            .execute(
                sa.select(table.c.id, table.c.status).where(
                    table.c.provider == event.provider, table.c.provider_event_id == event.id
                )
            )
            .one()
        )
    return Stored(row.id, row.status, inserted)


# -- applying ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did: ``status`` is ``processed``, ``ignored``, ``failed`` or
    ``duplicate`` (another delivery applied it first); ``error`` the failure, ``note`` why it
    was ignored; ``effects`` how many side effects ran."""

    id: str
    status: str
    error: str | None = None
    note: str | None = None
    org_id: str | None = None
    effects: int = 0


class _Lost(Exception):
    """Another delivery or replay claimed the event first: roll back, answer duplicate."""


def _event_of(row: Any) -> ProviderEvent:
    return ProviderEvent(
        id=row.provider_event_id, provider=row.provider, type=row.type, object_type=row.object_type,
        object_id=row.object_id, created=row.provider_created_at, livemode=bool(row.livemode),
        data=load_json(bytes(row.payload), where="stored provider event"), raw=bytes(row.payload),
    )  # fmt: skip


def apply(
    db: Database, provider: PaymentProvider, row_id: str, *, redo: bool = False, table: HandlerTable | None = None
) -> Applied:
    """Apply the stored event ``row_id`` through ``provider``'s handler table (or ``table``).

    An event already ``processed``/``ignored`` is a duplicate unless ``redo`` (``events replay
    ID``: applied again, its side effects not repeated). Returns :class:`Applied`; a handler's
    failure is an outcome (``failed``, stored on the row), not an exception. Raises
    DatabaseUnavailable when the store cannot be reached, NotFound for an unknown ``row_id``."""
    cols = table_of(EventRow).c
    with db.session() as session:
        row = session.connection().execute(sa.select(table_of(EventRow)).where(cols.id == row_id)).first()
    if row is None:
        raise NotFound(f"no provider event {row_id!r}", code="event_not_found")
    if row.status in (PROCESSED, IGNORED) and not redo:
        return Applied(row_id, DUPLICATE, org_id=row.org_id)
    allowed = (RECEIVED, FAILED, PROCESSED, IGNORED) if redo else (RECEIVED, FAILED)
    try:
        event = _event_of(row)
        ctx = EventContext(event, provider, row_id, db, replay=row.status in (PROCESSED, IGNORED))
        handlers = handler_table(event.provider) if table is None else table
        handler = handlers.get(event.type)
        result = handler(ctx) if handler is not None else ctx.ignore(f"no handler for {event.type} events")
        if result not in (PROCESSED, IGNORED):
            raise ZigznoteError(f"the {event.type} handler answered {result!r}, not processed or ignored")
        previous = _commit(db, ctx, result, allowed)
    except _Lost:
        return Applied(row_id, DUPLICATE, org_id=row.org_id)
    except DatabaseUnavailable:
        raise  # nothing can be recorded; the provider's retry (or replay) applies it later
    except ZigznoteError as exc:
        return _fail(db, row_id, exc.message, redo=redo)
    except SQLAlchemyError as exc:  # the database refused a write (a constraint, a type)
        origin = getattr(exc, "orig", None) or exc
        first = (str(origin).strip().splitlines() or [""])[0][:300]
        return _fail(db, row_id, f"the database refused the changes ({type(origin).__name__}: {first})", redo=redo)
    except Exception as exc:
        log.exception("the %s handler failed on %s", row.type, row.provider_event_id)
        return _fail(db, row_id, f"internal error in the {row.type} handler ({type(exc).__name__})", redo=redo)
    ran = 0
    if result == PROCESSED and previous != PROCESSED:
        for effect in ctx.effects:
            try:
                effect()
                ran += 1
            except Exception:  # the event is applied; one effect failing changes nothing of that
                log.exception("a side effect of %s %s failed", event.type, event.id)
    return Applied(row_id, result, note=ctx.note, org_id=ctx.org_id or row.org_id, effects=ran)


def _commit(db: Database, ctx: EventContext, result: str, allowed: tuple[str, ...]) -> str:
    """Claim the event and run the deferred writes in one transaction; the status it had."""
    table = table_of(EventRow)
    with db.session() as session:
        conn = session.connection()
        # Locks the row on Postgres: a concurrent delivery of the same event waits here, then
        # finds it processed and rolls back (SQLite transactions are already serialized).
        current = conn.execute(
            sa.select(table.c.status, table.c.org_id).where(table.c.id == ctx.row_id).with_for_update()
        ).first()
        if current is None or current.status not in allowed:
            raise _Lost
        conn.execute(
            sa.update(table)
            .where(table.c.id == ctx.row_id)
            .values(
                status=result,
                processed_at=utcnow(),
                attempts=table.c.attempts + 1,
                error=storable_text(ctx.note, max_chars=_MAX_ERROR) if result == IGNORED else None,
                org_id=ctx.org_id or current.org_id,
            )
        )
        for write in ctx.writes:
            write(session)
        session.flush()
        return str(current.status)


def _fail(db: Database, row_id: str, message: str, *, redo: bool) -> Applied:
    """Record a failed attempt; an event another delivery applied meanwhile stays applied."""
    table = table_of(EventRow)
    with db.session() as session:
        conn = session.connection()
        changed = conn.execute(
            sa.update(table)
            .where(table.c.id == row_id, table.c.status.in_((RECEIVED, FAILED)))
            .values(status=FAILED, error=storable_text(message, max_chars=_MAX_ERROR), attempts=table.c.attempts + 1)
        ).rowcount
        current = conn.execute(sa.select(table.c.status, table.c.org_id).where(table.c.id == row_id)).first()
    if not changed and current is not None and current.status in (PROCESSED, IGNORED) and not redo:
        return Applied(row_id, DUPLICATE, org_id=current.org_id)
    log.debug("provider event %s failed: %s", row_id, message)
    return Applied(row_id, FAILED, error=message, org_id=current.org_id if current is not None else None)
