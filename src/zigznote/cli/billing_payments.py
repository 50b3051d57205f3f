"""`zigznote billing payments …` (and refunds) and `billing invoices …`."""

from __future__ import annotations

from typing import Annotated

import typer

from zigznote.cli._context import get_app
from zigznote.cli._options import Limit
from zigznote.cli._output import Column
from zigznote.cli.billing_common import Provider, group, money_cell, show_notes

payments_app = group("The organization's payments at the provider, and refunds.")
invoices_app = group("The organization's invoices at the provider.")

PaymentRef = Annotated[
    str, typer.Argument(metavar="PAYMENT", help="Payment ID: ours (pay_…) or the provider's (pi_…).")
]
InvoiceRef = Annotated[
    str, typer.Argument(metavar="INVOICE", help="Invoice ID: ours (inv_…) or the provider's (in_…).")
]

#: Lists: the provider's ID (what `payments show` and `refund` take, and what its dashboard
#: shows), then what matters, so 80 columns keep the status; our ``pay_``/``ref_``/``inv_`` IDs
#: are in --json and in `show`.
PAYMENT_COLUMNS: list[Column] = [
    ("provider_id", "provider ID"),
    ("amount", "amount", money_cell),
    ("status", "status"),
    ("amount_refunded", "refunded", money_cell),
    ("created", "created"),
    ("description", "description"),
]
PAYMENT_FIELDS: list[Column] = [
    ("id", "id"),
    ("provider_id", "provider ID"),
    ("amount", "amount", money_cell),
    ("amount_refunded", "refunded", money_cell),
    ("refundable", "refundable", money_cell),
    ("status", "status"),
    ("description", "description"),
    ("created", "created"),
    ("invoice", "invoice"),
    ("failure_message", "failure"),
    ("synced_at", "synced"),
]
REFUND_COLUMNS: list[Column] = [
    ("provider_id", "provider ID"),
    ("amount", "amount", money_cell),
    ("status", "status"),
    ("reason", "reason"),
    ("created", "created"),
]
INVOICE_COLUMNS: list[Column] = [
    ("provider_id", "provider ID"),
    ("number", "number"),
    ("status", "status"),
    ("total", "total", money_cell),
    ("amount_remaining", "remaining", money_cell),
    ("created", "created"),
]
INVOICE_FIELDS: list[Column] = [
    ("id", "id"),
    *INVOICE_COLUMNS,
    ("amount_due", "due", money_cell),
    ("amount_paid", "paid", money_cell),
    ("provider_subscription_id", "subscription"),
    ("period_start", "period start"),
    ("period_end", "period end"),
    ("due_date", "due date"),
    ("hosted_url", "page"),
    ("pdf_url", "PDF"),
]


@payments_app.command("list")
def payments_list(limit: Limit = 20, provider: Provider = None) -> None:
    """List the organization's payments, newest first, as the provider has them.

    Example: zigznote --org acme billing payments list --limit 10
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    rows = billing.list_payments(ctx.db(), ctx.settings, org_ref=org, limit=limit, provider=provider)
    ctx.out.items(rows, PAYMENT_COLUMNS, empty="no payments")


@payments_app.command("show")
def payments_show(payment: PaymentRef, provider: Provider = None) -> None:
    """Show one payment as the provider has it now, with its refunds.

    Example: zigznote --org acme billing payments show pi_3QxY…
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    data = billing.show_payment(ctx.db(), ctx.settings, org_ref=org, payment=payment, provider=provider)
    if ctx.out.json:
        ctx.out.item(data)
        return
    ctx.out.item(data, fields=PAYMENT_FIELDS)
    if data["refunds"]:
        ctx.out.items(data["refunds"], REFUND_COLUMNS, title="refunds")


@payments_app.command("refund")
def payments_refund(
    payment: PaymentRef,
    amount: Annotated[
        str | None,
        typer.Option(
            "--amount", metavar="AMOUNT", help="In the payment's currency, e.g. 12.50 (default: all that is left)."
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="duplicate, fraudulent or requested_by_customer.")
    ] = None,
    provider: Provider = None,
) -> None:
    """Refund a payment, in full or in part, never beyond what the provider reports refundable.

    Example: zigznote --org acme billing payments refund pi_3QxY… --amount 12.50
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    data = billing.refund_payment(
        ctx.db(), ctx.settings, org_ref=org, payment=payment, amount=amount, reason=reason, provider=provider
    )
    if ctx.out.json:
        ctx.out.item(data)
        return
    show_notes(ctx, data["notes"])
    refund, paid = data["refund"], data["payment"]
    ctx.out.success(
        f"refunded {refund['amount']['display']} of {paid['amount']['display']} ({refund['provider_id']}, "
        f"{refund['status']}); {paid['refundable']['display']} left refundable"
    )


@invoices_app.command("list")
def invoices_list(limit: Limit = 20, provider: Provider = None) -> None:
    """List the organization's invoices, newest first, as the provider has them.

    Example: zigznote --org acme billing invoices list
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    rows = billing.list_invoices(ctx.db(), ctx.settings, org_ref=org, limit=limit, provider=provider)
    ctx.out.items(rows, INVOICE_COLUMNS, empty="no invoices")


@invoices_app.command("show")
def invoices_show(invoice: InvoiceRef, provider: Provider = None) -> None:
    """Show one invoice as the provider has it now (amounts, period, links to its page and PDF).

    Example: zigznote --org acme billing invoices show in_1QxY…
    """
    from zigznote.services import billing

    ctx = get_app()
    org = ctx.org_ref()
    data = billing.show_invoice(ctx.db(), ctx.settings, org_ref=org, invoice=invoice, provider=provider)
    ctx.out.item(data, fields=INVOICE_FIELDS)


def register(app: typer.Typer) -> None:
    """Add the ``payments`` and ``invoices`` groups to ``billing``."""
    app.add_typer(payments_app, name="payments")
    app.add_typer(invoices_app, name="invoices")
