"""Audit chains, one per writer process (kms_core/audit.py, "Chains"): chain c's events have
seqs above c << 40 and its head is `audit_head.id = c + 1`.  Nothing in the schema changes;
the revision exists so that a server of an earlier version refuses to start on a store
that may hold several chains: it would take another chain's newest event for its own tail
and append into that chain's range.

Revision ID: b1c0ffee0010
Revises: a9c0ffee0009
Create Date: 2026-12-03 04:00:00
"""

revision = "b1c0ffee0010"
down_revision = "a9c0ffee0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    """Only safe while chain 0 is the only chain with events (one server process ran)."""
