"""The Secrets Manager dispatch table: "secretsmanager.<Operation>" -> operation function."""

from __future__ import annotations

from typing import Any, Callable

from kms_core.port import ServiceRequest
from kms_core.protocol.awsjson import ServiceSpec
from paramstore.secrets.errors import InternalServiceError
from paramstore.secrets.operations import random_password
from paramstore.secrets_model import OPERATIONS as SECRETS_SHAPES

TARGET_PREFIX = "secretsmanager"

HANDLERS: dict[str, Callable[[ServiceRequest, dict], dict]] = {
    "GetRandomPassword": random_password.get_random_password,
}


def secrets_service(make_context: Callable[..., Any]) -> ServiceSpec:
    # InternalServiceError (500) is Secrets Manager's retryable fault; it has no timeout error of its own
    spec = ServiceSpec(TARGET_PREFIX, "secretsmanager", "secretsmanager.amazonaws.com", InternalServiceError,
                       make_context, timeout_error=InternalServiceError,
                       inline_operations=frozenset({"GetRandomPassword"}))
    for name, handler in HANDLERS.items():
        spec.add(name, handler, SECRETS_SHAPES[name])
    return spec
