"""`zigznote billing customers …` and `billing subscriptions …`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from zigznote.cli._context import AppContext, get_app
from zigznote.cli._output import Column
from zigznote.cli.billing_common import (
    AllOrgs,
    Currency,
    IntervalOpt,
    PlanOpt,
    Provider,
    Quantity,
    group,
    money_cell,
    org_or_all,
    show_notes,
)

customers_app = group("The organization's customer at the payment provider.")
subscriptions_app = group("The organization's subscription: create, change plan, cancel, resume, sync.")

#: One customer (``customers show``): every field, our ID included.
CUSTOMER_FIELDS: list[Column] = [
    ("id", "id"),
    ("org", "org"),
    ("provider", "provider"),
    ("provider_id", "provider ID"),
    ("email", "email"),
    ("name", "name"),
    ("deleted", "deleted"),
    ("synced_at", "synced"),
]
#: The list: what tells customers apart first, so 80 columns keep the email; our ``bcus_`` ID
#: only in --json (the provider's ID names the customer).
CUSTOMER_COLUMNS: list[Column] = [
    ("org", "org"),
    ("provider", "provider"),
    ("email", "email"),
    ("provider_id", "provider ID"),
    ("name", "name"),
    ("deleted", "deleted"),
    ("synced_at", "synced"),
]
SUBSCRIPTION_FIELDS: list[Column] = [
    ("id", "id"),
    ("provider", "provider"),
    ("provider_id", "provider ID"),
    ("plan", "plan"),
    ("amount", "price", money_cell),
    ("interval", "every"),
    ("quantity", "quantity"),
    ("status", "status"),
    ("current_period_start", "period start"),
    ("current_period_end", "period end"),
    ("cancel_at_period_end", "cancels at period end"),
    ("canceled_at", "canceled"),
    ("trial_end", "trial ends"),
    ("latest_invoice", "latest invoice"),
    ("synced_at", "synced"),
]
#: A list of subscriptions (``sync``, the others ``show`` warns about): the provider's ID and
#: what tells them apart; our ``bsub_`` ID only in --json.
SUBSCRIPTION_COLUMNS: list[Column] = [
    ("provider_id", "provider ID"),
    ("plan", "plan"),
    ("status", "status"),
    ("amount", "price", money_cell),
    ("current_period_end", "period end"),
    ("cancel_at_period_end", "cancels"),
]
SubscriptionPick = Annotated[
    str | None,
    typer.Option(
        "--subscription",
        metavar="ID",
        help="Which one, when the organization has several running: ours (bsub_…) or the provider's (sub_…).",
    ),
]


@contextmanager
def _progress(ctx: AppContext, what: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr while a sync fetches, when stderr is a terminal (cron: none)."""
    if ctx.out.json or ctx.out.quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(f"checking {what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=ctx.out.err_console, transient=True) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _sync_report(ctx: AppContext, data: dict[str, Any], what: str) -> bool:
    """The sync's result: the JSON document with --json, and also (one line) when stdout is
    not a terminal (cron, a pipe); a line on stderr for people. True when stdout took JSON."""
    if ctx.out.json:
        ctx.out.item(data)
        return True
    changed = len(data["changed"]) + len(data.get("created", []))
    ctx.out.success(f"checked {data['checked']} {what} at {data['provider']}: {changed} brought up to date")
    if not sys.stdout.isatty():
        ctx.out.line(data)
        return True
    return False


# -- customers --------------------------------------------------------------------------------------


@customers_app.command("list")
def customers_list(provider: Provider = None) -> None:
    """List billing customers (the --org organization's, or every organization's).

    Example: zigznote billing customers list
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.settings.org
    rows = billing.list_customers(ctx.db(), org_ref=str(org) if org else None, provider=provider)
    ctx.out.items(rows, CUSTOMER_COLUMNS, empty="no billing customers")


@customers_app.command("show")
def customers_show(provider: Provider = None) -> None:
    """Show the organization's customer at the provider.

    Example: zigznote --org acme billing customers show
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    ctx.out.item(billing.show_customer(ctx.db(), ctx.settings, org_ref=org, provider=provider), fields=CUSTOMER_FIELDS)


@customers_app.command("create")
def customers_create(
    email: Annotated[str | None, typer.Option("--email", help="Billing e-mail address (receipts, invoices).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name on invoices (default: the organization's).")] = None,
    provider: Provider = None,
) -> None:
    """Create the organization's customer at the provider.

    Example: zigznote --org acme billing customers create --email billing@acme.example
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    data = billing.create_customer(ctx.db(), ctx.settings, org_ref=org, provider=provider, email=email, name=name)
    if ctx.out.json:
        ctx.out.item(data)
        return
    show_notes(ctx, data["notes"])
    ctx.out.success(f"created {data['provider']} customer {data['provider_id']} ({data['id']}) for {data['org']}")


@customers_app.command("sync")
def customers_sync(all_orgs: AllOrgs = False, provider: Provider = None) -> None:
    """Refresh the customer (or, with --all, every customer) from the provider.

    For cron: a progress bar on a terminal; the JSON summary on stdout otherwise.

    Example: zigznote billing customers sync --all
    """
    from zigznote.services import billing

    ctx = get_app()
    org = org_or_all(ctx, all_orgs, "customers sync")
    with _progress(ctx, "customers") as progress:
        data = billing.sync_customers(ctx.db(), ctx.settings, org_ref=org, provider=provider, progress=progress)
    _sync_report(ctx, data, "customers")


# -- subscriptions ---------------------------------------------------------------------------------


def _subscription(ctx: AppContext, data: dict[str, Any], done: str | None = None) -> None:
    if ctx.out.json:
        ctx.out.item(data)
        return
    show_notes(ctx, data.get("notes", []))
    ctx.out.item(data, fields=SUBSCRIPTION_FIELDS)
    others = data.get("others") or []
    if others:
        from zigznote.wording import plural

        ctx.out.warn(
            f"{plural(len(others), 'other subscription')} of this organization also running at "
            f"{data['provider']}: changes need --subscription ID"
        )
        ctx.out.items(others, SUBSCRIPTION_COLUMNS, title="also running")
    if done:
        ctx.out.success(done)


@subscriptions_app.command("show")
def subscriptions_show(provider: Provider = None, pick: SubscriptionPick = None) -> None:
    """Show the organization's current subscription (as last synced), and any other one running.

    Example: zigznote --org acme billing subscriptions show
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    _subscription(ctx, billing.show_subscription(ctx.db(), ctx.settings, org_ref=org, provider=provider, pick=pick))


@subscriptions_app.command("create")
def subscriptions_create(
    plan: PlanOpt,
    interval: IntervalOpt = "month",
    currency: Currency = None,
    quantity: Quantity = 1,
    trial_days: Annotated[int | None, typer.Option("--trial-days", min=1, max=730, help="Free days first.")] = None,
    provider: Provider = None,
) -> None:
    """Subscribe the organization's customer to a plan (charges its default payment method).

    Example: zigznote --org acme billing subscriptions create --plan pro --interval month --currency USD
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    data = billing.create_subscription(
        ctx.db(),
        ctx.settings,
        org_ref=org,
        plan=plan,
        interval=interval,
        currency=currency,
        quantity=quantity,
        trial_days=trial_days,
        provider=provider,
    )
    _subscription(ctx, data, f"subscribed to {plan}: {data['status']}")


@subscriptions_app.command("change")
def subscriptions_change(
    plan: PlanOpt,
    interval: Annotated[
        str | None, typer.Option("--interval", metavar="INTERVAL", help="Default: the current one.")
    ] = None,
    currency: Currency = None,
    proration: Annotated[
        str,
        typer.Option(
            "--proration",
            metavar="HOW",
            help="create_prorations (credit/charge on the next invoice), always_invoice (at once) or none.",
        ),
    ] = "create_prorations",
    quantity: Annotated[int | None, typer.Option("--quantity", min=1, max=10_000, help="New quantity.")] = None,
    provider: Provider = None,
    pick: SubscriptionPick = None,
) -> None:
    """Move the subscription to another plan (or interval, currency, quantity).

    Example: zigznote --org acme billing subscriptions change --plan team --proration always_invoice
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    data = billing.change_subscription(
        ctx.db(),
        ctx.settings,
        org_ref=org,
        plan=plan,
        interval=interval,
        currency=currency,
        proration=proration,
        quantity=quantity,
        provider=provider,
        pick=pick,
    )
    _subscription(ctx, data, f"now on {plan}" if data["changed"] else f"already on {plan}: nothing sent")


@subscriptions_app.command("cancel")
def subscriptions_cancel(
    now: Annotated[bool, typer.Option("--now", help="End it now instead of at the end of the period.")] = False,
    provider: Provider = None,
    pick: SubscriptionPick = None,
) -> None:
    """Cancel the subscription at the end of its period (or at once with --now).

    Example: zigznote --org acme billing subscriptions cancel
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    data = billing.cancel_subscription(ctx.db(), ctx.settings, org_ref=org, now=now, provider=provider, pick=pick)
    done = "canceled now" if now else f"cancels at the end of the period ({data['current_period_end']})"
    _subscription(ctx, data, done)


@subscriptions_app.command("resume")
def subscriptions_resume(provider: Provider = None, pick: SubscriptionPick = None) -> None:
    """Withdraw a scheduled cancellation (or resume a paused subscription).

    Example: zigznote --org acme billing subscriptions resume
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    data = billing.resume_subscription(ctx.db(), ctx.settings, org_ref=org, provider=provider, pick=pick)
    _subscription(ctx, data, f"resumed: {data['status']}")


@subscriptions_app.command("sync")
def subscriptions_sync(all_orgs: AllOrgs = False, provider: Provider = None) -> None:
    """Bring the subscriptions we store in line with the provider (new ones added, drift repaired).

    For cron: a progress bar on a terminal; the JSON summary on stdout otherwise.

    Example: zigznote billing subscriptions sync --all
    """
    from zigznote.services import billing

    ctx = get_app()
    org = org_or_all(ctx, all_orgs, "subscriptions sync")
    with _progress(ctx, "subscriptions") as progress:
        data = billing.sync_subscriptions(ctx.db(), ctx.settings, org_ref=org, provider=provider, progress=progress)
    if not _sync_report(ctx, data, "subscriptions") and data["subscriptions"]:
        ctx.out.items(data["subscriptions"], SUBSCRIPTION_COLUMNS)


def register(app: typer.Typer) -> None:
    """Add the ``customers`` and ``subscriptions`` groups to ``billing``."""
    app.add_typer(customers_app, name="customers")
    app.add_typer(subscriptions_app, name="subscriptions")
