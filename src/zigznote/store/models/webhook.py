from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at, json_column, text_column, timestamp, updated_at


class Webhook(SQLModel, table=True):
    """A customer endpoint subscribed to event types (or ``*``).

    Secrets and custom headers are vault ciphertexts bound to this row (AAD), never
    plaintext. ``consecutive_failures`` counts failed attempts since the last success;
    reaching the configured limit disables the endpoint with a reason and a time.
    """

    __tablename__ = "webhook"
    # Names are unique per organization: commands address a webhook by ID or by name.
    __table_args__ = (sa.UniqueConstraint("org_id", "name", name="uq_webhook_org_name"),)

    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="organization.id", index=True, max_length=40)
    name: str = Field(max_length=200)
    description: str | None = text_column()
    url: str = Field(max_length=2000)
    event_types: list[str] = json_column()
    secret_enc: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    previous_secret_enc: str | None = text_column()
    previous_secret_expires_at: datetime | None = timestamp()
    headers_enc: str | None = text_column()
    enabled: bool = Field(default=True)
    disabled_reason: str | None = text_column()
    disabled_at: datetime | None = timestamp()
    consecutive_failures: int = Field(default=0)
    # When the current failure streak began (first failed attempt after a success); None
    # while healthy. Auto-disable needs both the count and a streak lasting long enough.
    failing_since: datetime | None = timestamp()
    # Operator caps for customers who ask for them (None: the engine's adaptive default).
    max_concurrency: int | None = None
    rate_limit: float | None = None  # requests per second
    # The adaptive concurrency level a worker last reported for this endpoint (display only).
    concurrency_level: int | None = None
    # Set by migration 0003 when it renamed a duplicate name; `doctor` reports it and a
    # rename through `webhooks update --name` clears it.
    renamed_from: str | None = Field(default=None, max_length=200)
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
