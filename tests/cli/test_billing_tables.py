"""The `billing` tables at 80 columns: the columns that matter come first and survive (status,
email, the price's interval), our internal IDs (``pev_``, ``pay_``, ``bcus_``, ``bpr_``) are left
to --json where the provider's ID names the row."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx

from tests.billing.fake_provider import fake_billing
from tests.billing.fake_world import World
from tests.billing.stripe_world import API, SECRET_KEY, WEBHOOK_SECRET, StripeWorld, event, fixture, sign
from tests.billing.support import write_plans
from tests.conftest import Cli
from zigznote.billing.money import Money
from zigznote.billing.types import PaymentStatus

__all__ = ["fake_billing"]  # fixtures used by name

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # stripe's HTTPXClient

WIDTH = 80


class Table:
    """A table as printed at 80 columns: its labels and, per label, each row's cell with the
    lines of a folded cell joined again (the layout may fold a text cell, never lose it)."""

    def __init__(self, lines: list[str], anchor: str | None = None) -> None:
        lines = [line for line in lines if line.strip()]
        if lines[0].lstrip().startswith("┏"):
            self.labels = [c.strip() for c in lines[1].split("┃") if c.strip()]
            body = [line.strip()[1:-1].split("│") for line in lines[3:] if line.strip().startswith("│")]
        else:  # compact: no borders; each column starts where its label does
            header = lines[0]
            self.labels = re.split(r"\s{2,}", header.strip())
            starts: list[int | None] = [header.index(label) for label in self.labels]
            bounds = list(zip(starts, [*starts[1:], None], strict=True))
            body = [[line[a:b] for a, b in bounds] for line in lines[2:]]
        at = self.labels.index(anchor) if anchor else 0  # a column never folded: where rows start
        self.rows: list[list[str]] = []
        for cells in body:
            if cells[at].strip() or not self.rows:  # a new row; else the folded rest of the last one
                self.rows.append([c.strip() for c in cells])
            else:
                self.rows[-1] = [a + b.strip() for a, b in zip(self.rows[-1], cells, strict=True)]

    def column(self, label: str) -> list[str]:
        """Each row's cell under ``label``."""
        index = self.labels.index(label)
        return [row[index] for row in self.rows]


def _table(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, *args: str, title: str | None = None, anchor: str | None = None
) -> tuple[Table, str]:
    """The table ``args`` prints at 80 columns (the one under ``title``, else the first) and all
    of stdout; every line fits in 80 columns."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    ran = cli(*args)
    assert ran.exit_code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert max(len(line) for line in lines) <= WIDTH, ran.stdout
    start = next(i for i, line in enumerate(lines) if line.strip() == title) + 1 if title else 0
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return Table(lines[start:end], anchor), ran.stdout


@pytest.fixture
def stripe_events(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeWorld]:
    monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", API)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    org = cli.ok("orgs", "create", "acme", "--name", "Acme Corp")
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield StripeWorld(router, org["id"])


def test_events_list_keeps_type_and_status_beside_a_long_type(
    cli: Cli, stripe_events: StripeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n, type_ in enumerate(("customer.subscription.pending_update_applied", "customer.subscription.updated")):
        body = event(f"evt_1SZkBDLkdIwHu7ixPm0aQ7V{n}", type_, fixture("subscription"))
        cli.ok("billing", "events", "ingest", "--provider", "stripe", "--signature", sign(body), input=body)
    table, text = _table(cli, monkeypatch, "billing", "events", "list", anchor="provider ID")
    assert table.labels[:4] == ["type", "status", "provider ID", "received"]
    assert table.column("status") == ["processed", "processed"]
    assert table.column("type") == ["customer.subscription.updated", "customer.subscription.pending_update_applied"]
    assert table.column("provider ID") == ["evt_1SZkBDLkdIwHu7ixPm0aQ7V1", "evt_1SZkBDLkdIwHu7ixPm0aQ7V0"]
    assert "pev_" not in text
    assert all(e["id"].startswith("pev_") for e in cli.ok("billing", "events", "list"))  # --json keeps ours


@pytest.fixture
def shop(cli: Cli, fake_billing: World, tmp_path: Path) -> World:
    cli.ok("orgs", "create", "acme-corp", "--name", "Acme Corporation")
    cli.ok("orgs", "create", "globex")
    cli.ok("--org", "acme-corp", "billing", "customers", "create", "--email", "accounts.payable@acme-corp.example")
    cli.ok("--org", "globex", "billing", "customers", "create", "--email", "billing@globex.example")
    cli.ok("billing", "plans", "sync", "--file", write_plans(tmp_path / "plans.toml"))
    fake_billing.add_payment("cus_1", Money(512000, "NGN"), refunded=12000, description="Pro plan, November")
    fake_billing.add_payment("cus_1", Money(2900, "USD"), status=PaymentStatus.REQUIRES_ACTION)
    return fake_billing


def test_payments_list_keeps_status(cli: Cli, shop: World, monkeypatch: pytest.MonkeyPatch) -> None:
    table, text = _table(cli, monkeypatch, "--org", "acme-corp", "billing", "payments", "list")
    assert table.labels[:4] == ["provider ID", "amount", "status", "refunded"]
    assert table.column("status") == ["requires_action", "succeeded"]
    assert table.column("provider ID") == ["pi_2", "pi_1"]
    assert "pay_" not in text
    rows = cli.ok("--org", "acme-corp", "billing", "payments", "list")
    assert [r["id"][:4] for r in rows] == ["pay_", "pay_"]  # --json keeps ours


def test_customers_list_keeps_email(cli: Cli, shop: World, monkeypatch: pytest.MonkeyPatch) -> None:
    table, text = _table(cli, monkeypatch, "billing", "customers", "list")
    assert table.labels[:4] == ["org", "provider", "email", "provider ID"]
    assert table.column("email") == ["accounts.payable@acme-corp.example", "billing@globex.example"]
    assert "bcus_" not in text
    assert all(c["id"].startswith("bcus_") for c in cli.ok("billing", "customers", "list"))


def test_plans_show_keeps_the_interval(cli: Cli, shop: World, monkeypatch: pytest.MonkeyPatch) -> None:
    table, text = _table(cli, monkeypatch, "billing", "plans", "show", "pro", title="prices")
    assert table.labels == ["amount", "every", "provider", "active", "provider ID"]
    assert list(zip(table.column("amount"), table.column("every"), strict=True)) == [
        ("₦25,000.00", "month"),
        ("$29.00", "month"),
        ("$290.00", "year"),
    ]
    assert "bpr_" not in text
    data: dict[str, Any] = cli.ok("billing", "plans", "show", "pro")
    assert all(p["id"].startswith("bpr_") for p in data["prices"])
