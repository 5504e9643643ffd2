"""What the Secrets Manager operations share: resolving a SecretId to an authorized
secret, the state checks AWS makes, response shapes, page tokens, and writing a version."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from kms_core.port import authorize_account
from kms_core.protocol.page_tokens import open_page_token, seal_page_token
from paramstore.secrets import envelope, stages as labels
from paramstore.secrets.authz import authorize_secret, refuse_other_account
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.errors import (
    InvalidNextTokenException,
    InvalidParameterException,
    InvalidRequestException,
    ResourceExistsException,
    ResourceNotFoundException,
)
from paramstore.secrets.names import parse_secret_id
from paramstore.secrets.storage import repository
from paramstore.secrets.storage.repository import Txn
from paramstore.secrets.storage.tables import (AnySecret, AnyVersion, SecretRow, SecretTable, SecretVersionTable,
                                               VersionRow)

DAY = 86400.0


# --- finding the secret -------------------------------------------------------------------
def not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("Secrets Manager can't find the specified secret.")


def marked_for_deletion() -> InvalidRequestException:
    return InvalidRequestException("You can't perform this operation on the secret because it was marked for "
                                   "deletion.")


def find_secret(ctx: SecretsContext, secret_id: str) -> Optional[SecretRow]:
    """The secret a SecretId names (a name: the caller's account; an ARN: its own), or None."""
    ref = parse_secret_id(secret_id, ctx.account_id, ctx.region)
    if ref.region != ctx.region:
        return None
    row = ctx.secrets.secret(ref.account_id, ref.region, ref.name)
    if row is None or (ref.arn is not None and row.arn != ref.arn):
        return None
    return row


def require_secret(ctx: SecretsContext, secret_id: str, action: str, *, live: bool = True) -> SecretRow:
    """The secret, once the caller may do `action` to it; `live`: refuse one scheduled for
    deletion.  A secret that doesn't exist is checked against the caller's identity
    policies first (on the ARN it would have), so a caller without the right learns
    nothing about which names exist."""
    row = find_secret(ctx, secret_id)
    if row is None:
        ref = parse_secret_id(secret_id, ctx.account_id, ctx.region)
        if ref.account_id != ctx.account_id:
            refuse_other_account(ctx, action, secret_id)
        authorize_account(ctx, action, ref.arn or
                          f"arn:aws:secretsmanager:{ref.region}:{ref.account_id}:secret:{ref.name}")
        raise not_found()
    authorize_secret(ctx, action, row, secret_id)
    if live and row.deleted_date is not None:
        raise marked_for_deletion()
    return row


def require_token(req: dict) -> str:
    token = req.get("ClientRequestToken")
    if token is None:
        raise InvalidRequestException("You must provide a ClientRequestToken value. We recommend a UUID-type value.")
    return token


def secret_value(req: dict) -> Optional[tuple[bytes, bool]]:
    """(value bytes, binary?) of a request, or None without one."""
    has_string, has_binary = "SecretString" in req, "SecretBinary" in req
    if has_string and has_binary:
        raise InvalidParameterException("You can't specify both a binary secret value and a string secret value "
                                        "in the same secret.")
    if has_string:
        return req["SecretString"].encode("utf-8"), False
    if has_binary:
        return bytes(req["SecretBinary"]), True
    return None


def check_not_cross_account_default_key(ctx: SecretsContext, secret: AnySecret) -> None:
    """AWS-managed keys are usable only in their own account."""
    if secret.account_id != ctx.account_id and secret.kms_key_id is None:
        raise InvalidRequestException("You can't access a secret from a different AWS account if you encrypt the "
                                      "secret with the default KMS service key.")


# --- values ---------------------------------------------------------------------------------
def read_value(ctx: SecretsContext, secret: AnySecret, version: AnyVersion) -> bytes:
    return envelope.unseal(ctx.secrets.kms_port, ctx, secret.arn, version.version_id, version.is_binary,
                           version.value_sealed, version.data_key_sealed,
                           ctx.secrets.data_keys(), (secret.id, version.version_id))


def value_fields(value: bytes, binary: bool) -> dict:
    return {"SecretBinary": value} if binary else {"SecretString": value.decode("utf-8")}


@dataclass(slots=True)
class SealedValue:
    version_id: str
    value_sealed: bytes
    data_key_sealed: bytes
    key_arn: str
    binary: bool
    default_key: bool


def seal_value(ctx: SecretsContext, secret_arn: str, key_id: Optional[str], version_id: str,
               value: bytes, binary: bool) -> SealedValue:
    """Sealed before the write transaction opens (a key set's first use may itself write)."""
    sealed, data_key, key_arn = envelope.seal(ctx.secrets.kms_port, ctx, secret_arn, version_id, key_id, value,
                                              binary)
    return SealedValue(version_id, sealed, data_key, key_arn, binary, key_id is None)


def key_for_new_versions(secret: AnySecret) -> Optional[str]:
    return secret.kms_key_arn or secret.kms_key_id


def same_value_or_conflict(ctx: SecretsContext, secret: AnySecret, version: AnyVersion,
                           value: bytes, binary: bool) -> None:
    """A ClientRequestToken used again: fine with the same value (nothing happens), refused
    with another (AWS decrypts the stored version to compare, and so do we)."""
    if version.is_binary != binary or read_value(ctx, secret, version) != value:
        raise ResourceExistsException(f"You can't use ClientRequestToken {version.version_id} because that value "
                                      f"is already in use for a version of secret {secret.arn}.")


def add_version(session: Txn, ctx: SecretsContext, secret: AnySecret, sealed: SealedValue,
                requested_stages: Optional[list[str]]) -> dict[str, str]:
    """Insert a version (or fill the empty AWSPENDING placeholder RotateSecret made) and
    move the labels; returns the new label map.  `secret` is the locked row."""
    now = ctx.now()
    before = repository.stages_of(session, secret.id)
    existing = repository.version_of(session, secret.id, sealed.version_id)
    if existing is not None and existing.value_sealed is not None:
        raise ResourceExistsException(f"You can't use ClientRequestToken {sealed.version_id} because that value "
                                      f"is already in use for a version of secret {secret.arn}.")
    if existing is None:
        secret.version_seq += 1
        existing = SecretVersionTable(secret_id=secret.id, version_id=sealed.version_id, seq=secret.version_seq,
                                      created_date=now)
    existing.value_sealed, existing.data_key_sealed = sealed.value_sealed, sealed.data_key_sealed
    existing.kms_key_arn, existing.is_binary, existing.default_key = sealed.key_arn, sealed.binary, sealed.default_key
    session.add(existing)
    after = labels.after_new_version(before, sealed.version_id, requested_stages)
    repository.replace_stages(session, secret.id, before, after)
    secret.last_changed_date = now
    session.add(secret)
    repository.purge_deprecated(session, secret, after, now)
    return after


def lock_same_secret(session: Txn, secret: AnySecret) -> SecretTable:
    """The secret's row, locked, if it is still the one the request resolved (not deleted
    and re-created meanwhile) and still live."""
    row = repository.find_secret(session, secret.account_id, secret.region, secret.name, lock=True)
    if row is None or row.id != secret.id:
        raise not_found()
    if row.deleted_date is not None:
        raise marked_for_deletion()
    return row


def touch_accessed(ctx: SecretsContext, secret: SecretRow, version: Optional[VersionRow]) -> None:
    """LastAccessedDate has day resolution: at most one write per secret and day (and process)."""
    today = (ctx.now() // DAY) * DAY
    if secret.last_accessed_date == today and (version is None or version.last_accessed_date == today):
        return
    ctx.secrets.touch(secret, version, today)


# --- shapes ---------------------------------------------------------------------------------
def describe_shape(secret: AnySecret, stages: dict[str, str], versions_key: str) -> dict:
    """DescribeSecret (versions_key "VersionIdsToStages") or a ListSecrets entry
    ("SecretVersionsToStages"): only the fields that have a value, never the value."""
    out: dict[str, Any] = {"ARN": secret.arn, "Name": secret.name}
    if secret.description is not None:
        out["Description"] = secret.description
    if secret.kms_key_id is not None:  # only for a customer key (as the caller named it)
        out["KmsKeyId"] = secret.kms_key_id
    if secret.rotation_enabled is not None:
        out["RotationEnabled"] = secret.rotation_enabled
    if secret.rotation_lambda_arn is not None:
        out["RotationLambdaARN"] = secret.rotation_lambda_arn
    if secret.rotation_rules is not None:
        out["RotationRules"] = json.loads(secret.rotation_rules)
    for field, value in (("LastRotatedDate", secret.last_rotated_date), ("LastChangedDate", secret.last_changed_date),
                         ("LastAccessedDate", secret.last_accessed_date), ("DeletedDate", secret.deleted_date),
                         ("NextRotationDate", secret.next_rotation_date if secret.rotation_enabled else None)):
        if value is not None:
            out[field] = value
    if secret.tags is not None:
        out["Tags"] = json.loads(secret.tags)
    if stages:
        out[versions_key] = labels.by_version(stages)
    out["CreatedDate"] = secret.created_date
    return out


# --- page tokens ----------------------------------------------------------------------------
def encode_token(ctx: SecretsContext, operation: str, bound: Any, position: str) -> str:
    return seal_page_token(ctx, "secretsmanager:" + operation, bound, position)


def decode_token(ctx: SecretsContext, req: dict, operation: str, bound: Any) -> Optional[str]:
    token = req.get("NextToken")
    if token is None:
        return None
    position = open_page_token(ctx, "secretsmanager:" + operation, bound, token)
    if position is None:
        raise InvalidNextTokenException("The NextToken value is invalid.")
    return position
