"""KMS domain objects.  Three words kept apart: `Key` (the resource: metadata and state),
`KeyMaterial` (one backing-key version, wrapped at rest) and a data key (what callers get)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from kms_core.domain.grants import Grant


class KeyState(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    #: a multi-Region primary scheduled for deletion while it still has replicas
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"
    #: transient states AWS shows while a replica is made or the primary moves; this server
    #: does both in one transaction, so they appear only in ReplicateKey's response
    CREATING = "Creating"
    UNAVAILABLE = "Unavailable"


class KeyUsage(StrEnum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
    KEY_AGREEMENT = "KEY_AGREEMENT"


class KeySpec(StrEnum):
    """The default spec; the full table of specs is kms_core/domain/specs.py."""

    SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"


class Origin(StrEnum):
    AWS_KMS = "AWS_KMS"
    EXTERNAL = "EXTERNAL"


class KeyManager(StrEnum):
    AWS = "AWS"
    CUSTOMER = "CUSTOMER"


class ExpirationModel(StrEnum):
    KEY_MATERIAL_EXPIRES = "KEY_MATERIAL_EXPIRES"
    KEY_MATERIAL_DOES_NOT_EXPIRE = "KEY_MATERIAL_DOES_NOT_EXPIRE"


class RotationType(StrEnum):
    AUTOMATIC = "AUTOMATIC"
    ON_DEMAND = "ON_DEMAND"


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """One backing-key version.  `material` is unwrapped only inside the process."""

    material_id: str  # 64 hex chars
    material: bytes = field(repr=False)
    created_at: float
    rotation_type: Optional[str]
    rotation_date: Optional[float]
    #: the loaded private key object (asymmetric specs), made once per cache fill
    private: object = field(default=None, repr=False)
    #: the per-message KDF's prepared HMAC key (symmetric specs), made once per cache fill
    kdf: object = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Key:
    key_id: str
    account_id: str
    region: str
    arn: str
    description: str
    key_usage: str
    key_spec: str
    origin: str
    key_manager: str
    state: str
    creation_date: float
    deletion_date: Optional[float]
    pending_window_days: Optional[int]
    rotation_enabled: bool
    rotation_period_days: Optional[int]
    next_rotation_date: Optional[float]
    on_demand_rotations: int
    current_material_id: Optional[str]
    multi_region: bool
    #: imported material (Origin EXTERNAL): how it expires, and when (None: it does not)
    expiration_model: Optional[str] = None
    valid_to: Optional[float] = None
    #: the storage id (domain/arn.py `row_id_for`): the key id, or "<mrk id>.<Region>"
    row_id: str = ""
    #: multi-Region keys: the primary's Region, and every Region holding a related key
    primary_region: Optional[str] = None
    related_regions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.row_id:
            object.__setattr__(self, "row_id", self.key_id)

    @property
    def enabled(self) -> bool:
        return self.state == KeyState.ENABLED

    @property
    def is_replica(self) -> bool:
        return self.multi_region and self.primary_region != self.region

    @property
    def multi_region_key_type(self) -> Optional[str]:
        """kms:MultiRegionKeyType and MultiRegionConfiguration's PRIMARY | REPLICA."""
        if not self.multi_region:
            return None
        return "REPLICA" if self.is_replica else "PRIMARY"


@dataclass(frozen=True, slots=True)
class KeyWithMaterial:
    """A key plus everything a request needs to use it: unwrapped materials, the compiled
    key policy, tags, aliases and grants.  What the in-memory cache holds."""

    key: Key
    materials: dict[str, KeyMaterial] = field(repr=False)
    materials_by_raw_id: dict[bytes, KeyMaterial] = field(repr=False)
    policy: object = None                 # policy.evaluate.CompiledPolicy
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()

    @property
    def current(self) -> KeyMaterial:
        material_id = self.key.current_material_id
        if material_id is None:  # no current material: the KeyError the lookup gave
            raise KeyError(material_id)
        return self.materials[material_id]
