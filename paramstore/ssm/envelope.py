"""Parameter values at rest: envelope encryption through the KMS core.

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
import os
import struct

from kms_core.context import RequestContext
from kms_core.crypto.aes_gcm import DecryptionFailed, GcmKey, gcm_seal
from kms_core.domain.arn import KEY_ID_RE
from kms_core.engine import ciphertext
from kms_core.errors import AwsError
from kms_core.operations import crypto
from kms_core.service_keys import OwnedKeyError, declare
from paramstore.ssm.errors import AccessDeniedException, InternalServerError, InvalidKeyId

log = logging.getLogger("paramstore.ssm")

SSM_KEYS = declare("ssm", "Systems Manager",
                   "Default master key that protects my SSM parameters when no other key is defined")
DEFAULT_KEY_ID = SSM_KEYS.alias_name
SECURE_STRING = "SecureString"
_AAD_LABEL = b"paramstore/ssm/value/v1"
#: KMS failures a caller can fix by choosing or repairing the key: SSM's InvalidKeyId
_KEY_ERRORS = {"NotFoundException", "DisabledException", "KMSInvalidStateException", "InvalidKeyUsageException",
               "KeyUnavailableException", "ValidationException", "InvalidArnException"}


def value_aad(arn: str, version: int, param_type: str, key_id: str | None) -> bytes:
    parts = (_AAD_LABEL, arn.encode(), str(version).encode(), param_type.encode(), (key_id or "").encode())
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def encryption_context(arn: str) -> dict:
    return {"PARAMETER_ARN": arn}


def _via_ssm(ctx: RequestContext, operation: str) -> RequestContext:
    """The caller's request as the KMS core sees it when SSM calls on their behalf."""
    return RequestContext(ctx.kms, ctx.principal, ctx.region, ctx.request_id, operation,
                          via_service=SSM_KEYS.via_service(ctx.region), source_ip=ctx.source_ip,
                          secure_transport=ctx.secure_transport)


def _kms_call(ctx: RequestContext, operation: str, function, request: dict) -> dict:  # type: ignore[no-untyped-def]
    kms_ctx = _via_ssm(ctx, operation)
    try:
        return function(kms_ctx, request)
    except AwsError as error:
        if error.code == "InvalidCiphertextException" and _key_is_gone(ctx, request.get("CiphertextBlob")):
            error = InvalidKeyId("The key that encrypted this parameter's value no longer exists.")
            raise error from None
        raise _as_ssm_error(error, ctx) from None
    finally:
        for arn in kms_ctx.resources:  # a listing touches one key many times: name it once
            if arn not in ctx.resources:
                ctx.resources.append(arn)


def _as_ssm_error(error: AwsError, ctx: RequestContext) -> AwsError:
    """How SSM reports a KMS failure: the KMS message, wrapped as AWS's SDK-based services do."""
    message = (f"{error.message} (Service: AWSKMS; Status Code: {error.http_status}; "
               f"Error Code: {error.code}; Request ID: {ctx.request_id}; Proxy: null)")
    if error.code == "AccessDeniedException":
        return AccessDeniedException(message)
    if error.code in _KEY_ERRORS:
        return InvalidKeyId(message)
    if error.code == "InvalidCiphertextException":
        return _integrity_failure()
    return InternalServerError(message)


def _key_is_gone(ctx: RequestContext, blob: bytes | None) -> bool:
    """A data key whose KMS key was deleted: the caller's problem (InvalidKeyId), not a
    tampered row."""
    if blob is None:
        return False
    try:
        key_id = ciphertext.parse(blob).key_id
    except ciphertext.MalformedCiphertext:
        return False
    return bool(KEY_ID_RE.fullmatch(key_id)) and ctx.kms.key(key_id) is None


def _integrity_failure() -> AwsError:
    log.warning("a stored parameter value failed its integrity check (tampered or moved row)")
    return InternalServerError("The parameter value failed its integrity check and was not returned.")


ADVANCED_TIER = "Advanced"


def seal(ctx: RequestContext, arn: str, version: int, param_type: str, key_id: str | None,
         value: str, tier: str) -> tuple[bytes, bytes]:
    """(sealed value, sealed data key) for one new version."""
    aad = value_aad(arn, version, param_type, key_id)
    if param_type == SECURE_STRING and tier == ADVANCED_TIER:
        result = _kms_call(ctx, "GenerateDataKey", crypto.generate_data_key,
                           {"KeyId": key_id or DEFAULT_KEY_ID, "KeySpec": "AES_256",
                            "EncryptionContext": encryption_context(arn)})
        data_key, sealed_key = result["Plaintext"], result["CiphertextBlob"]
    elif param_type == SECURE_STRING:
        data_key = os.urandom(32)
        sealed_key = _kms_call(ctx, "Encrypt", crypto.encrypt,
                               {"KeyId": key_id or DEFAULT_KEY_ID, "Plaintext": data_key,
                                "EncryptionContext": encryption_context(arn)})["CiphertextBlob"]
    else:
        data_key = os.urandom(32)
        sealed_key = ctx.kms.service_keys.owned_seal(SSM_KEYS, ctx.account_id, ctx.region, data_key, aad)
    return gcm_seal(data_key, value.encode("utf-8"), aad), sealed_key


def unseal(ctx: RequestContext, arn: str, version: int, param_type: str, key_id: str | None,
           value_sealed: bytes, data_key_sealed: bytes, data_keys: dict | None = None,
           cache_key: object = None) -> str:
    """The plaintext value; SecureString data keys are decrypted through KMS as the caller.

    `data_keys` (the store's cache, dropped on any parameter change) remembers data keys
    already opened (as a ready AES-GCM context with the value's AAD): a repeat read then
    runs every check KMS Decrypt would on this request (authorization as the caller, key
    state) without opening the blob again."""
    opened = data_keys.get(cache_key) if data_keys is not None else None
    if param_type == SECURE_STRING:
        request = {"CiphertextBlob": data_key_sealed, "EncryptionContext": encryption_context(arn)}
        if opened is None:
            data_key = _kms_call(ctx, "Decrypt", crypto.decrypt, request)["Plaintext"]
        else:
            memo = getattr(ctx, "decrypt_allowed_keys", None)
            _kms_call(ctx, "Decrypt", lambda kms_ctx, req: _repeat_decrypt(kms_ctx, req, memo), request)
    elif opened is None:
        try:
            data_key = ctx.kms.service_keys.owned_open(SSM_KEYS, ctx.account_id, ctx.region, data_key_sealed,
                                                       value_aad(arn, version, param_type, key_id))
        except OwnedKeyError:
            raise _integrity_failure() from None
    if opened is None:
        opened = (GcmKey(data_key), value_aad(arn, version, param_type, key_id))
    gcm_key, aad = opened
    try:
        value = gcm_key.open(value_sealed, aad).decode("utf-8")
    except (DecryptionFailed, UnicodeDecodeError):
        raise _integrity_failure() from None
    if data_keys is not None:
        data_keys[cache_key] = opened
    return value


def _repeat_decrypt(kms_ctx: RequestContext, request: dict, allowed_keys: set | None = None) -> dict:
    crypto.authorize_repeat_decrypt(kms_ctx, request["CiphertextBlob"], request["EncryptionContext"], allowed_keys)
    return {}
