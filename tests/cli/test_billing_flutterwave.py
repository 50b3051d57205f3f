"""`zigznote billing … --provider flutterwave` through the real Flutterwave provider (httpx, respx;
the stateful fake in tests/billing/flutterwave/fakes.py): what a newcomer meets when Stripe is
the default and Flutterwave is chosen per command. Hints carry ``--provider flutterwave``;
refusals name what v3 cannot do; a refund Flutterwave refuses or never answers is reported as
what happened, never as this command's success."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import respx
import sqlalchemy as sa

from tests.billing.flutterwave.conftest import API, SECRET_KEY, WEBHOOK_SECRET
from tests.billing.flutterwave.fakes import FlutterwaveFake
from tests.conftest import Cli

EMAIL = "billing@acme.example"
FW = ("--provider", "flutterwave")
ORG = ("--org", "acme", "billing")
SUCCESS = ("--success-url", "https://acme.example/paid")
CATALOG = """
[plans.pro]
name = "Pro"
prices = [ { currency = "NGN", interval = "month", amount = "25000" } ]

[plans.team]
name = "Team"
prices = [ { currency = "NGN", interval = "month", amount = "60000" } ]
"""


@pytest.fixture
def flw(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlutterwaveFake]:
    """Flutterwave configured beside the default provider (Stripe); the organization acme."""
    monkeypatch.setenv("FLUTTERWAVE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("FLUTTERWAVE_API_BASE", API)
    monkeypatch.setenv("FLUTTERWAVE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    cli.ok("orgs", "create", "acme", "--name", "Acme Corp")
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield FlutterwaveFake(router)


def _operations(cli: Cli) -> list[tuple[str, str]]:
    """The refund operations, oldest first: (operation, status)."""
    engine = sa.create_engine(cli.db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT operation, status FROM billing_pending_operation WHERE operation = 'refund.create' "
                    "ORDER BY created_at"
                )
            )
            return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()


def _synced(cli: Cli, tmp_path: Path, text: str = CATALOG) -> str:
    file = tmp_path / "plans.toml"
    file.write_text(text)
    cli.ok("billing", "plans", "sync", "--file", str(file), *FW)
    return str(file)


def test_plans_sync_refuses_what_flutterwave_cannot_bill_before_anything_is_sent(
    cli: Cli, flw: FlutterwaveFake, tmp_path: Path
) -> None:
    file = tmp_path / "plans.toml"
    file.write_text(
        CATALOG.replace(
            'amount = "25000" }',
            'amount = "25000" },\n  { currency = "NGN", interval = "month", amount = "48000", interval_count = 2 }',
        )
    )
    for dry in (("--dry-run",), ()):
        error = cli.fails(2, "billing", "plans", "sync", "--file", str(file), *FW, *dry)
        assert error == {
            "code": "interval_not_supported",
            "message": f"{file}:pro:price 2 (NGN/2 months): Flutterwave payment plans cannot bill every 2 months",
            "hint": "Flutterwave bills daily, weekly, monthly, quarterly (every 3 months) or yearly; restrict this "
            'price to other providers with providers = ["stripe"]',
        }
    assert not flw.router.calls  # nothing read or sent: not even the plan list
    # The whole catalog is checked: a refusal in the second plan is named beside the first.
    six_weeks = 'interval = "week", amount = "60000", interval_count = 6'
    file.write_text(file.read_text().replace('interval = "month", amount = "60000"', six_weeks))
    error = cli.fails(2, "billing", "plans", "sync", "--file", str(file), *FW, "--dry-run")
    assert error["message"] == (
        f"Flutterwave would refuse 2 entries of {file}, nothing was sent: "
        f"{file}:pro:price 2 (NGN/2 months): Flutterwave payment plans cannot bill every 2 months; "
        f"{file}:team:price 1 (NGN/6 weeks): Flutterwave payment plans cannot bill every 6 weeks"
    )
    assert flw.posts == []


def test_customer_and_checkout_hints_name_the_provider(cli: Cli, flw: FlutterwaveFake, tmp_path: Path) -> None:
    _synced(cli, tmp_path)
    error = cli.fails(2, *ORG, "customers", "create", *FW)
    assert error == {
        "code": "email_required",
        "message": "a Flutterwave customer is its email address: pass --email",
        "hint": "`zigznote --org acme billing customers create --email ADDRESS --provider flutterwave`",
    }
    error = cli.fails(3, *ORG, "checkout", "--plan", "pro", *FW, *SUCCESS)
    assert error == {
        "code": "customer_not_found",
        "message": "organization 'acme' has no flutterwave customer",
        "hint": "create it with `zigznote --org acme billing customers create --email ADDRESS --provider flutterwave`",
    }
    assert cli.fails(3, *ORG, "payments", "list", *FW) == error
    assert flw.links == []


def test_checkout_needs_no_cancel_url_and_shows_no_unknown_expiry(
    cli: Cli, flw: FlutterwaveFake, tmp_path: Path
) -> None:
    _synced(cli, tmp_path)
    cli.ok(*ORG, "customers", "create", "--email", EMAIL, *FW)
    error = cli.fails(2, *ORG, "checkout", "--plan", "pro", *FW)
    assert error == {  # only the URL Flutterwave uses is asked for
        "code": "url_required",
        "message": "no --success-url given",
        "hint": "pass --success-url https://… or set ZIGZNOTE_BILLING_SUCCESS_URL",
    }
    ran = cli(*ORG, "checkout", "--plan", "pro", *FW, *SUCCESS)
    assert ran.exit_code == 0, ran.stderr
    assert "checkout for pro (₦25,000.00/month)\n" in ran.stderr and "expires" not in ran.stderr
    assert ran.stdout == "https://checkout.flutterwave.com/v3/hosted/pay/fake1\n"
    assert flw.links[0]["redirect_url"] == "https://acme.example/paid" and "cancel_url" not in flw.links[0]


def test_a_running_subscription_refuses_a_second_checkout_and_v3_limits_are_said_plainly(
    cli: Cli, flw: FlutterwaveFake, tmp_path: Path
) -> None:
    _synced(cli, tmp_path)
    cli.ok(*ORG, "customers", "create", "--email", EMAIL, *FW)
    flw.subscribe(flw.plans[0]["id"], EMAIL, created_at="2026-11-20T09:16:42.000Z")  # paid on the first checkout
    cli.ok(*ORG, "subscriptions", "sync", *FW)
    links = len(flw.links)
    error = cli.fails(4, *ORG, "checkout", "--plan", "team", *FW, *SUCCESS)
    sub_id = str(flw.subscriptions[0]["id"])
    assert error == {
        "code": "subscription_exists",
        "message": f"organization 'acme' already has an active subscription ({sub_id})",
        "hint": "Flutterwave cannot change a subscription's plan: cancel it with "
        "`zigznote --org acme billing subscriptions cancel --provider flutterwave` and check out again once it has "
        "ended",
    }
    assert len(flw.links) == links  # nothing sent
    error = cli.fails(2, *ORG, "subscriptions", "change", "--plan", "team", *FW)
    assert error["message"] == (
        "Flutterwave cannot change a subscription's plan: cancel it and subscribe again through "
        "`zigznote --org acme billing checkout --plan team --provider flutterwave`"
    )
    error = cli.fails(2, *ORG, "subscriptions", "cancel", "--now", *FW)
    assert error["message"].startswith("Flutterwave cannot end a subscription before the period already paid for")
    error = cli.fails(2, *ORG, "subscriptions", "create", "--plan", "team", *FW)
    assert error["message"] == (
        "Flutterwave cannot create a subscription outside checkout (a subscription starts with the customer's "
        "first payment: `zigznote --org acme billing checkout --plan team --provider flutterwave`)"
    )
    error = cli.fails(4, *ORG, "subscriptions", "resume", *FW)
    assert error["code"] == "nothing_to_resume"
    assert error["hint"] == (
        "resume withdraws a cancellation scheduled with `billing subscriptions cancel` (or resumes a paused "
        "subscription); `zigznote --org acme billing subscriptions show --provider flutterwave` shows its state"
    )
    assert flw.puts == []


@pytest.fixture
def paid(cli: Cli, flw: FlutterwaveFake) -> dict[str, Any]:
    """acme's customer and a successful ₦25,000 transaction of it."""
    cli.ok(*ORG, "customers", "create", "--email", EMAIL, *FW)
    return flw.pay("zz-test-ref-1", Decimal("25000"), "NGN", EMAIL)


def test_a_refund_flutterwave_refuses_is_closed_and_the_next_one_is_new(
    cli: Cli, flw: FlutterwaveFake, paid: dict[str, Any]
) -> None:
    tx = str(paid["id"])
    flw.balance = Decimal("100")
    error = cli.fails(5, *ORG, "payments", "refund", tx, "--amount", "20000", *FW)
    assert error == {
        "code": "flutterwave_insufficient_balance",
        "message": f"Flutterwave refused refund transaction {tx}: "
        "Insufficient balance in wallet to process this refund",
        "hint": "refunds are paid from your Flutterwave balance: top it up, then run the command again",
    }
    assert _operations(cli) == [("refund.create", "failed")]  # answered: nothing to resend
    flw.balance = Decimal("1000000")
    ran = cli(*ORG, "payments", "refund", tx, "--amount", "5000", *FW)
    assert ran.exit_code == 0, ran.stderr
    assert "earlier" not in ran.stderr  # no "finished an earlier refund that got no answer"
    assert [Decimal(str(r["amount_refunded"])) for r in flw.refunds] == [Decimal("5000")]
    assert _operations(cli) == [("refund.create", "failed"), ("refund.create", "completed")]


def test_an_unanswered_refund_finished_by_another_amount_is_not_reported_as_done(
    cli: Cli, flw: FlutterwaveFake, paid: dict[str, Any]
) -> None:
    tx = str(paid["id"])
    flw.refund_timeouts = 1  # Flutterwave never answers the first refund, and makes nothing
    error = cli.fails(5, *ORG, "payments", "refund", tx, "--amount", "10000", *FW)
    assert error["code"] == "flutterwave_unanswered"
    assert _operations(cli) == [("refund.create", "pending")]

    error = cli.fails(4, *ORG, "payments", "refund", tx, "--amount", "5000", *FW)
    started = error["message"].split("(started ")[1].split(")")[0]
    refund_id = str(flw.refunds[0]["id"])
    assert error == {
        "code": "earlier_operation_finished",
        "message": f"finished an earlier refund of this payment that got no answer (started {started}): ₦10,000.00 "
        f"({refund_id}, succeeded); this command's refund (₦5,000.00) was not sent",
        "hint": "₦15,000.00 is left refundable; to refund ₦5,000.00 too, run the command again: "
        f"`zigznote --org acme billing payments refund {tx} --provider flutterwave --amount 5000.00`",
    }
    assert [Decimal(str(r["amount_refunded"])) for r in flw.refunds] == [Decimal("10000")]  # the original amount
    again = cli.ok(*ORG, "payments", "refund", tx, "--amount", "5000", *FW)
    assert (again["refund"]["amount"]["display"], again["notes"]) == ("₦5,000.00", [])
    assert [Decimal(str(r["amount_refunded"])) for r in flw.refunds] == [Decimal("10000"), Decimal("5000")]
