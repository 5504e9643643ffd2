"""Which key states each operation accepts (AWS: "Key states of AWS KMS keys", the table).

`require_state(key, operation)` raises the error AWS gives; operations call it after
authorization, exactly once.
"""

from __future__ import annotations

from kms_core.domain.model import Key, KeyState
from kms_core.errors import DisabledException, KMSInvalidStateException

E, D, P, I = KeyState.ENABLED, KeyState.DISABLED, KeyState.PENDING_DELETION, KeyState.PENDING_IMPORT
R = KeyState.PENDING_REPLICA_DELETION  # shares PendingDeletion's column of AWS's table

_CRYPTO = {E}
_ANY = {E, D, P, I, R}
_MANAGE = {E, D, I}            # CreateAlias, TagResource, UntagResource, UpdateKeyDescription
_ROTATION = {E}

#: operation -> states in which it succeeds
ALLOWED: dict[str, set[KeyState]] = {
    "Encrypt": _CRYPTO, "Decrypt": _CRYPTO, "ReEncrypt": _CRYPTO,
    "GenerateDataKey": _CRYPTO, "GenerateDataKeyWithoutPlaintext": _CRYPTO,
    "GenerateDataKeyPair": _CRYPTO, "GenerateDataKeyPairWithoutPlaintext": _CRYPTO,
    "CreateGrant": _CRYPTO,
    "Sign": _CRYPTO, "Verify": _CRYPTO, "GenerateMac": _CRYPTO, "VerifyMac": _CRYPTO,
    "GetPublicKey": _CRYPTO, "DeriveSharedSecret": _CRYPTO,
    "GetParametersForImport": {E, D, I}, "ImportKeyMaterial": {E, D, I}, "DeleteImportedKeyMaterial": _ANY,
    "DescribeKey": _ANY, "GetKeyPolicy": _ANY, "PutKeyPolicy": _ANY, "ListKeyPolicies": _ANY,
    "ListAliases": _ANY, "ListGrants": _ANY, "ListResourceTags": _ANY, "RetireGrant": _ANY,
    "RevokeGrant": _ANY, "DeleteAlias": _ANY,
    "CreateAlias": _MANAGE, "TagResource": _MANAGE, "UntagResource": _MANAGE,
    "UpdateKeyDescription": _MANAGE, "UpdateAlias": _MANAGE,
    "EnableKey": {E, D}, "DisableKey": {E, D},
    "ScheduleKeyDeletion": {E, D, I},
    "CancelKeyDeletion": {P, R},
    "ReplicateKey": {E}, "UpdatePrimaryRegion": {E},
    "EnableKeyRotation": _ROTATION, "DisableKeyRotation": _ROTATION,
    "RotateKeyOnDemand": _ROTATION,
    "GetKeyRotationStatus": _ANY, "ListKeyRotations": _ANY,
}


def require_state(key: Key, operation: str) -> None:
    allowed = ALLOWED[operation]
    state = key.state
    if state in allowed:
        return
    if operation == "CancelKeyDeletion":
        raise KMSInvalidStateException(f"{key.arn} is not pending deletion.")
    if state == D:
        raise DisabledException(f"{key.arn} is disabled.")
    if state == P:
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.")
    if state == R:
        raise KMSInvalidStateException(f"{key.arn} is pending replica deletion.")
    if state == I:
        raise KMSInvalidStateException(f"{key.arn} is pending import.")
    raise KMSInvalidStateException(f"{key.arn} is {state}.")
