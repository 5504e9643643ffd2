"""The secret lifecycle: CreateSecret, UpdateSecret, DescribeSecret, ListSecrets,
DeleteSecret, RestoreSecret."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Optional

from kms_core.port import authorize_account, set_request_tags
from paramstore.secrets import envelope, filters
from paramstore.secrets.authz import authorize_new_secret, authorize_secret
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.errors import (
    AccessDeniedException,
    DecryptionFailure,
    InvalidParameterException,
    InvalidRequestException,
    ResourceExistsException,
)
from paramstore.secrets.names import check_name, new_arn, parse_secret_id
from paramstore.secrets.rotation.schedule import next_rotation
from paramstore.secrets.operations._common import (
    DAY,
    check_not_cross_account_default_key,
    add_version,
    decode_token,
    describe_shape,
    encode_token,
    find_secret,
    lock_same_secret,
    not_found,
    read_value,
    require_secret,
    require_token,
    same_value_or_conflict,
    seal_value,
    secret_value,
)
from paramstore.secrets.operations.tags import check_tags, tags_json
from paramstore.secrets.storage import repository
from paramstore.secrets.storage.tables import AnySecret, SecretRow, SecretTable

MIN_RECOVERY_DAYS, MAX_RECOVERY_DAYS, DEFAULT_RECOVERY_DAYS = 7, 30, 30
DEFAULT_PAGE = 100


def create_secret(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"""
    name = check_name(req["Name"])
    value = secret_value(req)
    token = require_token(req) if value is not None else req.get("ClientRequestToken")
    tags = req.get("Tags") or []
    values = ctx.condition_values
    values["secretsmanager:name"] = name
    for member, key in (("Description", "secretsmanager:description"), ("KmsKeyId", "secretsmanager:kmskeyid")):
        if member in req:
            values[key] = req[member]
    if tags:
        set_request_tags(ctx, {t["Key"]: t["Value"] for t in tags})
    if req.get("AddReplicaRegions"):
        raise InvalidRequestException("Replicating a secret to other Regions is not supported by this server.")
    check_tags(tags)
    existing = ctx.secrets.secret(ctx.account_id, ctx.region, name)
    arn = existing.arn if existing is not None else new_arn(ctx.region, ctx.account_id, name)
    authorize_new_secret(ctx, "secretsmanager:CreateSecret", arn)
    if tags:  # creating with tags needs the right to tag (CreateSecret API reference)
        authorize_account(ctx, "secretsmanager:TagResource", arn)
    if existing is not None:
        return _existing(ctx, existing, name, token, value)
    key_id = req.get("KmsKeyId") or None
    key_arn: Optional[str] = None
    sealed = None
    if value is not None:
        sealed = seal_value(ctx, arn, key_id, token, *value)
        key_arn = sealed.key_arn if key_id is not None else None
    elif key_id is not None:
        key_arn = envelope.check_key_access(ctx.secrets.kms_port, ctx, arn, key_id)
    now = ctx.now()
    if sealed is not None:
        ctx.audit_detail = {"versionId": token}  # before the write: its commit carries the record
    with ctx.secrets.write() as session:
        if repository.find_secret(session, ctx.account_id, ctx.region, name, lock=True) is not None:
            raise _exists(name)
        row = SecretTable(account_id=ctx.account_id, region=ctx.region, name=name, arn=arn,
                          description=req.get("Description"), kms_key_id=key_id, kms_key_arn=key_arn,
                          tags=tags_json(tags) if tags else None, created_date=now, last_changed_date=now)
        session.add(row)
        session.flush()
        if sealed is not None:
            add_version(session, ctx, row, sealed, None)
    out = {"ARN": arn, "Name": name}
    if sealed is not None:
        out["VersionId"] = token
    return out


def _exists(name: str) -> ResourceExistsException:
    return ResourceExistsException(f"The operation failed because the secret {name} already exists.")


def _existing(ctx: SecretsContext, existing: AnySecret, name: str, token: Optional[str],
              value: Optional[tuple[bytes, bool]]) -> dict:
    """CreateSecret of a name that is taken: a retry with the same token and value is
    answered as the first call was; anything else is refused.  The comparison decrypts the
    stored value, so it is made only for a caller the secret lets create it and read it:
    for anyone else a matching guess would be a yes/no answer about the value."""
    authorize_secret(ctx, "secretsmanager:CreateSecret", existing, name)
    if existing.deleted_date is not None:
        raise InvalidRequestException("You can't create this secret because a secret with this name is already "
                                      "scheduled for deletion.")
    version = ctx.secrets.version(existing, token) if token is not None and value is not None else None
    if version is None or version.value_sealed is None:
        raise _exists(name)
    try:
        authorize_secret(ctx, "secretsmanager:GetSecretValue", existing, name)
    except AccessDeniedException:
        raise _exists(name) from None
    same_value_or_conflict(ctx, existing, version, *value)
    ctx.audit_detail = {"versionId": token}
    return {"ARN": existing.arn, "Name": existing.name, "VersionId": token}


def update_secret(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html"""
    values = ctx.condition_values
    for member, key in (("Description", "secretsmanager:description"), ("KmsKeyId", "secretsmanager:kmskeyid")):
        if member in req:
            values[key] = req[member]
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:UpdateSecret")
    value = secret_value(req)
    token = require_token(req) if value is not None else None
    changing_key = "KmsKeyId" in req and (req["KmsKeyId"] or None) != secret.kms_key_id
    new_key_id = (req["KmsKeyId"] or None) if changing_key else secret.kms_key_id
    if value is not None or changing_key:  # the default key is usable in its own account only
        check_not_cross_account_default_key(ctx, replace(secret, kms_key_id=new_key_id))
    new_key_arn = secret.kms_key_arn if not changing_key else None
    if changing_key:
        new_key_arn = envelope.check_key_access(ctx.secrets.kms_port, ctx, secret.arn, new_key_id)
        if new_key_id is None:
            new_key_arn = None
    sealed = None
    if value is not None:
        existing = ctx.secrets.version(secret, token)
        if existing is not None and existing.value_sealed is not None:
            same_value_or_conflict(ctx, secret, existing, *value)
            ctx.audit_detail = {"versionId": token}
            return {"ARN": secret.arn, "Name": secret.name, "VersionId": token}
        sealed = seal_value(ctx, secret.arn, new_key_arn or new_key_id, token, *value)
    reencrypted = _reencrypt_labelled(ctx, secret, new_key_arn or new_key_id) if changing_key else []
    if sealed is not None:
        ctx.audit_detail = {"versionId": token}
    with ctx.secrets.write() as session:
        row = lock_same_secret(session, secret)
        if "Description" in req:
            row.description = req["Description"]
        if changing_key:
            row.kms_key_id, row.kms_key_arn = new_key_id, new_key_arn
            for version_id, again in reencrypted:
                stored = repository.version_of(session, row.id, version_id)
                if stored is not None and stored.value_sealed is not None:
                    stored.value_sealed, stored.data_key_sealed = again.value_sealed, again.data_key_sealed
                    stored.kms_key_arn, stored.default_key = again.key_arn, again.default_key
                    session.add(stored)
        row.last_changed_date = ctx.now()
        session.add(row)
        if sealed is not None:
            add_version(session, ctx, row, sealed, None)
    out = {"ARN": secret.arn, "Name": secret.name}
    if sealed is not None:
        out["VersionId"] = token
    return out


def _reencrypt_labelled(ctx: SecretsContext, secret: AnySecret, key_id: Optional[str]) -> list:
    """A new key re-encrypts the AWSCURRENT, AWSPENDING and AWSPREVIOUS versions (AWS's
    rule; other versions stay under the old key).  Done as the caller: without the right
    to decrypt the old versions, they stay as they are."""
    stages = ctx.secrets.stages(secret)
    out = []
    for version_id in dict.fromkeys(v for s, v in stages.items() if s in ("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS")):
        version = ctx.secrets.version(secret, version_id)
        if version is None or version.value_sealed is None:
            continue
        try:
            plaintext = read_value(ctx, secret, version)
        except (AccessDeniedException, DecryptionFailure):
            continue
        out.append((version_id, seal_value(ctx, secret.arn, key_id, version_id, plaintext, version.is_binary)))
    return out


def describe_secret(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html"""
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:DescribeSecret", live=False)
    return describe_shape(secret, ctx.secrets.stages(secret), "VersionIdsToStages")


def list_secrets(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html

    Only the caller's own account's secrets, whatever resource policies say."""
    authorize_account(ctx, "secretsmanager:ListSecrets")
    rows = matching_secrets(ctx, req)
    limit = req.get("MaxResults") or DEFAULT_PAGE
    bound = [req.get("Filters"), req.get("SortBy"), req.get("SortOrder"), bool(req.get("IncludePlannedDeletion"))]
    position = decode_token(ctx, req, "ListSecrets", bound)
    start = int(position) if position is not None else 0
    page = rows[start:start + limit]
    ctx.secrets.stages_of_many(page)
    out: dict = {"SecretList": [describe_shape(row, ctx.secrets.stages(row), "SecretVersionsToStages")
                                for row in page]}
    if start + limit < len(rows):
        out["NextToken"] = encode_token(ctx, "ListSecrets", bound, str(start + limit))
    return out


def matching_secrets(ctx: SecretsContext, req: dict) -> list[SecretRow]:
    """The account's secrets that pass the request's filters, in the order asked for."""
    match = filters.compile_filters(req.get("Filters") or [])
    include_deleted = bool(req.get("IncludePlannedDeletion"))
    sort_by, order = req.get("SortBy") or "created-date", req.get("SortOrder") or "asc"

    def load() -> list:
        rows = [r for r in ctx.secrets.all_secrets(ctx.account_id, ctx.region)
                if (include_deleted or r.deleted_date is None) and match(r)]
        return filters.sort_secrets(rows, sort_by, order)

    key = (ctx.account_id, ctx.region, json.dumps(req.get("Filters") or [], sort_keys=True), include_deleted,
           sort_by, order)
    return ctx.secrets.listing(key, load)


def delete_secret(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html"""
    force = bool(req.get("ForceDeleteWithoutRecovery"))
    if force and "RecoveryWindowInDays" in req:
        raise InvalidParameterException("You can't use ForceDeleteWithoutRecovery in conjunction with "
                                        "RecoveryWindowInDays.")
    days = req.get("RecoveryWindowInDays", DEFAULT_RECOVERY_DAYS)
    if not MIN_RECOVERY_DAYS <= days <= MAX_RECOVERY_DAYS:
        raise InvalidParameterException("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
    values = ctx.condition_values
    values["secretsmanager:forcedeletewithoutrecovery"] = force
    if "RecoveryWindowInDays" in req:
        values["secretsmanager:recoverywindowindays"] = days
    secret = find_secret(ctx, req["SecretId"])
    now = ctx.now()
    if secret is None:
        ref = parse_secret_id(req["SecretId"], ctx.account_id, ctx.region)
        if not force or ref.account_id != ctx.account_id:
            require_secret(ctx, req["SecretId"], "secretsmanager:DeleteSecret")  # raises
        # AWS answers a forced delete of a missing secret (of one's own account) as if it had existed
        arn = ref.arn or new_arn(ref.region, ref.account_id, ref.name)
        authorize_account(ctx, "secretsmanager:DeleteSecret", arn)
        return {"ARN": arn, "Name": ref.name, "DeletionDate": now}
    authorize_secret(ctx, "secretsmanager:DeleteSecret", secret, req["SecretId"])
    if secret.deleted_date is not None and not force:
        raise InvalidRequestException("You can't perform this operation on the secret because it was already "
                                      "scheduled for deletion.")
    with ctx.secrets.write() as session:
        row = repository.find_secret(session, secret.account_id, secret.region, secret.name, lock=True)
        if row is None or row.id != secret.id:
            raise not_found()
        if force:
            repository.delete_secret_rows(session, row.id)
            deletion = now
        else:
            deletion = row.deleted_date = now + days * DAY
            row.next_rotation_date = None  # no rotation while scheduled for deletion
            session.add(row)
    return {"ARN": secret.arn, "Name": secret.name, "DeletionDate": deletion}


def restore_secret(ctx: SecretsContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RestoreSecret.html"""
    secret = require_secret(ctx, req["SecretId"], "secretsmanager:RestoreSecret", live=False)
    if secret.deleted_date is not None:
        with ctx.secrets.write() as session:
            row = repository.find_secret(session, secret.account_id, secret.region, secret.name, lock=True)
            if row is None or row.id != secret.id:
                raise not_found()
            row.deleted_date = None
            row.last_changed_date = ctx.now()
            if row.rotation_enabled and row.rotation_rules:
                row.next_rotation_date = next_rotation(json.loads(row.rotation_rules), row.last_changed_date)
            session.add(row)
    return {"ARN": secret.arn, "Name": secret.name}
