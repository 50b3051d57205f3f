"""`zigznote billing`: payment providers, the plan catalog, customers, subscriptions, checkout,
payments, refunds and invoices. ``billing_accounts.py`` adds customers and subscriptions,
``billing_payments.py`` payments and invoices, ``billing_events.py`` inbound events and ``serve``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from zigznote.cli import billing_accounts, billing_events, billing_payments
from zigznote.cli._context import get_app
from zigznote.cli._output import Column
from zigznote.cli.billing_common import (
    Currency,
    IntervalOpt,
    PlanOpt,
    Provider,
    Quantity,
    group,
    money_cell,
    show_notes,
)

app = group(
    "Billing: providers, plans (plans.toml), customers, subscriptions, checkout, payments, invoices, "
    "inbound provider events."
)
plans_app = group("The plan catalog: what plans.toml offers, synced to the payment provider.")
app.add_typer(plans_app, name="plans")

#: The short facts first and the long list of what it cannot do last, where it has the width;
#: the title (the name capitalized) is in --json.
PROVIDER_COLUMNS: list[Column] = [
    ("name", "name"),
    ("default", "default"),
    ("configured", "configured"),
    ("problem", "problem"),
    ("cannot", "cannot"),
]
PLAN_COLUMNS: list[Column] = [
    ("slug", "plan"),
    ("name", "name"),
    ("active", "active"),
    ("prices", "prices"),
    ("limits", "limits"),
]
#: A plan's prices: amount and interval first, so $29.00/month and $290.00/year never look
#: alike at 80 columns; our ``bpr_`` ID only in --json (the provider's ID names the price).
PRICE_COLUMNS: list[Column] = [
    ("amount", "amount", money_cell),
    ("every", "every"),
    ("provider", "provider"),
    ("active", "active"),
    ("provider_id", "provider ID"),
]
SYNC_COLUMNS: list[Column] = [
    ("label", "action"),
    ("plan", "plan"),
    ("target", "what"),
    ("amount", "amount", money_cell),
    ("every", "every"),
    ("reason", "reason"),
    ("result_id", "ID"),
]
_ACTION_LABELS = {
    "create_product": "create",
    "update_product": "update",
    "create_price": "new price",
    "deactivate_price": "deactivate",
    "unchanged": "unchanged",
}


def _every(price: Mapping[str, Any]) -> str | None:
    interval, count = price.get("interval"), price.get("interval_count") or 1
    if interval is None:
        return None
    return str(interval) if count == 1 else f"{count} {interval}s"


def _prices_cell(prices: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{p['amount']['display']}/{_every(p)} ({p['provider']})" for p in prices) or "-"


@app.command("providers")
def providers() -> None:
    """List the payment providers: configured or not, and what each cannot do.

    Example: zigznote billing providers
    """
    from zigznote.services import billing

    ctx = get_app()
    rows = billing.list_providers(ctx.settings)
    if ctx.out.json:
        ctx.out.items(rows, PROVIDER_COLUMNS)
        return
    shown = [{**r, "cannot": r["capabilities"]["cannot"]} for r in rows]
    ctx.out.items(shown, PROVIDER_COLUMNS, empty="no payment provider is registered")


@plans_app.command("list")
def plans_list(
    all_: Annotated[bool, typer.Option("--all", help="Also plans no longer in the file, and old prices.")] = False,
) -> None:
    """List the plans last synced, with their active prices at each provider.

    Example: zigznote billing plans list
    """
    from zigznote.services import billing

    ctx = get_app()
    rows = billing.list_plans(ctx.db(), include_inactive=all_)
    if ctx.out.json:
        ctx.out.items(rows, PLAN_COLUMNS)
        return
    shown = [{**r, "prices": _prices_cell(r["prices"])} for r in rows]
    ctx.out.items(shown, PLAN_COLUMNS, empty="no plans yet: run `zigznote billing plans sync --file plans.toml`")


@plans_app.command("show")
def plans_show(slug: Annotated[str, typer.Argument(metavar="PLAN", help="The plan's slug (pro).")]) -> None:
    """Show one plan: name, features, limits, and every price at every provider.

    Example: zigznote billing plans show pro
    """
    from zigznote.services import billing

    ctx = get_app()
    data = billing.show_plan(ctx.db(), slug)
    if ctx.out.json:
        ctx.out.item(data)
        return
    ctx.out.item({k: v for k, v in data.items() if k != "prices"})
    prices = [{**p, "every": _every(p)} for p in data["prices"]]
    ctx.out.items(prices, PRICE_COLUMNS, title="prices", empty="no prices synced")


@plans_app.command("sync")
def plans_sync(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", metavar="PLANS.TOML", help="The catalog (ZIGZNOTE_PLANS_FILE).")
    ] = None,
    provider: Provider = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would change; send nothing.")] = False,
) -> None:
    """Make the provider's products and prices match plans.toml, showing each step.

    Steps: create (a new plan), update (name, description, features), new price (prices
    are immutable: a changed amount is a new price), deactivate (the price it replaces, or one
    no longer in the file), unchanged. Running it again changes nothing and sends no create.

    Example: zigznote billing plans sync --file plans.toml --dry-run
    """
    from zigznote.services import billing

    ctx = get_app()
    data = billing.sync_plans(ctx.db(), ctx.settings, file=file, provider=provider, dry_run=dry_run)
    if ctx.out.json:
        ctx.out.item(data)
        return
    for done in data["resumed"]:
        ctx.out.warn(f"finished an earlier {done['operation']} that got no answer: {done['result_id']}")
    rows = [{**a, "label": _ACTION_LABELS[a["action"]], "every": _every(a)} for a in data["actions"]]
    title = f"{data['provider']}: {'dry run, nothing sent' if dry_run else 'synced'} from {data['file']}"
    ctx.out.items(rows, SYNC_COLUMNS, title=title, empty="the catalog has no plans")
    counts = data["summary"]
    ctx.out.notice(
        ", ".join(f"{counts[kind]} {label}" for kind, label in _ACTION_LABELS.items())
        + (" (dry run)" if dry_run else "")
    )


@app.command("checkout")
def checkout(
    plan: PlanOpt,
    interval: IntervalOpt = "month",
    currency: Currency = None,
    quantity: Quantity = 1,
    success_url: Annotated[
        str | None,
        typer.Option("--success-url", metavar="URL", help="Back here after paying (ZIGZNOTE_BILLING_SUCCESS_URL)."),
    ] = None,
    cancel_url: Annotated[
        str | None,
        typer.Option(
            "--cancel-url",
            metavar="URL",
            help="Back here when turning back (ZIGZNOTE_BILLING_CANCEL_URL; Flutterwave has none).",
        ),
    ] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the page in a browser too.")] = False,
    provider: Provider = None,
) -> None:
    """Create a hosted checkout page subscribing the organization to a plan; print its URL.

    The URLs default to ZIGZNOTE_BILLING_SUCCESS_URL and ZIGZNOTE_BILLING_CANCEL_URL (Flutterwave
    needs only the first); with those set, --plan (and --currency when the plan has several) is
    all it needs. Refused when the organization already has a running subscription (exit 4).

    Example: zigznote --org acme billing checkout --plan pro --currency USD --open (with
    ZIGZNOTE_BILLING_SUCCESS_URL and ZIGZNOTE_BILLING_CANCEL_URL set; else add
    --success-url https://… --cancel-url https://…)
    """
    from zigznote.integrations.browser import open_browser
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    data = billing.create_checkout(
        ctx.db(),
        ctx.settings,
        org_ref=org,
        plan=plan,
        interval=interval,
        currency=currency,
        quantity=quantity,
        success_url=success_url,
        cancel_url=cancel_url,
        provider=provider,
    )
    url = data["url"]
    opened = False
    if open_ and isinstance(url, str) and url.startswith(("https://", "http://")):
        opened = open_browser(url, os.environ)
    data["opened"] = opened
    if ctx.out.json:
        ctx.out.item(data)
    else:
        show_notes(ctx, data["notes"])
        expires = f", expires {data['expires_at']}" if data["expires_at"] else ""  # Flutterwave's links give none
        ctx.out.notice(f"checkout for {plan} ({data['amount']['display']}/{data['interval']}){expires}")
        ctx.out.raw(url or "")
    if open_ and not opened:
        ctx.out.warn("could not open a browser here: open the URL above yourself")


billing_accounts.register(app)
billing_payments.register(app)
billing_events.register(app)
