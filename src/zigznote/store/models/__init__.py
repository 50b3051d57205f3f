"""All tables; importing this package registers them on ``SQLModel.metadata``.

The billing tables are defined on first use (``from zigznote.store.models import Payment`` or
:func:`load_all`): defining their nine SQLModel classes costs about 60 ms, which every command and
every worker start-up would otherwise pay. Whatever needs the whole schema (Alembic's
``env.py``, schema comparisons) calls :func:`load_all` first.
"""

from typing import Any

from sqlalchemy import Table

from zigznote.store.models.delivery import Delivery, DeliveryAttempt
from zigznote.store.models.event import Event
from zigznote.store.models.health import EndpointEvent
from zigznote.store.models.integration import IntegrationConnection
from zigznote.store.models.link import IntegrationLink
from zigznote.store.models.meeting import Meeting
from zigznote.store.models.org import Organization
from zigznote.store.models.webhook import Webhook

__all__ = [  # the billing names resolve through __getattr__
    "SECRET_FIELDS",
    "BillingCustomer",
    "BillingPlan",
    "BillingPrice",
    "Delivery",
    "DeliveryAttempt",
    "EndpointEvent",
    "Event",
    "IntegrationConnection",
    "IntegrationLink",
    "Invoice",
    "Meeting",
    "Organization",
    "Payment",
    "PendingOperation",
    "ProviderEvent",
    "Refund",
    "Subscription",
    "Webhook",
    "table_of",
]

# Every encrypted column, by table: `keys rotate` re-encrypts exactly these, and
# `keys status` counts them. The AAD of each ciphertext is (table, row id, column).
SECRET_FIELDS: dict[type, tuple[str, ...]] = {
    Webhook: ("secret_enc", "previous_secret_enc", "headers_enc"),
    IntegrationConnection: ("token_enc",),
}


_BILLING = frozenset(
    {
        "BillingCustomer",
        "BillingPlan",
        "BillingPrice",
        "Invoice",
        "Payment",
        "PendingOperation",
        "ProviderEvent",
        "Refund",
        "Subscription",
    }
)


def __getattr__(name: str) -> Any:
    if name in _BILLING:
        from zigznote.store.models import billing

        return getattr(billing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_all() -> None:
    """Define every table on ``SQLModel.metadata`` (the billing ones are otherwise lazy)."""
    from zigznote.store.models import billing  # noqa: F401


def table_of(model: type) -> Table:
    """The Core table behind a model (for bulk statements on the hot paths)."""
    table = vars(model)["__table__"]
    assert isinstance(table, Table)
    return table
