"""Parameter values at rest: envelope encryption through the KMS port (kms_core/port.py).

Every version gets a fresh 256-bit data key; the value is sealed locally with AES-256-GCM
under it, and only the data key goes to the KMS core:

- **SecureString**: a data key from the parameter's KMS key, *as the caller*, through
  the service (`kms:ViaService = ssm.<region>.amazonaws.com`), with encryption
  context `{"PARAMETER_ARN": <arn>}`.  The key policy, IAM policies and grants of the
  caller decide, exactly as for a direct KMS call, and the key's state applies.  As on
  AWS, a Standard-tier value needs kms:Encrypt (the data key is made here and encrypted
  with KMS Encrypt) and an Advanced-tier value kms:GenerateDataKey, so key policies
  written for AWS grant exactly what they grant there; reads need kms:Decrypt.
- **String / StringList**: the data key is sealed under the account's service-owned
  `aws/ssm` key, which customers can't see or use (kms_core/service_keys.py).

The value's AAD binds it to the parameter's ARN, the version number, the type and the
KeyId as stored, so a row copied to another parameter or version, or edited, fails to
open instead of returning a wrong value.  (AWS encrypts Standard-tier values with a direct
KMS Encrypt of the value; encrypting a data key instead keeps one storage format for every
tier while asking for the same permission.)
"""

from __future__ import annotations

import logging
import struct

from kms_core.port import (Aead, DataKey, KmsAccessDenied, KmsCallError, KmsCiphertextRejected, KmsKeyGone,
                           KmsKeyUnusable, KmsPort, ServiceKeySet, ValueRejected)
from paramstore.ssm.errors import AccessDeniedException, AwsError, InternalServerError, InvalidKeyId

log = logging.getLogger("paramstore.ssm")

#: SSM's key set: alias/aws/ssm (AWS-managed) and the service-owned key for String values
SSM_KEYS = ServiceKeySet("ssm", "Systems Manager",
                         "Default master key that protects my SSM parameters when no other key is defined")
DEFAULT_KEY_ID = SSM_KEYS.alias_name
SECURE_STRING = "SecureString"
ADVANCED_TIER = "Advanced"
_AAD_LABEL = b"paramstore/ssm/value/v1"


def value_aad(arn: str, version: int, param_type: str, key_id: str | None) -> bytes:
    parts = (_AAD_LABEL, arn.encode(), str(version).encode(), param_type.encode(), (key_id or "").encode())
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def encryption_context(arn: str) -> dict:
    return {"PARAMETER_ARN": arn}


def _as_ssm_error(error: KmsCallError, request_id: str) -> AwsError:
    """How SSM reports a KMS failure: the KMS message, wrapped as AWS's SDK-based services do."""
    if isinstance(error, KmsKeyGone):
        return InvalidKeyId("The key that encrypted this parameter's value no longer exists.")
    if isinstance(error, KmsCiphertextRejected):
        return _integrity_failure()
    message = (f"{error.message} (Service: AWSKMS; Status Code: {error.http_status}; "
               f"Error Code: {error.code}; Request ID: {request_id}; Proxy: null)")
    if isinstance(error, KmsAccessDenied):
        return AccessDeniedException(message)
    if isinstance(error, KmsKeyUnusable):
        return InvalidKeyId(message)
    return InternalServerError(message)


def _integrity_failure() -> AwsError:
    log.warning("a stored parameter value failed its integrity check (tampered or moved row)")
    return InternalServerError("The parameter value failed its integrity check and was not returned.")


def seal(kms: KmsPort, ctx, arn: str, version: int, param_type: str, key_id: str | None,
         value: str, tier: str) -> tuple[bytes, bytes]:
    """(sealed value, sealed data key) for one new version.  `ctx`: the caller (kms_core.port.Caller)."""
    aad = value_aad(arn, version, param_type, key_id)
    data_key: DataKey
    try:
        if param_type == SECURE_STRING and tier == ADVANCED_TIER:
            data_key = kms.generate_data_key(ctx, key_id or kms.default_key_id, encryption_context(arn))
        elif param_type == SECURE_STRING:
            data_key = kms.encrypt_data_key(ctx, key_id or kms.default_key_id, encryption_context(arn))
        else:
            data_key = kms.owned_data_key(ctx.account_id, ctx.region, aad)
    except KmsCallError as error:
        raise _as_ssm_error(error, ctx.request_id) from None
    return data_key.aead.seal(value.encode("utf-8"), aad), data_key.sealed


def unseal(kms: KmsPort, ctx, arn: str, version: int, param_type: str, key_id: str | None,
           value_sealed: bytes, data_key_sealed: bytes, data_keys: dict | None = None,
           cache_key: object = None) -> str:
    """The plaintext value; SecureString data keys are decrypted through KMS as the caller.

    `data_keys` (the store's cache, dropped on any parameter change) remembers data keys
    already opened (as a ready AEAD with the value's AAD): a repeat read then runs every
    check KMS Decrypt would on this request (authorization as the caller, key state)
    without opening the blob again."""
    opened: tuple[Aead, bytes] | None = data_keys.get(cache_key) if data_keys is not None else None
    aad = opened[1] if opened is not None else value_aad(arn, version, param_type, key_id)
    try:
        if param_type == SECURE_STRING:
            context = encryption_context(arn)
            if opened is None:
                opened = (kms.decrypt_data_key(ctx, data_key_sealed, context), aad)
            else:
                kms.check_decrypt(ctx, data_key_sealed, context)
        elif opened is None:
            opened = (kms.open_owned_data_key(ctx.account_id, ctx.region, data_key_sealed, aad), aad)
    except KmsCallError as error:
        raise _as_ssm_error(error, ctx.request_id) from None
    except ValueRejected:
        raise _integrity_failure() from None
    aead, aad = opened
    try:
        value = aead.open(value_sealed, aad).decode("utf-8")
    except (ValueRejected, UnicodeDecodeError):
        raise _integrity_failure() from None
    if data_keys is not None:
        data_keys[cache_key] = opened
    return value
