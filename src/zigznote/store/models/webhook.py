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
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
