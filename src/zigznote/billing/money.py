"""Money: an integer count of ISO 4217 minor units and a currency, everywhere inside zigznote.

- :class:`Money` is what services, the store and the provider interface pass around.
- :func:`parse` turns what a person typed (``"29.00"``, a ``Decimal``) into Money, exactly or
  not at all; with ``provider=`` it also checks the provider can be sent that amount.
- :func:`to_provider_amount` / :func:`from_provider_amount` are the only conversions at a
  provider's edge: Stripe integers in its own minor units (``currencies.STRIPE_RULES``),
  Flutterwave v3 ``Decimal`` major units.
- :func:`display` and :func:`as_json` are how amounts are shown (Babel ``format_currency``).

Every refusal is :class:`~zigznote.errors.InvalidInput` (exit 2) with a message naming the amount
and the rule; nothing is ever rounded. Floats are refused everywhere: ``0.1 + 0.2`` is not money.
Rules and sources: docs/billing.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from zigznote.billing.currencies import (
    PROVIDERS,
    AmountRule,
    exponent,
    normalize_currency,
    provider_edge,
    provider_rule,
)
from zigznote.errors import InvalidInput

__all__ = [
    "DISPLAY_LOCALES",
    "MAX_DIGITS",
    "PROVIDERS",
    "AmountRule",
    "Money",
    "as_json",
    "display",
    "exponent",
    "from_data",
    "from_provider_amount",
    "normalize_currency",
    "parse",
    "provider_rule",
    "to_data",
    "to_provider_amount",
]

#: Largest |amount| in minor units is 10**15 - 1: exact in a 64-bit column and in a JSON number
#: read as a double (2**53 ≈ 9.007e15), and far beyond any provider's limit.
MAX_DIGITS: Final = 15
_MAX_TEXT: Final = 64  # characters of typed amount looked at, before any parsing
# ASCII digits only: \d would also take "٣" or "३", which Decimal reads as 3.
_AMOUNT_RE: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")

#: The locale ``display`` uses when none is given: the currency's own English-speaking market,
#: so NGN shows ``₦1,234,567.50`` and KES ``Ksh1,234,567.50`` (``en_US`` would print
#: ``NGN1,234,567.50``). Anything else: ``en_US``.
DISPLAY_LOCALES: Final[dict[str, str]] = {
    "GHS": "en_GH",
    "KES": "en_KE",
    "MWK": "en_MW",
    "NGN": "en_NG",
    "RWF": "en_RW",
    "TZS": "en_TZ",
    "UGX": "en_UG",
    "ZAR": "en_ZA",
    "ZMW": "en_ZM",
}


@dataclass(frozen=True, slots=True)
class Money:
    """An amount: ``amount`` minor units (ISO 4217 exponent: cents, yen, fils) of ``currency``.

    ``Money(2900, "USD")`` is 29.00 USD; ``Money(1235, "JPY")`` is 1,235 yen;
    ``Money(5120, "KWD")`` is 5.120 KWD. The currency is stored upper-case (``"usd"`` is
    accepted). ``|amount| < 10**15``. Arithmetic and ordering only between the same currency.

    Raises InvalidInput: ``invalid_amount`` (not an int: floats and bools refused),
    ``invalid_currency``, ``amount_too_large``; ``currency_mismatch`` from ``+ - < >``.
    """

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise InvalidInput(
                f"an amount must be a whole number of minor units, not {type(self.amount).__name__}",
                code="invalid_amount",
            )
        object.__setattr__(self, "currency", normalize_currency(self.currency))
        if abs(self.amount) >= 10**MAX_DIGITS:
            raise InvalidInput(
                f"{self.amount} minor units of {self.currency} is too large (at most {MAX_DIGITS} digits)",
                code="amount_too_large",
            )

    @classmethod
    def zero(cls, currency: str) -> Money:
        """No money in ``currency``."""
        return cls(0, currency)

    @property
    def exponent(self) -> int:
        """Decimal places of the currency's minor unit."""
        return exponent(self.currency)

    def to_decimal(self) -> Decimal:
        """The amount in major units, exactly, with the currency's decimal places
        (``Decimal("29.00")``, ``Decimal("1235")``, ``Decimal("5.120")``)."""
        return Decimal(self.amount).scaleb(-self.exponent)

    def is_zero(self) -> bool:
        """Whether the amount is 0 (of any currency)."""
        return self.amount == 0

    def _same(self, other: object, op: str) -> Money:
        if not isinstance(other, Money):
            raise InvalidInput(f"cannot {op} Money and {type(other).__name__}", code="invalid_amount")
        if other.currency != self.currency:
            raise InvalidInput(
                f"cannot {op} {self} and {other}: different currencies",
                hint="amounts in different currencies are never converted",
                code="currency_mismatch",
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other, "add").amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other, "subtract").amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        """Times a whole number (a quantity); never a fraction, so nothing is rounded."""
        if type(factor) is not int:
            raise InvalidInput(f"Money can be multiplied by a whole number only, not {factor!r}", code="invalid_amount")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other, "compare").amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other, "compare").amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other, "compare").amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other, "compare").amount

    def __str__(self) -> str:
        return f"{self.to_decimal()} {self.currency}"


# -- parsing ------------------------------------------------------------------------------


def _exact_minor(value: Decimal, places: int) -> int | None:
    """``value * 10**places`` as an int when that is exact and under MAX_DIGITS digits, ``None``
    when it is not exact; raises for too large. Works on the digits, never on a rounded
    product, so ``Decimal("1e999999999")`` costs nothing."""
    sign, digits, exp = value.as_tuple()
    assert isinstance(exp, int)  # callers pass finite values only
    kept = list(digits)
    while len(kept) > 1 and kept[-1] == 0:  # trailing zeros say nothing about precision
        kept.pop()
        exp += 1
    if kept == [0] or not kept:
        return 0
    shift = exp + places
    if shift < 0:  # a non-zero digit below the minor unit
        return None
    if len(kept) + shift > MAX_DIGITS:
        raise OverflowError
    minor = int("".join(map(str, kept))) * 10**shift
    return -minor if sign else minor


def _as_decimal(value: object, what: str) -> tuple[Decimal, str]:
    """``value`` as a finite Decimal and as the text to quote in messages."""
    if isinstance(value, bool | float):
        raise InvalidInput(
            f"{what} {value!r} is a {type(value).__name__}; amounts are exact decimals",
            hint='write the amount as text, e.g. "29.00"',
            code="invalid_amount",
        )
    if isinstance(value, int):
        return Decimal(value), str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInput(f"{what} {value} is not a number", code="invalid_amount")
        return value, str(value)
    if isinstance(value, str):
        text = value.strip()
        shown = text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"
        if len(text) > _MAX_TEXT or not _AMOUNT_RE.fullmatch(text):
            raise InvalidInput(
                f"{what} {shown!r} is not a decimal amount",
                hint="write amounts like 1234.50: digits, a dot for decimals, no thousands separators",
                code="invalid_amount",
            )
        return Decimal(text), text
    raise InvalidInput(f"{what} must be text or a Decimal, not {type(value).__name__}", code="invalid_amount")


def _places(n: int) -> str:
    return "no decimal places" if n == 0 else f"at most {n} decimal place{'s' if n > 1 else ''}"


def parse(
    value: str | Decimal | int,
    currency: str,
    *,
    provider: str | None = None,
    allow_negative: bool = False,
    allow_zero: bool = True,
    what: str = "amount",
) -> Money:
    """Money from an amount in major units as a person writes it: ``parse("29.00", "USD")`` is
    ``Money(2900, "USD")``; ``parse("1235", "JPY")`` is ``Money(1235, "JPY")``.

    ``value``: text (``"1234.50"``, optional sign, no exponent or separators), a finite
    ``Decimal`` or an ``int``; floats and bools are refused. ``provider``: also refuse what that
    provider cannot be sent (see :func:`to_provider_amount`). ``what`` names the value in messages.

    Raises InvalidInput: ``invalid_amount`` (syntax, float, NaN, negative or zero when not
    allowed), ``invalid_currency``, ``amount_unrepresentable`` (``9.5 JPY``, ``1.234 USD``),
    ``amount_too_large``, and the provider codes of :func:`to_provider_amount`.
    """
    code = normalize_currency(currency)
    number, text = _as_decimal(value, what)
    places = exponent(code)
    try:
        minor = _exact_minor(number, places)
    except OverflowError:
        raise InvalidInput(
            f"{text} {code} is too large (at most {MAX_DIGITS} digits in minor units)", code="amount_too_large"
        ) from None
    if minor is None:
        raise InvalidInput(
            f"{text} {code} cannot be represented: {code} amounts have {_places(places)}",
            hint="nothing is rounded: give the exact amount the currency can hold",
            code="amount_unrepresentable",
        )
    if minor < 0 and not allow_negative:
        raise InvalidInput(f"{what} {text} {code} is negative", code="invalid_amount")
    if minor == 0 and not allow_zero:
        raise InvalidInput(f"{what} must be more than 0 {code}", code="invalid_amount")
    money = Money(minor, code)
    if provider is not None:
        to_provider_amount(money, provider)
    return money


# -- provider edges -------------------------------------------------------------------------


def _unit_text(value: int, rule_exp: int, code: str) -> str:
    return f"{Decimal(value).scaleb(-rule_exp)} {code}"


def to_provider_amount(money: Money, provider: str) -> int | Decimal:
    """``money`` as ``provider`` expects it in a request.

    Stripe: an ``int`` in Stripe's minor unit for the currency (USD cents; JPY and MGA whole
    units; KWD thousandths ending in 0; ISK and UGX hundredths that are always ``00``), at most
    12 digits. Flutterwave: a ``Decimal`` in major units with the ISO decimal places
    (``Decimal("29.00")``).

    Raises InvalidInput: ``unknown_provider``, ``unsupported_currency``,
    ``amount_unrepresentable`` (12.34 MGA at Stripe), ``amount_not_allowed`` (5.125 KWD at
    Stripe; the hint names the nearest amounts that are allowed), ``amount_too_large``.
    """
    edge = provider_edge(provider)
    rule = provider_rule(money.currency, provider)
    if edge.style == "major":
        return money.to_decimal()
    code, places = money.currency, money.exponent
    shift = rule.exponent - places
    if shift >= 0:
        value = money.amount * 10**shift
    else:
        divisor = 10**-shift
        if money.amount % divisor:
            raise InvalidInput(
                f"{money} cannot be sent to {edge.title}: {code} is {rule.why} ({_places(rule.exponent)})",
                hint="nothing is rounded: give an amount the provider can take",
                code="amount_unrepresentable",
            )
        value = money.amount // divisor
    if value % rule.step:
        below = value - value % rule.step
        raise InvalidInput(
            f"{money} cannot be sent to {edge.title}: {code} is {rule.why}",
            hint=(
                f"use {_unit_text(below, rule.exponent, code)} or "
                f"{_unit_text(below + rule.step, rule.exponent, code)}; nothing is rounded"
            ),
            code="amount_not_allowed",
        )
    if edge.max_digits is not None and abs(value) >= 10**edge.max_digits:
        raise InvalidInput(
            f"{money} is larger than {edge.title} accepts ({edge.max_digits} digits in its minor unit)",
            code="amount_too_large",
        )
    return value


def from_provider_amount(value: object, currency: str, provider: str) -> Money:
    """Money from an amount a provider reported (responses, webhook payloads).

    Stripe: ``value`` is the ``int`` ``amount`` and ``currency`` Stripe's lower-case code.
    Flutterwave: ``value`` is a ``Decimal``, an ``int`` or a decimal string in major units (JSON
    parsed with ``parse_float=Decimal``; floats are refused). Amounts are taken as reported:
    the provider's request-side steps (KWD ending in 0) are not enforced here.

    Raises InvalidInput: ``invalid_provider_amount`` (wrong type), ``amount_unrepresentable``
    (Stripe ISK ``1045``: 10.45 krónur has no ISO minor unit), ``unknown_provider``,
    ``unsupported_currency``, ``invalid_currency``, ``amount_too_large``.
    """
    edge = provider_edge(provider)
    code = normalize_currency(currency)
    rule = provider_rule(code, provider)
    if edge.style == "major":
        if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
            raise InvalidInput(
                f"{edge.title} reported an amount of type {type(value).__name__}", code="invalid_provider_amount"
            )
        return parse(value, code, allow_negative=True, what=f"{edge.title} amount")
    if type(value) is not int:
        raise InvalidInput(
            f"{edge.title} reported an amount of type {type(value).__name__}, not an integer",
            code="invalid_provider_amount",
        )
    shift = rule.exponent - exponent(code)
    if shift >= 0:
        if value % 10**shift:
            raise InvalidInput(
                f"{edge.title} reported {_unit_text(value, rule.exponent, code)}, which {code} amounts cannot hold "
                f"({_places(exponent(code))})",
                code="amount_unrepresentable",
            )
        minor = value // 10**shift
    else:
        minor = value * 10**-shift
    return Money(minor, code)


# -- showing ------------------------------------------------------------------------------


def display(money: Money, locale: str | None = None) -> str:
    """``money`` for people, through Babel's ``format_currency``: ``$29.00``, ``¥1,235``,
    ``₦1,234,567.50``, ``Ksh1,234,567.50``, ``GH₵1,234,567.50``, ``R1 234 567,50``.

    ``locale`` (``"en_US"``, ``"fr_SN"``): the default is the currency's market in
    :data:`DISPLAY_LOCALES`, else ``en_US``. Digits the CLDR display rule would drop are kept
    (HUF 10.45 shows ``HUF10.45``, not ``HUF10``): display never rounds either.

    Raises InvalidInput (``unknown_locale``) for a locale Babel does not know.
    """
    from babel.core import UnknownLocaleError
    from babel.numbers import format_currency

    chosen = locale or DISPLAY_LOCALES.get(money.currency, "en_US")
    try:
        return format_currency(money.to_decimal(), money.currency, locale=chosen, decimal_quantization=False)
    except (UnknownLocaleError, ValueError):
        raise InvalidInput(
            f"unknown locale {chosen!r}", hint="use a locale such as en_US", code="unknown_locale"
        ) from None


def as_json(money: Money, locale: str | None = None) -> dict[str, Any]:
    """``{"amount": 2900, "currency": "USD", "display": "$29.00"}``: minor units, the code and
    :func:`display`. The shape every ``--json`` output uses for money."""
    return {"amount": money.amount, "currency": money.currency, "display": display(money, locale)}


def to_data(money: Money) -> dict[str, Any]:
    """``{"amount": 2900, "currency": "USD"}``: the stored form (a pending operation's
    parameters); :func:`from_data` reads it back."""
    return {"amount": money.amount, "currency": money.currency}


def from_data(data: object) -> Money:
    """Money from :func:`to_data`'s or :func:`as_json`'s output (``display`` is ignored).
    Raises InvalidInput ``invalid_amount`` for anything else (and as :class:`Money`)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("currency"), str):
        raise InvalidInput('money data must be {"amount": <minor units>, "currency": <code>}', code="invalid_amount")
    return Money(data.get("amount"), data["currency"])  # type: ignore[arg-type]  # Money checks the type
