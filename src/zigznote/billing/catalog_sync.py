"""The plan-sync planner: what to create, update and deactivate so a provider matches ``plans.toml``.

:func:`plan_sync` is pure: the desired :class:`~zigznote.billing.catalog.Catalog` and what a
provider reports (products carrying ``metadata.zigznote_plan``, their prices) in, a list of
:class:`Action` out, in execution order. Prices are immutable at Stripe
(https://docs.stripe.com/products-prices/manage-prices): an amount change is a new price plus a
deactivation of the old one. ``billing plans sync`` prints the actions, then performs them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from zigznote.billing import money
from zigznote.billing.catalog import Catalog, CatalogPlan, CatalogPrice, PriceKey
from zigznote.billing.money import Money
from zigznote.billing.providers.base import Capabilities
from zigznote.billing.types import (
    ZIGZNOTE_PLAN_KEY,
    BillingInterval,
    Plan,
    Price,
    PriceSpec,
    ProductSpec,
    ProductUpdate,
)
from zigznote.errors import Conflict, ZigznoteError

__all__ = ["Action", "ActionKind", "ExistingCatalog", "plan_sync", "summary"]


class ActionKind(StrEnum):
    """One step of a plan sync: a product to create or update, a price to create (prices are
    immutable: a changed amount is a new one) or deactivate, or nothing to do."""

    CREATE_PRODUCT = "create_product"
    UPDATE_PRODUCT = "update_product"
    CREATE_PRICE = "create_price"
    DEACTIVATE_PRICE = "deactivate_price"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ExistingCatalog:
    """What a provider reports: its products (``list_products()``) and prices (``list_prices()``),
    active or not. Products without ``zigznote_plan`` metadata are someone else's and ignored."""

    products: Sequence[Plan]
    prices: Sequence[Price]


@dataclass(frozen=True)
class Action:
    """One step of a sync, in execution order.

    - ``create_product``: ``product`` is the spec; the plan's ``create_price`` actions that
      follow have ``product_id=None`` and use the created product's ID (:meth:`price_spec`).
    - ``update_product``: ``product_id`` and ``changes`` (a ``ProductUpdate``; ``fields`` names them).
    - ``create_price``: ``amount``/``interval``/``interval_count``; ``replaces``: the IDs of the
      prices it supersedes, deactivated by the actions right after it.
    - ``deactivate_price``: ``price_id`` (and its amount, for showing).
    - ``unchanged``: ``target`` product or price, with its ID.
    """

    kind: ActionKind
    plan: str
    target: Literal["product", "price"]
    reason: str
    product_id: str | None = None
    price_id: str | None = None
    product: ProductSpec | None = None
    changes: ProductUpdate | None = None
    fields: tuple[str, ...] = ()
    amount: Money | None = None
    interval: BillingInterval | None = None
    interval_count: int | None = None
    replaces: tuple[str, ...] = ()

    def price_spec(self, product_id: str) -> PriceSpec:
        """The ``create_price`` request for ``product_id`` (this action's, or the one just created)."""
        if self.kind is not ActionKind.CREATE_PRICE or self.amount is None or self.interval is None:
            raise ZigznoteError(f"{self.kind.value} has no price to create")
        return PriceSpec(
            product_id, self.amount, self.interval, self.interval_count or 1, {ZIGZNOTE_PLAN_KEY: self.plan}
        )

    @property
    def fingerprint(self) -> str:
        """A stable hex digest of what the action does (kind, plan, IDs, spec, amount, what it
        replaces): a base for idempotency keys that differs whenever the request would."""
        content = {
            "kind": self.kind.value, "plan": self.plan, "target": self.target,
            "product_id": self.product_id, "price_id": self.price_id,
            "product": _spec_json(self.product) if self.product else None,
            "changes": {f: getattr(self.changes, f) for f in self.fields} if self.changes else None,
            "amount": [self.amount.amount, self.amount.currency] if self.amount else None,
            "interval": self.interval, "interval_count": self.interval_count, "replaces": self.replaces,
        }  # fmt: skip
        blob = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def as_json(self) -> dict[str, Any]:
        """``{"action", "plan", "target", "reason", "product_id", "price_id", "fields",
        "amount" (money JSON or None), "interval", "interval_count", "replaces"}``."""
        return {
            "action": self.kind.value, "plan": self.plan, "target": self.target, "reason": self.reason,
            "product_id": self.product_id, "price_id": self.price_id, "fields": list(self.fields),
            "amount": money.as_json(self.amount) if self.amount else None,
            "interval": self.interval.value if self.interval else None, "interval_count": self.interval_count,
            "replaces": list(self.replaces),
        }  # fmt: skip


def _spec_json(spec: ProductSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "features": list(spec.features),
        "metadata": dict(spec.metadata),
    }


def _price_action(kind: ActionKind, plan: str, reason: str, price: Price | CatalogPrice, **kw: Any) -> Action:
    return Action(
        kind,
        plan,
        "price",
        reason,
        amount=price.amount,
        interval=price.interval,
        interval_count=price.interval_count,
        **kw,
    )


def _pick_product(slug: str, products: list[Plan]) -> Plan | None:
    active = [p for p in products if p.active]
    if len(active) > 1:
        ids = ", ".join(sorted(p.id for p in active))
        raise Conflict(
            f"several active products carry {ZIGZNOTE_PLAN_KEY}={slug}: {ids}",
            hint="archive all but one at the provider, then sync again",
            code="catalog_ambiguous",
        )
    if active:
        return active[0]
    # Only archived ones: reactivate the newest rather than create another.
    return max(products, key=lambda p: (p.created is not None, p.created or 0, p.id), default=None)


def _product_changes(
    plan: CatalogPlan, product: Plan, compare_features: bool, compare_descriptions: bool = True
) -> tuple[ProductUpdate, tuple[str, ...]]:
    changed: dict[str, Any] = {}
    if product.name != plan.name:
        changed["name"] = plan.name
    if compare_descriptions and (product.description or None) != plan.description:
        changed["description"] = plan.description or ""
    if compare_features and tuple(product.features) != plan.features:
        changed["features"] = plan.features
    if not product.active:
        changed["active"] = True
    return ProductUpdate(**changed), tuple(changed)


def plan_sync(
    desired: Catalog,
    existing: ExistingCatalog,
    *,
    provider: str | None = None,
    capabilities: Capabilities | None = None,
) -> list[Action]:
    """The actions that make ``existing`` match ``desired``, for ``provider`` (prices restricted
    to other providers are left out; ``None``: every price). Features are compared only when
    ``capabilities.product_features``, descriptions only when ``capabilities.product_descriptions``
    (both when no capabilities are given).

    Per plan, in file order: the product (create, update or unchanged), then per desired price
    either unchanged (an active price with the same currency, interval, count and amount) or a
    create followed by the deactivation of the active prices it replaces; then deactivation of
    the plan's other active prices. Last, plans no longer in the file: their active prices are
    deactivated and their products archived. Inactive prices are never reused.
    Pure; raises Conflict (``catalog_ambiguous``) when two active products carry one slug.
    """
    compare_features = capabilities.product_features if capabilities is not None else True
    compare_descriptions = capabilities.product_descriptions if capabilities is not None else True
    ours: dict[str, list[Plan]] = {}
    for found in existing.products:
        if found.slug is not None:
            ours.setdefault(found.slug, []).append(found)
    active_prices: dict[str, list[Price]] = {}
    for price in existing.prices:
        if price.active:
            active_prices.setdefault(price.product_id, []).append(price)

    actions: list[Action] = []
    for plan in desired.plans:
        wanted = [p for p in plan.prices if p.applies_to(provider)]
        product = _pick_product(plan.slug, ours.get(plan.slug, []))
        if product is None:
            actions.append(
                Action(ActionKind.CREATE_PRODUCT, plan.slug, "product", "new plan", product=plan.product_spec())
            )
            actions.extend(_price_action(ActionKind.CREATE_PRICE, plan.slug, "new price", p) for p in wanted)
            continue
        changes, fields = _product_changes(plan, product, compare_features, compare_descriptions)
        if fields:
            reason = "reactivate" if fields == ("active",) else f"{', '.join(fields)} changed"
            actions.append(
                Action(
                    ActionKind.UPDATE_PRODUCT,
                    plan.slug,
                    "product",
                    reason,
                    product_id=product.id,
                    changes=changes,
                    fields=fields,
                )
            )
        else:
            actions.append(Action(ActionKind.UNCHANGED, plan.slug, "product", "matches", product_id=product.id))
        groups: dict[PriceKey, list[Price]] = {}
        for price in active_prices.get(product.id, []):
            groups.setdefault((price.amount.currency, price.interval, price.interval_count), []).append(price)
        for want in wanted:
            group = groups.pop(want.key, [])
            keep = next((p for p in group if p.amount == want.amount), None)
            if keep is not None:
                actions.append(
                    _price_action(
                        ActionKind.UNCHANGED, plan.slug, "matches", keep, product_id=product.id, price_id=keep.id
                    )
                )
                actions.extend(
                    _price_action(
                        ActionKind.DEACTIVATE_PRICE,
                        plan.slug,
                        f"duplicate of {keep.id}",
                        p,
                        product_id=product.id,
                        price_id=p.id,
                    )
                    for p in group
                    if p is not keep
                )
                continue
            reason = f"amount {group[0].amount} → {want.amount}" if group else "new price"
            actions.append(
                _price_action(
                    ActionKind.CREATE_PRICE,
                    plan.slug,
                    reason,
                    want,
                    product_id=product.id,
                    replaces=tuple(p.id for p in group),
                )
            )
            actions.extend(
                _price_action(
                    ActionKind.DEACTIVATE_PRICE,
                    plan.slug,
                    f"replaced ({p.amount} → {want.amount})",
                    p,
                    product_id=product.id,
                    price_id=p.id,
                )
                for p in group
            )
        for group in groups.values():
            actions.extend(
                _price_action(
                    ActionKind.DEACTIVATE_PRICE,
                    plan.slug,
                    f"not in {desired.source}",
                    p,
                    product_id=product.id,
                    price_id=p.id,
                )
                for p in group
            )

    slugs = {p.slug for p in desired.plans}
    for slug, products in ours.items():
        if slug in slugs:
            continue
        for product in products:
            actions.extend(
                _price_action(
                    ActionKind.DEACTIVATE_PRICE,
                    slug,
                    f"plan not in {desired.source}",
                    p,
                    product_id=product.id,
                    price_id=p.id,
                )
                for p in active_prices.get(product.id, [])
            )
            if product.active:
                actions.append(
                    Action(
                        ActionKind.UPDATE_PRODUCT,
                        slug,
                        "product",
                        f"archive: plan not in {desired.source}",
                        product_id=product.id,
                        changes=ProductUpdate(active=False),
                        fields=("active",),
                    )
                )
    return actions


def summary(actions: Sequence[Action]) -> dict[str, int]:
    """How many actions of each kind, every kind present: ``{"create_product": 0, …}``. A sync
    changes nothing when every count but ``unchanged`` is 0."""
    counts = dict.fromkeys((k.value for k in ActionKind), 0)
    for action in actions:
        counts[action.kind.value] += 1
    return counts
