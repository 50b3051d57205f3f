"""Integration links: which remote object (a HubSpot meeting, task or contact) stands for which
local thing (a meeting, an action item, a participant), so a re-sync updates instead of
creating, and a sync interrupted after the provider's answer finds its object again by
``external_key``. A lease on a meeting's row keeps two syncs of one meeting from running at once.

Revision ID: 0006_integration_links
Revises: 0005_job_state
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_integration_links"
down_revision = "0005_job_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integration_link",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("local_type", sa.String(length=16), nullable=False),
        sa.Column("local_key", sa.String(length=200), nullable=False),
        sa.Column("remote_type", sa.String(length=32), nullable=False),
        sa.Column("remote_id", sa.String(length=64), nullable=True),
        sa.Column("external_key", sa.String(length=200), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id", "provider", "local_type", "local_key", name="pk_integration_link"),
    )


def downgrade() -> None:
    op.drop_table("integration_link")
