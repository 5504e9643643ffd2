"""Imported key material (BYOK): GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial.  Reference: aws_api.md 3c, 4.3 and 4.9.

A key created with Origin EXTERNAL starts PendingImport with no material.  The caller gets
an RSA wrapping key and an import token (crypto/key_import.py: the token's format), wraps
its material, and imports it; the key becomes Enabled (a Disabled key stays Disabled).
The material is stored only wrapped by the root key, under an id derived from the key and
the material, so re-importing the same material after a deletion or expiry restores the
id older ciphertexts name, and different material is refused.  Deletion, and ValidTo
passing (KmsCore.process_due), send the key back to PendingImport.

Importing new material into a key that already has some (ImportType NEW_KEY_MATERIAL,
on-demand rotation of imported symmetric keys) is not offered.
"""

from __future__ import annotations

import math

from kms_core.context import RequestContext
from kms_core.crypto import asymmetric, key_import
from kms_core.domain import limits
from kms_core.domain.key_states import require_state
from kms_core.domain.model import ExpirationModel, Key, KeyState, Origin
from kms_core.domain.specs import CHINA_ONLY, SPECS
from kms_core.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    InvalidImportTokenException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from kms_core.operations._common import key_change
from kms_core.operations._resolve import resolve_own_key
from kms_core.policy.authorize import authorize
from kms_core.storage.unit_of_work import UnitOfWork

#: AWS: "Each public key and import token set is valid for 24 hours."
IMPORT_PARAMETERS_VALID_SECONDS = 24 * 3600
#: AWS: ValidTo "The maximum value is 365 days from the request date."
MAX_VALID_TO_DAYS = 365

_CHINA_ONLY_ALGORITHMS = frozenset({"SM2PKE"})
_RETIRED_ALGORITHMS = frozenset({"RSAES_PKCS1_V1_5"})
_NEW_KEY_MATERIAL = "NEW_KEY_MATERIAL"
_EXISTING_KEY_MATERIAL = "EXISTING_KEY_MATERIAL"


def get_parameters_for_import(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html

    Raises: NotFoundException, AccessDeniedException, UnsupportedOperationException (not an
    EXTERNAL key; SM2), KMSInvalidStateException (pending deletion), ValidationException
    (RSAES_PKCS1_V1_5)."""
    entry = resolve_own_key(ctx, req["KeyId"], "kms:GetParametersForImport")
    key = entry.key
    algorithm, wrapping_key_spec = req["WrappingAlgorithm"], req["WrappingKeySpec"]
    ctx.condition_values["kms:wrappingalgorithm"] = algorithm
    ctx.condition_values["kms:wrappingkeyspec"] = wrapping_key_spec
    authorize(ctx, "kms:GetParametersForImport", entry)
    _require_external(key)
    require_state(key, "GetParametersForImport")
    _check_wrapping(algorithm, wrapping_key_spec)
    valid_to = ctx.now() + IMPORT_PARAMETERS_VALID_SECONDS
    private = ctx.kms.wrapping_keys.private_key(key.row_id, wrapping_key_spec)
    token = key_import.seal_token(ctx.kms.root.derive(key_import.TOKEN_KEY_LABEL), key.arn,
                                  key_import.ImportToken(key.key_id, algorithm, valid_to, private))
    return {"KeyId": key.arn, "ImportToken": token, "PublicKey": asymmetric.public_der(private),
            "ParametersValidTo": valid_to}


def import_key_material(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html

    Raises: NotFoundException, AccessDeniedException, UnsupportedOperationException (not an
    EXTERNAL key; NEW_KEY_MATERIAL into a key that has material), KMSInvalidStateException
    (pending deletion), ValidationException (ExpirationModel / ValidTo),
    InvalidImportTokenException, ExpiredImportTokenException, InvalidCiphertextException
    (does not unwrap), IncorrectKeyMaterialException (wrong kind of material for the key,
    or not the material imported before)."""
    valid_to = req.get("ValidTo")
    if valid_to is not None and not math.isfinite(valid_to):
        # NaN and infinities are no date: int() of one raises, and NaN compares false
        # with every bound in _check_expiration.  The AWS JSON parser refuses them too
        # (protocol/awsjson.py); this check does not depend on it.
        raise ValidationException("ValidTo must be a finite number of seconds since the epoch.")
    entry = resolve_own_key(ctx, req["KeyId"], "kms:ImportKeyMaterial")
    key = entry.key
    model = req.get("ExpirationModel", ExpirationModel.KEY_MATERIAL_EXPIRES)
    ctx.condition_values["kms:expirationmodel"] = model
    if valid_to is not None:
        ctx.condition_values["kms:validto"] = int(valid_to)
    authorize(ctx, "kms:ImportKeyMaterial", entry)
    _require_external(key)
    require_state(key, "ImportKeyMaterial")
    now = ctx.now()
    _check_expiration(model, valid_to, now)
    _check_import_type(key, req.get("ImportType"))

    root = ctx.kms.root
    try:
        token = key_import.open_token(root.derive(key_import.TOKEN_KEY_LABEL), key.arn, key.key_id,
                                      req["ImportToken"], now)
    except key_import.InvalidToken:
        raise InvalidImportTokenException("The import token is invalid or was not issued for this KMS key.") from None
    except key_import.ExpiredToken:
        raise ExpiredImportTokenException(
            "The import token has expired. Call GetParametersForImport for a new one.") from None
    try:
        material = key_import.unwrap(token.private, token.wrapping_algorithm, req["EncryptedKeyMaterial"])
    except key_import.UnwrapFailed:
        # Opaque on purpose: which step failed would be a padding oracle.
        raise InvalidCiphertextException() from None
    try:
        material = key_import.check_material(SPECS[key.key_spec], material)
    except key_import.IncorrectMaterial as exc:
        raise IncorrectKeyMaterialException(str(exc)) from None
    material_id = key_import.material_id(root.derive(key_import.MATERIAL_ID_LABEL), key.key_id, material)
    requested = req.get("KeyMaterialId")
    if requested is not None and not key_import.same_material_id(requested, material_id):
        raise IncorrectKeyMaterialException(f"The key material is not the key material {requested}.")

    with key_change(ctx, key, "ImportKeyMaterial") as (row, work):
        # Checked under the row lock: two first imports racing can't both win.
        if row.current_material_id is not None and not key_import.same_material_id(row.current_material_id,
                                                                                   material_id):
            raise IncorrectKeyMaterialException(_DIFFERENT_MATERIAL.format(arn=key.arn))
        if row.multi_region:
            _share_material_id(work, key, material_id)
        if not work.keys.has_material(key.row_id, material_id):
            work.keys.add_material(key.row_id, now, material=material, material_id=material_id)
        row.current_material_id = material_id
        row.expiration_model = model
        row.valid_to = valid_to if model == ExpirationModel.KEY_MATERIAL_EXPIRES else None
        if row.key_state == KeyState.PENDING_IMPORT:
            row.key_state = KeyState.ENABLED
    return {"KeyId": key.arn, "KeyMaterialId": material_id}


def _share_material_id(work: UnitOfWork, key: Key, material_id: str) -> None:
    """Related multi-Region keys share one key material: the first import into any of them
    fixes it for all, and each of them then accepts only that material."""
    for related in work.keys.related(key.key_id):
        if related.current_material_id is None:
            related.current_material_id = material_id
            work.keys.save(related)
        elif not key_import.same_material_id(related.current_material_id, material_id):
            raise IncorrectKeyMaterialException(_DIFFERENT_MATERIAL.format(arn=key.arn))


def delete_imported_key_material(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteImportedKeyMaterial.html

    The key becomes PendingImport (a key pending deletion stays so); the same material can
    be imported again.  Raises: NotFoundException (also for a KeyMaterialId that is not
    the key's), AccessDeniedException, UnsupportedOperationException (not an EXTERNAL key)."""
    entry = resolve_own_key(ctx, req["KeyId"], "kms:DeleteImportedKeyMaterial")
    key = entry.key
    authorize(ctx, "kms:DeleteImportedKeyMaterial", entry)
    _require_external(key)
    require_state(key, "DeleteImportedKeyMaterial")
    requested = req.get("KeyMaterialId")
    with key_change(ctx, key) as (row, work):
        if requested is not None and not key_import.same_material_id(row.current_material_id, requested):
            raise NotFoundException(f"Key material {requested} does not exist for key {key.arn}.")
        work.keys.delete_imported_material(row)
        material_id = row.current_material_id
    out = {"KeyId": key.arn}
    if material_id is not None:
        out["KeyMaterialId"] = material_id
    return out


_DIFFERENT_MATERIAL = ("The key material is not the key material previously imported into {arn}. "
                       "Only the same key material can be imported again.")


def _require_external(key: Key) -> None:
    # AWS: key-state table footnote: UnsupportedOperationException if Origin isn't EXTERNAL
    if key.origin != Origin.EXTERNAL:
        raise UnsupportedOperationException(f"{key.arn} origin is {key.origin} which is not valid for this operation.")


def _check_wrapping(algorithm: str, wrapping_key_spec: str) -> None:
    if wrapping_key_spec in CHINA_ONLY:
        raise UnsupportedOperationException(f"WrappingKeySpec {wrapping_key_spec} is not supported in this Region")
    if algorithm in _CHINA_ONLY_ALGORITHMS:
        raise UnsupportedOperationException(f"WrappingAlgorithm {algorithm} is not supported in this Region")
    if algorithm in _RETIRED_ALGORITHMS:
        # AWS: "As of October 10, 2023, KMS does not support the RSAES_PKCS1_V1_5 wrapping algorithm."
        raise ValidationException(f"The wrapping algorithm {algorithm} is no longer supported. Use "
                                  + ", ".join(key_import.WRAPPING_ALGORITHMS) + ".")
    if algorithm not in key_import.WRAPPING_ALGORITHMS or wrapping_key_spec not in key_import.WRAPPING_KEY_SPECS:
        raise ValidationException(f"WrappingAlgorithm {algorithm} with WrappingKeySpec {wrapping_key_spec} "
                                  "is not supported.")


def _check_expiration(model: str, valid_to: float | None, now: float) -> None:
    if model == ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE:
        if valid_to is not None:
            raise ValidationException("The parameter ValidTo cannot be specified for a key with an expiration "
                                      "model of KEY_MATERIAL_DOES_NOT_EXPIRE")
        return
    if valid_to is None:
        # AWS-validated wording (LocalStack snapshot test_import_key_symmetric)
        raise ValidationException("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
    if valid_to <= now:
        raise ValidationException("ValidTo must be in the future.")
    if valid_to > now + MAX_VALID_TO_DAYS * limits.DAY_SECONDS:
        raise ValidationException(f"ValidTo must be no more than {MAX_VALID_TO_DAYS} days from the request date.")


def _check_import_type(key: Key, import_type: str | None) -> None:
    if import_type == _NEW_KEY_MATERIAL and key.current_material_id is not None:
        raise UnsupportedOperationException(
            f"{key.arn} already has key material; importing new key material for on-demand rotation is not "
            "supported by this server. Import the existing key material (EXISTING_KEY_MATERIAL) instead.")
    if import_type == _EXISTING_KEY_MATERIAL and key.current_material_id is None:
        raise IncorrectKeyMaterialException(f"No key material was previously imported into {key.arn}.")
