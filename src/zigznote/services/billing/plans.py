"""The plan catalog at the providers (``billing plans list | show | sync``).

``sync`` makes a provider match ``plans.toml``: it finishes creates an earlier run left without
an answer, reads the provider's products and prices, plans the steps with
:func:`zigznote.billing.catalog_sync.plan_sync` (create / new price / deactivate / unchanged),
and carries them out in order, every create through a pending operation (``ops.run``). Our
``billing_plan`` and ``billing_price`` rows then record what the provider has, so checkout and
subscriptions find a plan's price ID without asking the provider. A second run against the
result is all ``unchanged`` and sends no create.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from zigznote.billing import money
from zigznote.billing.catalog import Catalog, CatalogPlan, load_catalog
from zigznote.billing.catalog_sync import Action, ActionKind, ExistingCatalog, plan_sync, summary
from zigznote.billing.idempotency import freeze, thaw
from zigznote.billing.providers import names as providers_names
from zigznote.billing.providers.base import PaymentProvider
from zigznote.billing.types import ZIGZNOTE_PLAN_KEY, Plan, Price, PriceSpec, ProductSpec
from zigznote.errors import InvalidInput
from zigznote.ids import new_id
from zigznote.services.billing import ops
from zigznote.services.billing._common import open_provider, plan_row, provider_class, provider_name
from zigznote.services.billing.records import price_json, upsert_price
from zigznote.store.models import BillingPlan, BillingPrice
from zigznote.timeutil import iso, utcnow

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database

__all__ = ["catalog_path", "check_catalog", "list_plans", "show_plan", "sync_plans"]

_PLAN_OPS = ("product.create", "price.create")


def catalog_path(settings: Settings, file: str | Path | None) -> Path:
    """``--file`` or ``ZIGZNOTE_PLANS_FILE``; InvalidInput ``plans_file_required`` (exit 2) without either."""
    chosen = file if file is not None else settings.plans_file
    if not chosen:
        raise InvalidInput(
            "no plan catalog given",
            hint="pass --file plans.toml or set ZIGZNOTE_PLANS_FILE (format: docs/billing.md)",
            code="plans_file_required",
        )
    return Path(chosen)


def _plan_json(plan: BillingPlan, prices: list[BillingPrice]) -> dict[str, Any]:
    return {
        "slug": plan.slug, "name": plan.name, "description": plan.description, "features": list(plan.features),
        "limits": dict(plan.limits), "active": plan.active, "products": dict(plan.products),
        "prices": [price_json(p) for p in prices], "updated_at": iso(plan.updated_at),
    }  # fmt: skip


def _prices(session: Session, plan_id: str, *, only_active: bool) -> list[BillingPrice]:
    query = select(BillingPrice).where(BillingPrice.plan_id == plan_id)
    if only_active:
        query = query.where(col(BillingPrice.active).is_(True))
    return list(
        session.exec(
            query.order_by(
                col(BillingPrice.provider),
                col(BillingPrice.currency),
                col(BillingPrice.interval),
                col(BillingPrice.interval_count),
                col(BillingPrice.active).desc(),
            )
        ).all()
    )


def list_plans(db: Database, *, include_inactive: bool = False) -> list[dict[str, Any]]:
    """Synced plans by slug with their active prices at every provider (``include_inactive``:
    plans no longer in the file and deactivated prices too)."""
    with db.session() as session:
        query = select(BillingPlan).order_by(BillingPlan.slug)
        if not include_inactive:
            query = query.where(col(BillingPlan.active).is_(True))
        return [
            _plan_json(p, _prices(session, p.id, only_active=not include_inactive)) for p in session.exec(query).all()
        ]


def show_plan(db: Database, slug: str) -> dict[str, Any]:
    """One synced plan with every price, active ones first per currency (NotFound, exit 3)."""
    with db.session() as session:
        plan = plan_row(session, slug)
        return _plan_json(plan, _prices(session, plan.id, only_active=False))


# -- sync ---------------------------------------------------------------------------------------


def _upsert_plan(session: Session, plan: CatalogPlan, *, provider: str, product_id: str | None) -> BillingPlan:
    row = session.exec(select(BillingPlan).where(BillingPlan.slug == plan.slug)).first()
    if row is None:
        row = BillingPlan(id=new_id("bpl"), slug=plan.slug, name=plan.name)
    row.name, row.description = plan.name, plan.description
    row.features, row.limits, row.active = list(plan.features), dict(plan.limits), True
    if product_id is not None:
        row.products = {**row.products, provider: product_id}
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def _price_of(action: Action, product_id: str, *, active: bool, price_id: str) -> Price:
    assert action.amount is not None
    return Price(price_id, product_id, action.amount, action.interval, action.interval_count or 1, active)


def _product_sender(client: PaymentProvider) -> Callable[[dict[str, Any], str], Plan]:
    """Sends a frozen ``product.create`` with its key (a first attempt or a resumed one)."""
    return lambda params, key: client.create_product(thaw(ProductSpec, params), idempotency_key=key)


def _price_sender(client: PaymentProvider) -> Callable[[dict[str, Any], str], Price]:
    """Sends a frozen ``price.create`` with its key (a first attempt or a resumed one)."""
    return lambda params, key: client.create_price(thaw(PriceSpec, params), idempotency_key=key)


def _finish_pending(db: Database, client: PaymentProvider, provider: str) -> list[dict[str, Any]]:
    """Send again, with their keys and frozen parameters, the creates an earlier sync left
    without an answer; the provider answers with the object it made then, or makes it now."""
    finished = []
    for op in ops.pending(db, provider=provider, operations=_PLAN_OPS):
        made: Plan | Price
        if op.operation == "product.create":
            made = ops.resume(db, op, call=_product_sender(client))
        else:
            made = ops.resume(db, op, call=_price_sender(client))
        finished.append({"operation": op.operation, "scope": op.scope, "result_id": made.id})
    return finished


def sync_plans(
    db: Database,
    settings: Settings,
    *,
    file: str | Path | None = None,
    provider: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Make ``provider`` match the catalog file; with ``dry_run`` only say what would change
    (nothing sent, nothing stored).

    Returns ``{"provider", "file", "dry_run", "actions": [Action JSON + "result_id"], "summary":
    {kind: count}, "resumed": [...]}``. Raises InvalidInput (file, amounts, an interval the
    provider cannot bill; exit 2) before anything is sent, Conflict ``catalog_ambiguous`` (4),
    ProviderError (5), ConfigError (6). A failure midway leaves the steps done so far done and
    recorded; the next run carries on from there.
    """
    name = provider_name(settings, provider)
    path = catalog_path(settings, file)
    catalog: Catalog = load_catalog(path, providers=[name])
    caps = provider_class(name).capabilities
    check_catalog(catalog, name)  # the whole file, dry run or not, before anything is read or sent
    with open_provider(settings, name) as client:
        resumed = [] if dry_run else _finish_pending(db, client, name)
        existing = ExistingCatalog(list(client.list_products()), list(client.list_prices()))
        actions = plan_sync(catalog, existing, provider=name, capabilities=caps)
        results: list[str | None] = [None] * len(actions)
        if not dry_run:
            _apply(db, client, name, catalog, actions, results)
    return {
        "provider": name,
        "file": str(path),
        "dry_run": dry_run,
        "actions": [{**a.as_json(), "result_id": r} for a, r in zip(actions, results, strict=True)],
        "summary": summary(actions),
        "resumed": resumed,
    }


def check_catalog(catalog: Catalog, provider: str) -> None:
    """Every plan and every price of ``catalog`` that applies to ``provider``, checked against
    the provider's own rules (``check_product``, ``check_price``: Stripe's three-year longest
    interval, Flutterwave's five intervals, amounts each can take) before anything is sent, so a
    sync never stops midway on a price the provider refuses. Raises InvalidInput (exit 2) naming
    each refused one at its place (``plans.toml:pro:price 2 (USD/month): …``), with a hint."""
    cls = provider_class(provider)
    problems: list[tuple[str, InvalidInput]] = []
    for plan in catalog.plans:
        try:
            cls.check_product(plan.product_spec())
        except InvalidInput as exc:
            problems.append((f"{catalog.source}:{plan.slug}", exc))
        for number, price in enumerate(plan.prices, 1):
            if not price.applies_to(provider):
                continue
            spec = PriceSpec(
                "(new)", price.amount, price.interval, price.interval_count, {ZIGZNOTE_PLAN_KEY: plan.slug}
            )
            try:
                cls.check_price(spec)
            except InvalidInput as exc:
                every = (
                    price.interval.value
                    if price.interval_count == 1
                    else f"{price.interval_count} {price.interval.value}s"
                )
                problems.append((f"{catalog.source}:{plan.slug}:price {number} ({price.amount.currency}/{every})", exc))
    if not problems:
        return
    first = problems[0][1]
    others = [p for p in money.PROVIDERS if p != provider and p in providers_names()]
    restrict = f'offer it only at {", ".join(others)} with providers = ["{others[0]}"]' if others else "remove it"
    hint = first.hint or f"change it in {catalog.source}, or {restrict}"
    message = "; ".join(f"{place}: {exc.message}" for place, exc in problems)
    if len(problems) > 1:
        message = f"{cls.title} would refuse {len(problems)} entries of {catalog.source}, nothing was sent: {message}"
    raise InvalidInput(message, hint=hint, code=first.code)


def _apply(
    db: Database,
    client: PaymentProvider,
    provider: str,
    catalog: Catalog,
    actions: list[Action],
    results: list[str | None],
) -> None:
    """Carry out ``actions`` in order, recording each step in our rows as it completes."""
    in_file = {p.slug: p for p in catalog.plans}
    product_of = {a.plan: a.product_id for a in actions if a.target == "product" and a.product_id is not None}
    for index, action in enumerate(actions):
        plan = in_file.get(action.plan)
        if action.kind is ActionKind.CREATE_PRODUCT:
            assert plan is not None
            product_of[action.plan] = results[index] = _create_product(db, client, provider, plan, action)
        elif action.kind is ActionKind.UPDATE_PRODUCT:
            assert action.product_id is not None and action.changes is not None
            client.update_product(action.product_id, action.changes)
            with db.session() as session:
                if plan is not None:
                    _upsert_plan(session, plan, provider=provider, product_id=action.product_id)
                else:  # archived: the plan left the file
                    _deactivate_plan(session, action.plan)
            results[index] = action.product_id
        elif action.kind is ActionKind.CREATE_PRICE:
            assert plan is not None
            spec = action.price_spec(action.product_id or product_of[action.plan])
            results[index] = _create_price(db, client, provider, plan, action, spec)
        elif action.kind is ActionKind.DEACTIVATE_PRICE:
            assert action.price_id is not None
            done = client.deactivate_price(action.price_id)
            with db.session() as session:
                _record_price(session, provider, action.plan, plan, done)
            results[index] = action.price_id
        else:  # unchanged: make sure our rows know it (a store synced for the first time)
            with db.session() as session:
                if action.target == "product" and plan is not None:
                    _upsert_plan(session, plan, provider=provider, product_id=action.product_id)
                elif action.target == "price" and action.price_id and action.product_id:
                    price = _price_of(action, action.product_id, active=True, price_id=action.price_id)
                    _record_price(session, provider, action.plan, plan, price)
            results[index] = action.price_id or action.product_id


def _create_product(db: Database, client: PaymentProvider, provider: str, plan: CatalogPlan, action: Action) -> str:
    assert action.product is not None

    def record(session: Session, product: Plan) -> str:
        _upsert_plan(session, plan, provider=provider, product_id=product.id)
        return product.id

    return ops.run(
        db,
        provider=provider,
        operation="product.create",
        scope=action.plan,
        params=freeze(action.product),
        call=_product_sender(client),
        result_id=lambda product: product.id,
        record=record,
    ).value


def _create_price(
    db: Database, client: PaymentProvider, provider: str, plan: CatalogPlan, action: Action, spec: PriceSpec
) -> str:
    def record(session: Session, price: Price) -> str:
        _record_price(session, provider, plan.slug, plan, price)
        return price.id

    return ops.run(
        db,
        provider=provider,
        operation="price.create",
        # The fingerprint covers amount, interval and the prices replaced: another change is
        # another operation, while a retry of this one finds it pending.
        scope=f"{action.plan}:{action.fingerprint}",
        params=freeze(spec),
        call=_price_sender(client),
        result_id=lambda price: price.id,
        record=record,
    ).value


def _record_price(session: Session, provider: str, slug: str, plan: CatalogPlan | None, price: Price) -> None:
    row = session.exec(select(BillingPlan).where(BillingPlan.slug == slug)).first()
    if row is None and plan is not None:
        row = _upsert_plan(session, plan, provider=provider, product_id=price.product_id)
    if row is not None:  # a plan we never recorded that has left the file: nothing to keep
        upsert_price(session, provider, row, price)


def _deactivate_plan(session: Session, slug: str) -> None:
    row = session.exec(select(BillingPlan).where(BillingPlan.slug == slug)).first()
    if row is not None:
        row.active, row.updated_at = False, utcnow()
        session.add(row)
