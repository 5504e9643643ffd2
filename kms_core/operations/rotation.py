"""Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
RotateKeyOnDemand, ListKeyRotations.  Automatic rotation itself runs in
KmsCore.process_due when a key's NextRotationDate passes.

Rotation adds a key material; the key id, ARN, policy, aliases and grants stay, and every
older material keeps decrypting what it encrypted."""

from __future__ import annotations

from kms_core.context import RequestContext
from kms_core.domain import limits
from kms_core.domain.arn import row_id_for
from kms_core.domain.model import Key, KeySpec, KeyState, Origin, RotationType
from kms_core.errors import InvalidMarkerException, LimitExceededException, UnsupportedOperationException
from kms_core.operations._common import INVALID_MARKER, decode_marker, key_change, managed_key, page_limit, paged, read
from kms_core.storage import repository


def _require_rotatable(key: Key) -> None:
    if key.origin != Origin.AWS_KMS:
        raise UnsupportedOperationException(f"{key.arn} origin is {key.origin} which is not valid for this operation.")
    if key.key_spec != KeySpec.SYMMETRIC_DEFAULT:
        raise UnsupportedOperationException(
            f"{key.arn} key spec is {key.key_spec} which is not valid for this operation.")


def _require_customer_managed(key: Key) -> None:
    if key.key_manager != "CUSTOMER":
        raise UnsupportedOperationException(f"{key.arn} is an AWS managed key; its rotation can't be changed.")
    if key.is_replica:  # rotation is a shared property, set on the primary only
        raise UnsupportedOperationException(
            f"{key.arn} is a multi-Region replica key; rotation is managed on its primary key in "
            f"{key.primary_region}.")


def enable_key_rotation(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html"""
    period = req.get("RotationPeriodInDays", limits.DEFAULT_ROTATION_PERIOD_DAYS)
    ctx.condition_values["kms:rotationperiodindays"] = period
    key = managed_key(ctx, req, "EnableKeyRotation").key
    _require_rotatable(key)
    _require_customer_managed(key)
    with key_change(ctx, key) as (row, work):
        repository.schedule_rotation(row, ctx.now(), period)
        if row.multi_region:
            work.keys.mirror_rotation(row)
    return {}


def disable_key_rotation(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKeyRotation.html"""
    key = managed_key(ctx, req, "DisableKeyRotation").key
    _require_rotatable(key)
    _require_customer_managed(key)
    with key_change(ctx, key) as (row, work):
        repository.stop_rotation(row)
        if row.multi_region:
            work.keys.mirror_rotation(row)
    return {}


def get_key_rotation_status(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html

    While a key is pending deletion its status reads false; cancelling restores it."""
    key = managed_key(ctx, req, "GetKeyRotationStatus").key
    _require_rotatable(key)
    enabled = key.rotation_enabled and key.state not in (KeyState.PENDING_DELETION,
                                                         KeyState.PENDING_REPLICA_DELETION)
    out: dict = {"KeyRotationEnabled": enabled, "KeyId": key.arn}
    if enabled:
        out["RotationPeriodInDays"] = key.rotation_period_days
        next_date = key.next_rotation_date
        if key.is_replica:  # the primary rotates every related key: its date is theirs
            primary = ctx.kms.key(row_id_for(key.key_id, key.primary_region))
            next_date = primary.key.next_rotation_date if primary is not None else None
        if next_date is not None:
            out["NextRotationDate"] = next_date
    return out


def rotate_key_on_demand(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html"""
    key = managed_key(ctx, req, "RotateKeyOnDemand").key
    _require_rotatable(key)
    _require_customer_managed(key)
    with key_change(ctx, key) as (row, work):
        if row.on_demand_rotations >= limits.MAX_ON_DEMAND_ROTATIONS:
            raise LimitExceededException(
                "The on-demand rotations limit has been reached for the given keyId. "
                f"No more on-demand rotations can be performed for this key: {key.arn}")
        row.on_demand_rotations += 1
        work.keys.rotate(row, ctx.now(), RotationType.ON_DEMAND)
    return {"KeyId": key.arn}


def list_key_rotations(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html"""
    key = managed_key(ctx, req, "ListKeyRotations").key
    _require_rotatable(key)
    include_all = req.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
    limit = page_limit("ListKeyRotations", req.get("Limit"))
    after = decode_marker(ctx, req, "ListKeyRotations", [key.row_id, include_all])
    with read(ctx) as work:
        rows = work.keys.materials(key.row_id)
    # The original material first, then rotations in the order they happened.
    rows.sort(key=lambda r: (r.rotation_type is not None, r.created_at, r.material_id))
    if not include_all:
        rows = [r for r in rows if r.rotation_type is not None]
    order = [f"{r.created_at!r}|{r.material_id}" for r in rows]
    if after is not None and after not in order:  # no longer in this listing
        raise InvalidMarkerException(INVALID_MARKER)
    start = order.index(after) + 1 if after is not None else 0
    rows, order = rows[start:start + limit + 1], order[start:start + limit + 1]
    entries = []
    for r in rows[:limit]:
        entry = {"KeyId": key.arn, "KeyMaterialId": r.material_id,
                 "KeyMaterialState": "CURRENT" if r.material_id == key.current_material_id else "NON_CURRENT"}
        if r.rotation_type is not None:
            entry["RotationDate"] = r.rotation_date
            entry["RotationType"] = r.rotation_type
        entries.append(entry)
    page = {"Rotations": entries}
    page.update(paged(ctx, "ListKeyRotations", [key.row_id, include_all], order, limit, lambda m: m))
    return page
