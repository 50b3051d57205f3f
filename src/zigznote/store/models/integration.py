from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from zigznote.store.models._base import created_at, json_column, text_column, timestamp, updated_at

# Connection states (IntegrationConnection.status). "not connected" is no row at all.
CONNECTED = "connected"
ERROR = "error"  # the provider refused our credentials: only a new `connect` repairs it


class IntegrationConnection(SQLModel, table=True):
    """An organization's connection to one provider (Slack workspace, HubSpot portal).

    ``token_enc`` is the vault ciphertext of ``TokenSet.to_json()`` (access token, refresh
    token, expiry, scopes), bound to this row (AAD ``integration_connection:<id>:token_enc``).
    The other columns are what may be shown without the master key: ``token_expires_at``,
    ``scopes`` and ``has_refresh_token`` repeat the non-secret parts of the token set so that
    `integrations list` never decrypts. ``token_version`` grows by one on every store of new
    tokens: a process that read version N and finds N+1 after taking the refresh lock knows
    that another process refreshed meanwhile (Slack revokes a refresh token once used).
    """

    __tablename__ = "integration_connection"
    # One connection per provider and organization (the unique index also serves lookups by org).
    __table_args__ = (sa.UniqueConstraint("org_id", "provider", name="uq_integration_connection_org_provider"),)

    id: str = Field(primary_key=True, max_length=40)
    # Credentials belong to their organization: deleting it deletes them.
    org_id: str = Field(foreign_key="organization.id", ondelete="CASCADE", max_length=40)
    provider: str = Field(max_length=32)
    status: str = Field(default=CONNECTED, max_length=16)
    account_id: str = Field(max_length=200)  # Slack team ID, HubSpot hub ID
    account_name: str | None = Field(default=None, max_length=200)
    # Non-secret provider facts (bot_user_id, app_id, authed_user_id, enterprise_id, …).
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    scopes: list[str] = json_column()
    token_enc: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    token_expires_at: datetime | None = timestamp()
    has_refresh_token: bool = Field(default=False)
    token_version: int = Field(default=1)
    # Provider-specific choices (Slack: channel_id, channel_name, auto_send).
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    last_error: str | None = text_column()
    last_error_at: datetime | None = timestamp()
    connected_at: datetime = timestamp(nullable=False)
    refreshed_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
