from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at, text_column, timestamp, updated_at

# Delivery states. A claim is a lease: the engine sets status=delivering, a fresh
# claim_token and next_attempt_at = lease expiry. An expired lease is therefore just
# "due" again, and one index on (status, next_attempt_at) serves every claim.
PENDING = "pending"
DELIVERING = "delivering"
SUCCEEDED = "succeeded"
FAILED = "failed"
HELD = "held"  # endpoint disabled: waits, never dropped; `webhooks enable` releases it
STATUSES = (PENDING, DELIVERING, SUCCEEDED, FAILED, HELD)


class Delivery(SQLModel, table=True):
    """One event to one webhook; its ``id`` (``msg_…``) is the stable ``webhook-id``."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "webhook_id", name="uq_delivery_event_webhook"),
        sa.Index("ix_delivery_due", "status", "next_attempt_at"),
        sa.Index("ix_delivery_webhook_created", "webhook_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organization.id", max_length=40)
    event_id: str = Field(foreign_key="event.id", max_length=40)
    webhook_id: str = Field(foreign_key="webhook.id", max_length=40)
    status: str = Field(default=PENDING, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = timestamp()
    claim_token: str | None = Field(default=None, max_length=40)
    last_status_code: int | None = None
    last_error: str | None = text_column()
    delivered_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class DeliveryAttempt(SQLModel, table=True):
    """Every attempt, recorded: when, how long, what came back."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (
        sa.Index("ix_attempt_webhook_time", "webhook_id", "attempted_at"),
        sa.Index("ix_attempt_delivery", "delivery_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    delivery_id: str = Field(foreign_key="webhook_delivery.id", max_length=40)
    webhook_id: str = Field(foreign_key="webhook.id", max_length=40)
    attempt_number: int
    trigger: str = Field(max_length=16)  # scheduled | manual | test
    attempted_at: datetime = timestamp(nullable=False)
    duration_ms: int
    status_code: int | None = None
    error: str | None = text_column()
    response_excerpt: str | None = text_column()
