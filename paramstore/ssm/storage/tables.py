"""SQL tables of the Parameter Store.

No parameter value is stored in the clear, of any type: `value_sealed` is AES-256-GCM
under a per-version data key, and `data_key_sealed` is that data key encrypted by the KMS
core (a KMS ciphertext blob under the parameter's key for SecureString; a blob under the
service-owned key for String and StringList).  Both are bound to the parameter's ARN and
version (paramstore/ssm/envelope.py), so a row moved elsewhere does not decrypt.

Names are compared byte-wise (`COLLATE "C"` on PostgreSQL, SQLite's default), so path
ranges (`canonical >= 'a/b/' AND canonical < 'a/b0'`) are index range scans on both.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

import kms_core.storage.metadata  # noqa: F401  (naming convention before any table)

#: a byte-ordered string column (range scans over paths)
NAME_TYPE = String(2048).with_variant(String(2048, collation="C"), "postgresql")


class ParameterTable(SQLModel, table=True):
    """One row per live parameter: its identity and the latest version's metadata (what
    DescribeParameters lists and filters on, without touching the versions)."""

    __tablename__ = "ssm_parameter"
    __table_args__ = (
        UniqueConstraint("account_id", "region", "canonical", name="uq_ssm_parameter_name"),
        Index("ix_ssm_parameter_parent", "account_id", "region", "parent", "canonical"),
        # ids are never reused after a delete, so nothing keyed by one can outlive its parameter
        {"sqlite_autoincrement": True},
    )
    id: Optional[int] = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    account_id: str = Field(max_length=12)
    region: str = Field(max_length=32)
    #: the name without its leading slash: "/a/b" -> "a/b", "/x" and "x" -> "x" (one parameter)
    canonical: str = Field(sa_column=Column(NAME_TYPE, nullable=False))
    #: the name as first created ("/x" or "x"), what responses show
    name: str = Field(max_length=2048)
    #: the path one level up: "/a" for "/a/b", "/" for a top-level name
    parent: str = Field(sa_column=Column(NAME_TYPE, nullable=False))
    version: int
    type: str = Field(max_length=16)
    tier: str = Field(max_length=32)
    data_type: str = Field(max_length=32)
    key_id: Optional[str] = Field(default=None, max_length=256)
    description: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    allowed_pattern: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    #: JSON list of {"PolicyText","PolicyType","PolicyStatus"}; None = no policies
    policies: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    last_modified_date: float
    last_modified_user: str = Field(max_length=2048)
    #: parameter policies, as due times the sweeper acts on
    expires_at: Optional[float] = Field(default=None, index=True)
    expiration_notice_at: Optional[float] = Field(default=None, index=True)
    no_change_notice_at: Optional[float] = Field(default=None, index=True)


class ParameterVersionTable(SQLModel, table=True):
    __tablename__ = "ssm_parameter_version"
    parameter_id: int = Field(foreign_key="ssm_parameter.id", primary_key=True)
    version: int = Field(primary_key=True)
    type: str = Field(max_length=16)
    tier: str = Field(max_length=32)
    data_type: str = Field(max_length=32)
    key_id: Optional[str] = Field(default=None, max_length=256)
    description: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    allowed_pattern: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    policies: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    value_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    data_key_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    last_modified_date: float
    last_modified_user: str = Field(max_length=2048)


class ParameterLabelTable(SQLModel, table=True):
    __tablename__ = "ssm_parameter_label"
    __table_args__ = (Index("ix_ssm_parameter_label_version", "parameter_id", "version"),)
    parameter_id: int = Field(foreign_key="ssm_parameter.id", primary_key=True)
    label: str = Field(primary_key=True, max_length=100)
    version: int


class ParameterTagTable(SQLModel, table=True):
    __tablename__ = "ssm_parameter_tag"
    parameter_id: int = Field(foreign_key="ssm_parameter.id", primary_key=True)
    tag_key: str = Field(primary_key=True, max_length=128)
    tag_value: str = Field(default="", max_length=256)


class ServiceSettingTable(SQLModel, table=True):
    """Per account and region: /ssm/parameter-store/default-parameter-tier and
    /ssm/parameter-store/high-throughput-enabled (absent = the default)."""

    __tablename__ = "ssm_service_setting"
    account_id: str = Field(primary_key=True, max_length=12)
    region: str = Field(primary_key=True, max_length=32)
    setting_id: str = Field(primary_key=True, max_length=256)
    value: str = Field(max_length=4096)
    last_modified_date: float
    last_modified_user: str = Field(max_length=2048)
