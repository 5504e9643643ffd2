"""Identities (IAM users, roles, inline policies, tags), grants, and the audit trail.

Revision ID: b2c0ffee0002
Revises: a1c0ffee0001
Create Date: 2026-11-29 02:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "b2c0ffee0002"
down_revision = "a1c0ffee0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ps_access_key") as batch:
        batch.add_column(sa.Column("user_name", sa.String(64), nullable=True))
    op.create_table(
        "iam_user",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "user_name", name="pk_iam_user"),
        sa.UniqueConstraint("user_id", name="uq_iam_user_user_id"),
    )
    op.create_table(
        "iam_role",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("role_name", sa.String(64), nullable=False),
        sa.Column("role_id", sa.String(32), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("assume_role_policy", sa.Text(), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("max_session_duration", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "role_name", name="pk_iam_role"),
        sa.UniqueConstraint("role_id", name="uq_iam_role_role_id"),
    )
    op.create_table(
        "iam_inline_policy",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("principal_type", sa.String(8), nullable=False),
        sa.Column("principal_name", sa.String(64), nullable=False),
        sa.Column("policy_name", sa.String(128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "principal_type", "principal_name", "policy_name",
                                name="pk_iam_inline_policy"),
    )
    op.create_table(
        "iam_principal_tag",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("principal_type", sa.String(8), nullable=False),
        sa.Column("principal_name", sa.String(64), nullable=False),
        sa.Column("tag_key", sa.String(128), nullable=False),
        sa.Column("tag_value", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "principal_type", "principal_name", "tag_key",
                                name="pk_iam_principal_tag"),
    )
    op.create_table(
        "kms_grant",
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("grantee_principal", sa.String(256), nullable=False),
        sa.Column("retiring_principal", sa.String(256), nullable=True),
        sa.Column("operations", sa.Text(), nullable=False),
        sa.Column("constraints", sa.Text(), nullable=True),
        sa.Column("issuing_account", sa.String(12), nullable=False),
        sa.Column("creation_date", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["kms_key.key_id"], name="fk_kms_grant_key_id_kms_key"),
        sa.PrimaryKeyConstraint("grant_id", name="pk_kms_grant"),
    )
    op.create_index("ix_kms_grant_key_id", "kms_grant", ["key_id"])
    op.create_index("ix_kms_grant_retiring_principal", "kms_grant", ["retiring_principal"])
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
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
        sa.Column("prev_mac", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_event"),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.execute("INSERT INTO audit_head (id, last_seq, last_mac) VALUES (1, 0, '" + "0" * 64 + "')")


def downgrade() -> None:
    for table in ("audit_head", "audit_event", "kms_grant", "iam_principal_tag", "iam_inline_policy",
                  "iam_role", "iam_user"):
        op.drop_table(table)
    with op.batch_alter_table("ps_access_key") as batch:
        batch.drop_column("user_name")
