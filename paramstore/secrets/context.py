"""The per-request context of Secrets Manager operations: the KMS request context plus the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kms_core.port import ServiceRequest


@dataclass(slots=True)
class SecretsContext(ServiceRequest):
    secrets: Any = None  # paramstore.secrets.store.SecretStore
    #: keys whose kms:Decrypt for this caller didn't depend on the encryption context,
    #: decided once in this request (kms_core/port.py check_decrypt)
    decrypt_allowed_keys: set = field(default_factory=set)
