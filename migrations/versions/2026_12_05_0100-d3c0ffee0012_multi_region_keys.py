"""Multi-Region keys: `kms_key.primary_region`, the Region of the primary on every related
key's row (kms_core/operations/multi_region.py).  Related keys share their key id, so
their rows are `<mrk id>.<Region>`; no existing row changes (CreateKey refused
MultiRegion before this revision).

Revision ID: d3c0ffee0012
Revises: c2c0ffee0011
Create Date: 2026-12-05 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d3c0ffee0012"
down_revision = "c2c0ffee0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN on both databases: a batch rebuild of kms_key on SQLite would drop
    # the resource-count triggers on it (a8c0ffee0008)
    op.add_column("kms_key", sa.Column("primary_region", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("kms_key", "primary_region")
