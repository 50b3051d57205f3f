"""Products and prices on Flutterwave v3, which has payment plans only.

A zigznote price is one payment plan (``POST /payment-plans``: amount, name, interval, currency);
a zigznote product is the set of plans tagged with its slug (:mod:`.mapping`, :mod:`.params`).
So:

- ``create_product`` sends nothing: it checks the name fits a plan name and remembers it for the
  plans that follow; the product exists once its first plan does.
- ``update_product`` renames the slug's plans (``PUT /payment-plans/{id}`` with name and status
  together) and, to archive, cancels those still active. Descriptions and feature lists are not
  kept anywhere at Flutterwave (capabilities say so; the plan sync does not compare them).
- ``create_price`` is idempotent through the name tag: the key's digest is looked for among the
  plans before anything is sent, and again after a timeout or 5xx (a plan a lost answer left
  behind is found and returned, never made twice).
- ``deactivate_price`` is ``PUT /payment-plans/{id}/cancel`` (nothing sent when already cancelled).
  A price change in ``plans.toml`` therefore creates a plan and cancels the old one; what
  Flutterwave then does with the old plan's subscribers is not documented (README).

Endpoints: https://developer.flutterwave.com/reference/endpoints/payment-plans/ and the v3 SDK's
``services/payment-plans/*``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from zigznote.billing.providers.flutterwave import mapping, params
from zigznote.billing.providers.flutterwave.client import FlutterwaveClient
from zigznote.billing.providers.flutterwave.errors import Unanswered, unexpected
from zigznote.billing.types import ZIGZNOTE_PLAN_KEY, Plan, Price, PriceSpec, ProductSpec, ProductUpdate
from zigznote.errors import InvalidInput

__all__ = ["PlanCatalog"]

_NO_DIGEST = "0" * 8  # for checking a name's length before any plan exists


class PlanCatalog:
    """Payment plans as products and prices, over one client. Plan objects are cached by ID
    for the life of the instance (subscriptions and checkouts read them)."""

    def __init__(self, client: FlutterwaveClient) -> None:
        self._client = client
        self._names: dict[str, str] = {}
        self._plans: dict[str, dict[str, Any]] = {}

    # -- reading -------------------------------------------------------------------------

    def plans(self) -> list[dict[str, Any]]:
        """Every payment plan on the account (``GET /payment-plans``, all pages)."""
        found = []
        for plan in self._client.pages("/payment-plans", what="list payment plans"):
            if not isinstance(plan, dict):
                raise unexpected("a payment plan that is not an object")
            self._plans[mapping.flw_id(plan.get("id"), "plan ID")] = plan
            found.append(plan)
        return found

    def ours(self) -> dict[str, list[dict[str, Any]]]:
        """zigznote's plans by slug (untagged plans are someone else's)."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for plan in self.plans():
            _name, slug, _digest = mapping.split_name(plan.get("name"))
            if slug is not None:
                grouped.setdefault(slug, []).append(plan)
        return grouped

    def plan(self, plan_id: str) -> dict[str, Any]:
        """One payment plan (``GET /payment-plans/{id}``), cached. NotFound when there is none."""
        key = mapping.flw_id(plan_id, "plan ID")
        if key not in self._plans:
            answer = self._client.get(f"/payment-plans/{quote(key)}", what=f"read payment plan {key}")
            if not isinstance(answer.data, dict):
                raise unexpected(f"payment plan {key} with no plan")
            self._plans[key] = answer.data
        return self._plans[key]

    # -- products ------------------------------------------------------------------------

    def list_products(self, *, active: bool | None = None) -> Iterator[Plan]:
        """One virtual product per slug, filtered by ``active`` when given."""
        for slug, plans in sorted(self.ours().items()):
            product = mapping.product(slug, plans, name=None)
            if active is None or product.active is active:
                yield product

    def create_product(self, spec: ProductSpec) -> Plan:
        """Nothing is sent (module docstring). InvalidInput without ``zigznote_plan`` metadata or
        for a name its plans could not carry."""
        slug = _slug(spec.metadata, None)
        params.plan_name(spec.name, slug, _NO_DIGEST)
        self._names[slug] = spec.name.strip()
        return mapping.product(slug, [], name=spec.name.strip())

    def update_product(self, product_id: str, changes: ProductUpdate) -> Plan:
        """Rename the slug's plans to ``changes.name``; ``active=False`` cancels its active plans."""
        slug = mapping.slug_of(product_id)
        plans = self.ours().get(slug, [])
        name = changes.name.strip() if changes.name is not None else None
        if name is not None:
            params.plan_name(name, slug, _NO_DIGEST)
            self._names[slug] = name
            plans = [self._rename(p, name, slug) for p in plans]
        if changes.active is False:
            plans = [self._cancel(p) if p.get("status") == "active" else p for p in plans]
        return mapping.product(slug, plans, name=name if changes.active is not False else None)

    def _rename(self, plan: dict[str, Any], name: str, slug: str) -> dict[str, Any]:
        current, _slug, digest = mapping.split_name(plan.get("name"))
        if current == name or digest is None:
            return plan
        plan_id = mapping.flw_id(plan.get("id"), "plan ID")
        status = plan.get("status") if plan.get("status") in ("active", "cancelled") else "active"
        body = params.plan_update(params.plan_name(name, slug, digest), str(status))
        answer = self._client.put(f"/payment-plans/{quote(plan_id)}", body, what=f"rename payment plan {plan_id}")
        return self._store(answer.data, plan_id)

    def _cancel(self, plan: Mapping[str, Any]) -> dict[str, Any]:
        plan_id = mapping.flw_id(plan.get("id"), "plan ID")
        answer = self._client.put(f"/payment-plans/{quote(plan_id)}/cancel", what=f"cancel payment plan {plan_id}")
        return self._store(answer.data, plan_id)

    def _store(self, data: object, plan_id: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise unexpected(f"payment plan {plan_id} with no plan")
        self._plans[plan_id] = data
        return data

    # -- prices --------------------------------------------------------------------------

    def list_prices(self, *, product_id: str | None = None, active: bool | None = None) -> Iterator[Price]:
        """zigznote's plans as prices (of one product when given), ``active`` filtered."""
        wanted = mapping.slug_of(product_id) if product_id is not None else None
        for slug, plans in sorted(self.ours().items()):
            if wanted is not None and slug != wanted:
                continue
            for plan in plans:
                price = mapping.price(plan)
                if price.interval is not None and (active is None or price.active is active):
                    yield price

    def create_price(self, spec: PriceSpec, *, idempotency_key: str) -> Price:
        """``POST /payment-plans`` named ``<plan name> [zz:<slug>:<digest of the key>]``; a plan
        already carrying that digest is returned instead (a retry). InvalidInput before sending
        for an interval or amount Flutterwave cannot take."""
        slug = _slug(spec.metadata, spec.product_id)
        params.plan_interval(spec.interval, spec.interval_count)  # refused before anything is read
        params.amount(spec.amount)
        digest = params.key_digest(idempotency_key)
        grouped = self.ours()
        made = _with_digest(grouped, digest)
        if made is not None:
            return mapping.price(made)
        name = self._names.get(slug) or _current_name(grouped.get(slug, [])) or slug
        body = params.plan_create(
            spec.amount, spec.interval, spec.interval_count, name=params.plan_name(name, slug, digest)
        )
        try:
            answer = self._client.post("/payment-plans", body, what=f"create a payment plan for {slug!r}")
        except Unanswered:
            made = _with_digest(self.ours(), digest)  # did the lost request create it?
            if made is not None:
                return mapping.price(made)
            raise
        plan = self._store(answer.data, mapping.flw_id(_id_of(answer.data), "plan ID"))
        return mapping.price(plan)

    def deactivate_price(self, price_id: str) -> Price:
        """Cancel the plan; an already cancelled plan is returned as it is."""
        plan = self.plan(price_id)
        if plan.get("status") != "active":
            return mapping.price(plan)
        return mapping.price(self._cancel(plan))


def _id_of(data: object) -> object:
    return data.get("id") if isinstance(data, dict) else None


def _slug(metadata: Mapping[str, str], product_id: str | None) -> str:
    tagged = metadata.get(ZIGZNOTE_PLAN_KEY)
    from_id = mapping.slug_of(product_id) if product_id is not None else None
    if tagged is not None and from_id is not None and tagged != from_id:
        raise InvalidInput(f"price of {product_id!r} is tagged for plan {tagged!r}", code="invalid_request")
    slug = tagged or from_id
    if not slug:
        raise InvalidInput("a Flutterwave product needs the plan slug (metadata zigznote_plan)", code="invalid_request")
    return slug


def _with_digest(grouped: Mapping[str, list[dict[str, Any]]], digest: str) -> dict[str, Any] | None:
    for plans in grouped.values():
        for plan in plans:
            if mapping.split_name(plan.get("name"))[2] == digest:
                return plan
    return None


def _current_name(plans: list[dict[str, Any]]) -> str | None:
    return mapping.product(mapping.split_name(plans[0].get("name"))[1] or "x", plans).name if plans else None
