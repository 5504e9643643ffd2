"""Indexes for the KMS due-work queries: the earliest pending deletion, automatic rotation
and lapse of imported material, and which keys are due.  The sweeper and every change
that moves a due time ran them as table scans of `kms_key` (tests/db/test_query_plans.py).
And ListRetirableGrants' order, (creation_date, grant_id) within a retiring principal, read
off an index instead of sorting all of that principal's grants for every page.

Revision ID: a9c0ffee0009
Revises: a8c0ffee0008
Create Date: 2026-12-03 03:00:00
"""

from alembic import op

revision = "a9c0ffee0009"
down_revision = "a8c0ffee0008"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_kms_key_deletion_due": ["key_state", "deletion_date"],
    "ix_kms_key_rotation_due": ["rotation_enabled", "key_state", "next_rotation_date"],
    "ix_kms_key_valid_to": ["valid_to"],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "kms_key", columns)
    op.drop_index("ix_kms_grant_retiring_principal", table_name="kms_grant")
    op.create_index("ix_kms_grant_retiring_order", "kms_grant", ["retiring_principal", "creation_date", "grant_id"])


def downgrade() -> None:
    op.drop_index("ix_kms_grant_retiring_order", table_name="kms_grant")
    op.create_index("ix_kms_grant_retiring_principal", "kms_grant", ["retiring_principal"])
    for name in _INDEXES:
        op.drop_index(name, table_name="kms_key")
