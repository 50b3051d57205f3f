"""Billing for organizations over the payment providers: the service layer of ``zigznote billing …``.

It joins the provider interface (``billing/providers``: one neutral API per provider) with the
billing store (``store/models/billing.py``). Functions take ``(db, settings)`` first and an
``org_ref`` (slug or ID) where an organization is concerned; ``provider`` defaults to
``ZIGZNOTE_BILLING_PROVIDER``. Nothing here prints; results are JSON-ready dicts (money as
``{"amount", "currency", "display"}``), errors come from ``zigznote.errors``.

Modules: ``customers``, ``plans`` (catalog sync), ``subscriptions``, ``checkout``, ``payments``
(and refunds), ``invoices``, ``providers_view``; ``ops`` (pending operations: idempotency keys
and frozen parameters for every create), ``records`` (our rows from provider objects, and their
JSON; also for the inbound event handlers), ``_common``.
"""

from __future__ import annotations

from zigznote.services.billing.checkout import create_checkout
from zigznote.services.billing.customers import create_customer, list_customers, show_customer, sync_customers
from zigznote.services.billing.invoices import list_invoices, show_invoice
from zigznote.services.billing.payments import REFUND_REASONS, list_payments, refund_payment, show_payment
from zigznote.services.billing.plans import list_plans, show_plan, sync_plans
from zigznote.services.billing.providers_view import list_providers
from zigznote.services.billing.subscriptions import (
    cancel_subscription,
    change_subscription,
    create_subscription,
    resume_subscription,
    show_subscription,
    sync_subscriptions,
)

__all__ = [
    "REFUND_REASONS",
    "cancel_subscription",
    "change_subscription",
    "create_checkout",
    "create_customer",
    "create_subscription",
    "list_customers",
    "list_invoices",
    "list_payments",
    "list_plans",
    "list_providers",
    "refund_payment",
    "resume_subscription",
    "show_customer",
    "show_invoice",
    "show_payment",
    "show_plan",
    "show_subscription",
    "sync_customers",
    "sync_plans",
    "sync_subscriptions",
]
