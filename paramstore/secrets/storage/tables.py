"""SQL tables of Secrets Manager.

No secret value is stored in the clear: `value_sealed` is AES-256-GCM under a per-version
data key, and `data_key_sealed` is that data key as a KMS ciphertext blob under the
secret's KMS key, made with the encryption context {SecretARN, SecretVersionId}
(paramstore/secrets/envelope.py).  A version that AWS would hold without a value (the
AWSPENDING placeholder RotateSecret registers) has neither.

One row per staging label (`secrets_stage`, primary key secret + label) is what makes "a
label is attached to at most one version" a constraint rather than a convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from sqlalchemy import Column, Index, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

import kms_core.storage.metadata  # noqa: F401  (naming convention before any table)


class SecretTable(SQLModel, table=True):
    """One row per secret, live or scheduled for deletion (its name stays taken)."""

    __tablename__ = "secrets_secret"
    __table_args__ = (
        UniqueConstraint("account_id", "region", "name", name="uq_secrets_secret_name"),
        # ids are never reused: nothing keyed by one outlives its secret
        {"sqlite_autoincrement": True},
    )
    id: Optional[int] = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    account_id: str = Field(max_length=12)
    region: str = Field(max_length=32)
    name: str = Field(max_length=512)
    #: arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>
    arn: str = Field(max_length=1024)
    description: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    #: the KmsKeyId as the caller gave it; None = the AWS-managed aws/secretsmanager key
    kms_key_id: Optional[str] = Field(default=None, max_length=2048)
    #: the key's ARN, once a KMS call resolved it (new versions are sealed under it)
    kms_key_arn: Optional[str] = Field(default=None, max_length=2048)
    resource_policy: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    #: JSON list of {"Key","Value"} in the order set; None = never tagged (DescribeSecret has no Tags)
    tags: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    created_date: float
    last_changed_date: float
    #: day resolution, as AWS reports it
    last_accessed_date: Optional[float] = None
    #: when a scheduled deletion happens (DeleteSecret's DeletionDate); None = live
    deleted_date: Optional[float] = Field(default=None, index=True)
    rotation_enabled: Optional[bool] = None
    rotation_lambda_arn: Optional[str] = Field(default=None, max_length=2048)
    #: JSON {"AutomaticallyAfterDays"|"ScheduleExpression", "Duration"?}
    rotation_rules: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    last_rotated_date: Optional[float] = None
    next_rotation_date: Optional[float] = Field(default=None, index=True)
    #: creation order of versions (secrets_version.seq)
    version_seq: int = 0


class SecretVersionTable(SQLModel, table=True):
    __tablename__ = "secrets_version"
    __table_args__ = (Index("ix_secrets_version_seq", "secret_id", "seq"),)
    secret_id: int = Field(foreign_key="secrets_secret.id", primary_key=True)
    #: the ClientRequestToken that made it (32-64 characters)
    version_id: str = Field(primary_key=True, max_length=64)
    seq: int
    created_date: float
    last_accessed_date: Optional[float] = None
    #: the KMS key ARN the data key is under; None while the version has no value
    kms_key_arn: Optional[str] = Field(default=None, max_length=2048)
    #: sealed under the AWS-managed aws/secretsmanager key (listed as "DefaultEncryptionKey")
    default_key: bool = False
    #: True if the value was given as SecretBinary
    is_binary: bool = False
    value_sealed: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    data_key_sealed: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class SecretStageTable(SQLModel, table=True):
    __tablename__ = "secrets_stage"
    secret_id: int = Field(foreign_key="secrets_secret.id", primary_key=True)
    stage: str = Field(primary_key=True, max_length=256)
    version_id: str = Field(max_length=64)


# --- what the caches hold: plain, immutable copies (an ORM row's attribute reads cost a
# descriptor call each; the hot path reads a dozen of them per request) ----------------------
@dataclass(frozen=True, slots=True)
class SecretRow:
    id: int
    account_id: str
    region: str
    name: str
    arn: str
    description: Optional[str]
    kms_key_id: Optional[str]
    kms_key_arn: Optional[str]
    resource_policy: Optional[str]
    tags: Optional[str]
    created_date: float
    last_changed_date: float
    last_accessed_date: Optional[float]
    deleted_date: Optional[float]
    rotation_enabled: Optional[bool]
    rotation_lambda_arn: Optional[str]
    rotation_rules: Optional[str]
    last_rotated_date: Optional[float]
    next_rotation_date: Optional[float]
    version_seq: int

    @classmethod
    def of(cls, row: SecretTable) -> "SecretRow":
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class VersionRow:
    secret_id: int
    version_id: str
    seq: int
    created_date: float
    last_accessed_date: Optional[float]
    kms_key_arn: Optional[str]
    default_key: bool
    is_binary: bool
    value_sealed: Optional[bytes]
    data_key_sealed: Optional[bytes]

    @classmethod
    def of(cls, row: SecretVersionTable) -> "VersionRow":
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


#: what operations that only read a secret take: a cached copy or a row of a transaction
AnySecret = Union[SecretRow, SecretTable]
AnyVersion = Union[VersionRow, SecretVersionTable]
