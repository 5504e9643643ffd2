"""Key lifecycle: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, EnableKey,
DisableKey, ScheduleKeyDeletion, CancelKeyDeletion."""

from __future__ import annotations

from kms_core.context import RequestContext
from kms_core.domain import limits
from kms_core.domain.arn import key_arn, key_id_of_row, row_id_for
from kms_core.domain.model import KeySpec, KeyState, KeyUsage, Origin
from kms_core.domain.specs import CHINA_ONLY, SPECS
from kms_core.errors import (
    CustomKeyStoreNotFoundException,
    LimitExceededException,
    UnsupportedOperationException,
    ValidationException,
)
from kms_core.operations._common import (
    decode_marker,
    key_change,
    key_metadata,
    managed_key,
    page_limit,
    paged,
    read,
    write,
)
from kms_core.operations._resolve import resolve_key
from kms_core.operations.multi_region import check_multi_region_home
from kms_core.operations.tags import check_new_tags
from kms_core.policy.authorize import authorize, authorize_account, set_request_tags
from kms_core.policy.document import default_key_policy
from kms_core.policy.grants import check_grant_tokens
from kms_core.policy.key_policy import accept_key_policy
from kms_core.protocol.shapes import validation_error
from kms_core.storage import repository



def create_key(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html"""
    ctx.condition_values["kms:bypasspolicylockoutsafetycheck"] = bool(req.get("BypassPolicyLockoutSafetyCheck"))
    tags = req.get("Tags", [])
    if tags:
        set_request_tags(ctx, {t["TagKey"]: t["TagValue"] for t in tags})
    # the key-to-be's attributes, as the request (or its defaults) gives them
    ctx.condition_values.update({
        "kms:keyspec": req.get("KeySpec") or req.get("CustomerMasterKeySpec") or KeySpec.SYMMETRIC_DEFAULT,
        "kms:keyusage": req.get("KeyUsage", KeyUsage.ENCRYPT_DECRYPT),
        "kms:keyorigin": req.get("Origin", Origin.AWS_KMS),
        "kms:multiregion": bool(req.get("MultiRegion", False))})
    if req.get("MultiRegion"):
        ctx.condition_values["kms:multiregionkeytype"] = "PRIMARY"
    authorize_account(ctx, "kms:CreateKey")
    if tags:  # tagging at creation needs the right to tag (CreateKey API reference)
        authorize_account(ctx, "kms:TagResource")
    if "KeySpec" in req and "CustomerMasterKeySpec" in req:
        raise ValidationException(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
            "CustomerMasterKeySpec parameter is deprecated. Use KeySpec only.")
    spec_name = req.get("KeySpec") or req.get("CustomerMasterKeySpec") or KeySpec.SYMMETRIC_DEFAULT
    if spec_name in CHINA_ONLY:
        raise UnsupportedOperationException(f"KeySpec {spec_name} is not supported in this Region")
    if spec_name not in SPECS:
        raise UnsupportedOperationException(f"KeySpec {spec_name} is not supported by this server.")
    spec = SPECS[spec_name]
    if "KeyUsage" not in req and spec_name != KeySpec.SYMMETRIC_DEFAULT:
        raise ValidationException(
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
    usage = req.get("KeyUsage", KeyUsage.ENCRYPT_DECRYPT)
    if usage not in spec.usages:
        raise ValidationException(f"KeyUsage {usage} is not compatible with KeySpec {spec_name}")
    origin = req.get("Origin", Origin.AWS_KMS)
    if "CustomKeyStoreId" in req:
        raise CustomKeyStoreNotFoundException(f"Custom key store '{req['CustomKeyStoreId']}' does not exist.")
    if origin not in (Origin.AWS_KMS, Origin.EXTERNAL):
        raise UnsupportedOperationException(f"Origin {origin} requires a custom key store, which this server "
                                            "does not offer.")
    multi_region = bool(req.get("MultiRegion"))
    if multi_region:
        check_multi_region_home(ctx.region)
    check_new_tags({}, tags)

    now = ctx.now()
    key_id = repository.new_multi_region_key_id() if multi_region else repository.new_key_id()
    policy = req.get("Policy")
    row = repository.new_key_row(row_id_for(key_id, ctx.region), ctx.account_id, ctx.region, now,
                                 policy if policy is not None else default_key_policy(ctx.account_id),
                                 description=req.get("Description", ""), key_usage=usage, key_spec=spec_name,
                                 origin=origin)
    if multi_region:
        row.multi_region, row.primary_region = True, ctx.region
    if policy is not None:
        accept_key_policy(ctx, policy, repository.to_key(row), bool(req.get("BypassPolicyLockoutSafetyCheck")),
                          ctx.kms.identities.principal_exists)
    ctx.resources.append(repository.to_key(row).arn)  # before the write: its event names the key
    with write(ctx) as work:
        work.keys.insert(row, now, {tag["TagKey"]: tag["TagValue"] for tag in tags})
        if work.keys.customer_keys_in(ctx.account_id, ctx.region) > limits.MAX_CUSTOMER_KEYS:
            raise LimitExceededException("The request was rejected because a quota was exceeded.")
        key = repository.to_key(row, (ctx.region,) if multi_region else ())
    return {"KeyMetadata": key_metadata(key)}


def describe_key(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html"""
    check_grant_tokens(ctx, req)
    entry = resolve_key(ctx, req["KeyId"], allow_alias=True)
    key = entry.key
    authorize(ctx, "kms:DescribeKey", entry)
    return {"KeyMetadata": key_metadata(key)}


def list_keys(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html"""
    authorize_account(ctx, "kms:ListKeys")
    limit = page_limit("ListKeys", req.get("Limit"))
    after = decode_marker(ctx, req, "ListKeys")
    with read(ctx) as work:
        ids = work.keys.ids_page(ctx.account_id, ctx.region, after, limit + 1)
    shown = [key_id_of_row(row_id) for row_id in ids[:limit]]
    page = {"Keys": [{"KeyId": k, "KeyArn": key_arn(ctx.region, ctx.account_id, k)} for k in shown]}
    page.update(paged(ctx, "ListKeys", None, ids, limit, lambda k: k))
    return page


def update_key_description(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateKeyDescription.html"""
    key = managed_key(ctx, req, "UpdateKeyDescription").key
    with key_change(ctx, key) as (row, _):
        row.description = req["Description"]
    return {}


def enable_key(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html"""
    return _set_enabled(ctx, req, "EnableKey", KeyState.ENABLED)


def disable_key(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html"""
    return _set_enabled(ctx, req, "DisableKey", KeyState.DISABLED)


def _set_enabled(ctx: RequestContext, req: dict, operation: str, state: KeyState) -> dict:
    key = managed_key(ctx, req, operation).key
    if key.state != state:
        with key_change(ctx, key, operation) as (row, _):
            row.key_state = state
    return {}


def schedule_key_deletion(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html"""
    window = req.get("PendingWindowInDays", limits.DEFAULT_PENDING_WINDOW_DAYS)
    key = managed_key(ctx, req, "ScheduleKeyDeletion", lambda _: _check_pending_window(ctx, window)).key
    deletion_date = ctx.now() + window * limits.DAY_SECONDS
    with key_change(ctx, key, "ScheduleKeyDeletion") as (row, work):
        row.pending_window_days = window
        if row.multi_region and row.primary_region == row.region and len(work.keys.related(key.key_id)) > 1:
            # a primary outlives its replicas: its window starts when the last one is deleted
            row.key_state = KeyState.PENDING_REPLICA_DELETION
            return {"KeyId": key.arn, "KeyState": KeyState.PENDING_REPLICA_DELETION, "PendingWindowInDays": window}
        row.key_state = KeyState.PENDING_DELETION
        row.deletion_date = deletion_date
    return {"KeyId": key.arn, "DeletionDate": deletion_date, "KeyState": KeyState.PENDING_DELETION,
            "PendingWindowInDays": window}


def _check_pending_window(ctx: RequestContext, window: int) -> None:
    """AWS enforces 7..30 days even though the model allows 1..365."""
    if window < limits.MIN_PENDING_WINDOW_DAYS:
        raise validation_error([f"Value '{window}' at 'pendingWindowInDays' failed to satisfy constraint: "
                                f"Member must have value greater than or equal to {limits.MIN_PENDING_WINDOW_DAYS}"])
    if window > limits.MAX_PENDING_WINDOW_DAYS:
        raise validation_error([f"Value '{window}' at 'pendingWindowInDays' failed to satisfy constraint: "
                                f"Member must have value less than or equal to {limits.MAX_PENDING_WINDOW_DAYS}"])
    ctx.condition_values["kms:schedulekeydeletionpendingwindowindays"] = window


def cancel_key_deletion(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html

    AWS leaves the key Disabled, not Enabled — or PendingImport for an EXTERNAL key whose
    imported material is gone (deleted or expired while deletion was pending)."""
    entry = managed_key(ctx, req, "CancelKeyDeletion")
    key = entry.key
    with key_change(ctx, key, "CancelKeyDeletion") as (row, _):
        missing_material = row.origin == Origin.EXTERNAL and not entry.materials
        row.key_state = KeyState.PENDING_IMPORT if missing_material else KeyState.DISABLED
        row.deletion_date = None
        row.pending_window_days = None
    return {"KeyId": key.arn}
