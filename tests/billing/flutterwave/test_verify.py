"""Verification: only a successful transaction with our tx_ref, our currency and at least the
expected `amount` (never `charged_amount`) is paid; a timeout is `unknown` and asked again."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import respx

from tests.billing.flutterwave.conftest import TX_ID, error, load, ok, query
from zigznote.billing.money import Money
from zigznote.billing.providers.flutterwave.provider import FlutterwaveProvider
from zigznote.billing.providers.flutterwave.verify import Expected, Verdict, check
from zigznote.billing.types import PaymentStatus
from zigznote.errors import ConfigError

REF = load("transaction")["data"]["tx_ref"]
EXPECTED = Expected(REF, Money(2500000, "NGN"))


def tx(**changes: object) -> dict[str, object]:
    data: dict[str, object] = load("transaction")["data"]
    data.update(changes)
    return data


def test_the_expected_payment_is_paid() -> None:
    result = check(tx(), EXPECTED)
    assert (result.verdict, result.paid, result.amount, result.overpaid) == (
        Verdict.PAID,
        True,
        Money(2500000, "NGN"),
        None,
    )
    assert result.payment_status() is PaymentStatus.SUCCEEDED
    assert result.reason == "transaction 288200108 paid ₦25,000.00"


def test_an_underpayment_is_not_paid_even_when_fees_make_charged_amount_enough() -> None:
    result = check(tx(amount=24999, charged_amount=25349), EXPECTED)
    assert (result.verdict, result.paid, result.flagged) == (Verdict.UNDERPAID, False, True)
    assert result.shortfall == Money(100, "NGN")
    assert result.payment_status() is PaymentStatus.REQUIRES_ACTION
    assert result.reason == "transaction 288200108 paid ₦24,999.00 of ₦25,000.00 (₦1.00 short)"


def test_a_wrong_currency_is_flagged_whatever_the_number() -> None:
    result = check(tx(currency="KES", amount=250000), EXPECTED)
    assert (result.verdict, result.paid, result.currency, result.amount) == (Verdict.WRONG_CURRENCY, False, "KES", None)
    assert result.reason == "transaction 288200108 was paid in KES, not NGN"
    assert check(tx(currency="XYZ"), EXPECTED).verdict is Verdict.WRONG_CURRENCY


def test_another_tx_ref_is_not_this_payment() -> None:
    result = check(tx(tx_ref="someone-else-1"), EXPECTED)
    assert (result.verdict, result.paid, result.flagged) == (Verdict.WRONG_REFERENCE, False, True)
    assert result.reason == f"transaction 288200108 has tx_ref 'someone-else-1', not {REF!r}"


def test_an_overpayment_is_paid_and_the_surplus_recorded() -> None:
    result = check(tx(amount="25500.50"), EXPECTED)
    assert (result.verdict, result.paid, result.overpaid) == (Verdict.OVERPAID, True, Money(50050, "NGN"))


@pytest.mark.parametrize(("status", "neutral"), [("pending", PaymentStatus.PENDING), ("failed", PaymentStatus.FAILED)])
def test_a_transaction_that_did_not_succeed_is_not_paid(status: str, neutral: PaymentStatus) -> None:
    result = check(tx(status=status), EXPECTED)
    assert (result.verdict, result.paid, result.payment_status()) == (Verdict.NOT_SUCCESSFUL, False, neutral)


def test_zero_decimal_amounts_are_whole() -> None:
    expected = Expected(REF, Money(50000, "UGX"))
    assert check(tx(currency="UGX", amount=Decimal("50000.00")), expected).verdict is Verdict.PAID
    assert check(tx(currency="UGX", amount=50000), expected).verdict is Verdict.PAID


def test_verify_reads_by_id_or_by_reference(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    by_id = fw_api.get(f"/transactions/{TX_ID}/verify").mock(return_value=ok("transaction"))
    by_ref = fw_api.get("/transactions/verify_by_reference").mock(return_value=ok("transaction"))
    assert provider.verify_payment(EXPECTED, transaction_id=TX_ID).verdict is Verdict.PAID
    assert provider.verify_payment(EXPECTED).verdict is Verdict.PAID
    assert by_id.call_count == 1 and query(by_ref.calls.last.request) == [("tx_ref", REF)]


def test_nothing_under_the_reference_yet(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    fw_api.get("/transactions/verify_by_reference").mock(return_value=error(400, "error_not_found"))
    result = provider.verify_payment(EXPECTED)
    assert (result.verdict, result.paid, result.payment_status()) == (Verdict.NOT_FOUND, False, PaymentStatus.PENDING)


def test_a_timeout_or_5xx_is_unknown_and_asked_again(
    provider: FlutterwaveProvider, fw_api: respx.Router, sleeps: list[float]
) -> None:
    route = fw_api.get(f"/transactions/{TX_ID}/verify").mock(
        side_effect=[httpx.ReadTimeout("slow")] * 3 + [error(503, "error_timeout_503")] * 3 + [ok("transaction")]
    )
    first = provider.verify_payment(EXPECTED, transaction_id=TX_ID)
    assert (first.verdict, first.paid, first.payment_status()) == (Verdict.UNKNOWN, False, PaymentStatus.PENDING)
    assert first.reason.startswith("not verified yet: Flutterwave did not answer: no answer in time")
    second = provider.verify_payment(EXPECTED, transaction_id=TX_ID)
    assert second.verdict is Verdict.UNKNOWN and "(503)" in second.reason
    assert provider.verify_payment(EXPECTED, transaction_id=TX_ID).verdict is Verdict.PAID
    assert route.call_count == 7


def test_a_refused_key_is_raised_not_reported_as_unpaid(provider: FlutterwaveProvider, fw_api: respx.Router) -> None:
    fw_api.get(f"/transactions/{TX_ID}/verify").mock(return_value=error(401, "error_401"))
    with pytest.raises(ConfigError):
        provider.verify_payment(EXPECTED, transaction_id=TX_ID)
