"""Multi-Region keys: ReplicateKey and UpdatePrimaryRegion (AWS: "Multi-Region keys in AWS
KMS").

Related keys share the key id, key material, key spec, usage, origin and automatic-rotation
setting; each is a key of its own in its Region, with its own policy, grants, aliases, tags,
description and state, stored as the row `<mrk id>.<Region>` (domain/arn.py `row_id_for`).
AWS copies the shared properties asynchronously; here each change to them updates every
related row in the one transaction that makes it, so no related key ever lags.
"""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import Any, Iterator

from kms_core.audit import AuditEvent
from kms_core.context import RequestContext
from kms_core.domain import limits
from kms_core.domain.arn import REGION_NAME, key_arn, row_id_for
from kms_core.domain.key_states import require_state
from kms_core.domain.model import Key, KeyState, Origin
from kms_core.errors import (
    AlreadyExistsException,
    LimitExceededException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from kms_core.operations._common import key_metadata, managed_key, write
from kms_core.operations.tags import check_new_tags
from kms_core.policy.authorize import authorize, authorize_account, set_request_tags
from kms_core.policy.document import default_key_policy
from kms_core.policy.key_policy import accept_key_policy
from kms_core.storage import repository

#: a row id is "<36-character mrk id>.<Region>" in a 64-character column
MAX_REGION_LENGTH = 64 - 37


def check_multi_region_home(region: str) -> None:
    """A Region whose name fits a multi-Region key's row id (every AWS Region does)."""
    if len(region) > MAX_REGION_LENGTH:
        raise UnsupportedOperationException(f"Multi-Region keys are not supported in the Region {region}.")


def _check_region(region: str) -> None:
    """A Region requests can be signed for (REGION_NAME), whose name fits a row id."""
    if not REGION_NAME.match(region):
        raise ValidationException(f"{region} is not a valid Region name.")
    check_multi_region_home(region)


def replicate_key(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html

    Called in the primary's Region.  The replica gets the shared properties and all key
    material; policy, description and tags are the request's (AWS's defaults otherwise),
    never the primary's."""
    region = req["ReplicaRegion"]
    primary = _primary_and_other_region(ctx, req, "ReplicateKey", "kms:replicaregion", region,
                                        "The replica Region {region} is the Region of the primary key {arn}.")
    tags = req.get("Tags", [])
    check_new_tags({}, tags)
    tag_map = {t["TagKey"]: t["TagValue"] for t in tags}
    _authorize_replica_creation(ctx, primary, region, tag_map, bool(req.get("BypassPolicyLockoutSafetyCheck")))

    now = ctx.now()
    policy = req.get("Policy")
    row = repository.new_key_row(row_id_for(primary.key_id, region), primary.account_id, region, now,
                                 policy if policy is not None else default_key_policy(primary.account_id),
                                 description=req.get("Description", ""), key_usage=primary.key_usage,
                                 key_spec=primary.key_spec, origin=primary.origin)
    row.multi_region, row.primary_region = True, primary.region
    row.rotation_enabled, row.rotation_period_days = primary.rotation_enabled, primary.rotation_period_days
    row.on_demand_rotations = primary.on_demand_rotations
    # imported material: the replica waits for the same material the primary has (or will have)
    row.current_material_id = primary.current_material_id
    replica = repository.to_key(row)
    if policy is not None:
        accept_key_policy(ctx, policy, replica, bool(req.get("BypassPolicyLockoutSafetyCheck")),
                          ctx.kms.identities.principal_exists)
    ctx.resources.append(replica.arn)
    # AWS records ReplicateKey in the primary's Region and CreateKey in the replica's
    created = AuditEvent(event_time=now, request_id=ctx.request_id, event_source="kms.amazonaws.com",
                         event_name="CreateKey", region=region, account_id=primary.account_id,
                         principal_arn=ctx.principal.arn, source_ip=ctx.source_ip, resources=[replica.arn],
                         detail={"replicaOf": primary.arn})
    with write(ctx, [created]) as work:
        locked = work.keys.locked(primary.row_id)
        if locked is None:
            raise NotFoundException(f"Key '{primary.arn}' does not exist")
        current = repository.to_key(locked)
        require_state(current, "ReplicateKey")
        _require_primary(current)
        related = work.keys.related(primary.key_id)
        if any(r.region == region for r in related):
            raise AlreadyExistsException(
                f"Multi-region key {primary.key_id} already has a related key in the Region {region}.")
        work.keys.insert_replica(row, locked.key_id, tag_map)
        if work.keys.customer_keys_in(primary.account_id, region) > limits.MAX_CUSTOMER_KEYS:
            raise LimitExceededException("The request was rejected because a quota was exceeded.")
        regions = tuple(sorted([*(r.region for r in related), region]))
    # AWS answers while the replica is still being made: Creating, no material id yet
    shown = dataclasses.replace(repository.to_key(row, regions), state=KeyState.CREATING, current_material_id=None)
    return {"ReplicaKeyMetadata": key_metadata(shown), "ReplicaPolicy": row.policy,
            "ReplicaTags": [{"TagKey": k, "TagValue": v} for k, v in tag_map.items()]}


def update_primary_region(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdatePrimaryRegion.html

    The replica in PrimaryRegion becomes the primary and the primary a replica; ARNs,
    material and every independent property stay.  Both must be Enabled, and the caller
    needs kms:UpdatePrimaryRegion on both."""
    region = req["PrimaryRegion"]
    primary = _primary_and_other_region(ctx, req, "UpdatePrimaryRegion", "kms:primaryregion", region,
                                        "{arn} is already the primary key; its Region is {region}.")
    new_primary = ctx.kms.key(row_id_for(primary.key_id, region))
    if new_primary is None or new_primary.key.account_id != primary.account_id:
        raise NotFoundException(f"Key '{key_arn(region, primary.account_id, primary.key_id)}' does not exist")
    ctx.resources.append(new_primary.key.arn)
    with _facts(ctx, {"aws:requestedregion": region}):
        authorize(ctx, "kms:UpdatePrimaryRegion", new_primary)
    require_state(new_primary.key, "UpdatePrimaryRegion")
    with write(ctx) as work:
        rows = {r.region: r for r in work.keys.related(primary.key_id)}
        old, new = rows.get(primary.region), rows.get(region)
        if old is None or new is None:
            raise NotFoundException(f"Key '{key_arn(region, primary.account_id, primary.key_id)}' does not exist")
        for row in (old, new):  # again under the locks: a concurrent request may have moved them
            require_state(repository.to_key(row), "UpdatePrimaryRegion")
        _require_primary(repository.to_key(old))
        new.next_rotation_date, old.next_rotation_date = old.next_rotation_date, None
        for row in rows.values():
            row.primary_region = region
            work.keys.save(row)
    return {}


def _primary_and_other_region(ctx: RequestContext, req: dict, operation: str, condition_key: str, region: str,
                              same_region_message: str) -> Key:
    """What both operations check first: the Region condition key is set before the key is
    authorized, the key is a primary multi-Region key, and `region` is another Region
    that requests can be signed for."""
    ctx.condition_values[condition_key] = region
    primary = managed_key(ctx, req, operation).key
    _require_primary(primary)
    if region == primary.region:
        raise ValidationException(same_region_message.format(region=region, arn=primary.arn))
    _check_region(region)
    return primary


def _require_primary(key: Key) -> None:
    if not key.multi_region:
        raise UnsupportedOperationException(f"{key.arn} is not a multi-region key.")
    if key.is_replica:
        raise UnsupportedOperationException(f"{key.arn} is not a multi-region primary key.")


def _authorize_replica_creation(ctx: RequestContext, primary: Key, region: str, tags: dict[str, str],
                                bypass_lockout_check: bool) -> None:
    """AWS: ReplicateKey also needs kms:CreateKey (and kms:TagResource for Tags) in an IAM
    policy, evaluated as a CreateKey of the replica in its Region: with the facts CreateKey
    has, so a guard on kms:BypassPolicyLockoutSafetyCheck holds here too."""
    if tags:
        set_request_tags(ctx, tags)
    with _facts(ctx, {"aws:requestedregion": region, "kms:multiregion": True, "kms:multiregionkeytype": "REPLICA",
                      "kms:keyspec": primary.key_spec, "kms:keyusage": primary.key_usage,
                      "kms:keyorigin": primary.origin or Origin.AWS_KMS,
                      "kms:bypasspolicylockoutsafetycheck": bypass_lockout_check}):
        authorize_account(ctx, "kms:CreateKey")
        if tags:
            authorize_account(ctx, "kms:TagResource")


@contextmanager
def _facts(ctx: RequestContext, values: dict[str, Any]) -> Iterator[None]:
    """Condition values that hold for the checks inside the block only."""
    saved = {name: ctx.condition_values[name] for name in values if name in ctx.condition_values}
    ctx.condition_values.update(values)
    try:
        yield
    finally:
        for name in values:
            ctx.condition_values.pop(name, None)
        ctx.condition_values.update(saved)
