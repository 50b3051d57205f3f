"""What Flutterwave v3 can and cannot do, as the billing commands see it (``billing providers``).

v3 has no customer object, no plan swap or proration, no invoices and no API to start a
subscription (a subscription starts with the customer's first payment through checkout); each
limit is a flag the services check before anything is sent, and a note shown to operators.
"""

from __future__ import annotations

from typing import Final

from zigznote.billing.enums import BillingInterval
from zigznote.billing.providers.base import Capabilities

__all__ = ["CAPABILITIES"]

CAPABILITIES: Final = Capabilities(
    delete_customers=False,
    payment_methods=False,
    create_subscriptions=False,
    change_plan=False,
    cancel_now=False,
    cancel_at_period_end=True,
    undo_cancel=True,
    pause_subscriptions=False,
    checkout=True,
    partial_refunds=True,
    invoices=False,
    product_features=False,
    product_descriptions=False,
    checkout_cancel_url=False,
    customer_email_required=True,
    prorations=frozenset(),
    intervals=frozenset(BillingInterval),
    notes=(
        "Customers are keyed by email (v3 has no customer object); a subscription's email cannot change.",
        "Plans bill daily, weekly, monthly, quarterly (every 3 months) or yearly; other intervals are refused.",
        "Plan names are at most 150 characters with zigznote's tag; descriptions are not kept.",
        "Subscriptions start with the customer's first payment (`billing checkout`), not by API.",
        "To change plans, cancel and subscribe again through `billing checkout` (v3 has no plan swap or proration).",
        "Cancel stops the next charge and the paid period runs out; `subscriptions resume` withdraws it "
        "while that period runs.",
        "No invoices: each charge is a transaction (`billing payments`).",
        "Checkout returns the customer to the success URL whether they paid or turned back (no cancel URL).",
    ),
)
