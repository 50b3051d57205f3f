"""services.billing.records under the inbound-event load: two transactions writing the same new
provider object both succeed and leave one row (INSERT … ON CONFLICT DO NOTHING, then update),
and ``as_of`` keeps the newest fetch whatever order the writes commit in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from tests.conftest import Cli
from zigznote.billing import types as bt
from zigznote.errors import Conflict
from zigznote.services.billing import records
from zigznote.store.engine import Database
from zigznote.store.models import Subscription

T0 = datetime(2026, 11, 30, 12, 0, 0)


@pytest.fixture
def db(cli: Cli) -> Iterator[tuple[Database, str]]:
    org = cli.ok("orgs", "create", "acme")
    made = Database(cli.db_url)
    yield made, org["id"]
    made.dispose()


def sub(status: bt.SubscriptionStatus) -> bt.Subscription:
    return bt.Subscription(id="sub_x", customer_id="cus_x", status=status)


def put_sub(database: Database, status: bt.SubscriptionStatus, as_of: datetime | None) -> None:
    with database.session() as session:
        records.upsert_subscription(session, "stripe", sub(status), as_of=as_of)


def status_of(database: Database) -> tuple[str, datetime]:
    with database.session() as session:
        row = session.exec(select(Subscription)).one()
        return row.status, row.synced_at


def test_an_older_fetch_never_overwrites_a_newer_one(db: tuple[Database, str]) -> None:
    database, org_id = db
    with database.session() as session:
        records.upsert_customer(session, "stripe", bt.Customer(id="cus_x"), org_id=org_id)
    put_sub(database, bt.SubscriptionStatus.PAST_DUE, T0 + timedelta(seconds=2))
    put_sub(database, bt.SubscriptionStatus.ACTIVE, T0 + timedelta(seconds=1))  # fetched earlier, committed later
    assert status_of(database) == ("past_due", T0 + timedelta(seconds=2))
    put_sub(database, bt.SubscriptionStatus.CANCELED, T0 + timedelta(seconds=3))
    assert status_of(database) == ("canceled", T0 + timedelta(seconds=3))


def test_concurrent_writers_of_one_new_object_leave_one_row(db: tuple[Database, str]) -> None:
    database, org_id = db
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def write(n: int) -> None:
        try:
            start.wait()
            with database.session() as session:
                records.upsert_customer(
                    session, "stripe", bt.Customer(id="cus_x", email=f"{n}@x.example"), org_id=org_id
                )
                records.upsert_subscription(session, "stripe", sub(bt.SubscriptionStatus.ACTIVE), as_of=T0)
        except BaseException as exc:  # collected: an exception in a thread would vanish
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with database.engine.connect() as conn:
        counts = [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in
                  ("billing_customer", "billing_subscription")]  # fmt: skip
    assert counts == [1, 1]


def test_a_second_customer_for_one_organization_is_a_conflict(db: tuple[Database, str]) -> None:
    database, org_id = db
    with database.session() as session:
        records.upsert_customer(session, "stripe", bt.Customer(id="cus_a"), org_id=org_id)
    with pytest.raises(Conflict) as caught, database.session() as session:
        records.upsert_customer(session, "stripe", bt.Customer(id="cus_b"), org_id=org_id)
    assert caught.value.code == "customer_exists"
