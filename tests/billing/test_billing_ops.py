"""Pending operations: resume after a lost answer with the same key and frozen parameters,
refusals, expired keys; against the fake provider and a real database (SQLite and Postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from tests.billing.fake_provider import FakeProvider, fake_billing
from tests.billing.fake_world import World
from tests.conftest import Cli
from zigznote.billing.idempotency import freeze, thaw
from zigznote.billing.types import (
    Customer,
    CustomerInput,
)
from zigznote.errors import ConfigError, InvalidInput, ProviderError
from zigznote.services.billing import ops
from zigznote.store.engine import Database
from zigznote.store.models import PendingOperation

__all__ = ["fake_billing"]  # fixtures used by name


@pytest.fixture
def db(cli: Cli) -> Iterator[Database]:
    database = Database(cli.db_url)
    yield database
    database.dispose()


def _rows(db: Database) -> list[PendingOperation]:
    with db.session() as session:
        return list(session.exec(select(PendingOperation).order_by(col(PendingOperation.created_at))).all())


def _create(db: Database, world: World, name: str) -> ops.Outcome[str]:
    client = FakeProvider()
    return ops.run(
        db,
        provider="fake",
        operation="customer.create",
        scope="org_1",
        params=freeze(CustomerInput(name=name)),
        call=lambda p, key: client.create_customer(thaw(CustomerInput, p), idempotency_key=key),
        result_id=lambda c: c.id,
        record=lambda _s, c: c.id,
    )


def test_a_lost_answer_is_resent_with_the_same_key_and_frozen_params(db: Database, fake_billing: World) -> None:
    fake_billing.lose.add("create_customer")
    with pytest.raises(ProviderError):
        _create(db, fake_billing, "Acme")
    (row,) = _rows(db)
    assert (row.status, row.attempts, row.result_id) == ("pending", 1, None)
    assert row.error == "connection to Fake lost before its answer"
    assert row.params == {"email": None, "name": "Acme", "metadata": {}}
    assert row.idempotency_key == f"zigznote/customer.create/org_1/{row.id}"

    outcome = _create(db, fake_billing, "Acme Corp")  # the caller asks something else this time
    assert outcome.value == "cus_1"
    assert outcome.started.resumed and outcome.started.differs
    calls = fake_billing.called("create_customer")
    assert [k["idempotency_key"] for _a, k in calls] == [row.idempotency_key] * 2
    assert [a[0] for a, _k in calls] == [CustomerInput(name="Acme")] * 2  # the frozen request, twice
    assert list(fake_billing.customers) == ["cus_1"]
    (done,) = _rows(db)
    assert (done.status, done.attempts, done.result_id) == ("completed", 2, "cus_1")
    assert done.completed_at is not None
    assert outcome.notes("customer create") == [
        f"finished an earlier customer create that got no answer (started {row.created_at.isoformat()}Z), with "
        "the same idempotency key: with its original parameters, not this command's (run it again for a new one)"
    ]

    again = _create(db, fake_billing, "Acme")  # completed: the next create is a new operation
    assert not again.started.resumed and again.started.key != row.idempotency_key
    assert again.value == "cus_2"


def test_a_refusal_spends_the_key(db: Database, fake_billing: World) -> None:
    fake_billing.fail["create_customer"] = [InvalidInput("Invalid email address: nope")]
    with pytest.raises(InvalidInput):
        _create(db, fake_billing, "Acme")
    (row,) = _rows(db)
    assert (row.status, row.error) == ("failed", "Invalid email address: nope")
    outcome = _create(db, fake_billing, "Acme")
    assert not outcome.started.resumed and outcome.started.key != row.idempotency_key


def test_missing_credentials_keep_the_operation_pending(db: Database, fake_billing: World) -> None:
    fake_billing.fail["create_customer"] = [ConfigError("STRIPE_SECRET_KEY was refused")]
    with pytest.raises(ConfigError):
        _create(db, fake_billing, "Acme")
    assert _rows(db)[0].status == "pending"
    assert _create(db, fake_billing, "Acme").started.resumed


def test_an_operation_older_than_the_key_ttl_expires(db: Database, fake_billing: World) -> None:
    fake_billing.lose.add("create_customer")
    with pytest.raises(ProviderError):
        _create(db, fake_billing, "Acme")
    with db.session() as session:
        row = session.exec(select(PendingOperation)).one()
        row.created_at -= ops.KEY_TTL + timedelta(minutes=1)
        session.add(row)
        old_key, started = row.idempotency_key, row.created_at
    outcome = _create(db, fake_billing, "Acme")
    assert not outcome.started.resumed and outcome.started.key != old_key
    assert [r.status for r in _rows(db)] == ["expired", "completed"]
    assert outcome.notes("customer create") == [
        f"an earlier customer create (started {started.isoformat()}Z) never got an answer and its idempotency key "
        "has expired at the provider: this is a new request"
    ]
    # The lost first create did happen at the provider: an expired key cannot prevent a second object.
    assert list(fake_billing.customers) == ["cus_1", "cus_2"]


def test_find_pending_sees_only_live_pending_operations(db: Database, fake_billing: World) -> None:
    assert ops.find_pending(db, provider="fake", operation="customer.create", scope="org_1") is None
    fake_billing.lose.add("create_customer")
    with pytest.raises(ProviderError):
        _create(db, fake_billing, "Acme")
    found = ops.find_pending(db, provider="fake", operation="customer.create", scope="org_1")
    assert found is not None and found.status == "pending"
    assert ops.find_pending(db, provider="fake", operation="customer.create", scope="org_2") is None
    assert ops.find_pending(db, provider="other", operation="customer.create", scope="org_1") is None


def test_record_runs_in_the_completing_transaction(db: Database, fake_billing: World) -> None:
    client = FakeProvider()

    def record(_session: Any, customer: Customer) -> str:
        raise RuntimeError("our write failed")

    with pytest.raises(RuntimeError):
        ops.run(
            db,
            provider="fake",
            operation="customer.create",
            scope="org_1",
            params=freeze(CustomerInput(name="Acme")),
            call=lambda p, key: client.create_customer(thaw(CustomerInput, p), idempotency_key=key),
            result_id=lambda c: c.id,
            record=record,
        )
    # Rolled back together: still pending, so the next attempt resends the key and gets cus_1 back.
    assert _rows(db)[0].status == "pending"
    assert _create(db, fake_billing, "Acme").value == "cus_1"
    assert list(fake_billing.customers) == ["cus_1"]
