"""Money at Flutterwave's edge: minor units → Decimal major units → the JSON number sent → what
Flutterwave reports back (number, integer or string) → the same Money, exactly, for the African
currencies zigznote bills in; zero-decimal currencies whole; displayed in their own market."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zigznote.billing.money import Money, display, from_provider_amount
from zigznote.billing.providers.flutterwave import mapping, params
from zigznote.errors import InvalidInput, ProviderError

CURRENCIES = ["NGN", "KES", "GHS", "ZAR", "UGX", "XOF"]


def sent_number(money: Money) -> Decimal:
    """The amount as the JSON body carries it, read back the way a JSON reader would."""
    parsed = json.loads(params.dumps({"amount": params.amount(money)}), parse_float=Decimal)["amount"]
    return parsed if isinstance(parsed, Decimal) else Decimal(parsed)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CURRENCIES), st.integers(min_value=1, max_value=10**14))
def test_minor_to_major_and_back_is_exact(currency: str, minor: int) -> None:
    money = Money(minor, currency)
    number = sent_number(money)
    assert number == money.to_decimal()
    assert from_provider_amount(number, currency, "flutterwave") == money
    # Flutterwave sometimes answers amounts as text ("amount": "100"): Decimal(str(x)) reads it exactly.
    assert mapping.money(str(number), currency) == money
    assert mapping.money(format(money.to_decimal(), "f"), currency) == money
    if number == number.to_integral_value():
        assert mapping.money(int(number), currency) == money


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["UGX", "XOF"]), st.integers(min_value=1, max_value=10**12))
def test_zero_decimal_currencies_are_sent_whole(currency: str, units: int) -> None:
    text = params.dumps({"amount": params.amount(Money(units, currency))}).decode()
    assert text == f'{{"amount":{units}}}'


@pytest.mark.parametrize(
    ("money", "sent", "shown"),
    [
        (Money(2500050, "NGN"), "25000.5", "₦25,000.50"),
        (Money(350000, "KES"), "3500", "Ksh3,500.00"),
        (Money(12099, "GHS"), "120.99", "GH₵120.99"),
        (Money(29999, "ZAR"), "299.99", "R299,99"),
        (Money(50000, "UGX"), "50000", "USh50,000"),
        (Money(15000, "XOF"), "15000", "F\u202fCFA15,000"),
    ],
)
def test_examples_sent_and_shown(money: Money, sent: str, shown: str) -> None:
    assert params.dumps({"amount": params.amount(money)}) == f'{{"amount":{sent}}}'.encode()
    assert display(money) == shown


def test_what_a_currency_cannot_hold_is_refused_never_rounded() -> None:
    with pytest.raises(ProviderError, match="cannot be represented"):
        mapping.money("5000.5", "UGX")
    with pytest.raises(ProviderError, match="unusable amount"):
        mapping.money(True, "NGN")
    with pytest.raises(TypeError):
        params.dumps({"amount": 29.5})
    with pytest.raises(InvalidInput):
        from_provider_amount(29.5, "NGN", "flutterwave")
