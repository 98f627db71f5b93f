"""The overview pages through jobs by creation (an index), a job's size on disk, and the studio's settings.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_created_at_id", "jobs", ["created_at", "id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("disk_bytes", sa.BigInteger))
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("settings")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("disk_bytes")
    op.drop_index("ix_jobs_created_at_id", "jobs")
