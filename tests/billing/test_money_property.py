"""Property: parse → to_provider → from_provider gives back exactly what was typed, or parse /
to_provider refuses, and only for a reason an independent check confirms (never a silent change,
never a needless refusal)."""

from __future__ import annotations

import decimal
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from zigznote.billing.currencies import ISO_EXPONENTS, PROVIDERS, WITHDRAWN_EXPONENTS, provider_rule
from zigznote.billing.money import MAX_DIGITS, Money, from_provider_amount, parse, to_provider_amount
from zigznote.errors import InvalidInput

CURRENCIES = sorted({*ISO_EXPONENTS, *WITHDRAWN_EXPONENTS})
# Emphasize the currencies with provider rules, then anything.
SPECIAL = ["JPY", "UGX", "KWD", "ISK", "USD", "NGN", "MGA", "HUF", "BHD", "IQD", "CLF", "CLP"]
currency_st = st.one_of(st.sampled_from(SPECIAL), st.sampled_from(CURRENCIES))
provider_st = st.sampled_from(PROVIDERS)

# Decimals of every scale: a coefficient and a number of places (5.125, 1E+3, 0.000, 12.3450).
amount_st = st.one_of(
    st.builds(
        lambda coefficient, places: Decimal(coefficient).scaleb(-places),
        st.integers(min_value=-(10**17), max_value=10**17),
        st.integers(min_value=-3, max_value=6),
    ),
    st.decimals(allow_nan=False, allow_infinity=False),
)

_EXACT = decimal.Context(prec=200, traps=[decimal.Inexact, decimal.Overflow, decimal.InvalidOperation])


def _iso_exponent(currency: str) -> int:
    return ISO_EXPONENTS.get(currency, WITHDRAWN_EXPONENTS.get(currency, 2))


def _oracle(amount: Decimal, currency: str, provider: str) -> str | None:
    """The refusal code a correct implementation must give, computed independently, or None."""
    minor = _EXACT.multiply(amount, Decimal(10) ** _iso_exponent(currency))
    if minor != minor.to_integral_value():
        return "amount_unrepresentable"
    if abs(minor) >= 10**MAX_DIGITS:
        return "amount_too_large"
    if minor < 0:
        return "invalid_amount"
    if provider != "stripe":
        return None
    try:
        rule = provider_rule(currency, provider)
    except InvalidInput as exc:
        return exc.code
    wire = _EXACT.multiply(amount, Decimal(10) ** rule.exponent)
    if wire != wire.to_integral_value():
        return "amount_unrepresentable"
    if int(wire) % rule.step:
        return "amount_not_allowed"
    if abs(wire) >= 10**12:
        return "amount_too_large"
    return None


@settings(max_examples=1500, deadline=None)
@given(amount=amount_st, currency=currency_st, provider=provider_st)
def test_round_trip_or_justified_refusal(amount: Decimal, currency: str, provider: str) -> None:
    expected = _oracle(amount, currency, provider)
    try:
        money = parse(amount, currency, provider=provider)
        wire = to_provider_amount(money, provider)
    except InvalidInput as exc:
        assert exc.exit_code == 2
        assert exc.code == expected, (amount, currency, provider, exc.message)
        return
    assert expected is None, (amount, currency, provider, money)
    assert money.to_decimal() == amount  # numerically exact: nothing rounded
    if provider == "stripe":
        assert type(wire) is int
        rule = provider_rule(currency, provider)
        assert Decimal(wire).scaleb(-rule.exponent) == amount  # never a 100x error
        back = from_provider_amount(wire, currency.lower(), provider)
    else:
        assert isinstance(wire, Decimal) and wire == amount
        back = from_provider_amount(wire, currency, provider)
    assert back == money


@settings(max_examples=1500, deadline=None)
@given(
    minor=st.integers(min_value=-(10**MAX_DIGITS) + 1, max_value=10**MAX_DIGITS - 1),
    currency=currency_st,
    provider=provider_st,
)
def test_money_survives_the_provider_edge(minor: int, currency: str, provider: str) -> None:
    money = Money(minor, currency)
    try:
        wire = to_provider_amount(money, provider)
    except InvalidInput as exc:
        assert provider == "stripe"
        assert exc.code in {"amount_unrepresentable", "amount_not_allowed", "amount_too_large", "unsupported_currency"}
        return
    assert from_provider_amount(wire, currency, provider) == money
