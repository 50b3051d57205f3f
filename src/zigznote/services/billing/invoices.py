"""Invoices (``billing invoices list | show``): read from the provider, our rows updated on the way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from zigznote.billing.types import Invoice
from zigznote.errors import InvalidInput, NotFound
from zigznote.ids import looks_like
from zigznote.services.billing._common import open_provider, org_of, provider_flag, provider_name, require_customer
from zigznote.services.billing.records import invoice_json, upsert_invoice
from zigznote.store.models import BillingCustomer
from zigznote.store.models import Invoice as InvoiceRow

if TYPE_CHECKING:
    from zigznote.config import Settings
    from zigznote.store.engine import Database

__all__ = ["list_invoices", "show_invoice"]


def _write(session: Session, provider: str, invoice: Invoice, customer_id: str) -> dict[str, Any]:
    row = upsert_invoice(session, provider, invoice, customer=session.get(BillingCustomer, customer_id))
    assert row is not None  # our own customer
    return invoice_json(row)


def list_invoices(
    db: Database, settings: Settings, *, org_ref: str, limit: int = 20, provider: str | None = None
) -> list[dict[str, Any]]:
    """The organization's newest ``limit`` invoices from the provider."""
    name = provider_name(settings, provider)
    with db.session() as session:
        org = org_of(session, org_ref)
        customer = require_customer(session, org, name, flag=provider_flag(settings, name))
        customer_id, provider_customer_id = customer.id, customer.provider_customer_id
    found: list[Invoice] = []
    with open_provider(settings, name) as client:
        for invoice in client.list_invoices(customer_id=provider_customer_id):
            found.append(invoice)
            if len(found) >= limit:
                break
    with db.session() as session:
        return [_write(session, name, i, customer_id) for i in found]


def show_invoice(
    db: Database, settings: Settings, *, org_ref: str, invoice: str, provider: str | None = None
) -> dict[str, Any]:
    """One invoice of the organization (our ``inv_…`` or the provider's ID) as the provider has
    it now. Another organization's invoice is NotFound (exit 3)."""
    name = provider_name(settings, provider)
    with db.session() as session:
        org = org_of(session, org_ref)
        customer = require_customer(session, org, name, flag=provider_flag(settings, name))
        customer_id, provider_customer_id, slug = customer.id, customer.provider_customer_id, org.slug
        missing = NotFound(
            f"invoice {invoice!r} not found for organization {slug!r}",
            hint="`billing invoices list` shows its invoices",
            code="invoice_not_found",
        )
        if looks_like(invoice, "inv"):
            row = session.get(InvoiceRow, invoice)
            if row is None or row.org_id != org.id or row.provider != name:
                raise missing
            invoice_id = row.provider_invoice_id
        elif not invoice or len(invoice) > 255 or any(c.isspace() or ord(c) < 32 for c in invoice):
            raise InvalidInput(f"invalid invoice ID {invoice!r}", code="invalid_id")
        else:
            invoice_id = invoice
    with open_provider(settings, name) as client:
        fresh = client.get_invoice(invoice_id)
    if fresh.customer_id != provider_customer_id:
        raise missing
    with db.session() as session:
        return _write(session, name, fresh, customer_id)
