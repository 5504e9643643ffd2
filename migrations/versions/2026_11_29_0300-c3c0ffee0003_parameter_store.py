"""The Parameter Store (parameters, versions, labels, tags, service settings) and
service-owned keys.

Revision ID: c3c0ffee0003
Revises: b2c0ffee0002
Create Date: 2026-11-29 03:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "c3c0ffee0003"
down_revision = "b2c0ffee0002"
branch_labels = None
depends_on = None

#: byte-ordered names, so path prefixes are index range scans (paramstore/ssm/storage/tables.py)
NAME = sa.String(2048).with_variant(sa.String(2048, collation="C"), "postgresql")


def upgrade() -> None:
    # the parameters' own cache epoch (kms_core/storage/session.py)
    op.execute("INSERT INTO ps_epoch (id, value) VALUES (2, 0)")
    op.create_table(
        "kms_service_owned_key",
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("material_wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("service", "account_id", "region", "generation", name="pk_kms_service_owned_key"),
    )
    op.create_table(
        "ssm_parameter",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("canonical", NAME, nullable=False),
        sa.Column("name", sa.String(2048), nullable=False),
        sa.Column("parent", NAME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("data_type", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("allowed_pattern", sa.Text(), nullable=True),
        sa.Column("policies", sa.Text(), nullable=True),
        sa.Column("last_modified_date", sa.Float(), nullable=False),
        sa.Column("last_modified_user", sa.String(2048), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("expiration_notice_at", sa.Float(), nullable=True),
        sa.Column("no_change_notice_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ssm_parameter"),
        sa.UniqueConstraint("account_id", "region", "canonical", name="uq_ssm_parameter_name"),
        sqlite_autoincrement=True,  # ids are never reused after a delete
    )
    op.create_index("ix_ssm_parameter_parent", "ssm_parameter", ["account_id", "region", "parent", "canonical"])
    op.create_index("ix_ssm_parameter_expires_at", "ssm_parameter", ["expires_at"])
    op.create_index("ix_ssm_parameter_expiration_notice_at", "ssm_parameter", ["expiration_notice_at"])
    op.create_index("ix_ssm_parameter_no_change_notice_at", "ssm_parameter", ["no_change_notice_at"])
    op.create_table(
        "ssm_parameter_version",
        sa.Column("parameter_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("data_type", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("allowed_pattern", sa.Text(), nullable=True),
        sa.Column("policies", sa.Text(), nullable=True),
        sa.Column("value_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("data_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("last_modified_date", sa.Float(), nullable=False),
        sa.Column("last_modified_user", sa.String(2048), nullable=False),
        sa.ForeignKeyConstraint(["parameter_id"], ["ssm_parameter.id"],
                                name="fk_ssm_parameter_version_parameter_id_ssm_parameter"),
        sa.PrimaryKeyConstraint("parameter_id", "version", name="pk_ssm_parameter_version"),
    )
    op.create_table(
        "ssm_parameter_label",
        sa.Column("parameter_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["parameter_id"], ["ssm_parameter.id"],
                                name="fk_ssm_parameter_label_parameter_id_ssm_parameter"),
        sa.PrimaryKeyConstraint("parameter_id", "label", name="pk_ssm_parameter_label"),
    )
    op.create_index("ix_ssm_parameter_label_version", "ssm_parameter_label", ["parameter_id", "version"])
    op.create_table(
        "ssm_parameter_tag",
        sa.Column("parameter_id", sa.Integer(), nullable=False),
        sa.Column("tag_key", sa.String(128), nullable=False),
        sa.Column("tag_value", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(["parameter_id"], ["ssm_parameter.id"],
                                name="fk_ssm_parameter_tag_parameter_id_ssm_parameter"),
        sa.PrimaryKeyConstraint("parameter_id", "tag_key", name="pk_ssm_parameter_tag"),
    )
    op.create_table(
        "ssm_service_setting",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("setting_id", sa.String(256), nullable=False),
        sa.Column("value", sa.String(4096), nullable=False),
        sa.Column("last_modified_date", sa.Float(), nullable=False),
        sa.Column("last_modified_user", sa.String(2048), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "region", "setting_id", name="pk_ssm_service_setting"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM ps_epoch WHERE id = 2")
    op.drop_table("ssm_service_setting")
    op.drop_table("ssm_parameter_tag")
    op.drop_index("ix_ssm_parameter_label_version", table_name="ssm_parameter_label")
    op.drop_table("ssm_parameter_label")
    op.drop_table("ssm_parameter_version")
    for name in ("ix_ssm_parameter_no_change_notice_at", "ix_ssm_parameter_expiration_notice_at",
                 "ix_ssm_parameter_expires_at", "ix_ssm_parameter_parent"):
        op.drop_index(name, table_name="ssm_parameter")
    op.drop_table("ssm_parameter")
    op.drop_table("kms_service_owned_key")
