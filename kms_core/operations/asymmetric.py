"""Asymmetric, HMAC and key-agreement operations: Sign, Verify, GetPublicKey, GenerateMac,
VerifyMac, DeriveSharedSecret, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext.

Each resolves the key, authorizes the caller (with the algorithm condition keys set),
checks the key state, then the key's usage and the algorithm for its spec, in that order,
as AWS does.  Private keys are loaded once per cache fill (KeyMaterial.private).
"""

from __future__ import annotations

from kms_core.context import RequestContext
from kms_core.crypto import asymmetric
from kms_core.domain.key_states import require_state
from kms_core.domain.model import KeyWithMaterial
from kms_core.domain.specs import (
    CHINA_ONLY,
    GENERATE_VERIFY_MAC,
    KEY_AGREEMENT,
    KEY_PAIR_SPECS,
    SIGN_VERIFY,
    SIGNING_HASH,
    SPECS,
    Spec,
)
from kms_core.errors import (
    InvalidKeyUsageException,
    KMSInvalidMacException,
    KMSInvalidSignatureException,
    UnsupportedOperationException,
    ValidationException,
)
from kms_core.operations._common import dry_run, no_recipient
from kms_core.operations._resolve import resolve_key
from kms_core.operations.crypto import current_material, data_key_operation_key, require_usage, seal_with_key
from kms_core.policy.authorize import authorize
from kms_core.policy.grants import check_grant_tokens

RAW, DIGEST, EXTERNAL_MU = "RAW", "DIGEST", "EXTERNAL_MU"
_MU_BYTES = 64


def sign(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html"""
    entry, spec, algorithm, message_type = _signing_request(ctx, req, "Sign")
    signature = asymmetric.sign(spec, current_material(entry).private, algorithm, req["Message"], message_type)
    return {"KeyId": entry.key.arn, "Signature": signature, "SigningAlgorithm": algorithm}


def verify(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html

    A signature that doesn't verify raises KMSInvalidSignatureException; never "false"."""
    entry, spec, algorithm, message_type = _signing_request(ctx, req, "Verify")
    try:
        asymmetric.verify(spec, current_material(entry).private.public_key(), algorithm, req["Message"], message_type,
                          req["Signature"])
    except asymmetric.CryptoFailure:
        raise KMSInvalidSignatureException("") from None
    return {"KeyId": entry.key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm}


def get_public_key(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html"""
    check_grant_tokens(ctx, req)
    entry = resolve_key(ctx, req["KeyId"], allow_alias=True)
    key = entry.key
    authorize(ctx, "kms:GetPublicKey", entry)
    require_state(key, "GetPublicKey")
    spec = SPECS[key.key_spec]
    if not spec.asymmetric:
        raise UnsupportedOperationException(
            f"{key.arn} key spec is {key.key_spec} which is not valid for GetPublicKey.")
    answer = {"KeyId": key.arn, "PublicKey": asymmetric.public_der(current_material(entry).private),
              "CustomerMasterKeySpec": key.key_spec, "KeySpec": key.key_spec, "KeyUsage": key.key_usage}
    answer.update(spec.algorithms(key.key_usage))
    return answer


def generate_mac(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html"""
    entry, algorithm = _mac_request(ctx, req, "GenerateMac")
    return {"Mac": asymmetric.mac(current_material(entry).material, algorithm, req["Message"]),
            "MacAlgorithm": algorithm, "KeyId": entry.key.arn}


def verify_mac(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_VerifyMac.html"""
    entry, algorithm = _mac_request(ctx, req, "VerifyMac")
    try:
        asymmetric.verify_mac(current_material(entry).material, algorithm, req["Message"], req["Mac"])
    except asymmetric.CryptoFailure:
        raise KMSInvalidMacException("") from None
    return {"KeyId": entry.key.arn, "MacValid": True, "MacAlgorithm": algorithm}


def derive_shared_secret(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html

    The raw ECDH shared secret, with no KDF: deriving keys from it is the caller's job."""
    check_grant_tokens(ctx, req)
    no_recipient(req)
    algorithm = req["KeyAgreementAlgorithm"]
    entry, spec = _usable_key(ctx, req["KeyId"], "DeriveSharedSecret", KEY_AGREEMENT,
                              {"kms:keyagreementalgorithm": algorithm})
    _check_algorithm(entry, algorithm, spec.agreement)
    dry_run(req)
    try:
        secret = asymmetric.derive_shared_secret(spec, current_material(entry).private, req["PublicKey"])
    except ValueError:
        raise ValidationException(
            f"The PublicKey must be a DER-encoded X.509 public key on the curve of {entry.key.key_spec}.") from None
    return {"KeyId": entry.key.arn, "SharedSecret": secret, "KeyAgreementAlgorithm": algorithm,
            "KeyOrigin": entry.key.origin}


def generate_data_key_pair(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html"""
    check_grant_tokens(ctx, req)
    no_recipient(req)
    entry, private, public, blob = _data_key_pair(ctx, req, "GenerateDataKeyPair")
    return {"PrivateKeyCiphertextBlob": blob, "PrivateKeyPlaintext": private, "PublicKey": public,
            "KeyId": entry.key.arn, "KeyPairSpec": req["KeyPairSpec"],
            "KeyMaterialId": entry.key.current_material_id}


def generate_data_key_pair_without_plaintext(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPairWithoutPlaintext.html"""
    check_grant_tokens(ctx, req)
    entry, _, public, blob = _data_key_pair(ctx, req, "GenerateDataKeyPairWithoutPlaintext")
    return {"PrivateKeyCiphertextBlob": blob, "PublicKey": public, "KeyId": entry.key.arn,
            "KeyPairSpec": req["KeyPairSpec"], "KeyMaterialId": entry.key.current_material_id}


# --- shared steps ----------------------------------------------------------------------------
def _data_key_pair(ctx: RequestContext, req: dict, operation: str) -> tuple[KeyWithMaterial, bytes, bytes, bytes]:
    pair_spec = req["KeyPairSpec"]
    # AWS condition key kms:DataKeyPairSpec (GenerateDataKeyPair*)
    ctx.condition_values["kms:datakeypairspec"] = pair_spec
    entry, context = data_key_operation_key(ctx, req, operation)
    if pair_spec in CHINA_ONLY:
        raise UnsupportedOperationException(f"KeyPairSpec {pair_spec} is not supported in this Region")
    if pair_spec not in KEY_PAIR_SPECS:
        # a value of the model's enum (ML_KEM_*) that this server does not offer, as CreateKey says
        raise UnsupportedOperationException(f"KeyPairSpec {pair_spec} is not supported by this server.")
    dry_run(req)
    private, public = asymmetric.generate_key_pair(SPECS[pair_spec])
    return entry, private, public, seal_with_key(entry, private, context)


def _signing_request(ctx: RequestContext, req: dict, operation: str) -> tuple[KeyWithMaterial, Spec, str, str]:
    """Sign/Verify up to the crypto: the key, its spec, the algorithm and message type."""
    check_grant_tokens(ctx, req)
    algorithm, message_type = req["SigningAlgorithm"], req.get("MessageType", RAW)
    entry, spec = _usable_key(ctx, req["KeyId"], operation, SIGN_VERIFY, {
        "kms:signingalgorithm": algorithm, "kms:messagetype": message_type})
    _check_signing(entry, spec, algorithm, message_type, req["Message"])
    dry_run(req)
    return entry, spec, algorithm, message_type


def _mac_request(ctx: RequestContext, req: dict, operation: str) -> tuple[KeyWithMaterial, str]:
    """GenerateMac/VerifyMac up to the crypto: the key and the MAC algorithm."""
    check_grant_tokens(ctx, req)
    algorithm = req["MacAlgorithm"]
    entry, spec = _usable_key(ctx, req["KeyId"], operation, GENERATE_VERIFY_MAC, {"kms:macalgorithm": algorithm})
    _check_algorithm(entry, algorithm, spec.mac)
    dry_run(req)
    return entry, algorithm


def _usable_key(ctx: RequestContext, key_id: str, operation: str, usage: str,
                conditions: dict) -> tuple[KeyWithMaterial, Spec]:
    entry = resolve_key(ctx, key_id, allow_alias=True)
    key = entry.key
    ctx.condition_values.update(conditions)
    authorize(ctx, "kms:" + operation, entry)
    require_state(key, operation)
    require_usage(entry, usage, operation)
    return entry, SPECS[key.key_spec]


def _check_algorithm(entry: KeyWithMaterial, algorithm: str, allowed: tuple[str, ...]) -> None:
    if algorithm not in allowed:
        raise InvalidKeyUsageException(
            f"Algorithm {algorithm} is incompatible with key spec {entry.key.key_spec}.")


def _check_signing(entry: KeyWithMaterial, spec: Spec, algorithm: str, message_type: str, message: bytes) -> None:
    """The algorithm must be one of the key spec's (InvalidKeyUsageException); the message
    type must suit the algorithm and a digest its hash length (ValidationException: these
    are request parameters, not properties of the key).

    Wording: "Digest is invalid length for algorithm ECDSA_SHA_256." is what AWS answers
    (quoted by users of aws-sdk-rust, awslabs/aws-sdk-rust discussion 571); the message
    type errors follow an emulator that records them as AWS's (floci, Ed25519 and ML-DSA
    tests): "Message type DIGEST is incompatible with algorithm ED25519_SHA_512." and
    "Message type DIGEST is incompatible with key spec ML_DSA_44."."""
    _check_algorithm(entry, algorithm, spec.signing)
    if message_type == EXTERNAL_MU:
        if spec.family != "mldsa":
            raise ValidationException(f"Message type {message_type} is incompatible with key spec {spec.name}.")
        if len(message) != _MU_BYTES:
            raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
        return
    if spec.family == "ed25519":
        # AWS: ED25519_SHA_512 requires MessageType RAW, ED25519_PH_SHA_512 requires DIGEST
        wanted = DIGEST if algorithm == "ED25519_PH_SHA_512" else RAW
        if message_type != wanted:
            raise ValidationException(f"Message type {message_type} is incompatible with algorithm {algorithm}.")
    if spec.family == "mldsa" and message_type == DIGEST:
        raise ValidationException(f"Message type {message_type} is incompatible with key spec {spec.name}.")
    if message_type == DIGEST and len(message) != SIGNING_HASH[algorithm][1]:
        raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")

