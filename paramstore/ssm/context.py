"""The per-request context of SSM operations: the KMS request context plus the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kms_core.port import ServiceRequest


@dataclass(slots=True)
class SsmContext(ServiceRequest):
    ssm: Any = None  # paramstore.ssm.store.ParameterStore
    #: Secrets Manager's store, for /aws/reference/secretsmanager/... names (operations/references.py)
    secrets: Any = None  # paramstore.secrets.store.SecretStore
    #: keys whose kms:Decrypt for this caller didn't depend on the encryption context,
    #: decided once in this request (kms_core.operations.crypto.authorize_repeat_decrypt)
    decrypt_allowed_keys: set = field(default_factory=set)
