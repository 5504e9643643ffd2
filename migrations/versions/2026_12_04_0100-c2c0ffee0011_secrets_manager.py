"""Secrets Manager: secrets, their versions and staging labels, and the secrets' own
cache epoch (kms_core/storage/session.py).

Revision ID: c2c0ffee0011
Revises: b1c0ffee0010
Create Date: 2026-12-04 01:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "c2c0ffee0011"
down_revision = "b1c0ffee0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO ps_epoch (id, value) VALUES (3, 0)")
    op.create_table(
        "secrets_secret",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("arn", sa.String(1024), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kms_key_id", sa.String(2048), nullable=True),
        sa.Column("kms_key_arn", sa.String(2048), nullable=True),
        sa.Column("resource_policy", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=True),
        sa.Column("created_date", sa.Float(), nullable=False),
        sa.Column("last_changed_date", sa.Float(), nullable=False),
        sa.Column("last_accessed_date", sa.Float(), nullable=True),
        sa.Column("deleted_date", sa.Float(), nullable=True),
        sa.Column("rotation_enabled", sa.Boolean(), nullable=True),
        sa.Column("rotation_lambda_arn", sa.String(2048), nullable=True),
        sa.Column("rotation_rules", sa.Text(), nullable=True),
        sa.Column("last_rotated_date", sa.Float(), nullable=True),
        sa.Column("next_rotation_date", sa.Float(), nullable=True),
        sa.Column("version_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_secrets_secret"),
        sa.UniqueConstraint("account_id", "region", "name", name="uq_secrets_secret_name"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_secrets_secret_deleted_date", "secrets_secret", ["deleted_date"])
    op.create_index("ix_secrets_secret_next_rotation_date", "secrets_secret", ["next_rotation_date"])
    op.create_table(
        "secrets_version",
        sa.Column("secret_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_date", sa.Float(), nullable=False),
        sa.Column("last_accessed_date", sa.Float(), nullable=True),
        sa.Column("kms_key_arn", sa.String(2048), nullable=True),
        sa.Column("default_key", sa.Boolean(), nullable=False),
        sa.Column("is_binary", sa.Boolean(), nullable=False),
        sa.Column("value_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("data_key_sealed", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["secret_id"], ["secrets_secret.id"],
                                name="fk_secrets_version_secret_id_secrets_secret"),
        sa.PrimaryKeyConstraint("secret_id", "version_id", name="pk_secrets_version"),
    )
    op.create_index("ix_secrets_version_seq", "secrets_version", ["secret_id", "seq"])
    op.create_table(
        "secrets_stage",
        sa.Column("secret_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(256), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["secret_id"], ["secrets_secret.id"],
                                name="fk_secrets_stage_secret_id_secrets_secret"),
        sa.PrimaryKeyConstraint("secret_id", "stage", name="pk_secrets_stage"),
    )


def downgrade() -> None:
    op.drop_table("secrets_stage")
    op.drop_index("ix_secrets_version_seq", table_name="secrets_version")
    op.drop_table("secrets_version")
    op.drop_index("ix_secrets_secret_next_rotation_date", table_name="secrets_secret")
    op.drop_index("ix_secrets_secret_deleted_date", table_name="secrets_secret")
    op.drop_table("secrets_secret")
    op.execute("DELETE FROM ps_epoch WHERE id = 3")
