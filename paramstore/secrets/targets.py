"""The Secrets Manager dispatch table: "secretsmanager.<Operation>" -> operation function."""

from __future__ import annotations

from typing import Any, Callable

from kms_core.protocol.awsjson import ServiceSpec
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.errors import InternalServiceError
from paramstore.secrets.operations import lifecycle, random_password, resource_policy, rotation, tags, values
from paramstore.secrets_model import OPERATIONS as SECRETS_SHAPES

TARGET_PREFIX = "secretsmanager"

HANDLERS: dict[str, Callable[[SecretsContext, dict], dict]] = {
    "CreateSecret": lifecycle.create_secret,
    "UpdateSecret": lifecycle.update_secret,
    "DescribeSecret": lifecycle.describe_secret,
    "ListSecrets": lifecycle.list_secrets,
    "DeleteSecret": lifecycle.delete_secret,
    "RestoreSecret": lifecycle.restore_secret,
    "GetSecretValue": values.get_secret_value,
    "BatchGetSecretValue": values.batch_get_secret_value,
    "PutSecretValue": values.put_secret_value,
    "UpdateSecretVersionStage": values.update_secret_version_stage,
    "ListSecretVersionIds": values.list_secret_version_ids,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "PutResourcePolicy": resource_policy.put_resource_policy,
    "GetResourcePolicy": resource_policy.get_resource_policy,
    "DeleteResourcePolicy": resource_policy.delete_resource_policy,
    "ValidateResourcePolicy": resource_policy.validate_resource_policy,
    "RotateSecret": rotation.rotate_secret,
    "CancelRotateSecret": rotation.cancel_rotate_secret,
    "GetRandomPassword": random_password.get_random_password,
}


def secrets_service(make_context: Callable[..., Any]) -> ServiceSpec:
    # InternalServiceError (500) is Secrets Manager's retryable fault; it has no timeout error of its own
    spec = ServiceSpec(TARGET_PREFIX, "secretsmanager", "secretsmanager.amazonaws.com", InternalServiceError,
                       make_context, timeout_error=InternalServiceError,
                       inline_operations=frozenset({"GetSecretValue", "DescribeSecret"}))
    for name, handler in HANDLERS.items():
        spec.add(name, handler, SECRETS_SHAPES[name])
    return spec
