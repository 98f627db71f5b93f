"""Event ids never reused: SQLite's AUTOINCREMENT on the events table.

Without it SQLite hands out the largest id + 1, so a resumed job, whose metrics past its checkpoint are deleted,
gave its next events the ids of the deleted ones, and a browser reconnecting with Last-Event-ID skipped them.
PostgreSQL's sequences never go back; nothing changes there.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("events", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("events", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
