"""Encryption operations: Encrypt, Decrypt, ReEncrypt (symmetric, and RSA OAEP for RSA
ENCRYPT_DECRYPT keys), GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom.

This is the hot path: everything here is served from the in-memory key cache, with no
database round trip.  RSA ciphertexts are plain RSAES-OAEP (no header, no context), so
decrypting one needs the KeyId and the algorithm, as in AWS.
"""

from __future__ import annotations

import os
from typing import Optional

from kms_core.domain.errors import invalid
from kms_core.context import RequestContext
from kms_core.domain.arn import KEY_ID_RE, row_id_for
from kms_core.domain.key_states import require_state
from kms_core.crypto import asymmetric
from kms_core.domain.model import KeyMaterial, KeySpec, KeyUsage, KeyWithMaterial
from kms_core.domain.specs import SPECS, oaep_limit
from kms_core.engine import ciphertext
from kms_core.engine.encryption_context import EncryptionContextError, encode
from kms_core.errors import (
    CustomKeyStoreNotFoundException,
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInvalidStateException,
    ValidationException,
)
from kms_core.operations._common import dry_run, no_recipient
from kms_core.operations._resolve import resolve_key
from kms_core.policy.authorize import authorize, authorize_account
from kms_core.policy.grants import check_grant_tokens

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
_DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}
_INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."


def encrypt(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html"""
    check_grant_tokens(ctx, req)
    algorithm = req.get("EncryptionAlgorithm") or SYMMETRIC_DEFAULT
    entry = _encrypting_key(ctx, req["KeyId"], "Encrypt", "kms:Encrypt", algorithm, req.get("EncryptionContext"))
    context = _context_bytes(req.get("EncryptionContext"))
    dry_run(req)
    return {"CiphertextBlob": _encrypt(entry, algorithm, req["Plaintext"], context), "KeyId": entry.key.arn,
            "EncryptionAlgorithm": algorithm}


def decrypt(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html

    The blob names its key, so KeyId is optional; if given it must be that key
    (IncorrectKeyException).  Every failure to open is InvalidCiphertextException."""
    check_grant_tokens(ctx, req)
    no_recipient(req)
    entry, plaintext, material_id = _open(ctx, req.get("CiphertextBlob"), req.get("KeyId"),
                                          req.get("EncryptionContext"), req.get("EncryptionAlgorithm"),
                                          "Decrypt", "kms:Decrypt", req)
    return {"KeyId": entry.key.arn, "Plaintext": plaintext,
            "EncryptionAlgorithm": req.get("EncryptionAlgorithm") or SYMMETRIC_DEFAULT, "KeyMaterialId": material_id}


def re_encrypt(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html"""
    check_grant_tokens(ctx, req)
    source, plaintext, source_material = _open(
        ctx, req.get("CiphertextBlob"), req.get("SourceKeyId"), req.get("SourceEncryptionContext"),
        req.get("SourceEncryptionAlgorithm"), "ReEncrypt", "kms:ReEncryptFrom", req)
    dest_algorithm = req.get("DestinationEncryptionAlgorithm") or SYMMETRIC_DEFAULT
    dest = _encrypting_key(ctx, req["DestinationKeyId"], "ReEncrypt", "kms:ReEncryptTo",
                           dest_algorithm, req.get("DestinationEncryptionContext"))
    context = _context_bytes(req.get("DestinationEncryptionContext"))
    dry_run(req)
    return {
        "CiphertextBlob": _encrypt(dest, dest_algorithm, plaintext, context),
        "SourceKeyId": source.key.arn,
        "KeyId": dest.key.arn,
        "SourceEncryptionAlgorithm": req.get("SourceEncryptionAlgorithm") or SYMMETRIC_DEFAULT,
        "DestinationEncryptionAlgorithm": dest_algorithm,
        "SourceKeyMaterialId": source_material,
        "DestinationKeyMaterialId": dest.key.current_material_id,
    }


def generate_data_key(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html"""
    check_grant_tokens(ctx, req)
    no_recipient(req)
    entry, plaintext, blob = _data_key(ctx, req, "GenerateDataKey")
    return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": entry.key.arn,
            "KeyMaterialId": entry.key.current_material_id}


def generate_data_key_without_plaintext(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyWithoutPlaintext.html"""
    check_grant_tokens(ctx, req)
    entry, _, blob = _data_key(ctx, req, "GenerateDataKeyWithoutPlaintext")
    return {"CiphertextBlob": blob, "KeyId": entry.key.arn, "KeyMaterialId": entry.key.current_material_id}


def generate_random(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html"""
    no_recipient(req)
    authorize_account(ctx, "kms:GenerateRandom")
    if "CustomKeyStoreId" in req:
        raise CustomKeyStoreNotFoundException(f"Custom key store '{req['CustomKeyStoreId']}' does not exist.")
    n = req.get("NumberOfBytes")
    if n is None:
        raise ValidationException(invalid("numberOfBytes", "Member must not be null", None))
    return {"Plaintext": os.urandom(n)}


# --- shared steps ----------------------------------------------------------------------
def _data_key(ctx: RequestContext, req: dict, operation: str) -> tuple[KeyWithMaterial, bytes, bytes]:
    entry, context = data_key_operation_key(ctx, req, operation)
    spec, n = req.get("KeySpec"), req.get("NumberOfBytes")
    if (spec is None) == (n is None):
        raise ValidationException("Please specify either number of bytes or key spec.")
    dry_run(req)
    plaintext = os.urandom(_DATA_KEY_BYTES[spec] if spec is not None else n)
    return entry, plaintext, seal_with_key(entry, plaintext, context)


def data_key_operation_key(ctx: RequestContext, req: dict, operation: str) -> tuple[KeyWithMaterial, bytes]:
    """The symmetric key a GenerateDataKey* / GenerateDataKeyPair* request encrypts under,
    authorized and checked, and the request's canonical encryption context."""
    entry = resolve_key(ctx, req["KeyId"], allow_alias=True)
    ctx.encryption_context = req.get("EncryptionContext")
    ctx.condition_values["kms:encryptionalgorithm"] = SYMMETRIC_DEFAULT
    authorize(ctx, "kms:" + operation, entry)
    require_state(entry.key, operation)
    _require_symmetric(entry, operation, None)
    return entry, _context_bytes(req.get("EncryptionContext"))


def _encrypting_key(ctx: RequestContext, key_id: str, operation: str, action: str,
                    algorithm: str, context: Optional[dict]) -> KeyWithMaterial:
    entry = resolve_key(ctx, key_id, allow_alias=True)
    key = entry.key
    ctx.encryption_context = context
    ctx.condition_values["kms:encryptionalgorithm"] = algorithm
    authorize(ctx, action, entry)
    require_state(key, operation)
    _require_encryption(entry, operation, algorithm)
    return entry


def _require_encryption(entry: KeyWithMaterial, operation: str, algorithm: str) -> None:
    """Encrypt/Decrypt/ReEncrypt: an ENCRYPT_DECRYPT key and an algorithm of its spec."""
    key = entry.key
    require_usage(entry, KeyUsage.ENCRYPT_DECRYPT, operation)
    if algorithm not in SPECS[key.key_spec].encryption:
        raise InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")


def _encrypt(entry: KeyWithMaterial, algorithm: str, plaintext: bytes, context: bytes) -> bytes:
    if algorithm == SYMMETRIC_DEFAULT:
        return seal_with_key(entry, plaintext, context)
    spec = SPECS[entry.key.key_spec]
    limit = oaep_limit(spec, algorithm)
    if len(plaintext) > limit:
        # AWS wording, as AWS-validated emulators observe it (aws_api.md §4.14)
        raise ValidationException(f"Algorithm {algorithm} and key spec {spec.name} cannot encrypt data larger "
                                  f"than {limit} bytes.")
    return asymmetric.rsa_encrypt(current_material(entry).private.public_key(), algorithm, plaintext)


def current_material(entry: KeyWithMaterial) -> KeyMaterial:
    """The key's current material; a key whose imported material is gone is PendingImport."""
    material = entry.materials.get(entry.key.current_material_id or "")
    if material is None:
        raise KMSInvalidStateException(f"{entry.key.arn} is pending import.")
    return material


def require_usage(entry: KeyWithMaterial, usage: str, operation: str) -> None:
    """The key's KeyUsage must be the operation's (InvalidKeyUsageException, AWS's wording)."""
    key = entry.key
    if key.key_usage != usage:
        raise InvalidKeyUsageException(f"{key.arn} key usage is {key.key_usage} which is not valid for {operation}.")


def _require_symmetric(entry: KeyWithMaterial, operation: str, algorithm: Optional[str]) -> None:
    key = entry.key
    require_usage(entry, KeyUsage.ENCRYPT_DECRYPT, operation)
    if key.key_spec != KeySpec.SYMMETRIC_DEFAULT:
        raise InvalidKeyUsageException(
            f"{key.arn} key spec is {key.key_spec} which is not valid for {operation}.")
    if algorithm is not None and algorithm != SYMMETRIC_DEFAULT:
        raise InvalidKeyUsageException(
            f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")


def seal_with_key(entry: KeyWithMaterial, plaintext: bytes, context: bytes) -> bytes:
    """A symmetric ciphertext blob under the key's current material."""
    current = entry.current
    return ciphertext.seal(entry.key.key_id, bytes.fromhex(current.material_id), current.kdf or current.material,
                           plaintext, context)


def _context_bytes(context: Optional[dict]) -> bytes:
    try:
        return encode(context)
    except EncryptionContextError as exc:
        raise ValidationException(f"Invalid encryption context: {exc}") from None


def _open(ctx: RequestContext, blob: Optional[bytes], key_id: Optional[str], context: Optional[dict],
          algorithm: Optional[str], operation: str, action: str,
          req: dict) -> tuple[KeyWithMaterial, bytes, str]:
    if blob is None:
        raise ValidationException(invalid("ciphertextBlob", "Member must not be null", None))
    requested = resolve_key(ctx, key_id, allow_alias=True) if key_id is not None else None
    if requested is not None and requested.key.key_spec != SYMMETRIC_DEFAULT:
        return _open_rsa(ctx, requested, blob, algorithm or SYMMETRIC_DEFAULT, operation, action, req)
    try:
        parsed = ciphertext.parse(blob)
    except ciphertext.MalformedCiphertext:
        raise InvalidCiphertextException() from None
    entry, material = _checked_decrypt(ctx, parsed, requested, context, algorithm, operation, action)
    context_bytes = _context_bytes(context)
    dry_run(req)
    try:
        plaintext = ciphertext.open_blob(
            parsed, material.kdf or material.material,  # type: ignore[arg-type]  # kdf: HmacSha256Key, typed object
            context_bytes)
    except ciphertext.MalformedCiphertext:
        raise InvalidCiphertextException() from None
    return entry, plaintext, material.material_id


def _open_rsa(ctx: RequestContext, entry: KeyWithMaterial, blob: bytes, algorithm: str, operation: str,
              action: str, req: dict) -> tuple[KeyWithMaterial, bytes, str]:
    ctx.condition_values["kms:encryptionalgorithm"] = algorithm
    authorize(ctx, action, entry)
    require_state(entry.key, operation)
    _require_encryption(entry, operation, algorithm)
    material = current_material(entry)
    dry_run(req)
    try:
        return entry, asymmetric.rsa_decrypt(material.private, algorithm, blob), material.material_id
    except asymmetric.CryptoFailure:
        raise InvalidCiphertextException() from None


def authorize_repeat_decrypt(ctx: RequestContext, blob: bytes, context: Optional[dict],
                             allowed_keys: Optional[set] = None) -> None:
    """For a service that holds the plaintext of a ciphertext it already decrypted through
    Decrypt for this encryption context (SSM's per-version data keys): every check Decrypt
    makes on this request — the key exists in this region, the caller may kms:Decrypt
    under this context, the key's state and usage allow it, the material is there — but
    without opening the blob again.  Raises exactly what Decrypt would.

    `allowed_keys` (one request's memo): keys whose kms:Decrypt decision for this caller
    did not depend on the encryption context, so it holds for every value the request
    reads under them; state, usage and material are still checked each time."""
    try:
        parsed = ciphertext.parse(blob)
    except ciphertext.MalformedCiphertext:
        raise InvalidCiphertextException() from None
    _checked_decrypt(ctx, parsed, None, context, None, "Decrypt", "kms:Decrypt", allowed_keys)


def _checked_decrypt(ctx: RequestContext, parsed: ciphertext.BlobHeader, requested: Optional[KeyWithMaterial],
                     context: Optional[dict], algorithm: Optional[str], operation: str, action: str,
                     allowed_keys: Optional[set] = None) -> tuple[KeyWithMaterial, KeyMaterial]:
    if requested is not None and requested.key.key_id != parsed.key_id:
        raise IncorrectKeyException(_INCORRECT_KEY)
    if requested is None and not KEY_ID_RE.fullmatch(parsed.key_id):
        raise InvalidCiphertextException()  # never look up forged ids (NUL bytes break PostgreSQL)
    entry = requested if requested is not None else ctx.kms.key(row_id_for(parsed.key_id, ctx.region))
    if entry is None or entry.key.region != ctx.region:
        raise InvalidCiphertextException()
    if requested is None:
        ctx.resources.append(entry.key.arn)
        if ctx.charges is not None:
            ctx.charges.key_use(entry.key.key_spec)
    ctx.encryption_context = context
    ctx.condition_values["kms:encryptionalgorithm"] = algorithm or SYMMETRIC_DEFAULT
    if allowed_keys is None or entry.key.key_id not in allowed_keys:
        depends_on_context = authorize(ctx, action, entry)
        if allowed_keys is not None and not depends_on_context:
            allowed_keys.add(entry.key.key_id)
    require_state(entry.key, operation)
    _require_symmetric(entry, operation, algorithm)
    material = entry.materials_by_raw_id.get(parsed.material_id)
    if material is None:
        raise InvalidCiphertextException()
    return entry, material
