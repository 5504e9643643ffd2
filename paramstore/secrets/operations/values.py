"""Secret values and their labels: GetSecretValue, BatchGetSecretValue, PutSecretValue,
UpdateSecretVersionStage, ListSecretVersionIds."""

from __future__ import annotations

from typing import Optional

from kms_core.domain.errors import AwsError
from kms_core.port import authorize_account
from paramstore.secrets import stages as labels
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.errors import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from paramstore.secrets.operations._common import (
    check_not_cross_account_default_key,
    decode_token,
    encode_token,
    key_for_new_versions,
    lock_same_secret,
    read_value,
    require_secret,
    require_token,
    same_value_or_conflict,
    seal_value,
    secret_value,
    touch_accessed,
    value_fields,
    add_version,
)
from paramstore.secrets.operations.lifecycle import matching_secrets
from paramstore.secrets.storage import repository
from paramstore.secrets.storage.tables import AnySecret, AnyVersion, VersionRow

MAX_BATCH = 20
DEFAULT_VERSIONS_PAGE = 100


def _no_value_for(what: str, value: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Secrets Manager can't find the specified secret value for {what}: {value}")


def select_version(ctx: SecretsContext, secret: AnySecret, version_id: Optional[str],
                   stage: Optional[str]) -> VersionRow:
    """The version a read asks for: by id, by label, both (they must agree), or AWSCURRENT."""
    stages = ctx.secrets.stages(secret)
    if version_id is not None:
        version = ctx.secrets.version(secret, version_id)
        if version is None or version.value_sealed is None:
            raise _no_value_for("VersionId", version_id)
        if stage is not None and stages.get(stage) != version_id:
            raise InvalidRequestException("You provided a VersionStage that is not associated to the provided "
                                          "VersionId.")
        return version
    stage = stage or labels.CURRENT
    holder = stages.get(stage)
    version = ctx.secrets.version(secret, holder) if holder is not None else None
    if version is None or version.value_sealed is None:
        raise _no_value_for("staging label", stage)
    return version


def get_secret_value(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html"""
    values = ctx.condition_values
    if "VersionId" in req:
        values["secretsmanager:versionid"] = req["VersionId"]
    if "VersionStage" in req:
        values["secretsmanager:versionstage"] = req["VersionStage"]
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:GetSecretValue")
    return _value_entry(ctx, secret, req.get("VersionId"), req.get("VersionStage"))


def _value_entry(ctx: SecretsContext, secret: AnySecret, version_id: Optional[str],
                 stage: Optional[str]) -> dict:
    check_not_cross_account_default_key(ctx, secret)
    version = select_version(ctx, secret, version_id, stage)
    ctx.audit_detail = {"versionId": version.version_id}
    value = read_value(ctx, secret, version)
    touch_accessed(ctx, secret, version)
    return {"ARN": secret.arn, "Name": secret.name, "VersionId": version.version_id,
            **value_fields(value, version.is_binary),
            "VersionStages": labels.by_version(ctx.secrets.stages(secret)).get(version.version_id, []),
            "CreatedDate": version.created_date}


def batch_get_secret_value(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html

    Each secret is authorized as GetSecretValue; one that fails goes to Errors with its
    code instead of failing the call."""
    ids, filters = req.get("SecretIdList"), req.get("Filters")
    if (ids is None) == (filters is None):
        raise InvalidParameterException("Either 'SecretIdList' or 'Filters' must be provided, but not both.")
    authorize_account(ctx, "secretsmanager:BatchGetSecretValue")
    out: dict = {"SecretValues": [], "Errors": []}
    if ids is not None:
        if "MaxResults" in req or "NextToken" in req:
            raise InvalidParameterException("MaxResults and NextToken can only be used with Filters.")
        targets: list = list(dict.fromkeys(ids))
    else:
        authorize_account(ctx, "secretsmanager:ListSecrets")
        rows = matching_secrets(ctx, {"Filters": filters})
        limit = req.get("MaxResults") or MAX_BATCH
        position = decode_token(ctx, req, "BatchGetSecretValue", filters)
        start = int(position) if position is not None else 0
        targets = [row.arn for row in rows[start:start + limit]]
        if start + limit < len(rows):
            out["NextToken"] = encode_token(ctx, "BatchGetSecretValue", filters, str(start + limit))
    for secret_id in targets:
        try:
            secret = require_secret(ctx, secret_id, "secretsmanager:GetSecretValue")
            out["SecretValues"].append(_value_entry(ctx, secret, None, None))
        except AwsError as error:
            out["Errors"].append({"SecretId": secret_id, "ErrorCode": error.code, "Message": error.message})
    ctx.audit_detail = None
    return out


def put_secret_value(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html"""
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:PutSecretValue")
    value = secret_value(req)
    if value is None:
        raise InvalidRequestException("You must provide either SecretString or SecretBinary.")
    token = require_token(req)
    check_not_cross_account_default_key(ctx, secret)
    requested = req.get("VersionStages")
    ctx.audit_detail = {"versionId": token}
    existing = ctx.secrets.version(secret, token)
    if existing is not None and existing.value_sealed is not None:
        same_value_or_conflict(ctx, secret, existing, *value)
        return {"ARN": secret.arn, "Name": secret.name, "VersionId": token,
                "VersionStages": labels.by_version(ctx.secrets.stages(secret)).get(token, [])}
    sealed = seal_value(ctx, secret.arn, key_for_new_versions(secret), token, *value)
    with ctx.secrets.write() as session:
        row = lock_same_secret(session, secret)
        after = add_version(session, ctx, row, sealed, requested)
    return {"ARN": secret.arn, "Name": secret.name, "VersionId": token,
            "VersionStages": labels.by_version(after).get(token, [])}


def update_secret_version_stage(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html"""
    label = req["VersionStage"]
    ctx.condition_values["secretsmanager:versionstage"] = label
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:UpdateSecretVersionStage")
    remove_from, move_to = req.get("RemoveFromVersionId"), req.get("MoveToVersionId")
    if remove_from is None and move_to is None:
        raise InvalidParameterException("You must specify MoveToVersionId or RemoveFromVersionId.")
    ctx.audit_detail = {"versionStage": label, "moveToVersionId": move_to, "removeFromVersionId": remove_from}
    with ctx.secrets.write() as session:
        row = lock_same_secret(session, secret)
        for version_id in (v for v in (move_to, remove_from) if v is not None):
            if repository.version_of(session, row.id, version_id) is None:
                raise _no_value_for("VersionId", version_id)
        before = repository.stages_of(session, row.id)
        after = labels.after_stage_update(before, label, remove_from, move_to)
        repository.replace_stages(session, row.id, before, after)
        row.last_changed_date = ctx.now()
        session.add(row)
    return {"ARN": secret.arn, "Name": secret.name}


def list_secret_version_ids(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecretVersionIds.html

    Newest first; versions without a label (deprecated) only with IncludeDeprecated."""
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:ListSecretVersionIds", live=False)
    by_version = labels.by_version(ctx.secrets.stages(secret))
    versions = [v for v in reversed(ctx.secrets.versions(secret))
                if v.value_sealed is not None or v.version_id in by_version]
    if not req.get("IncludeDeprecated"):
        versions = [v for v in versions if v.version_id in by_version]
    limit = req.get("MaxResults") or DEFAULT_VERSIONS_PAGE
    bound = [secret.arn, bool(req.get("IncludeDeprecated"))]
    position = decode_token(ctx, req, "ListSecretVersionIds", bound)
    start = int(position) if position is not None else 0
    out: dict = {"Versions": [_version_entry(v, by_version.get(v.version_id)) for v in versions[start:start + limit]],
                 "ARN": secret.arn, "Name": secret.name}
    if start + limit < len(versions):
        out["NextToken"] = encode_token(ctx, "ListSecretVersionIds", bound, str(start + limit))
    return out


def _version_entry(version: AnyVersion, stages: Optional[list[str]]) -> dict:
    entry: dict = {"VersionId": version.version_id}
    if stages:
        entry["VersionStages"] = stages
    if version.last_accessed_date is not None:
        entry["LastAccessedDate"] = version.last_accessed_date
    entry["CreatedDate"] = version.created_date
    if version.kms_key_arn is not None:  # AWS lists the AWS-managed key as "DefaultEncryptionKey"
        entry["KmsKeyIds"] = ["DefaultEncryptionKey" if version.default_key else version.kms_key_arn]
    return entry
