"""The STS API subset: AssumeRole and GetCallerIdentity.

AssumeRole is authorized as AWS does it: the role's trust policy is a resource policy on
the role.  A statement naming the caller (its ARN, or the caller is the named account's
root) allows directly; one naming the caller's account root delegates to the caller's
identity policies, which must then allow `sts:AssumeRole` on the role.  A caller from
another account needs both.  Credentials are sealed session tokens
(identity/sessions.py), so using them needs no database read.
"""

from __future__ import annotations

import re
from typing import Any

from kms_core.context import RequestContext
from kms_core.identity import admin
from kms_core.identity.errors import ValidationError
from kms_core.identity.iam_operations import Result, access_denied, as_int, optional, required, timestamp
from kms_core.identity.principal import ASSUMED_ROLE
from kms_core.identity.store import assumed_role_arn, role_arn
from kms_core.policy.authorize import Facts
from kms_core.policy.evaluate import decide
from kms_core.storage.tables import IamRoleTable

ROLE_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}):role(/|/[\x21-\x7e]*/)([\w+=,.@-]{1,64})\Z", re.ASCII)
SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}\Z", re.ASCII)
MIN_DURATION = 900
DEFAULT_DURATION = 3600
#: AWS caps role chaining (a role session assuming a role) at one hour
CHAINED_MAX_DURATION = 3600


def get_caller_identity(ctx: RequestContext, params: dict) -> Result:
    """Needs no permission, as in AWS."""
    p = ctx.principal
    return {"UserId": p.user_id or p.account_id, "Account": p.account_id, "Arn": p.arn}


def assume_role(ctx: RequestContext, params: dict) -> Result:
    arn = required(params, "RoleArn")
    session_name = required(params, "RoleSessionName")
    if not 20 <= len(arn) <= 2048:
        raise ValidationError(f"1 validation error detected: Value '{arn}' at 'roleArn' failed to satisfy "
                              "constraint: Member must have length between 20 and 2048")
    if not SESSION_NAME_RE.match(session_name):
        raise ValidationError(f"1 validation error detected: Value '{session_name}' at 'roleSessionName' failed "
                              "to satisfy constraint: Member must satisfy regular expression pattern: "
                              "[\\w+=,.@-]* and have length between 2 and 64")
    duration = as_int(optional(params, "DurationSeconds"), "durationSeconds")
    if duration is None:
        duration = DEFAULT_DURATION
    if duration < MIN_DURATION:
        raise ValidationError(f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
                              f"satisfy constraint: Member must have value greater than or equal to {MIN_DURATION}")
    match = ROLE_ARN_RE.match(arn)
    if match is None:
        raise ValidationError(f"{arn} is invalid")
    role_account, _, role_name = match.groups()
    ctx.resources.append(arn)

    with ctx.kms.db.session() as session:
        role: Any = session.get(IamRoleTable, (role_account, role_name))
    if role is None or role_arn(role_account, role.role_name, role.path) != arn:
        raise access_denied(ctx, "sts:AssumeRole", arn)
    try:
        trust = admin.compile_trust_policy(role.assume_role_policy)
    except Exception:
        raise access_denied(ctx, "sts:AssumeRole", arn) from None

    principal = ctx.principal
    ctx.condition_values.update({"sts:rolesessionname": session_name})
    external_id = optional(params, "ExternalId")
    if external_id:
        ctx.condition_values["sts:externalid"] = external_id
    identity = ctx.kms.identities.identity_policies(principal) if not principal.is_account_root else ()
    decision = decide(principal, "sts:AssumeRole", arn, role_account, trust, identity, Facts(ctx, None))
    if not decision.allowed:
        raise access_denied(ctx, "sts:AssumeRole", arn)

    if duration > role.max_session_duration:
        raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    if principal.principal_type == ASSUMED_ROLE and duration > CHAINED_MAX_DURATION:
        raise ValidationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
                              "by role chaining.")

    # Session expiry is judged against the real clock (the one SigV4 request dates use).
    issued = float(int(ctx.kms.runtime.wall_clock()))
    expires = issued + duration
    sealed, token = ctx.kms.identities.sessions.issue(role_account, role.role_name, role.role_id, session_name,
                                                       expires, issued)
    return {
        "Credentials": {"AccessKeyId": sealed.access_key_id, "SecretAccessKey": sealed.secret_access_key,
                        "SessionToken": token, "Expiration": timestamp(expires)},
        "AssumedRoleUser": {"AssumedRoleId": f"{role.role_id}:{session_name}",
                            "Arn": assumed_role_arn(role_account, role.role_name, session_name)},
    }


OPERATIONS = {
    "AssumeRole": assume_role,
    "GetCallerIdentity": get_caller_identity,
}
