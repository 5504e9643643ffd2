"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.  Every key has exactly one
policy, named "default"."""

from __future__ import annotations

from kms_core.context import RequestContext
from kms_core.domain.key_states import require_state
from kms_core.errors import NotFoundException, UnsupportedOperationException
from kms_core.operations._common import decode_marker, key_change, read
from kms_core.operations._resolve import resolve_own_key
from kms_core.policy.authorize import authorize
from kms_core.policy.key_policy import accept_key_policy

POLICY_NAME = "default"


def _check_name(req: dict) -> None:
    name = req.get("PolicyName", POLICY_NAME)
    if name != POLICY_NAME:
        raise NotFoundException(f"No such policy exists: {name}. The only valid policy name is 'default'.")


def get_key_policy(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html"""
    entry = resolve_own_key(ctx, req["KeyId"], "kms:GetKeyPolicy")
    key = entry.key
    authorize(ctx, "kms:GetKeyPolicy", entry)
    _check_name(req)
    with read(ctx) as work:
        row = work.keys.get(key.row_id)
        if row is None:
            raise NotFoundException(f"Key '{key.arn}' does not exist")
        return {"Policy": row.policy, "PolicyName": POLICY_NAME}


def put_key_policy(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html"""
    entry = resolve_own_key(ctx, req["KeyId"], "kms:PutKeyPolicy")
    key = entry.key
    bypass = bool(req.get("BypassPolicyLockoutSafetyCheck"))
    ctx.condition_values["kms:bypasspolicylockoutsafetycheck"] = bypass
    authorize(ctx, "kms:PutKeyPolicy", entry)
    require_state(key, "PutKeyPolicy")
    _check_name(req)
    if key.key_manager != "CUSTOMER":
        raise UnsupportedOperationException(f"{key.arn} is an AWS managed key; its policy can't be changed.")
    accept_key_policy(ctx, req["Policy"], key, bypass, ctx.kms.identities.principal_exists)
    with key_change(ctx, key) as (row, _):
        row.policy = req["Policy"]
    return {}


def list_key_policies(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyPolicies.html"""
    entry = resolve_own_key(ctx, req["KeyId"], "kms:ListKeyPolicies")
    authorize(ctx, "kms:ListKeyPolicies", entry)
    decode_marker(ctx, req, "ListKeyPolicies", entry.key.row_id)  # one page: no Marker was ever issued
    return {"PolicyNames": [POLICY_NAME], "Truncated": False}
