"""The provider-neutral event pipeline (billing/events.py) with the fake provider and test
handlers: store first and once, unknown types ignored, one transaction per apply, failures
recorded and replayable, side effects at most once, concurrent duplicates applied once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from tests.billing.fake_provider import fake_billing
from tests.billing.fake_world import World
from tests.conftest import Cli
from zigznote.billing import events
from zigznote.billing.events import EventContext
from zigznote.config import Settings, load_settings
from zigznote.errors import InvalidInput, ProviderError, SignatureInvalid
from zigznote.services.billing import events as service
from zigznote.store.engine import Database

__all__ = ["fake_billing"]

OK = {"fake-signature": "ok"}


def body(event_id: str, type_: str = "thing.happened", **extra: Any) -> bytes:
    return json.dumps({"id": event_id, "type": type_, **extra}).encode()


class Handlers:
    """Test handlers writing an org's name (so writes are visible) and counting side effects."""

    def __init__(self, org_id: str) -> None:
        self.org_id = org_id
        self.effects: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.broken: set[str] = set()
        self.lock = threading.Lock()

    def rename(self, ctx: EventContext) -> str:
        with self.lock:
            self.calls[ctx.event.id] += 1
        if ctx.event.id in self.broken:
            raise ProviderError("the provider timed out")
        name = str(ctx.event.data.get("name", "renamed"))
        org_id = self.org_id

        def write(session: Session) -> None:
            session.connection().execute(
                sa.text("UPDATE organization SET name = :n WHERE id = :id"), {"n": name, "id": org_id}
            )

        ctx.write(write)
        ctx.concerns(org_id)
        ctx.after_commit(lambda: self._effect(ctx.event.id))
        return events.PROCESSED

    def _effect(self, event_id: str) -> None:
        with self.lock:
            self.effects[event_id] += 1

    def half_written(self, ctx: EventContext) -> str:
        ctx.write(lambda s: s.connection().execute(sa.text("UPDATE organization SET name = 'half'")))
        ctx.write(lambda s: s.connection().execute(sa.text("INSERT INTO organization (id) VALUES (NULL)")))
        return events.PROCESSED

    def buggy(self, ctx: EventContext) -> str:
        missing: dict[str, str] = {}
        return missing["key"]

    def table(self) -> dict[str, Any]:
        return {"org.renamed": self.rename, "org.half": self.half_written, "org.buggy": self.buggy}


@pytest.fixture
def setup(cli: Cli, fake_billing: World) -> Iterator[tuple[Database, Settings, Handlers]]:
    org = cli.ok("orgs", "create", "acme", "--name", "Acme")
    handlers = Handlers(org["id"])
    events.register_handlers("fake", handlers.table(), signature_header="Fake-Signature")
    db = Database(cli.db_url)
    try:
        yield db, load_settings({"db_url": cli.db_url}), handlers
    finally:
        events.unregister_handlers("fake")
        db.dispose()


def ingest(setup: tuple[Database, Settings, Handlers], payload: bytes, headers: dict[str, str] = OK) -> dict[str, Any]:
    db, settings, _ = setup
    return service.ingest(db, settings, provider="fake", payload=payload, headers=headers)


def rows(db: Database) -> list[tuple[str, str, str, int]]:
    with db.engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT provider_event_id, type, status, attempts FROM provider_event ORDER BY provider_event_id")
        )
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in found]


def org_name(db: Database) -> str:
    with db.engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT name FROM organization")).scalar_one())


def test_an_event_is_stored_then_applied_in_one_transaction(setup: Any) -> None:
    db, _, handlers = setup
    out = ingest(setup, body("e1", "org.renamed", name="Acme Corp"))
    assert out["id"].startswith("pev_")
    assert {k: v for k, v in out.items() if k != "id"} == {
        "provider": "fake", "provider_event_id": "e1", "type": "org.renamed", "outcome": "processed",
        "redelivery": False, "error": None, "note": None, "org_id": handlers.org_id,
    }  # fmt: skip
    assert rows(db) == [("e1", "org.renamed", "processed", 1)]
    assert org_name(db) == "Acme Corp"
    shown = service.show_event(db, "e1", payload=True)
    assert (shown["org_id"], shown["payload"]) == (
        handlers.org_id,
        body("e1", "org.renamed", name="Acme Corp").decode(),
    )


def test_a_duplicate_is_answered_and_not_applied_again(setup: Any) -> None:
    db, _, handlers = setup
    first = ingest(setup, body("e1", "org.renamed", name="One"))
    second = ingest(setup, body("e1", "org.renamed", name="Two"))  # same provider event ID
    assert (first["outcome"], second["outcome"], second["redelivery"], second["id"]) == (
        "processed", "duplicate", True, first["id"],
    )  # fmt: skip
    assert (handlers.calls["e1"], handlers.effects["e1"], org_name(db)) == (1, 1, "One")
    assert rows(db) == [("e1", "org.renamed", "processed", 1)]


def test_unknown_types_are_stored_and_ignored(setup: Any) -> None:
    db, _, _ = setup
    out = ingest(setup, body("e2", "payout.paid"))
    assert (out["outcome"], out["note"]) == ("ignored", "no handler for payout.paid events")
    assert rows(db) == [("e2", "payout.paid", "ignored", 1)]
    assert service.show_event(db, "e2")["note"] == "no handler for payout.paid events"


def test_a_bad_signature_stores_nothing(setup: Any) -> None:
    db, _, _ = setup
    with pytest.raises(SignatureInvalid):
        ingest(setup, body("e3", "org.renamed"), {"fake-signature": "forged"})
    with pytest.raises(InvalidInput):
        ingest(setup, b"[1]")
    assert rows(db) == []


def test_a_failing_handler_writes_nothing_and_is_replayed_once_it_can(setup: Any) -> None:
    db, settings, handlers = setup
    handlers.broken.add("e4")
    out = ingest(setup, body("e4", "org.renamed", name="Later"))
    assert (out["outcome"], out["error"]) == ("failed", "the provider timed out")
    assert (rows(db), org_name(db), handlers.effects["e4"]) == ([("e4", "org.renamed", "failed", 1)], "Acme", 0)
    assert service.list_events(db, status="failed")[0]["error"] == "the provider timed out"
    # The provider retries: still failing, counted.
    assert ingest(setup, body("e4", "org.renamed", name="Later"))["outcome"] == "failed"
    handlers.broken.clear()
    replayed = service.replay(db, settings, failed=True)
    assert (replayed["replayed"], replayed["processed"], replayed["failed"]) == (1, 1, 0)
    assert (rows(db), org_name(db), handlers.effects["e4"]) == ([("e4", "org.renamed", "processed", 3)], "Later", 1)
    assert service.replay(db, settings, failed=True)["replayed"] == 0


def test_writes_are_all_or_nothing(setup: Any) -> None:
    db, _, _ = setup
    out = ingest(setup, body("e5", "org.half"))
    assert out["outcome"] == "failed"
    assert out["error"].startswith("the database refused the changes (")
    assert (org_name(db), rows(db)) == ("Acme", [("e5", "org.half", "failed", 1)])


def test_a_bug_in_a_handler_is_a_failure_without_detail(setup: Any) -> None:
    out = ingest(setup, body("e6", "org.buggy"))
    assert (out["outcome"], out["error"]) == ("failed", "internal error in the org.buggy handler (KeyError)")


def test_replaying_a_processed_event_reapplies_without_repeating_side_effects(setup: Any) -> None:
    db, settings, handlers = setup
    ingest(setup, body("e7", "org.renamed", name="First"))
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE organization SET name = 'drifted'"))
    again = service.replay(db, settings, ref="e7")
    assert [e["outcome"] for e in again["events"]] == ["processed"]
    assert (org_name(db), handlers.calls["e7"], handlers.effects["e7"]) == ("First", 2, 1)
    with pytest.raises(InvalidInput):
        service.replay(db, settings)


def test_concurrent_deliveries_of_the_same_events_apply_each_once(setup: Any) -> None:
    db, _, handlers = setup
    payloads = [body(f"c{i % 20}", "org.renamed", name=f"n{i % 20}") for i in range(120)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(lambda p: ingest(setup, p)["outcome"], payloads))
    assert Counter(outcomes) == Counter({"processed": 20, "duplicate": 100})
    assert len(rows(db)) == 20 and {r[2] for r in rows(db)} == {"processed"}
    assert handlers.effects == Counter({f"c{i}": 1 for i in range(20)})


def test_the_handler_table_is_found_by_name() -> None:
    from zigznote.billing.providers.stripe import handlers as stripe_handlers

    assert events.handler_table("stripe") is stripe_handlers.HANDLERS
    assert events.signature_header("stripe") == "Stripe-Signature"
    assert events.handler_table("stripe")["customer.subscription.updated"] is stripe_handlers.subscription_changed
    with pytest.raises(InvalidInput) as caught:
        events.handler_table("nosuch")
    assert caught.value.code == "unknown_provider"
