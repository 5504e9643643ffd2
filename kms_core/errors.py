"""KMS error codes, one class per AWS error shape (names verbatim from botocore's model).

All are client faults (HTTP 400) except KMSInternalException (500) and
DependencyTimeoutException (503).  tests/unit/test_errors.py checks this list against
the generated model so a code can't be misspelt.
"""

from __future__ import annotations

from kms_core.domain.errors import (  # noqa: F401  (re-exported: shared protocol errors)
    AccessDeniedException,
    AwsError,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)


class KmsError(AwsError):
    """Base of the KMS-specific error shapes."""


def _define(code: str, status: int = 400) -> type[KmsError]:
    return type(code, (KmsError,), {"code": code, "http_status": status, "__doc__": f"AWS KMS {code}."})


AlreadyExistsException = _define("AlreadyExistsException")
ConflictException = _define("ConflictException")
DependencyTimeoutException = _define("DependencyTimeoutException", 503)
DisabledException = _define("DisabledException")
DryRunOperationException = _define("DryRunOperationException")
ExpiredImportTokenException = _define("ExpiredImportTokenException")
IncorrectKeyException = _define("IncorrectKeyException")
IncorrectKeyMaterialException = _define("IncorrectKeyMaterialException")
InvalidAliasNameException = _define("InvalidAliasNameException")
InvalidArnException = _define("InvalidArnException")
InvalidCiphertextException = _define("InvalidCiphertextException")
InvalidGrantIdException = _define("InvalidGrantIdException")
InvalidGrantTokenException = _define("InvalidGrantTokenException")
InvalidImportTokenException = _define("InvalidImportTokenException")
InvalidKeyUsageException = _define("InvalidKeyUsageException")
InvalidMarkerException = _define("InvalidMarkerException")
KMSInternalException = _define("KMSInternalException", 500)
KMSInvalidMacException = _define("KMSInvalidMacException")
KMSInvalidSignatureException = _define("KMSInvalidSignatureException")
KMSInvalidStateException = _define("KMSInvalidStateException")
KeyUnavailableException = _define("KeyUnavailableException")
LimitExceededException = _define("LimitExceededException")
MalformedPolicyDocumentException = _define("MalformedPolicyDocumentException")
NotFoundException = _define("NotFoundException")
TagException = _define("TagException")
UnsupportedOperationException = _define("UnsupportedOperationException")
CustomKeyStoreNotFoundException = _define("CustomKeyStoreNotFoundException")
CustomKeyStoreInvalidStateException = _define("CustomKeyStoreInvalidStateException")

#: The message AWS uses for every ciphertext that fails to open (opaque on purpose).
INVALID_CIPHERTEXT_MESSAGE = ""
#: Not in the model, but what AWS answers for writes to reserved `alias/aws/` names.
NotAuthorizedException = _define("NotAuthorizedException")
