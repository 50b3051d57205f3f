"""The one table of currency exponents, and the payment providers' exceptions to it.

``ISO_EXPONENTS`` is ISO 4217 List One as published 2026-01-01 (SIX, the maintenance agency):
every active code with a minor unit. Our ``Money.amount`` counts these minor units. The codes
whose minor unit is "N.A." (precious metals, SDR, bond-market units, XTS, XXX) are left out on
purpose: they are not money anyone is billed in. ``WITHDRAWN_EXPONENTS`` keeps a few codes ISO has
withdrawn but providers still list (Stripe presents São Tomé's dobra as ``std``).

Why not Babel's ``get_currency_precision``? It answers CLDR's *display* digits, which differ from
ISO 4217 for 17 codes (HUF, IDR, COP, MGA, IQD, …: see ``CLDR_DISPLAY_DIFFERS`` and its
test): reading HUF 10.45 with CLDR's 0 digits would make a Stripe charge of 1045 fillér
unrepresentable. Babel stays the source for *display* only.

Provider tables: ``STRIPE_RULES`` lists, per currency, the exponent of Stripe's ``amount`` and the
step every amount must be a multiple of. Source: https://docs.stripe.com/currencies ("Minor units
in API amounts", "Zero-decimal currencies", "Three-decimal currencies", "Special cases"); quoted in
docs/billing.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

from zigznote.errors import InvalidInput

__all__ = [
    "CLDR_DISPLAY_DIFFERS",
    "ISO_EXPONENTS",
    "PROVIDERS",
    "STRIPE_MAX_DIGITS",
    "STRIPE_RULES",
    "WITHDRAWN_EXPONENTS",
    "AmountRule",
    "ProviderEdge",
    "exponent",
    "normalize_currency",
    "provider_edge",
    "provider_rule",
]

# Minor-unit exponent 2 unless listed in _ISO_NOT_TWO. Tables of codes are written as split
# strings (SIM905 off for them): a list literal would be 165 lines of quotes.
_ISO_TWO: Final = """
AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF
CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL
MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR
PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP
TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XAD XCD XCG YER ZAR ZMW ZWG
""".split()  # noqa: SIM905

_ISO_NOT_TWO: Final = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(),  # noqa: SIM905
        0,
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),  # noqa: SIM905
    **dict.fromkeys("CLF UYW".split(), 4),  # noqa: SIM905
}

#: ISO 4217 code → minor-unit exponent (178 codes less the 13 without a minor unit).
ISO_EXPONENTS: Final[dict[str, int]] = {**dict.fromkeys(_ISO_TWO, 2), **_ISO_NOT_TWO}

#: Withdrawn from ISO 4217 but still presented by a provider; exponent as when it was active.
#: ANG (Netherlands Antillean guilder, replaced by XCG in 2025), STD (dobra before the 2018
#: redenomination; Stripe's presentment list still names ``std``), SLL (leone before SLE).
WITHDRAWN_EXPONENTS: Final[dict[str, int]] = {"ANG": 2, "STD": 2, "SLL": 2}

#: Where Babel's CLDR display digits (``get_currency_precision``) differ from ISO 4217, as
#: (ISO, CLDR). Display follows CLDR (Babel); amounts follow ISO. A test keeps this exact, so a
#: Babel upgrade that changes it is noticed.
CLDR_DISPLAY_DIFFERS: Final[dict[str, tuple[int, int]]] = {
    **dict.fromkeys(
        "AFN ALL COP HUF IDR IRR KPW LAK LBP MGA MMK SOS SYP YER".split(),  # noqa: SIM905
        (2, 0),
    ),
    "IQD": (3, 0),
    "SLL": (2, 0),
    "STD": (2, 0),
}


@dataclass(frozen=True)
class AmountRule:
    """How one provider writes amounts of one currency.

    ``exponent``: decimal places of the provider's amount unit (Stripe ``amount`` 1000 = 10 USD:
    exponent 2). ``step``: every amount, in the provider's unit, must be a multiple of it
    (Stripe KWD: 10, ISK and UGX: 100). ``why``: the provider's rule in a few words, for error
    messages.
    """

    exponent: int
    step: int = 1
    why: str = ""


_STRIPE_ZERO_DECIMAL: Final = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split()  # noqa: SIM905
_STRIPE_THREE_DECIMAL: Final = "BHD JOD KWD OMR TND".split()  # noqa: SIM905

#: Stripe's exceptions to "amount in the currency's minor unit, two decimals". A currency not
#: listed here is sent with exponent 2 when ISO says 2, and refused when ISO says otherwise
#: (IQD, LYD, CLF, UYI, UYW: Stripe documents no rule for them, and guessing is how a charge
#: ends up 100 times too large).
STRIPE_RULES: Final[dict[str, AmountRule]] = {
    **{c: AmountRule(0, why="a zero-decimal currency at Stripe") for c in _STRIPE_ZERO_DECIMAL},
    **{
        c: AmountRule(3, 10, why="a three-decimal currency at Stripe, whose last digit must be 0")
        for c in _STRIPE_THREE_DECIMAL
    },
    # "Special cases": whole units only, written with two decimals that are always 00. Stripe's
    # zero-decimal list also names UGX; its Special cases table and Stripe's API (error
    # invalid_charge_amount_no_decimal_compatible) say 5 UGX is sent as 500.
    "ISK": AmountRule(2, 100, why="sent with two decimals at Stripe that must be 00 (whole krónur only)"),
    "UGX": AmountRule(2, 100, why="sent with two decimals at Stripe that must be 00 (whole shillings only)"),
    # HUF and TWD: "Stripe treats HUF/TWD as a zero-decimal currency for payouts, even though you
    # can charge two-decimal amounts." zigznote charges and refunds, never creates payouts, so
    # the ordinary two-decimal rule applies (no entry).
}

#: Stripe's largest ``amount``: "12 digits for most card payments" (other methods allow fewer;
#: Stripe refuses those itself).
STRIPE_MAX_DIGITS: Final = 12


# -- lookups --------------------------------------------------------------------------------

_CURRENCY_RE: Final = re.compile(r"[A-Za-z]{3}")
_CURRENCY_HINT: Final = "use an ISO 4217 code such as USD, NGN or KES"


def normalize_currency(code: object) -> str:
    """``code`` as an upper-case ISO 4217 code zigznote can hold (any case accepted: Stripe
    writes ``usd``). Raises InvalidInput (``invalid_currency``) for anything else."""
    if not isinstance(code, str) or not _CURRENCY_RE.fullmatch(code.strip()):
        raise InvalidInput(f"{repr(code)[:40]} is not a currency code", hint=_CURRENCY_HINT, code="invalid_currency")
    upper = code.strip().upper()
    if upper not in ISO_EXPONENTS and upper not in WITHDRAWN_EXPONENTS:
        raise InvalidInput(
            f"{upper} is not an ISO 4217 currency with a minor unit", hint=_CURRENCY_HINT, code="invalid_currency"
        )
    return upper


def exponent(currency: str) -> int:
    """Decimal places of ``currency``'s ISO 4217 minor unit (USD 2, JPY 0, KWD 3).

    Raises InvalidInput (``invalid_currency``) for an unknown code."""
    code = normalize_currency(currency)
    return ISO_EXPONENTS.get(code, WITHDRAWN_EXPONENTS.get(code, 2))


@dataclass(frozen=True)
class ProviderEdge:
    """How one provider writes amounts: ``minor`` = integers in its minor units (``overrides``
    per currency; an unlisted currency only when its ISO exponent is 2), ``major`` = ``Decimal``
    major units at the ISO exponent. ``max_digits``: the longest integer amount it takes."""

    style: Literal["minor", "major"]
    title: str
    overrides: dict[str, AmountRule] = field(default_factory=dict)
    max_digits: int | None = None


_EDGES: Final[dict[str, ProviderEdge]] = {
    # https://docs.stripe.com/currencies
    "stripe": ProviderEdge("minor", "Stripe", STRIPE_RULES, STRIPE_MAX_DIGITS),
    # https://developer.flutterwave.com/docs/collecting-payments/standard ("amount: The amount to
    # charge the customer", in the currency's major unit: 100 for NGN 100).
    "flutterwave": ProviderEdge("major", "Flutterwave"),
}

#: Provider names whose amount conventions are known (one entry per provider folder).
PROVIDERS: Final[tuple[str, ...]] = tuple(_EDGES)


def provider_edge(provider: str) -> ProviderEdge:
    """``provider``'s amount convention. Raises InvalidInput (``unknown_provider``)."""
    edge = _EDGES.get(provider)
    if edge is None:
        raise InvalidInput(
            f"no amount rules for provider {provider!r}",
            hint=f"known providers: {', '.join(PROVIDERS)}",
            code="unknown_provider",
        )
    return edge


def provider_rule(currency: str, provider: str) -> AmountRule:
    """How ``provider`` writes amounts of ``currency``: exponent of its unit and step.

    Raises InvalidInput: ``unknown_provider``, ``invalid_currency``; ``unsupported_currency``
    when the provider documents no rule for a currency whose ISO exponent is not 2 (Stripe: IQD,
    LYD, CLF, UYI, UYW).
    """
    edge = provider_edge(provider)
    code = normalize_currency(currency)
    places = exponent(code)
    if edge.style == "major":
        return AmountRule(places, 1, why=f"sent in major units at {edge.title}")
    rule = edge.overrides.get(code)
    if rule is not None:
        return rule
    if places != 2:
        raise InvalidInput(
            f"{edge.title} documents no amount rule for {code}, whose minor unit has {places} decimal places",
            hint="zigznote refuses to guess a provider's amount scale",
            code="unsupported_currency",
        )
    return AmountRule(2, 1, why=f"a two-decimal currency at {edge.title}")
