"""Per-request context handed to every operation function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from kms_core.identity.principal import Principal

if TYPE_CHECKING:
    from kms_core.service import KmsCore


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

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    def now(self) -> float:
        return self.kms.clock()
