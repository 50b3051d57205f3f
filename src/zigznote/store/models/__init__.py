"""All tables; importing this package registers them on ``SQLModel.metadata``."""

from sqlalchemy import Table

from zigznote.store.models.billing import (
    BillingCustomer,
    BillingPlan,
    BillingPrice,
    Invoice,
    Payment,
    PendingOperation,
    ProviderEvent,
    Refund,
    Subscription,
)
from zigznote.store.models.delivery import Delivery, DeliveryAttempt
from zigznote.store.models.event import Event
from zigznote.store.models.health import EndpointEvent
from zigznote.store.models.integration import IntegrationConnection
from zigznote.store.models.link import IntegrationLink
from zigznote.store.models.meeting import Meeting
from zigznote.store.models.org import Organization
from zigznote.store.models.webhook import Webhook

__all__ = [
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


def table_of(model: type) -> Table:
    """The Core table behind a model (for bulk statements on the hot paths)."""
    table = vars(model)["__table__"]
    assert isinstance(table, Table)
    return table
