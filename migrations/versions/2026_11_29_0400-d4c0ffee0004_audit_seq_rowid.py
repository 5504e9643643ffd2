"""SQLite: the audit trail's seq becomes the rowid (INTEGER PRIMARY KEY).

A BIGINT primary key on SQLite is a separate unique index beside the rowid B-tree, so
every audited request wrote two B-trees.  As an INTEGER primary key, seq *is* the rowid
(64-bit on SQLite): one B-tree per insert.  PostgreSQL keeps BIGINT; nothing changes there.

Revision ID: d4c0ffee0004
Revises: c3c0ffee0003
Create Date: 2026-11-29 04:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "d4c0ffee0004"
down_revision = "c3c0ffee0003"
branch_labels = None
depends_on = None


def _retype(to: sa.types.TypeEngine, from_: sa.types.TypeEngine) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Batch mode rebuilds the table (copy, drop, rename) inside the migration's transaction.
    with op.batch_alter_table("audit_event", recreate="always") as batch:
        batch.alter_column("seq", type_=to, existing_type=from_, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())
