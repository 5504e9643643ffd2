"""Secrets Manager error codes, one class per AWS error shape (names verbatim from
botocore's model; every one of them names its text `Message`).  InternalServiceError is
HTTP 500, the rest 400.  tests/unit/test_secrets_errors.py checks this list against the model."""

from __future__ import annotations

from kms_core.domain.errors import (  # noqa: F401  (re-exported: shared protocol errors)
    AccessDeniedException,
    AwsError,
    ValidationException,
)


class SecretsError(AwsError):
    """Base of the Secrets Manager error shapes."""

    message_field = "Message"


def _define(code: str, status: int = 400) -> type[SecretsError]:
    return type(code, (SecretsError,), {"code": code, "http_status": status, "__doc__": f"Secrets Manager {code}."})


DecryptionFailure = _define("DecryptionFailure")
EncryptionFailure = _define("EncryptionFailure")
InternalServiceError = _define("InternalServiceError", 500)
InvalidNextTokenException = _define("InvalidNextTokenException")
InvalidParameterException = _define("InvalidParameterException")
InvalidRequestException = _define("InvalidRequestException")
LimitExceededException = _define("LimitExceededException")
MalformedPolicyDocumentException = _define("MalformedPolicyDocumentException")
PreconditionNotMetException = _define("PreconditionNotMetException")
PublicPolicyException = _define("PublicPolicyException")
ResourceExistsException = _define("ResourceExistsException")
ResourceNotFoundException = _define("ResourceNotFoundException")
