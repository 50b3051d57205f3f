"""The plan catalog: ``plans.toml`` parsed and validated.

:func:`load_catalog`/:func:`parse_catalog` read the file (format: docs/billing.md) into a
:class:`Catalog`; every error is InvalidInput (exit 2) whose message starts with
``<file>:<plan>:price <n> (<CUR>/<interval>)`` as far as it applies. Amounts are parsed with
``money.parse(..., provider=...)`` for every provider a price applies to, so a price Stripe
cannot take (``5.125 KWD``) is refused before anything is sent.

The sync planner that compares a catalog with a provider is :mod:`zigznote.billing.catalog_sync`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zigznote.billing import money
from zigznote.billing.money import Money
from zigznote.billing.types import (
    ZIGZNOTE_PLAN_KEY,
    BillingInterval,
    ProductSpec,
)
from zigznote.errors import InvalidInput, NotFound
from zigznote.untrusted import decode_text

__all__ = ["Catalog", "CatalogPlan", "CatalogPrice", "PriceKey", "load_catalog", "parse_catalog"]

_SLUG_RE = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_LIMIT_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_PLAN_KEYS = {"name", "description", "features", "limits", "prices"}
_PRICE_KEYS = {"currency", "interval", "amount", "interval_count", "providers"}
_MAX_NAME, _MAX_DESCRIPTION, _MAX_FEATURE, _MAX_FEATURES, _MAX_INTERVAL_COUNT = 200, 1000, 200, 50, 365

PriceKey = tuple[str, BillingInterval | None, int]


@dataclass(frozen=True)
class CatalogPrice:
    """One price of a plan: ``amount`` every ``interval_count`` ``interval``; ``providers``:
    only these providers (``None``: all)."""

    amount: Money
    interval: BillingInterval
    interval_count: int = 1
    providers: frozenset[str] | None = None

    @property
    def key(self) -> PriceKey:
        """``(currency, interval, interval_count)``: what makes two prices of a plan the same one."""
        return (self.amount.currency, self.interval, self.interval_count)

    def applies_to(self, provider: str | None) -> bool:
        """Whether this price is offered at ``provider`` (``None``: any provider)."""
        return provider is None or self.providers is None or provider in self.providers

    def as_json(self) -> dict[str, Any]:
        """``{"amount" (money JSON), "interval", "interval_count", "providers" (sorted, or None)}``."""
        return {
            "amount": money.as_json(self.amount),
            "interval": self.interval.value,
            "interval_count": self.interval_count,
            "providers": sorted(self.providers) if self.providers is not None else None,
        }


@dataclass(frozen=True)
class CatalogPlan:
    """One plan: ``slug`` (the TOML key), name, description, features, ``limits`` (name →
    int ≥ 0 or bool; zigznote enforces them, providers never see them) and prices."""

    slug: str
    name: str
    description: str | None = None
    features: tuple[str, ...] = ()
    limits: Mapping[str, int | bool] = field(default_factory=dict)
    prices: tuple[CatalogPrice, ...] = ()

    def product_spec(self) -> ProductSpec:
        """The provider product for this plan, tagged ``zigznote_plan=<slug>``."""
        return ProductSpec(self.name, self.description, self.features, {ZIGZNOTE_PLAN_KEY: self.slug})

    def price_for(
        self, currency: str, interval: BillingInterval, interval_count: int = 1, *, provider: str | None = None
    ) -> CatalogPrice | None:
        """The plan's price in ``currency`` per ``interval`` (for ``provider``), or None."""
        key = (money.normalize_currency(currency), interval, interval_count)
        return next((p for p in self.prices if p.key == key and p.applies_to(provider)), None)

    def as_json(self) -> dict[str, Any]:
        """``{"slug", "name", "description", "features", "limits", "prices": [price JSON…]}``."""
        return {
            "slug": self.slug, "name": self.name, "description": self.description,
            "features": list(self.features), "limits": dict(self.limits),
            "prices": [p.as_json() for p in self.prices],
        }  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """Every plan of a ``plans.toml``, in file order; ``source`` names the file."""

    plans: tuple[CatalogPlan, ...]
    source: str = "plans.toml"

    def plan(self, slug: str) -> CatalogPlan:
        """The plan ``slug``; NotFound (``plan_not_found``) naming the known slugs."""
        for plan in self.plans:
            if plan.slug == slug:
                return plan
        known = ", ".join(p.slug for p in self.plans) or "none"
        raise NotFound(f"no plan {slug!r} in {self.source}", hint=f"plans: {known}", code="plan_not_found")

    def as_json(self) -> list[dict[str, Any]]:
        """Every plan's JSON (:meth:`CatalogPlan.as_json`), in file order."""
        return [p.as_json() for p in self.plans]


# -- parsing ------------------------------------------------------------------------------


def load_catalog(path: str | Path, *, providers: Sequence[str] | None = None) -> Catalog:
    """Read and validate a ``plans.toml`` file. ``providers``: check amounts against these
    providers' rules (default: every provider ``money`` knows). Raises InvalidInput
    (``file_not_found``, ``file_unreadable``, ``invalid_catalog``, the money codes)."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"file {source!r} not found", code="file_not_found") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {source!r}: {exc.strerror}", code="file_unreadable") from None
    return parse_catalog(raw, source=source, providers=providers)


def parse_catalog(text: str | bytes, *, source: str = "plans.toml", providers: Sequence[str] | None = None) -> Catalog:
    """Validate ``plans.toml`` text (UTF-8 bytes or str) into a :class:`Catalog`; see
    :func:`load_catalog`. At least one plan; each with a name and at least one price."""
    checked = tuple(providers) if providers is not None else money.PROVIDERS
    for name in checked:
        if name not in money.PROVIDERS:
            raise _error(source, f"no amount rules for provider {name!r}", hint=_providers_hint())
    try:
        data = tomllib.loads(decode_text(text, where=source))
    except tomllib.TOMLDecodeError as exc:
        raise _error(source, f"not valid TOML: {exc}") from None
    _no_unknown(data, {"plans"}, source)
    plans = data.get("plans")
    if not isinstance(plans, dict) or not plans:
        raise _error(source, "no plans", hint="start a plan with [plans.<slug>], e.g. [plans.pro]")
    return Catalog(tuple(_plan(slug, body, f"{source}:{slug}", checked) for slug, body in plans.items()), source)


def _error(where: str, message: str, *, hint: str | None = None, code: str = "invalid_catalog") -> InvalidInput:
    return InvalidInput(f"{where}: {message}", hint=hint, code=code)


def _short(value: object) -> str:
    """A value from the file, clipped for a location label."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 12 else text[:12] + "…"


def _providers_hint() -> str:
    return f"providers: {', '.join(money.PROVIDERS)}"


def _no_unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise _error(where, f"unknown key {unknown[0]!r}", hint=f"known keys: {', '.join(sorted(known))}")


def _text(value: object, where: str, key: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(where, f"{key} must be non-empty text")
    if len(value) > limit or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise _error(where, f"{key} must be one line of at most {limit} characters")
    return value.strip()


def _plan(slug: str, body: object, where: str, checked: Sequence[str]) -> CatalogPlan:
    if not _SLUG_RE.fullmatch(slug):
        raise _error(where, "a plan slug is 1-40 of a-z, 0-9, '-' and '_', starting with a letter")
    if not isinstance(body, dict):
        raise _error(where, "a plan is a table", hint=f"write [plans.{slug}] and its keys below it")
    _no_unknown(body, _PLAN_KEYS, where)
    name = _text(body.get("name"), where, "name", _MAX_NAME)
    description = body.get("description")
    if description is not None:
        description = _text(description, where, "description", _MAX_DESCRIPTION)
    features = body.get("features", [])
    if not isinstance(features, list) or len(features) > _MAX_FEATURES:
        raise _error(where, f"features must be a list of at most {_MAX_FEATURES} texts")
    limits = body.get("limits", {})
    if not isinstance(limits, dict):
        raise _error(where, "limits must be a table, e.g. { seats = 10 }")
    for key, value in limits.items():
        ok = isinstance(value, bool) or (isinstance(value, int) and 0 <= value < 2**63)
        if not _LIMIT_RE.fullmatch(key) or not ok:
            raise _error(where, f"limit {key!r} must be named a-z, 0-9, '_' and be a whole number ≥ 0 or true/false")
    prices = body.get("prices")
    if not isinstance(prices, list) or not prices:
        raise _error(where, "no prices", hint='prices = [ { currency = "USD", interval = "month", amount = "29.00" } ]')
    parsed = [_price(item, f"{where}:price {n}", checked) for n, item in enumerate(prices, 1)]
    for n, price in enumerate(parsed):
        for other in parsed[:n]:
            both = (price.providers or set(money.PROVIDERS)) & (other.providers or set(money.PROVIDERS))
            if price.key == other.key and both:
                currency, interval, count = price.key
                raise _error(
                    f"{where}:price {n + 1}",
                    f"a second {currency} price every {count} {interval} for {', '.join(sorted(both))}",
                    hint="one price per currency and interval (restrict one with providers = [...])",
                )
    feature_texts = tuple(_text(f, where, "a feature", _MAX_FEATURE) for f in features)
    return CatalogPlan(slug, name, description, feature_texts, dict(limits), tuple(parsed))


def _price(item: object, where: str, checked: Sequence[str]) -> CatalogPrice:
    if not isinstance(item, dict):
        raise _error(where, 'a price is a table: { currency = "USD", interval = "month", amount = "29.00" }')
    label = f"{where} ({_short(item.get('currency', '?'))}/{_short(item.get('interval', '?'))})"
    _no_unknown(item, _PRICE_KEYS, label)
    try:
        currency = money.normalize_currency(item.get("currency"))
    except InvalidInput as exc:
        raise _error(label, exc.message, hint=exc.hint, code=exc.code) from None
    interval_text = item.get("interval")
    if interval_text not in {i.value for i in BillingInterval}:
        raise _error(label, f"interval must be one of {', '.join(i.value for i in BillingInterval)}")
    count = item.get("interval_count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= _MAX_INTERVAL_COUNT:
        raise _error(label, f"interval_count must be a whole number from 1 to {_MAX_INTERVAL_COUNT}")
    only = item.get("providers")
    if only is not None:
        if not isinstance(only, list) or not only or any(p not in money.PROVIDERS for p in only):
            raise _error(label, "providers must be a non-empty list of provider names", hint=_providers_hint())
        only = frozenset(only)
    amount = item.get("amount")
    if amount is None:
        raise _error(label, "amount is missing", hint='amount = "29.00"', code="invalid_amount")
    if isinstance(amount, float):
        raise _error(
            label,
            f"amount {amount!r} is a TOML float",
            hint=f'write it as text: amount = "{amount}"',
            code="invalid_amount",
        )
    try:
        parsed = money.parse(amount, currency, what="amount")  # parse refuses other types
        for provider in checked:
            if only is None or provider in only:
                money.to_provider_amount(parsed, provider)
    except InvalidInput as exc:
        raise _error(label, exc.message, hint=exc.hint, code=exc.code) from None
    return CatalogPrice(parsed, BillingInterval(interval_text), count, only)
