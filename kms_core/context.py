"""Per-request context handed to every operation function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from kms_core.domain.principal import Principal

if TYPE_CHECKING:
    from kms_core.service import KmsCore
    from kms_core.protocol.throttling import Charges


@dataclass(slots=True)
class RequestContext:
    kms: "KmsCore"
    principal: Principal
    region: str
    request_id: str
    operation: str = ""
    #: set when a service (e.g. SSM) calls KMS on the caller's behalf: "ssm.<region>.amazonaws.com"
    via_service: Optional[str] = None
    source_ip: Optional[str] = None
    #: ARNs of the resources the request touched, for the audit trail
    resources: list = field(default_factory=list)
    #: condition-key facts an operation supplies (lower-case keys, e.g. "kms:encryptionalgorithm")
    condition_values: dict = field(default_factory=dict)
    #: the request's encryption context, for kms:EncryptionContext:* conditions and grant constraints
    encryption_context: Optional[dict] = None
    #: the alias the request named the key by (kms:RequestAlias)
    request_alias: Optional[str] = None
    secure_transport: bool = False
    #: what the audit record adds about this request (a secret's version id): never a value
    audit_detail: Optional[dict] = None
    #: the request quotas it was charged to (kms_core/protocol/throttling.py), None when throttling is off
    charges: Optional["Charges"] = None

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    def now(self) -> float:
        return self.kms.clock()

    def identity_policies(self) -> tuple:
        """The caller's identity-based policies, compiled (none for an account's root
        user): what policy evaluation is given about the caller, from the identity cache,
        so policy code never reaches into the service or the store."""
        if self.principal.is_account_root:
            return ()
        return self.kms.identities.identity_policies(self.principal)
