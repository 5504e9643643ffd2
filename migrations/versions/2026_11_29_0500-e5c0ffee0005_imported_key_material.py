"""Imported key material: ExpirationModel and ValidTo of a key's current import.

`valid_to` is set only while imported material that expires is present; the due-work
trigger takes its minimum, and KmsCore.process_due deletes the material when it passes.

Revision ID: e5c0ffee0005
Revises: d4c0ffee0004
Create Date: 2026-11-29 05:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "e5c0ffee0005"
down_revision = "d4c0ffee0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kms_key") as batch:
        batch.add_column(sa.Column("expiration_model", sa.String(32), nullable=True))
        batch.add_column(sa.Column("valid_to", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kms_key") as batch:
        batch.drop_column("valid_to")
        batch.drop_column("expiration_model")
