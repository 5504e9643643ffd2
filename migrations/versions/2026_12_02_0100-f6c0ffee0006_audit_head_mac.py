"""The audit head's tag: `audit_head.head_mac`, an HMAC of the last seq and mac under a key
derived from the root key (kms_core/audit.py), so that events deleted from the tail of the
trail are detected.

The migration can't compute the tag (it has no root key): existing heads keep NULL until
the server records its next event, and `paramstore audit verify` checks such a head as
before (a lower bound), saying that the tail is not yet covered.

Revision ID: f6c0ffee0006
Revises: e5c0ffee0005
Create Date: 2026-12-02 01:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "f6c0ffee0006"
down_revision = "e5c0ffee0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("head_mac", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("head_mac")
