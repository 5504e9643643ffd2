"""SQL tables.  Secrets (key material, secret access keys) live only in `*_wrapped`
columns, wrapped by the root key with the row's identity as AAD (crypto/root.py).
Times are epoch seconds (float), as on the wire."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

import kms_core.storage.metadata  # noqa: F401  (naming convention before any table)


class MetaTable(SQLModel, table=True):
    """Store-wide facts: the root key check value, the account bootstrap marker."""

    __tablename__ = "ps_meta"
    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class EpochTable(SQLModel, table=True):
    """A counter every state-changing transaction bumps; processes sharing the database
    compare it to know when their caches are stale."""

    __tablename__ = "ps_epoch"
    id: int = Field(primary_key=True)
    value: int = Field(default=0)


class AccountTable(SQLModel, table=True):
    __tablename__ = "ps_account"
    account_id: str = Field(primary_key=True, max_length=12)
    created_at: float


class AccessKeyTable(SQLModel, table=True):
    __tablename__ = "ps_access_key"
    access_key_id: str = Field(primary_key=True, max_length=128)
    account_id: str = Field(foreign_key="ps_account.account_id", index=True, max_length=12)
    principal_arn: str = Field(max_length=2048)
    #: the IAM user owning the key; None for the account root's keys
    user_name: Optional[str] = Field(default=None, max_length=64)
    status: str = Field(default="Active", max_length=16)
    secret_wrapped: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: float


class KeyTable(SQLModel, table=True):
    __tablename__ = "kms_key"
    __table_args__ = (
        Index("ix_kms_key_scope", "account_id", "region", "key_id"),
        # the due-work queries (next due time, what is due): index searches, not table scans
        Index("ix_kms_key_deletion_due", "key_state", "deletion_date"),
        Index("ix_kms_key_rotation_due", "rotation_enabled", "key_state", "next_rotation_date"),
        Index("ix_kms_key_valid_to", "valid_to"),
    )
    key_id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(max_length=12)
    region: str = Field(max_length=32)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    key_usage: str = Field(max_length=32)
    key_spec: str = Field(max_length=32)
    origin: str = Field(max_length=32)
    key_manager: str = Field(max_length=16)
    key_state: str = Field(max_length=32)
    creation_date: float
    deletion_date: Optional[float] = None
    pending_window_days: Optional[int] = None
    rotation_enabled: bool = False
    rotation_period_days: Optional[int] = None
    next_rotation_date: Optional[float] = None
    on_demand_rotations: int = 0
    current_material_id: Optional[str] = Field(default=None, max_length=64)
    multi_region: bool = False
    #: multi-Region keys: the Region of the primary, the same on every related key's row
    primary_region: Optional[str] = Field(default=None, max_length=32)
    policy: str = Field(sa_column=Column(Text, nullable=False))
    #: imported material (Origin EXTERNAL): ExpirationModel and ValidTo of the current import
    expiration_model: Optional[str] = Field(default=None, max_length=32)
    valid_to: Optional[float] = None


class KeyMaterialTable(SQLModel, table=True):
    __tablename__ = "kms_key_material"
    key_id: str = Field(foreign_key="kms_key.key_id", primary_key=True, max_length=64)
    material_id: str = Field(primary_key=True, max_length=64)
    material_wrapped: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: float
    rotation_type: Optional[str] = Field(default=None, max_length=16)
    rotation_date: Optional[float] = None


class AliasTable(SQLModel, table=True):
    __tablename__ = "kms_alias"
    account_id: str = Field(primary_key=True, max_length=12)
    region: str = Field(primary_key=True, max_length=32)
    alias_name: str = Field(primary_key=True, max_length=256)
    target_key_id: str = Field(foreign_key="kms_key.key_id", index=True, max_length=64)
    creation_date: float
    last_updated_date: float


class KeyTagTable(SQLModel, table=True):
    __tablename__ = "kms_key_tag"
    key_id: str = Field(foreign_key="kms_key.key_id", primary_key=True, max_length=64)
    tag_key: str = Field(primary_key=True, max_length=128)
    tag_value: str = Field(default="", max_length=256)


def material_row_identity(key_id: str, material_id: str) -> str:
    """AAD for a wrapped key material: a row moved onto another key or version fails."""
    return f"kms_key_material|{key_id}|{material_id}"


def access_key_row_identity(access_key_id: str, account_id: str) -> str:
    return f"ps_access_key|{access_key_id}|{account_id}"


# --- identities (IAM subset) ----------------------------------------------------------
class IamUserTable(SQLModel, table=True):
    __tablename__ = "iam_user"
    account_id: str = Field(primary_key=True, max_length=12)
    user_name: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(max_length=32, unique=True)
    path: str = Field(default="/", max_length=512)
    created_at: float


class IamRoleTable(SQLModel, table=True):
    __tablename__ = "iam_role"
    account_id: str = Field(primary_key=True, max_length=12)
    role_name: str = Field(primary_key=True, max_length=64)
    role_id: str = Field(max_length=32, unique=True)
    path: str = Field(default="/", max_length=512)
    assume_role_policy: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(default="", max_length=1000)
    max_session_duration: int = 3600
    created_at: float


class IamInlinePolicyTable(SQLModel, table=True):
    """An inline identity policy on a user ("user") or a role ("role")."""

    __tablename__ = "iam_inline_policy"
    account_id: str = Field(primary_key=True, max_length=12)
    principal_type: str = Field(primary_key=True, max_length=8)
    principal_name: str = Field(primary_key=True, max_length=64)
    policy_name: str = Field(primary_key=True, max_length=128)
    document: str = Field(sa_column=Column(Text, nullable=False))


class IamPrincipalTagTable(SQLModel, table=True):
    """Tags on users and roles (aws:PrincipalTag/<key>)."""

    __tablename__ = "iam_principal_tag"
    account_id: str = Field(primary_key=True, max_length=12)
    principal_type: str = Field(primary_key=True, max_length=8)
    principal_name: str = Field(primary_key=True, max_length=64)
    tag_key: str = Field(primary_key=True, max_length=128)
    tag_value: str = Field(default="", max_length=256)


# --- grants ----------------------------------------------------------------------------
class GrantTable(SQLModel, table=True):
    __tablename__ = "kms_grant"
    #: ListRetirableGrants pages in (creation_date, grant_id) order: read off the index, not sorted
    __table_args__ = (Index("ix_kms_grant_retiring_order", "retiring_principal", "creation_date", "grant_id"),)
    grant_id: str = Field(primary_key=True, max_length=64)
    key_id: str = Field(foreign_key="kms_key.key_id", index=True, max_length=64)
    name: Optional[str] = Field(default=None, max_length=256)
    grantee_principal: str = Field(max_length=256)
    retiring_principal: Optional[str] = Field(default=None, max_length=256)
    operations: str = Field(sa_column=Column(Text, nullable=False))  # JSON list
    constraints: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON
    issuing_account: str = Field(max_length=12)
    creation_date: float


# --- audit trail -----------------------------------------------------------------------
AUDIT_SEQ = BigInteger().with_variant(Integer, "sqlite")

class AuditEventTable(SQLModel, table=True):
    """One row per request; `mac` chains each row to the previous one (kms_core/audit.py)."""

    __tablename__ = "audit_event"
    # No index but the primary key: every index is another page written per request, and
    # seq order is time order, so operator queries scan by seq.  On SQLite the key is an
    # INTEGER (64-bit there) so it is the rowid itself: one B-tree per insert, not two.
    seq: int = Field(sa_column=Column(AUDIT_SEQ, primary_key=True, autoincrement=False))
    event_time: float
    request_id: str = Field(max_length=64)
    event_source: str = Field(max_length=64)
    event_name: str = Field(max_length=128)
    region: Optional[str] = Field(default=None, max_length=32)
    account_id: Optional[str] = Field(default=None, max_length=12)
    principal_arn: Optional[str] = Field(default=None, max_length=2048)
    access_key_id: Optional[str] = Field(default=None, max_length=128)
    source_ip: Optional[str] = Field(default=None, max_length=64)
    user_agent: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    resources: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON list
    encryption_context: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON
    error_code: Optional[str] = Field(default=None, max_length=128)
    detail: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON, non-secret
    prev_mac: str = Field(max_length=64)
    mac: str = Field(max_length=64)


class AuditHeadTable(SQLModel, table=True):
    """The chain's head: locked by every append so concurrent writers extend one chain;
    `head_mac` authenticates it (kms_core/audit.py), NULL until first written after upgrade."""

    __tablename__ = "audit_head"
    id: int = Field(primary_key=True)
    last_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    last_mac: str = Field(max_length=64)
    head_mac: Optional[str] = Field(default=None, max_length=64)


class AuditOutboxTable(SQLModel, table=True):
    """SQLite: the record of a change, committed in the change's own transaction (one
    commit, one fsync); moved to the trail file right after, and deleted once the trail
    holds it durably (kms_core/audit.py, "The outbox").  Unused on PostgreSQL, whose
    trail is in the store's database."""

    __tablename__ = "audit_outbox"
    id: Optional[int] = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    event_time: float
    request_id: str = Field(max_length=64)
    event_source: str = Field(max_length=64)
    event_name: str = Field(max_length=128)
    region: Optional[str] = Field(default=None, max_length=32)
    account_id: Optional[str] = Field(default=None, max_length=12)
    principal_arn: Optional[str] = Field(default=None, max_length=2048)
    access_key_id: Optional[str] = Field(default=None, max_length=128)
    source_ip: Optional[str] = Field(default=None, max_length=64)
    user_agent: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    resources: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    encryption_context: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    error_code: Optional[str] = Field(default=None, max_length=128)
    detail: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))


class ResourceCountTable(SQLModel, table=True):
    """How many of a counted resource an account holds in a Region: `ssm:Standard` and
    `ssm:Advanced` parameters, `kms:CustomerKey` keys.  Kept by triggers in the same
    transaction as the row that changes it (migration a8c0ffee0008), so every write path
    counts, the count is exact under concurrency (the counter row is locked until commit),
    and a quota check is one primary-key read instead of a count(*) over the account."""

    __tablename__ = "ps_resource_count"
    account_id: str = Field(primary_key=True, max_length=12)
    region: str = Field(primary_key=True, max_length=32)
    resource: str = Field(primary_key=True, max_length=32)
    count: int = 0


# --- service key sets (kms_core/service_keys.py) ---------------------------------------
class ServiceOwnedKeyTable(SQLModel, table=True):
    """A service-owned key: used by a service (e.g. SSM, for String values at rest) in a
    customer's account and region, and invisible to the customer (no KMS key, no ARN)."""

    __tablename__ = "kms_service_owned_key"
    service: str = Field(primary_key=True, max_length=32)
    account_id: str = Field(primary_key=True, max_length=12)
    region: str = Field(primary_key=True, max_length=32)
    generation: int = Field(primary_key=True)
    material_wrapped: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: float


def owned_key_row_identity(service: str, account_id: str, region: str, generation: int) -> str:
    return f"kms_service_owned_key|{service}|{account_id}|{region}|{generation}"
