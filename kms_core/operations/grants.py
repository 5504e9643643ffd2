"""Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

Matching requests against grants (and grant tokens) lives in policy/grants.py; this module
creates, lists and deletes them.  Every write goes through `write(ctx)`, which drops the
key cache (grants are cached with their key), so a new grant works on the very next
request and a retired or revoked one stops working at once.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from kms_core.context import RequestContext
from kms_core.domain.arn import key_arn, key_id_of_row, root_arn
from kms_core.domain.key_states import require_state
from kms_core.domain.model import Key, KeySpec, KeyUsage, KeyWithMaterial
from kms_core.errors import (
    AccessDeniedException,
    InvalidArnException,
    InvalidGrantIdException,
    InvalidMarkerException,
    LimitExceededException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from kms_core.operations._common import (
    INVALID_MARKER,
    decode_marker,
    dry_run,
    encode_marker,
    key_change,
    page_limit,
    read,
    write,
)
from kms_core.operations._resolve import resolve_key_id_only
from kms_core.policy.authorize import Facts, authorize, authorize_account
from kms_core.policy.evaluate import Effect, evaluate_identity
from kms_core.policy.grants import (
    EQUALS,
    GRANT_ID_RE,
    REQUESTED_GRANT,
    SOURCE_ARN,
    SUBSET,
    Grant,
    check_grant_tokens,
    grant_id_of_token,
    grantee_matches,
    new_grant_token,
)
from kms_core.protocol.shapes import validation_error
from kms_core.storage.unit_of_work import new_grant_id

MAX_GRANTS_PER_KEY = 50_000
MAX_CONSTRAINT_PAIRS = 8
MAX_CONSTRAINT_VALUE_CHARS = 384

_MANAGEMENT_OPS = {"CreateGrant", "RetireGrant", "DescribeKey"}
_SYMMETRIC_OPS = _MANAGEMENT_OPS | {
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}
_ASYMMETRIC_ENCRYPT_OPS = _MANAGEMENT_OPS | {"Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"}
_SIGN_OPS = _MANAGEMENT_OPS | {"Sign", "Verify", "GetPublicKey"}
_MAC_OPS = _MANAGEMENT_OPS | {"GenerateMac", "VerifyMac"}
_AGREEMENT_OPS = _MANAGEMENT_OPS | {"DeriveSharedSecret", "GetPublicKey"}

# IAM principal ARNs a grant may name: account root, user, role, assumed-role session,
# federated user (AWS: "IAM ARNs").
_PRINCIPAL_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:(?:iam::\d{12}:(?:root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)"
    r"|sts::\d{12}:(?:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+|federated-user/[\w+=,.@-]+))\Z", re.ASCII)


# --- validation helpers -------------------------------------------------------------------
def _check_principal(value: str, member: str) -> str:
    if not value.startswith("arn:"):
        raise ValidationException(f"{member} {value} is not a valid principal ARN.")
    if not _PRINCIPAL_ARN.fullmatch(value):
        raise InvalidArnException(f"ARN does not refer to a valid principal: {value}")
    return value


def _no_service_principals(req: dict, *members: str) -> None:
    for member in members:
        if member in req:
            raise UnsupportedOperationException(
                f"{member} (AWS service principals) is not supported by this server.")


def _allowed_operations(key: Key) -> set:
    if key.key_usage == KeyUsage.ENCRYPT_DECRYPT:
        return _SYMMETRIC_OPS if key.key_spec == KeySpec.SYMMETRIC_DEFAULT else _ASYMMETRIC_ENCRYPT_OPS
    return {KeyUsage.SIGN_VERIFY: _SIGN_OPS, KeyUsage.GENERATE_VERIFY_MAC: _MAC_OPS,
            KeyUsage.KEY_AGREEMENT: _AGREEMENT_OPS}.get(key.key_usage, _MANAGEMENT_OPS)


def _check_operations(key: Key, operations: list) -> tuple:
    if not operations:
        raise validation_error(["Value '[]' at 'operations' failed to satisfy constraint: "
                                "Member must have length greater than or equal to 1"])
    ops = tuple(dict.fromkeys(operations))  # de-duplicated, order kept
    if ops == ("CreateGrant",):
        raise ValidationException("Grants must not contain only the CreateGrant operation.")
    invalid = [op for op in ops if op not in _allowed_operations(key)]
    if invalid:
        raise ValidationException(
            f"Grant operations [{', '.join(invalid)}] are not valid for a key with KeyUsage "
            f"{key.key_usage} and KeySpec {key.key_spec}.")
    return ops


def _check_constraints(key: Key, constraints: Optional[dict]) -> Optional[dict]:
    if constraints is None:
        return None
    kinds = [k for k in (EQUALS, SUBSET) if k in constraints]
    if len(kinds) > 1:
        raise ValidationException(
            "Grant constraints can't include both EncryptionContextEquals and EncryptionContextSubset.")
    if kinds and not (key.key_usage == KeyUsage.ENCRYPT_DECRYPT and key.key_spec == KeySpec.SYMMETRIC_DEFAULT):
        raise ValidationException(
            "Encryption context grant constraints are supported only on symmetric encryption KMS keys.")
    for kind in kinds:
        pairs = constraints[kind]
        if len(pairs) > MAX_CONSTRAINT_PAIRS:
            raise ValidationException(
                f"{kind} can contain at most {MAX_CONSTRAINT_PAIRS} encryption context pairs.")
        for k, v in pairs.items():
            if not k:
                raise ValidationException("Encryption context keys in grant constraints must not be empty.")
            if len(v) > MAX_CONSTRAINT_VALUE_CHARS:
                raise ValidationException(
                    f"Encryption context values in grant constraints can't exceed "
                    f"{MAX_CONSTRAINT_VALUE_CHARS} characters.")
    return {k: constraints[k] for k in (EQUALS, SUBSET, SOURCE_ARN) if k in constraints} or None


def _check_grant_id(grant_id: str) -> str:
    if not GRANT_ID_RE.fullmatch(grant_id):
        raise InvalidGrantIdException(f"Invalid grant ID: {grant_id}")
    return grant_id


def _same_constraints(a: Optional[dict], b: Optional[dict]) -> bool:
    return (a or None) == (b or None)


def _entry(grant: Grant, key_account: str, key_region: str) -> dict:
    """The GrantListEntry shape."""
    out = {
        "KeyId": key_arn(key_region, key_account, key_id_of_row(grant.key_id)),
        "GrantId": grant.grant_id,
        "CreationDate": grant.creation_date,
        "GranteePrincipal": grant.grantee_principal,
        "IssuingAccount": root_arn(grant.issuing_account),
        "Operations": list(grant.operations),
    }
    if grant.name is not None:
        out["Name"] = grant.name
    if grant.retiring_principal is not None:
        out["RetiringPrincipal"] = grant.retiring_principal
    if grant.constraints:
        out["Constraints"] = grant.constraints
    return out


def _marker_of(ctx: RequestContext, operation: str, bound: Any, grant: Grant) -> str:
    return encode_marker(ctx, operation, bound, f"{grant.creation_date!r}|{grant.grant_id}")


def _parse_marker(ctx: RequestContext, req: dict, operation: str, bound: Any) -> Optional[tuple[float, str]]:
    """(creation date, grant id) after which the page starts; the marker is sealed, so its
    text is one `_marker_of` wrote."""
    text = decode_marker(ctx, req, operation, bound)
    if text is None:
        return None
    created, _, grant_id = text.partition("|")
    try:
        return float(created), grant_id
    except ValueError:
        raise InvalidMarkerException(INVALID_MARKER) from None


# --- operations ---------------------------------------------------------------------------
def create_grant(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html"""
    check_grant_tokens(ctx, req)
    if "GranteePrincipal" in req and "GranteeServicePrincipal" in req:
        raise ValidationException("You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
    if "RetiringPrincipal" in req and "RetiringServicePrincipal" in req:
        raise ValidationException("You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")
    _no_service_principals(req, "GranteeServicePrincipal", "RetiringServicePrincipal")
    if "GranteePrincipal" not in req:
        raise validation_error(["Value null at 'granteePrincipal' failed to satisfy constraint: "
                                "Member must not be null"])
    grantee = _check_principal(req["GranteePrincipal"], "GranteePrincipal")
    retiring = req.get("RetiringPrincipal")
    if retiring is not None:
        _check_principal(retiring, "RetiringPrincipal")
    entry = resolve_key_id_only(ctx, req["KeyId"])
    key = entry.key
    operations = _check_operations(key, req["Operations"])
    constraints = _check_constraints(key, req.get("Constraints"))
    name = req.get("Name")

    facts = ctx.condition_values
    facts["kms:grantoperations"] = list(operations)
    facts["kms:granteeprincipal"] = grantee
    if retiring is not None:
        facts["kms:retiringprincipal"] = retiring
    kind = next((k for k in (EQUALS, SUBSET) if constraints and k in constraints), None)
    if kind is not None:
        facts["kms:grantconstrainttype"] = kind
        # kms:EncryptionContext:* and kms:EncryptionContextKeys describe the grant's
        # constraint here (developer guide, "kms:EncryptionContext:context-key")
        ctx.encryption_context = dict(constraints[kind])
    facts["kms:grantisforawsresource"] = "false"
    facts[REQUESTED_GRANT] = {"operations": operations, "constraints": constraints}
    authorize(ctx, "kms:CreateGrant", entry)
    require_state(key, "CreateGrant")
    dry_run(req)

    with key_change(ctx, key, "CreateGrant") as (_, work):
        if name is not None:
            for g in work.grants.named(key.row_id, name):
                if (g.grantee_principal == grantee and g.retiring_principal == retiring
                        and set(g.operations) == set(operations)
                        and _same_constraints(g.constraints, constraints)):
                    return {"GrantToken": new_grant_token(ctx, g.grant_id), "GrantId": g.grant_id}
        if work.grants.count_for_key(key.row_id) >= MAX_GRANTS_PER_KEY:
            raise LimitExceededException(
                f"The request was rejected because the grant limit for {key.arn} has been exceeded.")
        grant_id = new_grant_id()
        work.grants.add(Grant(grant_id, key.row_id, name, grantee, retiring, tuple(operations), constraints,
                              key.account_id, ctx.now()))
    return {"GrantToken": new_grant_token(ctx, grant_id), "GrantId": grant_id}


def list_grants(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html"""
    _no_service_principals(req, "GranteeServicePrincipal")
    entry = resolve_key_id_only(ctx, req["KeyId"])
    key = entry.key
    grant_id = req.get("GrantId")
    if grant_id is not None:
        _check_grant_id(grant_id)
    grantee = req.get("GranteePrincipal")
    if grantee is not None:
        _check_principal(grantee, "GranteePrincipal")
    limit = page_limit("ListGrants", req.get("Limit"))
    bound = [key.row_id, grant_id, grantee]
    after = _parse_marker(ctx, req, "ListGrants", bound)
    ctx.condition_values["kms:grantisforawsresource"] = "false"
    authorize(ctx, "kms:ListGrants", entry)
    require_state(key, "ListGrants")
    grants = [g for g in entry.grants
              if (grant_id is None or g.grant_id == grant_id)
              and (grantee is None or g.grantee_principal == grantee)
              and (after is None or (g.creation_date, g.grant_id) > after)]
    page = grants[:limit]
    out: dict = {"Grants": [_entry(g, key.account_id, key.region) for g in page]}
    if len(grants) > limit:
        out.update({"Truncated": True, "NextMarker": _marker_of(ctx, "ListGrants", bound, page[-1])})
    else:
        out["Truncated"] = False
    return out


def list_retirable_grants(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListRetirableGrants.html

    Authorised by IAM only; returns grants on keys of any account in this Region."""
    _no_service_principals(req, "RetiringServicePrincipal")
    if "RetiringPrincipal" not in req:
        raise validation_error(["Value null at 'retiringPrincipal' failed to satisfy constraint: "
                                "Member must not be null"])
    retiring = _check_principal(req["RetiringPrincipal"], "RetiringPrincipal")
    limit = page_limit("ListRetirableGrants", req.get("Limit"))
    after = _parse_marker(ctx, req, "ListRetirableGrants", retiring)
    authorize_account(ctx, "kms:ListRetirableGrants")
    if retiring.split(":")[4] != ctx.account_id:
        # Only a principal of the caller's own account: naming another account's principal
        # would list that account's grants (API reference, "Cross-account use").
        raise AccessDeniedException(
            f"User: {ctx.principal.arn} is not authorized to perform: kms:ListRetirableGrants for retiring "
            f"principal {retiring}: the retiring principal must be in account {ctx.account_id}")
    with read(ctx) as work:
        found = work.grants.retirable_page(retiring, ctx.region, after, limit + 1)
    out: dict = {"Grants": [_entry(g, account, region) for g, account, region in found[:limit]]}
    if len(found) > limit:
        out.update({"Truncated": True,
                    "NextMarker": _marker_of(ctx, "ListRetirableGrants", retiring, found[limit - 1][0])})
    else:
        out["Truncated"] = False
    return out


def retire_grant(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html

    By GrantToken, or by KeyId + GrantId.  Allowed for the grant's retiring principal, its
    grantee if the grant lists RetireGrant, the account that owns the key (its root), and
    principals the key policy / IAM allow kms:RetireGrant."""
    token = req.get("GrantToken")
    if token is not None:
        grant_id = grant_id_of_token(ctx, token)
        if "GrantId" in req and req["GrantId"] != grant_id:
            raise InvalidGrantIdException("The grant ID doesn't match the grant token.")
        if "KeyId" in req:
            entry = resolve_key_id_only(ctx, req["KeyId"])
        else:
            entry = _key_of_grant(ctx, grant_id)
    else:
        if "KeyId" not in req or "GrantId" not in req:
            raise ValidationException("Either GrantToken or both KeyId and GrantId must be specified.")
        grant_id = _check_grant_id(req["GrantId"])
        entry = resolve_key_id_only(ctx, req["KeyId"])
    grant = _find_grant(entry, grant_id)
    _authorize_retire(ctx, entry, grant)
    require_state(entry.key, "RetireGrant")
    dry_run(req)
    _delete_grant(ctx, entry, grant_id)
    return {}


def revoke_grant(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_RevokeGrant.html"""
    entry = resolve_key_id_only(ctx, req["KeyId"])
    grant_id = _check_grant_id(req["GrantId"])
    ctx.condition_values["kms:grantisforawsresource"] = "false"
    authorize(ctx, "kms:RevokeGrant", entry)
    require_state(entry.key, "RevokeGrant")
    _find_grant(entry, grant_id)
    dry_run(req)
    _delete_grant(ctx, entry, grant_id)
    return {}


# --- shared steps ----------------------------------------------------------------------
def _key_of_grant(ctx: RequestContext, grant_id: str) -> KeyWithMaterial:
    with read(ctx) as work:
        key_id = work.grants.key_of(grant_id)
    entry = ctx.kms.key(key_id) if key_id is not None else None
    if entry is None or entry.key.region != ctx.region:
        raise NotFoundException(f"Grant ID {grant_id} not found")
    ctx.resources.append(entry.key.arn)
    return entry


def _find_grant(entry: KeyWithMaterial, grant_id: str) -> Grant:
    for grant in entry.grants:
        if grant.grant_id == grant_id:
            return grant
    raise NotFoundException(f"Grant ID {grant_id} not found")


def _authorize_retire(ctx: RequestContext, entry: KeyWithMaterial, grant: Grant) -> None:
    """The grant decides who may retire it (its retiring principal, its grantee if it lists
    RetireGrant, the account that issued it), but an IAM policy that explicitly denies
    kms:RetireGrant on the key still refuses (developer guide, "Retiring and revoking
    grants")."""
    principal = ctx.principal
    _refuse_explicit_identity_deny(ctx, "kms:RetireGrant", entry)
    if principal.is_account_root and principal.account_id == grant.issuing_account:
        return
    if grant.retiring_principal is not None and grantee_matches(grant.retiring_principal, principal) == "direct":
        return
    if "RetireGrant" in grant.operations and grantee_matches(grant.grantee_principal, principal) == "direct":
        return
    try:
        # principals the key policy / IAM policies allow kms:RetireGrant
        authorize(ctx, "kms:RetireGrant", entry)
    except AccessDeniedException:
        raise AccessDeniedException(
            f"User: {principal.arn} is not authorized to perform: kms:RetireGrant on resource: "
            f"{entry.key.arn} because it is not the retiring principal or grantee of grant "
            f"{grant.grant_id}") from None


def _refuse_explicit_identity_deny(ctx: RequestContext, action: str, entry: KeyWithMaterial) -> None:
    if ctx.principal.is_account_root:
        return
    if evaluate_identity(ctx.identity_policies(), action, entry.key.arn, Facts(ctx, entry)) is Effect.DENY:
        raise AccessDeniedException(
            f"User: {ctx.principal.arn} is not authorized to perform: {action} on resource: {entry.key.arn} "
            "with an explicit deny in an identity-based policy")


def _delete_grant(ctx: RequestContext, entry: KeyWithMaterial, grant_id: str) -> None:
    with write(ctx) as work:
        if not work.grants.delete(entry.key.row_id, grant_id):
            raise NotFoundException(f"Grant ID {grant_id} not found")
