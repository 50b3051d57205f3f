"""Money: exact parsing, the providers' edges, display, and every refusal's message."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import get_currency_precision

from zigznote.billing import currencies
from zigznote.billing.money import (
    Money,
    as_json,
    display,
    exponent,
    from_provider_amount,
    parse,
    provider_rule,
    to_provider_amount,
)
from zigznote.errors import InvalidInput


def refused(fn: object, *args: object, **kwargs: object) -> InvalidInput:
    assert callable(fn)
    with pytest.raises(InvalidInput) as info:
        fn(*args, **kwargs)
    assert info.value.exit_code == 2
    return info.value


# -- exact examples per currency ----------------------------------------------------------------


def test_usd() -> None:
    money = parse("29.00", "USD")
    assert money == Money(2900, "USD")
    assert parse("29", "usd") == money
    assert parse(Decimal("29.0"), "USD") == money
    assert to_provider_amount(money, "stripe") == 2900
    assert to_provider_amount(money, "flutterwave") == Decimal("29.00")
    assert str(to_provider_amount(money, "flutterwave")) == "29.00"
    assert from_provider_amount(2900, "usd", "stripe") == money
    assert display(money) == "$29.00"
    assert as_json(money) == {"amount": 2900, "currency": "USD", "display": "$29.00"}
    error = refused(parse, "1.234", "USD")
    assert error.code == "amount_unrepresentable"
    assert error.message == "1.234 USD cannot be represented: USD amounts have at most 2 decimal places"


def test_jpy_zero_decimal() -> None:
    money = parse("1235", "JPY")
    assert money == Money(1235, "JPY")
    assert to_provider_amount(money, "stripe") == 1235
    assert from_provider_amount(1235, "jpy", "stripe") == money
    assert to_provider_amount(money, "flutterwave") == Decimal("1235")
    assert display(money) == "¥1,235"
    error = refused(parse, "9.5", "JPY", provider="stripe")
    assert error.code == "amount_unrepresentable"
    assert error.message == "9.5 JPY cannot be represented: JPY amounts have no decimal places"


def test_ugx_is_sent_to_stripe_with_two_decimals_that_are_00() -> None:
    # Stripe's Special cases table: "to charge 5 UGX, provide an amount value of 500".
    money = parse("5000", "UGX", provider="stripe")
    assert money == Money(5000, "UGX")
    assert to_provider_amount(money, "stripe") == 500000
    assert from_provider_amount(500000, "ugx", "stripe") == money
    assert to_provider_amount(money, "flutterwave") == Decimal("5000")
    assert display(money) == "USh5,000"
    assert refused(parse, "5000.5", "UGX").message == (
        "5000.5 UGX cannot be represented: UGX amounts have no decimal places"
    )
    error = refused(from_provider_amount, 500050, "ugx", "stripe")
    assert error.code == "amount_unrepresentable"
    assert error.message == "Stripe reported 5000.50 UGX, which UGX amounts cannot hold (no decimal places)"


def test_kwd_three_decimal_last_digit_zero_at_stripe() -> None:
    money = parse("5.120", "KWD", provider="stripe")
    assert money == Money(5120, "KWD")
    assert money.to_decimal() == Decimal("5.120") and str(money) == "5.120 KWD"
    assert to_provider_amount(money, "stripe") == 5120
    assert from_provider_amount(5120, "kwd", "stripe") == money
    assert to_provider_amount(Money(5125, "KWD"), "flutterwave") == Decimal("5.125")
    error = refused(parse, "5.125", "KWD", provider="stripe")
    assert error.code == "amount_not_allowed"
    assert error.message == (
        "5.125 KWD cannot be sent to Stripe: KWD is a three-decimal currency at Stripe, whose last digit must be 0"
    )
    assert error.hint == "use 5.120 KWD or 5.130 KWD; nothing is rounded"
    assert parse("5.125", "KWD") == Money(5125, "KWD")  # fine for KWD itself and for Flutterwave
    assert refused(parse, "5.1234", "KWD").code == "amount_unrepresentable"


def test_isk_two_decimals_at_stripe_whole_kronur_only() -> None:
    money = parse("5", "ISK", provider="stripe")
    assert money == Money(5, "ISK")
    assert to_provider_amount(money, "stripe") == 500
    assert from_provider_amount(500, "isk", "stripe") == money
    assert refused(parse, "10.5", "ISK").message == "10.5 ISK cannot be represented: ISK amounts have no decimal places"
    # A legacy fractional charge: refused, not truncated to 10 krónur.
    error = refused(from_provider_amount, 1045, "isk", "stripe")
    assert error.message == "Stripe reported 10.45 ISK, which ISK amounts cannot hold (no decimal places)"


def test_ngn() -> None:
    money = parse("1234567.50", "NGN")
    assert money == Money(123456750, "NGN")
    assert to_provider_amount(money, "stripe") == 123456750
    assert to_provider_amount(money, "flutterwave") == Decimal("1234567.50")
    assert from_provider_amount(Decimal("1234567.5"), "NGN", "flutterwave") == money
    assert from_provider_amount("1234567.50", "NGN", "flutterwave") == money
    assert from_provider_amount(1234567, "NGN", "flutterwave") == Money(123456700, "NGN")
    assert display(money) == "₦1,234,567.50"
    assert display(money, "en_US") == "NGN1,234,567.50"


def test_mga_zero_decimal_at_stripe_two_in_iso() -> None:
    assert exponent("MGA") == 2
    assert to_provider_amount(Money(1200, "MGA"), "stripe") == 12
    assert from_provider_amount(12, "mga", "stripe") == Money(1200, "MGA")
    error = refused(to_provider_amount, Money(1234, "MGA"), "stripe")
    assert error.code == "amount_unrepresentable"
    assert error.message == (
        "12.34 MGA cannot be sent to Stripe: MGA is a zero-decimal currency at Stripe (no decimal places)"
    )


def test_huf_and_twd_charge_two_decimals_at_stripe() -> None:
    # The multiple-of-100 rule is for manual payouts, which zigznote never creates.
    assert to_provider_amount(parse("10.45", "HUF"), "stripe") == 1045
    assert to_provider_amount(parse("800.45", "TWD"), "stripe") == 80045
    assert display(Money(1045, "HUF")) == "HUF10.45"  # CLDR shows HUF with 0 digits: never hidden


def test_stripe_refuses_currencies_it_documents_no_rule_for() -> None:
    for code in ("IQD", "LYD", "CLF", "UYI", "UYW"):
        error = refused(to_provider_amount, Money(1000, code), "stripe")
        assert error.code == "unsupported_currency"
    assert refused(parse, "1", "IQD", provider="stripe").message == (
        "Stripe documents no amount rule for IQD, whose minor unit has 3 decimal places"
    )
    assert to_provider_amount(Money(1000, "IQD"), "flutterwave") == Decimal("1.000")


def test_african_market_displays() -> None:
    amount = Decimal("1234567.50")
    assert display(parse(amount, "KES")) == "Ksh1,234,567.50"
    assert display(parse(amount, "GHS")) == "GH₵1,234,567.50"
    assert display(parse(amount, "ZAR")) == "R1\xa0234\xa0567,50"
    assert display(Money(-350, "USD")) == "-$3.50"
    assert refused(display, Money(1, "USD"), "xx_YY").code == "unknown_locale"


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (29.0, "amount 29.0 is a float; amounts are exact decimals"),
        (True, "amount True is a bool; amounts are exact decimals"),
        (Decimal("NaN"), "amount NaN is not a number"),
        (Decimal("-Infinity"), "amount -Infinity is not a number"),
        ("NaN", "amount 'NaN' is not a decimal amount"),
        ("1,234.50", "amount '1,234.50' is not a decimal amount"),
        ("1e3", "amount '1e3' is not a decimal amount"),
        ("٣", "amount '٣' is not a decimal amount"),
        ("", "amount '' is not a decimal amount"),
        (".5", "amount '.5' is not a decimal amount"),
        ("1" * 65, f"amount '{'1' * 64}…' is not a decimal amount"),
        ("-5", "amount -5 USD is negative"),
        ("10000000000000", "10000000000000 USD is too large (at most 15 digits in minor units)"),
        (Decimal("1E+999999999"), "1E+999999999 USD is too large (at most 15 digits in minor units)"),
        (None, "amount must be text or a Decimal, not NoneType"),
    ],
)
def test_parse_refusals(value: object, message: str) -> None:
    assert refused(parse, value, "USD").message == message


def test_parse_bounds_and_signs() -> None:
    assert parse("9999999999999.99", "USD") == Money(999_999_999_999_999, "USD")
    assert parse(" +1.50 ", "USD") == Money(150, "USD")
    assert parse("-1.50", "USD", allow_negative=True) == Money(-150, "USD")
    assert parse(Decimal("0E-99999"), "USD") == Money(0, "USD")
    assert parse(Decimal("1.500000000000000000000000000000000"), "USD") == Money(150, "USD")
    assert refused(parse, "0", "USD", allow_zero=False).message == "amount must be more than 0 USD"
    assert to_provider_amount(Money(10**12 - 1, "USD"), "stripe") == 999_999_999_999
    error = refused(to_provider_amount, Money(10**12, "USD"), "stripe")
    assert error.code == "amount_too_large"
    assert error.message == "10000000000.00 USD is larger than Stripe accepts (12 digits in its minor unit)"


def test_provider_amount_types_are_checked() -> None:
    assert refused(from_provider_amount, "2900", "usd", "stripe").code == "invalid_provider_amount"
    assert refused(from_provider_amount, 29.0, "usd", "stripe").code == "invalid_provider_amount"
    assert refused(from_provider_amount, True, "usd", "stripe").code == "invalid_provider_amount"
    assert refused(from_provider_amount, 29.5, "NGN", "flutterwave").code == "invalid_provider_amount"
    assert refused(from_provider_amount, "29.505", "NGN", "flutterwave").code == "amount_unrepresentable"
    assert refused(to_provider_amount, Money(1, "USD"), "paypal").code == "unknown_provider"
    assert refused(parse, "1", "USD", provider="paypal").code == "unknown_provider"


# -- Money itself -----------------------------------------------------------------------------


def test_money_validation() -> None:
    assert Money(1, "usd").currency == "USD"
    assert refused(Money, 2.0, "USD").message == "an amount must be a whole number of minor units, not float"
    assert refused(Money, 1, "US").code == "invalid_currency"
    assert refused(Money, 1, "XAU").message == "XAU is not an ISO 4217 currency with a minor unit"
    assert refused(Money, 1, "ZZZ").code == "invalid_currency"
    assert refused(Money, 10**15, "USD").code == "amount_too_large"
    assert Money(-(10**15) + 1, "USD").amount == -(10**15) + 1


def test_money_arithmetic_within_one_currency() -> None:
    a, b = Money(2900, "USD"), Money(100, "USD")
    assert a + b == Money(3000, "USD")
    assert a - b == Money(2800, "USD")
    assert -a == Money(-2900, "USD")
    assert 3 * b == b * 3 == Money(300, "USD")
    assert b < a and a > b and a >= a and b <= a
    assert Money.zero("JPY").is_zero()
    error = refused(lambda: a + Money(100, "EUR"))
    assert error.code == "currency_mismatch"
    assert error.message == "cannot add 29.00 USD and 1.00 EUR: different currencies"
    assert refused(lambda: a < Money(1, "EUR")).code == "currency_mismatch"
    assert refused(lambda: a * 1.5).code == "invalid_amount"  # type: ignore[operator]


# -- the tables ------------------------------------------------------------------------------


def test_iso_table() -> None:
    iso = currencies.ISO_EXPONENTS
    assert len(iso) == 165  # ISO 4217 List One (2026-01-01): 178 codes, 13 without a minor unit
    assert [iso[c] for c in ("USD", "JPY", "KWD", "CLF", "ISK", "UGX", "HUF", "MGA", "XCG", "ZWG")] == [
        2, 0, 3, 4, 0, 0, 2, 2, 2, 2,
    ]  # fmt: skip
    assert not {"XAU", "XXX", "XTS", "XDR", "ANG", "HRK"} & set(iso)


def test_babel_differs_from_iso_exactly_where_documented() -> None:
    # Babel answers CLDR display digits; if this changes, re-check display and the docs.
    codes = {**currencies.ISO_EXPONENTS, **currencies.WITHDRAWN_EXPONENTS}
    differs = {c: (e, get_currency_precision(c)) for c, e in codes.items() if get_currency_precision(c) != e}
    assert differs == currencies.CLDR_DISPLAY_DIFFERS


def test_stripe_rules() -> None:
    zero = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF", "XOF", "XPF"}
    assert {c for c, r in currencies.STRIPE_RULES.items() if r.exponent == 0} == zero
    assert {c for c, r in currencies.STRIPE_RULES.items() if r.exponent == 3} == {"BHD", "JOD", "KWD", "OMR", "TND"}
    assert all(provider_rule(c, "stripe").step == 10 for c in ("BHD", "JOD", "KWD", "OMR", "TND"))
    assert (provider_rule("ISK", "stripe").exponent, provider_rule("ISK", "stripe").step) == (2, 100)
    assert (provider_rule("UGX", "stripe").exponent, provider_rule("UGX", "stripe").step) == (2, 100)
    assert (provider_rule("HUF", "stripe").exponent, provider_rule("HUF", "stripe").step) == (2, 1)
    assert provider_rule("KWD", "flutterwave").exponent == 3
