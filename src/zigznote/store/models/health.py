from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at, text_column, timestamp

# What happened to an endpoint's health (EndpointEvent.type).
ENDPOINT_DISABLED = "disabled"  # auto-disabled (persistent failure or 410) or by an operator
ENDPOINT_ENABLED = "enabled"  # re-enabled by an operator
ENDPOINT_RECOVERED = "recovered"  # a success ended a failure streak
ENDPOINT_EVENT_TYPES = (ENDPOINT_DISABLED, ENDPOINT_ENABLED, ENDPOINT_RECOVERED)


class EndpointEvent(SQLModel, table=True):
    """An operational event in an endpoint's health: disabled, re-enabled, recovered.

    Written in the same transaction as the change it records, so the history an operator
    lists (`webhooks list --failing`, `webhooks show`) never disagrees with the state.
    """

    __tablename__ = "endpoint_event"
    __table_args__ = (
        sa.Index("ix_endpoint_event_webhook_time", "webhook_id", "created_at"),
        sa.Index("ix_endpoint_event_org_time", "org_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    # History belongs to its endpoint: deleting the webhook (or its organization) deletes it.
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=40)
    webhook_id: str = Field(foreign_key="webhook.id", ondelete="CASCADE", max_length=40)
    type: str = Field(max_length=16)
    reason: str | None = text_column()
    failures: int = Field(default=0)  # consecutive failed attempts at the time
    streak_since: datetime | None = timestamp()  # when the failure streak began
    created_at: datetime = created_at()
