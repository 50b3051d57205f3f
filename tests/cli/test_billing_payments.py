"""`billing payments list | show | refund`, `billing invoices list | show` and `billing checkout`
against the fake provider: money in JSON, refunds bounded by what the provider reports, nothing
sent or stored on a refusal."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.billing.fake_provider import fake_billing
from tests.billing.fake_world import World
from tests.billing.support import stable, write_plans
from tests.conftest import Cli
from zigznote.billing.money import Money
from zigznote.billing.providers.base import ProviderRefused
from zigznote.billing.types import SubscriptionStatus
from zigznote.errors import ProviderError

__all__ = ["fake_billing"]  # fixtures used by name

ORG = ("--org", "acme", "billing")


def _m(amount: int, currency: str, display: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency, "display": display}


def _rows(cli: Cli) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(cli.db_url)
    try:
        with engine.connect() as conn:
            return {
                "payments": [tuple(r) for r in conn.execute(sa.text(
                    "SELECT provider_payment_id, amount, amount_refunded, currency, status FROM billing_payment "
                    "ORDER BY provider_payment_id"))],
                "refunds": [tuple(r) for r in conn.execute(sa.text(
                    "SELECT provider_refund_id, amount, currency FROM billing_refund ORDER BY provider_refund_id"))],
                "operations": [tuple(r) for r in conn.execute(sa.text(
                    "SELECT operation, status FROM billing_pending_operation ORDER BY created_at"))],
            }  # fmt: skip
    finally:
        engine.dispose()


@pytest.fixture
def shop(cli: Cli, fake_billing: World) -> World:
    """acme with a customer and a $50.00 payment (pi_1); globex with a ¥1,235 one (pi_2)."""
    for slug in ("acme", "globex"):
        cli.ok("orgs", "create", slug)
        cli.ok("--org", slug, "billing", "customers", "create")
    fake_billing.add_payment("cus_1", Money(5000, "USD"), description="Pro, November")
    fake_billing.add_payment("cus_2", Money(1235, "JPY"))
    return fake_billing


def test_payments_list_and_show(cli: Cli, shop: World) -> None:
    shop.add_payment("cus_1", Money(512000, "NGN"), refunded=12000)
    rows = cli.ok(*ORG, "payments", "list")
    assert [r["id"][:4] for r in rows] == ["pay_", "pay_"]
    assert stable(rows) == [
        {
            "provider": "fake", "provider_id": "pi_3",
            "amount": _m(512000, "NGN", "₦5,120.00"), "amount_received": None,
            "amount_refunded": _m(12000, "NGN", "₦120.00"),
            "refundable": _m(500000, "NGN", "₦5,000.00"), "status": "succeeded", "description": None,
            "invoice": None, "failure_message": None, "created": "2026-11-01T12:00:05Z",
        },
        {
            "provider": "fake", "provider_id": "pi_1",
            "amount": _m(5000, "USD", "$50.00"), "amount_received": None, "amount_refunded": _m(0, "USD", "$0.00"),
            "refundable": _m(5000, "USD", "$50.00"), "status": "succeeded", "description": "Pro, November",
            "invoice": None, "failure_message": None, "created": "2026-11-01T12:00:03Z",
        },
    ]  # fmt: skip
    assert stable(cli.ok(*ORG, "payments", "list", "--limit", "1")) == stable(rows[:1])
    shown = cli.ok(*ORG, "payments", "show", rows[1]["id"])  # by our ID, or by the provider's
    assert shown == {**rows[1], "synced_at": shown["synced_at"], "refunds": []}
    assert cli.ok(*ORG, "payments", "show", "pi_1")["id"] == rows[1]["id"]


def test_another_organizations_payment_is_not_found(cli: Cli, shop: World) -> None:
    for args in (("show", "pi_2"), ("refund", "pi_2")):
        error = cli.fails(3, *ORG, "payments", *args)
        assert error == {
            "code": "payment_not_found",
            "message": "payment 'pi_2' not found for organization 'acme'",
            "hint": "`billing payments list` shows its payments",
        }
    globex_pay = cli.ok("--org", "globex", "billing", "payments", "list")[0]["id"]
    assert cli.fails(3, *ORG, "payments", "show", globex_pay)["code"] == "payment_not_found"
    assert shop.called("create_refund") == []
    assert cli.fails(3, *ORG, "payments", "show", "pi_404")["message"] == "No such payment_intent: 'pi_404'"


def test_partial_then_full_refund(cli: Cli, shop: World) -> None:
    data = cli.ok(*ORG, "payments", "refund", "pi_1", "--amount", "12.50", "--reason", "requested_by_customer")
    assert stable(data) == {
        "refund": {
            "provider": "fake", "provider_id": "re_1", "provider_payment_id": "pi_1",
            "amount": _m(1250, "USD", "$12.50"), "status": "succeeded", "reason": "requested_by_customer",
            "failure_reason": None, "created": "2026-11-01T12:00:05Z",
        },
        "payment": {
            "provider": "fake", "provider_id": "pi_1",
            "amount": _m(5000, "USD", "$50.00"), "amount_received": None, "amount_refunded": _m(1250, "USD", "$12.50"),
            "refundable": _m(3750, "USD", "$37.50"), "status": "succeeded", "description": "Pro, November",
            "invoice": None, "failure_message": None, "created": "2026-11-01T12:00:03Z",
        },
        "notes": [],
    }  # fmt: skip
    assert data["refund"]["payment_id"] == data["payment"]["id"]
    ((request,), kwargs) = shop.called("create_refund")[0]
    assert request == {"payment_id": "pi_1", "amount": Money(1250, "USD"), "reason": "requested_by_customer"}
    assert kwargs["idempotency_key"].startswith("zigznote/refund.create/pi_1/bop_")

    rest = cli.ok(*ORG, "payments", "refund", "pi_1")  # no --amount: whatever is left, as the provider sees it
    assert rest["refund"]["amount"] == _m(3750, "USD", "$37.50")
    assert shop.called("create_refund")[1][0][0]["amount"] is None
    assert rest["payment"]["refundable"] == _m(0, "USD", "$0.00")
    shown = cli.ok(*ORG, "payments", "show", "pi_1")
    assert [(r["provider_id"], r["amount"]["amount"]) for r in shown["refunds"]] == [("re_2", 3750), ("re_1", 1250)]
    error = cli.fails(4, *ORG, "payments", "refund", "pi_1", "--amount", "1")
    assert error["code"] == "nothing_to_refund"
    assert error["message"] == (
        "payment pi_1 has nothing left to refund (as fake reports it: $50.00 paid, $50.00 refunded)"
    )
    ran = cli(*ORG, "payments", "refund", "pi_1")
    assert ran.exit_code == 4 and ran.stdout == ""


def test_a_refund_over_the_remainder_is_refused_and_nothing_is_sent_or_stored(cli: Cli, shop: World) -> None:
    cli.ok(*ORG, "payments", "refund", "pi_1", "--amount", "12.50")
    before, calls = _rows(cli), len(shop.called("create_refund"))
    error = cli.fails(4, *ORG, "payments", "refund", "pi_1", "--amount", "40")
    assert error == {
        "code": "refund_exceeds_remainder",
        "message": "a refund of $40.00 is more than the $37.50 still refundable on payment pi_1 "
        "(as fake reports it: $50.00 paid, $12.50 refunded)",
        "hint": "refund at most 37.50 USD, or leave out --amount to refund all of it",
    }
    assert len(shop.called("create_refund")) == calls
    assert _rows(cli) == before


def test_the_remainder_is_the_providers_not_our_sum(cli: Cli, shop: World) -> None:
    cli.ok(*ORG, "payments", "list")  # our row: $50.00 paid, nothing refunded
    # Refunded $40.00 in the provider's dashboard: our rows do not know.
    shop.payments["pi_1"] = replace(shop.payments["pi_1"], amount_refunded=Money(4000, "USD"))
    before = _rows(cli)
    assert before["payments"] == [("pi_1", 5000, 0, "USD", "succeeded")]
    error = cli.fails(4, *ORG, "payments", "refund", "pi_1", "--amount", "20")
    assert error["message"] == (
        "a refund of $20.00 is more than the $10.00 still refundable on payment pi_1 "
        "(as fake reports it: $50.00 paid, $40.00 refunded)"
    )
    assert shop.called("create_refund") == [] and _rows(cli) == before
    assert cli.ok(*ORG, "payments", "refund", "pi_1", "--amount", "10")["payment"]["refundable"]["amount"] == 0


def test_only_what_was_received_can_be_refunded(cli: Cli, shop: World) -> None:
    # Captured in part: $30.00 of the $50.00 authorised.
    shop.payments["pi_1"] = replace(shop.payments["pi_1"], amount_received=Money(3000, "USD"))
    error = cli.fails(4, *ORG, "payments", "refund", "pi_1", "--amount", "40")
    assert error["message"] == (
        "a refund of $40.00 is more than the $30.00 still refundable on payment pi_1 "
        "(as fake reports it: $30.00 paid, $0.00 refunded)"
    )
    shown = cli.ok(*ORG, "payments", "show", "pi_1")
    assert (shown["amount_received"], shown["refundable"]) == (_m(3000, "USD", "$30.00"), _m(3000, "USD", "$30.00"))


@pytest.mark.parametrize(
    ("org", "payment", "amount", "code", "message"),
    [
        ("acme", "pi_1", "1.234", "amount_unrepresentable",
         "1.234 USD cannot be represented: USD amounts have at most 2 decimal places"),
        ("acme", "pi_1", "0", "invalid_amount", "refund amount must be more than 0 USD"),
        ("acme", "pi_1", "-5", "invalid_amount", "refund amount -5 USD is negative"),
        ("acme", "pi_1", "1,50", "invalid_amount", None),
        ("globex", "pi_2", "9.5", "amount_unrepresentable",
         "9.5 JPY cannot be represented: JPY amounts have no decimal places"),
    ],
)  # fmt: skip
def test_amounts_the_currency_cannot_hold_are_refused(
    cli: Cli, shop: World, org: str, payment: str, amount: str, code: str, message: str | None
) -> None:
    before = _rows(cli)
    error = cli.fails(2, "--org", org, "billing", "payments", "refund", payment, "--amount", amount)
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message
    assert shop.called("create_refund") == [] and _rows(cli) == before


def test_three_decimal_and_zero_decimal_refunds_round_trip(cli: Cli, shop: World) -> None:
    shop.add_payment("cus_1", Money(12340, "KWD"))  # 12.340 KWD: pi_3
    error = cli.fails(2, *ORG, "payments", "refund", "pi_3", "--amount", "5.125")
    assert error["code"] == "amount_not_allowed"
    assert error["message"].startswith("5.125 KWD cannot be sent to")
    data = cli.ok(*ORG, "payments", "refund", "pi_3", "--amount", "5.120")
    assert data["refund"]["amount"] == _m(5120, "KWD", "KWD5.120")
    assert data["payment"]["refundable"] == _m(7220, "KWD", "KWD7.220")
    yen = cli.ok("--org", "globex", "billing", "payments", "refund", "pi_2", "--amount", "235")
    assert (yen["refund"]["amount"], yen["payment"]["refundable"]) == (
        _m(235, "JPY", "¥235"),
        _m(1000, "JPY", "¥1,000"),
    )
    assert cli.fails(2, *ORG, "payments", "refund", "pi_1", "--reason", "changed mind")["code"] == "invalid_reason"


def test_a_refund_whose_answer_was_lost_is_finished_not_repeated(cli: Cli, shop: World) -> None:
    shop.lose.add("create_refund")
    assert cli.fails(5, *ORG, "payments", "refund", "pi_1", "--amount", "20")["code"] == "provider_error"
    assert [(r.id, r.amount) for r in shop.refunds.values()] == [("re_1", Money(2000, "USD"))]
    assert _rows(cli)["operations"][-1] == ("refund.create", "pending")
    # The operator retries with another amount: the lost refund is finished, not a second one made,
    # and the command says its own $5.00 was not sent (exit 4, no ✓).
    error = cli.fails(4, *ORG, "payments", "refund", "pi_1", "--amount", "5")
    started = error["message"].split("(started ")[1].split(")")[0]
    assert error == {
        "code": "earlier_operation_finished",
        "message": f"finished an earlier refund of this payment that got no answer (started {started}): $20.00 "
        "(re_1, succeeded); this command's refund ($5.00) was not sent",
        "hint": "$30.00 is left refundable; to refund $5.00 too, run the command again: "
        "`zigznote --org acme billing payments refund pi_1 --amount 5.00`",
    }
    keys = [k["idempotency_key"] for _a, k in shop.called("create_refund")]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert list(shop.refunds) == ["re_1"]
    assert _rows(cli)["payments"][0] == ("pi_1", 5000, 2000, "USD", "succeeded")
    assert _rows(cli)["operations"][-1] == ("refund.create", "completed")
    # Run again, as the hint says: a new operation (new key), refunding $5.00; no note.
    again = cli.ok(*ORG, "payments", "refund", "pi_1", "--amount", "5")
    assert (again["refund"]["provider_id"], again["refund"]["amount"]["amount"], again["notes"]) == ("re_2", 500, [])
    assert shop.called("create_refund")[-1][1]["idempotency_key"] != keys[0]


def test_the_same_refund_retried_after_a_lost_answer_is_a_success_with_a_note(cli: Cli, shop: World) -> None:
    shop.lose.add("create_refund")
    cli.fails(5, *ORG, "payments", "refund", "pi_1", "--amount", "20")
    data = cli.ok(*ORG, "payments", "refund", "pi_1", "--amount", "20")  # its own request: finished, exit 0
    assert (data["refund"]["provider_id"], len(data["notes"])) == ("re_1", 1)
    assert data["notes"][0].startswith("finished an earlier refund that got no answer (started ")
    assert data["notes"][0].endswith("), with the same idempotency key")


def test_a_refund_the_provider_refuses_closes_its_operation(cli: Cli, shop: World) -> None:
    """A definite refusal (the provider answered: nothing refunded) is not an unanswered
    operation: the next refund, of another amount, is a new request, with no "earlier" note."""
    shop.fail["create_refund"] = [ProviderRefused("Fake refused the refund: insufficient balance")]
    error = cli.fails(5, *ORG, "payments", "refund", "pi_1", "--amount", "20")
    assert (error["code"], error["message"]) == ("provider_refused", "Fake refused the refund: insufficient balance")
    assert _rows(cli)["operations"][-1] == ("refund.create", "failed")
    data = cli.ok(*ORG, "payments", "refund", "pi_1", "--amount", "5")
    assert (data["refund"]["amount"]["amount"], data["notes"]) == (500, [])
    keys = [k["idempotency_key"] for _a, k in shop.called("create_refund")]
    assert len(keys) == 2 and keys[0] != keys[1]


def test_the_refund_is_kept_when_the_payment_cannot_be_read_again(cli: Cli, shop: World) -> None:
    shop.fail["get_payment"] = [None, ProviderError("Fake is down")]  # the check passes, the re-read fails
    data = cli.ok(*ORG, "payments", "refund", "pi_1", "--amount", "1")
    assert data["notes"] == ["could not read the payment again after the refund (Fake is down)"]
    assert data["refund"]["amount"] == _m(100, "USD", "$1.00")
    assert data["payment"]["amount_refunded"] == _m(0, "USD", "$0.00")  # as last read, before the refund
    rows = _rows(cli)
    assert (rows["refunds"], rows["operations"][-1]) == ([("re_1", 100, "USD")], ("refund.create", "completed"))


def test_invoices_list_and_show(cli: Cli, shop: World) -> None:
    shop.add_invoice("cus_1", Money(2900, "USD"), subscription_id="sub_9")
    shop.add_invoice("cus_1", Money(2500000, "NGN"), paid=False)
    shop.add_invoice("cus_2", Money(1235, "JPY"))
    rows = cli.ok(*ORG, "invoices", "list")
    assert stable(rows) == [
        {
            "provider": "fake", "provider_id": "in_2", "number": "F-0002",
            "status": "open", "subscription_id": None, "provider_subscription_id": None,
            "total": _m(2500000, "NGN", "₦25,000.00"), "amount_due": _m(2500000, "NGN", "₦25,000.00"),
            "amount_paid": _m(0, "NGN", "₦0.00"), "amount_remaining": _m(2500000, "NGN", "₦25,000.00"),
            "period_start": "2026-11-01T12:00:06Z", "period_end": "2026-12-01T12:00:06Z", "due_date": None,
            "hosted_url": "https://invoice.fake.test/in_2", "pdf_url": None, "created": "2026-11-01T12:00:06Z",
        },
        {
            "provider": "fake", "provider_id": "in_1", "number": "F-0001",
            "status": "paid", "subscription_id": None, "provider_subscription_id": "sub_9",
            "total": _m(2900, "USD", "$29.00"), "amount_due": _m(2900, "USD", "$29.00"),
            "amount_paid": _m(2900, "USD", "$29.00"), "amount_remaining": _m(0, "USD", "$0.00"),
            "period_start": "2026-11-01T12:00:05Z", "period_end": "2026-12-01T12:00:05Z", "due_date": None,
            "hosted_url": "https://invoice.fake.test/in_1", "pdf_url": None, "created": "2026-11-01T12:00:05Z",
        },
    ]  # fmt: skip
    assert cli.ok(*ORG, "invoices", "show", rows[1]["id"])["provider_id"] == "in_1"
    assert cli.ok(*ORG, "invoices", "show", "in_2")["id"] == rows[0]["id"]
    assert cli.fails(3, *ORG, "invoices", "show", "in_3")["code"] == "invoice_not_found"  # globex's
    assert cli.fails(2, *ORG, "invoices", "show", "in 1")["code"] == "invalid_id"
    ran = cli(*ORG, "invoices", "list")
    assert ran.exit_code == 0 and "₦25,000.00" in ran.stdout and "F-0001" in ran.stdout


def test_checkout_prints_the_hosted_url(cli: Cli, shop: World, tmp_path: Path, monkeypatch: Any) -> None:
    cli.ok("billing", "plans", "sync", "--file", write_plans(tmp_path / "plans.toml"))
    urls = ("--success-url", "https://app.example/billing/done", "--cancel-url", "https://app.example/billing")
    data = cli.ok(*ORG, "checkout", "--plan", "pro", "--currency", "NGN", "--quantity", "2", *urls)
    assert data == {
        "id": "cs_1", "url": "https://checkout.fake.test/c/pay/cs_1", "mode": "subscription", "status": "open",
        "plan": "pro", "interval": "month", "amount": _m(5000000, "NGN", "₦50,000.00"), "customer": "cus_1",
        "expires_at": data["expires_at"], "notes": [], "opened": False,
    }  # fmt: skip
    ((request,), kwargs) = shop.called("create_checkout_session")[0]
    assert (request.price_id, request.quantity, request.customer_id) == ("price_3", 2, "cus_1")
    assert (request.success_url, request.cancel_url) == (
        "https://app.example/billing/done",
        "https://app.example/billing",
    )
    org_id = cli.ok("orgs", "show", "acme")["id"]
    assert request.client_reference_id == org_id
    assert kwargs["idempotency_key"].startswith(f"zigznote/checkout.create/{org_id}:price_3:2/bop_")

    opened: list[str] = []

    def fake_open(url: str, env: Any) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr("zigznote.integrations.browser.open_browser", fake_open)
    monkeypatch.setenv("ZIGZNOTE_BILLING_SUCCESS_URL", "https://app.example/billing/done")
    monkeypatch.setenv("ZIGZNOTE_BILLING_CANCEL_URL", "https://app.example/billing")
    ran = cli(*ORG, "checkout", "--plan", "team", "--currency", "JPY", "--open")
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout == "https://checkout.fake.test/c/pay/cs_2\n"
    assert opened == ["https://checkout.fake.test/c/pay/cs_2"]
    assert "checkout for team (¥15,000/month)" in ran.stderr


def test_checkout_refusals(cli: Cli, shop: World, tmp_path: Path) -> None:
    cli.ok("billing", "plans", "sync", "--file", write_plans(tmp_path / "plans.toml"))
    error = cli.fails(2, *ORG, "checkout", "--plan", "pro", "--currency", "USD")
    assert error == {  # both missing: one error naming both
        "code": "url_required",
        "message": "no --success-url or --cancel-url given: the checkout page needs both",
        "hint": "pass --success-url https://… --cancel-url https://…, or set ZIGZNOTE_BILLING_SUCCESS_URL and "
        "ZIGZNOTE_BILLING_CANCEL_URL",
    }
    error = cli.fails(2, *ORG, "checkout", "--plan", "pro", "--currency", "USD", "--success-url", "https://a.example/")
    assert error == {
        "code": "url_required",
        "message": "no --cancel-url given",
        "hint": "pass --cancel-url https://… or set ZIGZNOTE_BILLING_CANCEL_URL",
    }
    bad = ("--success-url", "javascript:alert(1)", "--cancel-url", "https://a.example/")
    assert cli.fails(2, *ORG, "checkout", "--plan", "pro", "--currency", "USD", *bad)["code"] == "invalid_url"
    assert shop.called("create_checkout_session") == []


def test_the_checkout_help_example_works_as_written(cli: Cli, shop: World, tmp_path: Path, monkeypatch: Any) -> None:
    """`billing checkout --help` shows an example and the settings it needs; set them, and the
    example runs as printed (its --open included: a BROWSER command records the URL)."""
    cli.ok("billing", "plans", "sync", "--file", write_plans(tmp_path / "plans.toml"))
    text = " ".join(cli("billing", "checkout", "--help", db=False).stdout.split())
    example = text.split("Example: zigznote ", 1)[1].split(" (with ", 1)[0]
    assert example == "--org acme billing checkout --plan pro --currency USD --open"
    assert "(with ZIGZNOTE_BILLING_SUCCESS_URL and ZIGZNOTE_BILLING_CANCEL_URL set; else add" in text
    monkeypatch.setenv("ZIGZNOTE_BILLING_SUCCESS_URL", "https://app.example/billing/done")
    monkeypatch.setenv("ZIGZNOTE_BILLING_CANCEL_URL", "https://app.example/billing")
    browser, opened = tmp_path / "browser", tmp_path / "browser.out"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{opened}"\n')
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))
    ran = cli(*example.split())
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout == "https://checkout.fake.test/c/pay/cs_1\n"
    assert opened.read_text() == "https://checkout.fake.test/c/pay/cs_1\n"


def test_checkout_is_refused_while_a_subscription_runs(cli: Cli, shop: World, tmp_path: Path) -> None:
    cli.ok("billing", "plans", "sync", "--file", write_plans(tmp_path / "plans.toml"))
    urls = ("--success-url", "https://a.example/ok", "--cancel-url", "https://a.example/no")
    cli.ok(*ORG, "subscriptions", "create", "--plan", "pro", "--currency", "USD")
    error = cli.fails(4, *ORG, "checkout", "--plan", "team", "--currency", "USD", *urls)
    assert error == {
        "code": "subscription_exists",
        "message": "organization 'acme' already has an active subscription (sub_1)",
        "hint": "change its plan with `zigznote --org acme billing subscriptions change --plan PLAN`",
    }
    assert shop.called("create_checkout_session") == [] and _rows(cli)["operations"][-1][0] != "checkout.create"
    for status in ("trialing", "past_due", "paused", "unpaid", "incomplete"):  # every running state
        shop.subscriptions["sub_1"] = replace(shop.subscriptions["sub_1"], status=SubscriptionStatus(status))
        cli.ok(*ORG, "subscriptions", "sync")
        assert cli.fails(4, *ORG, "checkout", "--plan", "team", "--currency", "USD", *urls)["code"] == (
            "subscription_exists"
        )
    shop.subscriptions["sub_1"] = replace(shop.subscriptions["sub_1"], status=SubscriptionStatus.CANCELED)
    cli.ok(*ORG, "subscriptions", "sync")
    assert cli.ok(*ORG, "checkout", "--plan", "team", "--currency", "USD", *urls)["id"] == "cs_1"
