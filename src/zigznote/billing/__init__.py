"""Billing: one provider-neutral model of plans, customers, subscriptions, payments, invoices
and refunds over payment providers (docs/billing.md).

- ``money``: :class:`~zigznote.billing.money.Money` (ISO minor units) and every conversion at a
  provider's edge; ``currencies``: the exponent table and the providers' exceptions.
- ``types``: the neutral dataclasses and enums; ``providers``: the registry and
  ``providers.base.PaymentProvider``.
- ``catalog``: ``plans.toml``; ``catalog_sync``: the pure planner behind ``billing plans sync``.

Nothing here talks to a network or a database; importing it loads no provider SDK.
"""
