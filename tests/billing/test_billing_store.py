"""The billing tables (migration 0007) on SQLite and Postgres: money columns, uniqueness the next
issue relies on (one provider event per provider and event ID), raw payload bytes, cascades."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from tests.conftest import Cli
from zigznote.ids import new_id
from zigznote.store.engine import Database
from zigznote.store.models import BillingCustomer, Organization, Payment, PendingOperation, ProviderEvent, Refund


@pytest.fixture
def db(cli: Cli) -> Iterator[Database]:
    database = Database(cli.db_url)
    yield database
    database.dispose()


def _org(db: Database, slug: str = "acme") -> str:
    org_id = new_id("org")
    with db.session() as session:
        session.add(Organization(id=org_id, slug=slug, name=slug))
    return org_id


def _event(event_id: str, provider: str = "stripe", payload: bytes = b"{}") -> ProviderEvent:
    return ProviderEvent(
        id=new_id("pev"), provider=provider, provider_event_id=event_id, type="invoice.paid", payload=payload
    )


def test_provider_events_are_unique_per_provider_and_keep_exact_bytes(db: Database) -> None:
    raw = b'{"id": "evt_1", "note": "caf\xc3\xa9 \\u0000", "x": "\xff\xfe"}'  # not even valid UTF-8
    with db.session() as session:
        session.add(_event("evt_1", payload=raw))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(_event("evt_1"))
    with db.session() as session:
        session.add(_event("evt_1", provider="flutterwave"))  # another provider's ID space
        rows = session.exec(select(ProviderEvent).order_by(col(ProviderEvent.provider))).all()
    assert [(r.provider, r.payload, r.status, r.attempts) for r in rows] == [
        ("flutterwave", b"{}", "received", 0),
        ("stripe", raw, "received", 0),
    ]


def test_money_columns_hold_fifteen_digits_of_minor_units(db: Database) -> None:
    org_id = _org(db)
    big = 10**15 - 1
    with db.session() as session:
        session.add(
            Payment(id=new_id("pay"), org_id=org_id, provider="stripe", provider_payment_id="pi_1", amount=big,
                    amount_refunded=big - 1, currency="VND", status="succeeded", synced_at=datetime(2026, 11, 1))
        )  # fmt: skip
    with db.session() as session:
        row = session.exec(select(Payment)).one()
    assert (row.amount, row.amount_refunded) == (big, big - 1)


def test_idempotency_keys_are_unique_per_provider(db: Database) -> None:
    def op(provider: str) -> PendingOperation:
        return PendingOperation(id=new_id("bop"), provider=provider, operation="customer.create", scope="org_1",
                                idempotency_key="zigznote/customer.create/org_1/bop_1")  # fmt: skip

    with db.session() as session:
        session.add(op("stripe"))
        session.add(op("flutterwave"))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(op("stripe"))


def test_an_organizations_billing_rows_go_with_it(cli: Cli, db: Database) -> None:
    org_id = cli.ok("orgs", "create", "acme")["id"]
    with db.session() as session:
        session.add(BillingCustomer(id="bcus_1", org_id=org_id, provider="stripe", provider_customer_id="cus_1",
                                    synced_at=datetime(2026, 11, 1)))  # fmt: skip
        session.flush()
        session.add(Payment(id="pay_1", org_id=org_id, customer_id="bcus_1", provider="stripe",
                            provider_payment_id="pi_1", amount=100, amount_refunded=0, currency="USD",
                            status="succeeded", synced_at=datetime(2026, 11, 1)))  # fmt: skip
        session.flush()
        session.add(Refund(id="ref_1", org_id=org_id, payment_id="pay_1", provider="stripe", provider_refund_id="re_1",
                           provider_payment_id="pi_1", amount=100, currency="USD", status="succeeded",
                           synced_at=datetime(2026, 11, 1)))  # fmt: skip
        session.add(_event("evt_1"))
        session.flush()
        event = session.exec(select(ProviderEvent)).one()
        event.org_id = org_id
    assert cli.ok("orgs", "delete", "acme", "--force")["deleted"] is True
    with db.session() as session:
        counts = [session.exec(select(func.count()).select_from(m)).one() for m in (BillingCustomer, Payment, Refund)]
        kept = session.exec(select(ProviderEvent)).one().org_id
    assert counts == [0, 0, 0]
    assert kept is None  # the event log outlives the organization
