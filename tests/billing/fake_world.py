"""What the fake payment provider holds (:class:`World`): its objects, every call it received,
the failures a test queues, and seeding for what happened at the provider outside zigznote.

IDs are deterministic (``cus_1``, ``prod_1``, ``price_1``, ``sub_1``, ``pi_1``, ``re_1``, ``in_1``,
``cs_1``), and so are times (:data:`BASE` plus one second per object), so tests assert exact JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from zigznote.billing.money import Money
from zigznote.billing.types import (
    BillingInterval,
    CheckoutSession,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Plan,
    Price,
    Refund,
    Subscription,
)

__all__ = ["BASE", "CREATES", "PERIOD", "World"]

BASE = datetime(2026, 11, 1, 12, 0, 0)
PERIOD = {
    BillingInterval.DAY: timedelta(days=1),
    BillingInterval.WEEK: timedelta(days=7),
    BillingInterval.MONTH: timedelta(days=30),
    BillingInterval.YEAR: timedelta(days=365),
}
CREATES = ("create_customer", "create_product", "create_price", "create_subscription", "create_payment",
           "create_refund", "create_checkout_session")  # fmt: skip


@dataclass
class World:
    """Everything the fake provider holds, and every call it received."""

    customers: dict[str, Customer] = field(default_factory=dict)
    products: dict[str, Plan] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    sessions: dict[str, CheckoutSession] = field(default_factory=dict)
    #: (method, positional args, keyword args) of every call, in order.
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    #: idempotency key → (the request it came with, the result)
    keys: dict[str, tuple[str, Any]] = field(default_factory=dict)
    #: method → what its next calls raise before doing anything (a refusal, an outage), in order;
    #: ``None``: that call goes through
    fail: dict[str, list[Exception | None]] = field(default_factory=dict)
    #: methods whose next call does its work and then loses the answer (ProviderError)
    lose: set[str] = field(default_factory=set)
    counter: int = 0

    def next_id(self, prefix: str) -> tuple[str, datetime]:
        self.counter += 1
        same = sum(1 for name in self._all_ids() if name.startswith(prefix + "_"))
        return f"{prefix}_{same + 1}", BASE + timedelta(seconds=self.counter)

    def _all_ids(self) -> Iterator[str]:
        for table in (self.customers, self.products, self.prices, self.subscriptions, self.payments,
                      self.refunds, self.invoices, self.sessions):  # fmt: skip
            yield from table

    def called(self, method: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        """The calls of one method: (args, kwargs) each."""
        return [(a, k) for m, a, k in self.calls if m == method]

    def creates(self) -> list[str]:
        """The create methods called, in order (a retried create counts each time)."""
        return [m for m, _a, _k in self.calls if m in CREATES]

    # -- seeding (what happened at the provider outside zigznote) ---------------------------------

    def add_payment(
        self,
        customer_id: str | None,
        amount: Money,
        *,
        refunded: int = 0,
        status: PaymentStatus = PaymentStatus.SUCCEEDED,
        description: str | None = None,
    ) -> Payment:
        pid, created = self.next_id("pi")
        payment = Payment(
            pid, amount, status, Money(refunded, amount.currency), customer_id, description, created=created
        )
        self.payments[pid] = payment
        return payment

    def add_invoice(
        self, customer_id: str, total: Money, *, subscription_id: str | None = None, paid: bool = True
    ) -> Invoice:
        iid, created = self.next_id("in")
        zero = Money.zero(total.currency)
        invoice = Invoice(
            iid, customer_id, InvoiceStatus.PAID if paid else InvoiceStatus.OPEN, total, total,
            total if paid else zero, zero if paid else total, subscription_id, f"F-{len(self.invoices) + 1:04d}",
            created=created, period_start=created, period_end=created + timedelta(days=30),
            hosted_url=f"https://invoice.fake.test/{iid}",
        )  # fmt: skip
        self.invoices[iid] = invoice
        return invoice
