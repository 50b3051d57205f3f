"""Job state: what an integration job's handler keeps between the attempts of one job (Slack:
the ``ts`` of each message already posted, so a retry after a partial post sends only the
rest). One row per job, deleted with it (ON DELETE CASCADE).

Revision ID: 0005_job_state
Revises: 0004_integrations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_job_state"
down_revision = "0004_integrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_state",
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhook_delivery.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delivery_id"),
    )


def downgrade() -> None:
    op.drop_table("job_state")
