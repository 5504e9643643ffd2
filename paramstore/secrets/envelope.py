"""Secret values at rest: envelope encryption through the KMS port (kms_core/port.py),
as AWS Secrets Manager does it.

Every version gets a fresh 256-bit data key from kms:GenerateDataKey on the secret's KMS
key, *as the caller*, through the service (`kms:ViaService =
secretsmanager.<region>.amazonaws.com`), with the encryption context
`{"SecretARN": <arn>, "SecretVersionId": <version id>}`; reads are kms:Decrypt with the
same context.  Key policies, IAM policies and grants written for AWS (pinning ViaService,
the SecretARN context, CallerAccount) therefore grant exactly what they grant there.  The
value is sealed here with AES-256-GCM under the data key; its AAD binds it to the
secret's ARN, the version id and its kind (string or binary), so a row copied elsewhere or
edited fails to open instead of returning a wrong value.
"""

from __future__ import annotations

import logging
import struct
from typing import Optional

from kms_core.port import (Aead, KmsAccessDenied, KmsCallError, KmsCiphertextRejected, KmsKeyGone,
                           KmsKeyUnusable, KmsPort, ServiceKeySet, ValueRejected)
from paramstore.secrets.errors import (AccessDeniedException, AwsError, DecryptionFailure, EncryptionFailure,
                                       InternalServiceError)

log = logging.getLogger("paramstore.secrets")

#: Secrets Manager's AWS-managed key, alias/aws/secretsmanager (made per account and Region on first use)
SECRETS_KEYS = ServiceKeySet("secretsmanager", "Secrets Manager",
                             "Default key that protects my Secrets Manager data when no other key is defined")
#: the SecretVersionId of the calls that only check the caller may use a new key
VALIDATION_VERSION = "RequestToValidateKeyAccess"
_AAD_LABEL = b"paramstore/secretsmanager/value/v1"


def encryption_context(arn: str, version_id: str) -> dict:
    return {"SecretARN": arn, "SecretVersionId": version_id}


def value_aad(arn: str, version_id: str, binary: bool) -> bytes:
    parts = (_AAD_LABEL, arn.encode(), version_id.encode(), b"binary" if binary else b"string")
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def _as_error(error: KmsCallError, writing: bool) -> AwsError:
    """How Secrets Manager reports a KMS failure to its caller."""
    if isinstance(error, KmsAccessDenied):
        return AccessDeniedException("Access to KMS is not allowed")
    if isinstance(error, KmsKeyGone):
        return DecryptionFailure("Secrets Manager can't decrypt the protected secret text using the provided "
                                 "KMS key: the key no longer exists.")
    if isinstance(error, KmsCiphertextRejected):
        return _integrity_failure()
    if isinstance(error, KmsKeyUnusable):
        if writing:
            return EncryptionFailure(f"Secrets Manager can't encrypt the secret with the KMS key: {error.message}")
        return DecryptionFailure(f"Secrets Manager can't decrypt the protected secret text using the provided "
                                 f"KMS key: {error.message}")
    return InternalServiceError(f"KMS failed: {error.code}: {error.message}")


def _integrity_failure() -> AwsError:
    log.warning("a stored secret value failed its integrity check (tampered or moved row)")
    return DecryptionFailure("Secrets Manager can't decrypt the protected secret text using the provided KMS key.")


def seal(kms: KmsPort, caller, arn: str, version_id: str, key_id: Optional[str], value: bytes,
         binary: bool) -> tuple[bytes, bytes, str]:
    """(sealed value, sealed data key, key ARN) for one new version.  `key_id` None = the
    AWS-managed key."""
    try:
        data_key = kms.generate_data_key(caller, key_id or kms.default_key_id, encryption_context(arn, version_id))
    except KmsCallError as error:
        raise _as_error(error, writing=True) from None
    return data_key.aead.seal(value, value_aad(arn, version_id, binary)), data_key.sealed, data_key.key_arn or ""


def check_key_access(kms: KmsPort, caller, arn: str, key_id: Optional[str]) -> str:
    """What AWS does when a secret's key is set or changed: a GenerateDataKey and a Decrypt
    with SecretVersionId "RequestToValidateKeyAccess", results thrown away.  Returns the
    key's ARN."""
    context = encryption_context(arn, VALIDATION_VERSION)
    try:
        data_key = kms.generate_data_key(caller, key_id or kms.default_key_id, context)
        kms.decrypt_data_key(caller, data_key.sealed, context)
    except KmsCallError as error:
        raise _as_error(error, writing=True) from None
    return data_key.key_arn or ""


def unseal(kms: KmsPort, caller, arn: str, version_id: str, binary: bool, value_sealed: bytes,
           data_key_sealed: bytes, data_keys: Optional[dict] = None, cache_key: object = None) -> bytes:
    """The plaintext value; the data key is decrypted through KMS as the caller.

    `data_keys` (the store's cache, dropped on any secret change) keeps data keys already
    opened, with the value's AAD: a repeat read still runs every check kms:Decrypt makes for this caller (policy,
    grants, key state) without opening the blob again."""
    context = encryption_context(arn, version_id)
    opened: Optional[tuple[Aead, bytes]] = data_keys.get(cache_key) if data_keys is not None else None
    try:
        if opened is None:
            opened = (kms.decrypt_data_key(caller, data_key_sealed, context), value_aad(arn, version_id, binary))
        else:
            kms.check_decrypt(caller, data_key_sealed, context)
    except KmsCallError as error:
        raise _as_error(error, writing=False) from None
    aead, aad = opened
    try:
        value = aead.open(value_sealed, aad)
    except ValueRejected:
        raise _integrity_failure() from None
    if data_keys is not None:
        data_keys[cache_key] = opened
    return value
