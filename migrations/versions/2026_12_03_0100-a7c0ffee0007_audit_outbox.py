"""SQLite: `audit_outbox`, where a change's audit record commits with the change itself.

Since the trail moved to a file of its own, a change cost two durable commits (the record
in the trail file, then the change in the store's).  The record now goes into this table,
in the change's own transaction (one commit, one fsync), and is moved to the trail file
right after (kms_core/audit.py).  PostgreSQL gets the table too (one schema for both) but
never uses it: its trail is in the store's database.

Revision ID: a7c0ffee0007
Revises: f6c0ffee0006
Create Date: 2026-12-03 01:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "a7c0ffee0007"
down_revision = "f6c0ffee0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_time", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("event_source", sa.String(64), nullable=False),
        sa.Column("event_name", sa.String(128), nullable=False),
        sa.Column("region", sa.String(32), nullable=True),
        sa.Column("account_id", sa.String(12), nullable=True),
        sa.Column("principal_arn", sa.String(2048), nullable=True),
        sa.Column("access_key_id", sa.String(128), nullable=True),
        sa.Column("source_ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("resources", sa.Text(), nullable=True),
        sa.Column("encryption_context", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(128), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_outbox"),
    )


def downgrade() -> None:
    op.drop_table("audit_outbox")
