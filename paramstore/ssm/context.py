"""The per-request context of SSM operations: the KMS request context plus the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kms_core.context import RequestContext


@dataclass(slots=True)
class SsmContext(RequestContext):
    ssm: Any = None  # paramstore.ssm.store.ParameterStore
