"""Reconciliation for cron against Stripe (respx, a fake holding each object's current state):
`billing subscriptions sync` and `billing customers sync` repair local drift; the JSON summary
when stdout is not a terminal; progress reported per customer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import respx
import sqlalchemy as sa

from tests.billing.stripe_world import API, CUS, SECRET_KEY, SUB, WEBHOOK_SECRET, StripeWorld, event, fixture, sign
from tests.conftest import Cli
from zigznote.config import load_settings
from zigznote.services import billing
from zigznote.store.engine import Database

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # stripe's HTTPXClient


@pytest.fixture
def world(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeWorld]:
    """Stripe with the acme organization's customer and subscription, both known locally (an
    inbound event brought them in)."""
    monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", API)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("ZIGZNOTE_BILLING_PROVIDER", "stripe")
    org = cli.ok("orgs", "create", "acme", "--name", "Acme Corp")
    with respx.mock(base_url=API, assert_all_called=False) as router:
        made = StripeWorld(router, org["id"])
        body = event("evt_s1", "customer.subscription.created", fixture("subscription"))
        assert cli.ok("billing", "events", "ingest", "--signature", sign(body), input=body)["outcome"] == "processed"
        yield made


def drift(cli: Cli, sql: str) -> None:
    db = Database(cli.db_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        db.dispose()


def test_subscriptions_sync_repairs_a_drifted_status(cli: Cli, world: StripeWorld) -> None:
    assert cli.ok("--org", "acme", "billing", "subscriptions", "show")["status"] == "active"
    drift(cli, "UPDATE billing_subscription SET status = 'canceled', cancel_at_period_end = true")
    world.subscriptions[SUB]["status"] = "past_due"  # and Stripe moved on meanwhile
    data = cli.ok("billing", "subscriptions", "sync", "--all")
    assert (data["provider"], data["checked"], data["created"]) == ("stripe", 1, [])
    assert [(s["provider_id"], s["status"], s["cancel_at_period_end"]) for s in data["changed"]] == [
        (SUB, "past_due", False)
    ]
    assert cli.ok("--org", "acme", "billing", "subscriptions", "show")["status"] == "past_due"
    assert world.fetched(f"subscriptions?{CUS}") == 1
    again = cli.ok("--org", "acme", "billing", "subscriptions", "sync")
    assert (again["checked"], again["changed"], again["created"]) == (1, [], [])


def test_for_cron_the_summary_is_json_on_stdout(cli: Cli, world: StripeWorld) -> None:
    drift(cli, "UPDATE billing_subscription SET status = 'unpaid'")
    ran = cli("billing", "subscriptions", "sync", "--all")  # stdout is not a terminal here
    assert ran.exit_code == 0, ran.stderr
    assert "checked 1 subscriptions at stripe: 1 brought up to date" in ran.stderr
    (line,) = ran.stdout.splitlines()
    summary = json.loads(line)
    assert (summary["checked"], [s["status"] for s in summary["changed"]]) == (1, ["active"])
    customers = cli("billing", "customers", "sync", "--all")
    assert customers.exit_code == 0 and json.loads(customers.stdout)["checked"] == 1


def test_customers_sync_repairs_drift(cli: Cli, world: StripeWorld) -> None:
    drift(cli, "UPDATE billing_customer SET email = 'old@acme.example', deleted = true")
    world.customers[CUS]["email"] = "ap@acme.example"
    data = cli.ok("billing", "customers", "sync", "--all")
    assert [(c["provider_id"], c["email"], c["deleted"], c["org"]) for c in data["changed"]] == [
        (CUS, "ap@acme.example", False, "acme")
    ]
    assert cli.ok("billing", "customers", "sync", "--all")["changed"] == []


def test_progress_is_reported_per_customer(cli: Cli, world: StripeWorld) -> None:
    db = Database(cli.db_url)
    seen: list[tuple[int, int]] = []
    try:
        settings: Any = load_settings({"db_url": cli.db_url})
        billing.sync_subscriptions(db, settings, progress=lambda done, total: seen.append((done, total)))
        billing.sync_customers(db, settings, progress=lambda done, total: seen.append((done, total)))
    finally:
        db.dispose()
    assert seen == [(1, 1), (1, 1)]


def test_a_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from rich.console import Console

    from zigznote.cli._context import AppContext
    from zigznote.cli._output import Output
    from zigznote.cli.billing_accounts import _progress

    out = Output()
    screen = io.StringIO()
    out._err_console = Console(file=screen, force_terminal=True, width=80)
    ctx = AppContext(out=out)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    with _progress(ctx, "subscriptions") as update:
        assert update is None  # cron: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with _progress(ctx, "subscriptions") as update:
        assert update is not None
        update(1, 2)
    assert "checking subscriptions" in screen.getvalue() and "1/2" in screen.getvalue()
    out.json = True
    with _progress(ctx, "subscriptions") as update:
        assert update is None  # --json: nothing but the document
