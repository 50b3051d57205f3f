"""Engine second pass: failure streaks, endpoint health events, per-webhook caps, unique
webhook names per organization, integration-job targets and dedupe keys, org settings,
an event age index for retention.

Duplicate webhook names (allowed before this revision) are made unique first: in each
(org, name) group the oldest webhook keeps the name, the others become
``<name>-<last 6 characters of their ID>`` and remember the old name in
``renamed_from`` so that ``zigznote doctor`` can report them.

Revision ID: 0003_engine_second_pass
Revises: 0002_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_engine_second_pass"
down_revision = "0002_webhooks"
branch_labels = None
depends_on = None


def _rename_duplicate_names() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, org_id, name FROM webhook ORDER BY org_id, name, created_at, id")).all()
    taken = {(r.org_id, r.name) for r in rows}
    seen: set[tuple[str, str]] = set()
    for r in rows:
        key = (r.org_id, r.name)
        if key not in seen:
            seen.add(key)
            continue
        new = f"{r.name[:190]}-{r.id[-6:]}"
        n = 2
        while (r.org_id, new) in taken:
            new = f"{r.name[:185]}-{r.id[-6:]}-{n}"
            n += 1
        taken.add((r.org_id, new))
        conn.execute(
            sa.text("UPDATE webhook SET name = :new, renamed_from = :old WHERE id = :id"),
            {"new": new, "old": r.name, "id": r.id},
        )


def upgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))

    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rate_limit", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("concurrency_level", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("renamed_from", sa.String(length=200), nullable=True))

    _rename_duplicate_names()
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_webhook_org_name", ["org_id", "name"])

    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint("uq_delivery_dedupe_key", ["dedupe_key"])

    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_created", ["created_at"], unique=False)

    op.create_table(
        "endpoint_event",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("streak_since", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhook.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("endpoint_event", schema=None) as batch_op:
        batch_op.create_index("ix_endpoint_event_org_time", ["org_id", "created_at"], unique=False)
        batch_op.create_index("ix_endpoint_event_webhook_time", ["webhook_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("endpoint_event", schema=None) as batch_op:
        batch_op.drop_index("ix_endpoint_event_webhook_time")
        batch_op.drop_index("ix_endpoint_event_org_time")
    op.drop_table("endpoint_event")

    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_created")

    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_constraint("uq_delivery_dedupe_key", type_="unique")
        batch_op.drop_column("dedupe_key")
        batch_op.drop_column("target")

    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.drop_constraint("uq_webhook_org_name", type_="unique")
        batch_op.drop_column("renamed_from")
        batch_op.drop_column("concurrency_level")
        batch_op.drop_column("rate_limit")
        batch_op.drop_column("max_concurrency")
        batch_op.drop_column("failing_since")

    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_column("settings")
