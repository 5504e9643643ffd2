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
from typing import Any, Optional

from kms_core.domain.errors import invalid
from kms_core.context import RequestContext
from kms_core.identity import admin
from kms_core.errors import MalformedPolicyDocumentException
from kms_core.identity.errors import (
    InvalidParameterValue,
    MalformedPolicyDocument,
    PackedPolicyTooLarge,
    ValidationError,
)
from kms_core.identity.sessions import MAX_TOKEN_CHARS
from kms_core.identity.iam_operations import (
    Result,
    access_denied,
    as_int,
    as_list,
    optional,
    required,
    timestamp,
)
from kms_core.domain.principal import ASSUMED_ROLE
from kms_core.identity.store import assumed_role_arn, role_arn
from kms_core.policy.authorize import Facts, set_request_tags
from kms_core.policy.evaluate import compile_policy, decide
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
        raise ValidationError(invalid("roleArn", "Member must have length between 20 and 2048", arn))
    if not SESSION_NAME_RE.match(session_name):
        raise ValidationError(invalid("roleSessionName", "Member must satisfy regular expression pattern: "
                                      "[\\w+=,.@-]* and have length between 2 and 64", session_name))
    duration = as_int(optional(params, "DurationSeconds"), "durationSeconds")
    if duration is None:
        duration = DEFAULT_DURATION
    if duration < MIN_DURATION:
        raise ValidationError(invalid("durationSeconds",
                                      f"Member must have value greater than or equal to {MIN_DURATION}", duration))
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
    session_tags, transitive = _session_tags(principal, params)
    source_identity = _source_identity(principal, params)
    session_policy = _session_policy(params)
    if session_tags:
        set_request_tags(ctx, session_tags)
        ctx.condition_values["sts:transitivetagkeys"] = sorted(transitive)
    if source_identity is not None:
        ctx.condition_values["sts:sourceidentity"] = source_identity

    identity = ctx.identity_policies()
    role_tags = ctx.kms.identities.role_tags(role_account, role.role_name)
    # sts:AssumeRole, and the rights to pass session tags and a source identity: each is
    # decided by the trust policy together with the caller's identity policies
    actions = ["sts:AssumeRole"]
    if session_tags:
        actions.append("sts:TagSession")
    if source_identity is not None:
        actions.append("sts:SetSourceIdentity")
    for action in actions:
        decision = decide(principal, action, arn, role_account, trust, identity, Facts(ctx, None, lambda: role_tags))
        if not decision.allowed:
            raise access_denied(ctx, action, arn)

    if duration > role.max_session_duration:
        raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    if principal.principal_type == ASSUMED_ROLE and duration > CHAINED_MAX_DURATION:
        raise ValidationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
                              "by role chaining.")

    # Session expiry is judged against the real clock (the one SigV4 request dates use).
    issued = float(int(ctx.kms.runtime.wall_clock()))
    expires = issued + duration
    sealed, token = ctx.kms.identities.sessions.issue(
        role_account, role.role_name, role.role_id, session_name, expires, issued, tags=session_tags,
        transitive=sorted(transitive), source_identity=source_identity, policy=session_policy)
    if len(token) > MAX_TOKEN_CHARS:
        raise PackedPolicyTooLarge("Packed size of the session policy and session tags exceeds the limit.")
    return {
        "Credentials": {"AccessKeyId": sealed.access_key_id, "SecretAccessKey": sealed.secret_access_key,
                        "SessionToken": token, "Expiration": timestamp(expires)},
        "AssumedRoleUser": {"AssumedRoleId": f"{role.role_id}:{session_name}",
                            "Arn": assumed_role_arn(role_account, role.role_name, session_name)},
    }


MAX_SESSION_TAGS = 50
MAX_SESSION_POLICY_CHARS = 2048
SOURCE_IDENTITY_RE = re.compile(r"^[\w+=,.@-]{2,64}\Z", re.ASCII)


def _session_tags(principal: Any, params: dict) -> tuple[dict, set]:
    """Session tags: the request's `Tags`, plus the transitive tags of a role session that
    assumes another role (role chaining).  Keys are case-insensitive and unique."""
    inherited = {k: v for k, v in principal.tags.items() if k in principal.transitive_tag_keys} \
        if principal.principal_type == ASSUMED_ROLE else {}
    tags = admin.check_tags(as_list(params.get("Tags"), "Tags"))
    if len(tags) > MAX_SESSION_TAGS:
        raise ValidationError(invalid("tags", f"Member must have length less than or equal to {MAX_SESSION_TAGS}"))
    if any(k.lower().startswith("aws:") for k in tags):
        raise ValidationError("Tag keys beginning with aws: are reserved and can't be set as session tags.")
    transitive = {str(k) for k in as_list(params.get("TransitiveTagKeys"), "TransitiveTagKeys")}
    if not transitive <= set(tags):
        raise InvalidParameterValue("The specified transitive tag key must be included in the requested tags.")
    clash = {k.lower() for k in inherited} & {k.lower() for k in tags}
    if clash:
        raise InvalidParameterValue("One or more session tags are transitive tags of the calling session and "
                                    "can't be changed: " + ", ".join(sorted(clash)))
    return {**inherited, **tags}, transitive | set(inherited)


def _source_identity(principal: Any, params: dict) -> Optional[str]:
    """A source identity is set once and then carried by every chained session."""
    requested = optional(params, "SourceIdentity")
    inherited = principal.source_identity
    if requested is not None and not SOURCE_IDENTITY_RE.match(requested):
        raise ValidationError(invalid("sourceIdentity", "Member must satisfy regular expression pattern: "
                                      "[\\w+=,.@-]* and have length between 2 and 64", requested))
    if inherited is not None and requested is not None and requested != inherited:
        raise InvalidParameterValue("The source identity of a role session can't be changed by role chaining.")
    return requested if requested is not None else inherited


def _session_policy(params: dict) -> Optional[str]:
    """An inline session policy narrows the session to what both it and the role allow.
    Managed session policies (PolicyArns) name policies this server does not keep."""
    if as_list(params.get("PolicyArns"), "PolicyArns"):
        raise ValidationError("PolicyArns: managed session policies are not supported by this server; "
                              "pass the policy inline with Policy.")
    policy = optional(params, "Policy")
    if policy is None:
        return None
    if not 1 <= len(policy) <= MAX_SESSION_POLICY_CHARS:
        raise ValidationError(invalid("policy",
                                      f"Member must have length less than or equal to {MAX_SESSION_POLICY_CHARS}"))
    try:
        compile_policy(policy, resource_policy=False)
    except MalformedPolicyDocumentException as error:
        raise MalformedPolicyDocument(error.message) from None
    return policy


OPERATIONS = {
    "AssumeRole": assume_role,
    "GetCallerIdentity": get_caller_identity,
}
