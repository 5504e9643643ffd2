"""KMS core: accounts, access keys, keys, key materials, aliases, tags, store metadata.

Revision ID: a1c0ffee0001
Revises:
Create Date: 2026-11-29 01:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "a1c0ffee0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ps_meta",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_ps_meta"),
    )
    op.create_table(
        "ps_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ps_epoch"),
    )
    op.execute("INSERT INTO ps_epoch (id, value) VALUES (1, 0)")
    op.create_table(
        "ps_account",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_ps_account"),
    )
    op.create_table(
        "ps_access_key",
        sa.Column("access_key_id", sa.String(128), nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("principal_arn", sa.String(2048), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("secret_wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["ps_account.account_id"],
                                name="fk_ps_access_key_account_id_ps_account"),
        sa.PrimaryKeyConstraint("access_key_id", name="pk_ps_access_key"),
    )
    op.create_index("ix_ps_access_key_account_id", "ps_access_key", ["account_id"])
    op.create_table(
        "kms_key",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("key_usage", sa.String(32), nullable=False),
        sa.Column("key_spec", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("key_manager", sa.String(16), nullable=False),
        sa.Column("key_state", sa.String(32), nullable=False),
        sa.Column("creation_date", sa.Float(), nullable=False),
        sa.Column("deletion_date", sa.Float(), nullable=True),
        sa.Column("pending_window_days", sa.Integer(), nullable=True),
        sa.Column("rotation_enabled", sa.Boolean(), nullable=False),
        sa.Column("rotation_period_days", sa.Integer(), nullable=True),
        sa.Column("next_rotation_date", sa.Float(), nullable=True),
        sa.Column("on_demand_rotations", sa.Integer(), nullable=False),
        sa.Column("current_material_id", sa.String(64), nullable=True),
        sa.Column("multi_region", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_kms_key"),
    )
    op.create_index("ix_kms_key_scope", "kms_key", ["account_id", "region", "key_id"])
    op.create_table(
        "kms_key_material",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("material_id", sa.String(64), nullable=False),
        sa.Column("material_wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("rotation_type", sa.String(16), nullable=True),
        sa.Column("rotation_date", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["key_id"], ["kms_key.key_id"], name="fk_kms_key_material_key_id_kms_key"),
        sa.PrimaryKeyConstraint("key_id", "material_id", name="pk_kms_key_material"),
    )
    op.create_table(
        "kms_alias",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("alias_name", sa.String(256), nullable=False),
        sa.Column("target_key_id", sa.String(64), nullable=False),
        sa.Column("creation_date", sa.Float(), nullable=False),
        sa.Column("last_updated_date", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["target_key_id"], ["kms_key.key_id"], name="fk_kms_alias_target_key_id_kms_key"),
        sa.PrimaryKeyConstraint("account_id", "region", "alias_name", name="pk_kms_alias"),
    )
    op.create_index("ix_kms_alias_target_key_id", "kms_alias", ["target_key_id"])
    op.create_table(
        "kms_key_tag",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("tag_key", sa.String(128), nullable=False),
        sa.Column("tag_value", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["kms_key.key_id"], name="fk_kms_key_tag_key_id_kms_key"),
        sa.PrimaryKeyConstraint("key_id", "tag_key", name="pk_kms_key_tag"),
    )


def downgrade() -> None:
    for table in ("kms_key_tag", "kms_alias", "kms_key_material", "kms_key", "ps_access_key",
                  "ps_account", "ps_epoch", "ps_meta"):
        op.drop_table(table)
