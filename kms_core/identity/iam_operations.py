"""The IAM API subset: one function per AWS operation, `op(ctx, params) -> result`.

`params` are the decoded query parameters (protocol/query.py: `Tags.member.1.Key` arrives
as `{"Tags": [{"Key": ...}]}`); the result dict becomes the `<{Action}Result>` element.
A caller only ever sees its own account.  The account root may do anything in it; a user
or a role session needs an identity policy allowing `iam:<Action>` on the user/role ARN.
Users and roles share their operations' code (`_Kind` says how they differ); each AWS
operation is still a function of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable, Optional
from urllib.parse import quote

from kms_core.domain.errors import invalid
from kms_core.context import RequestContext
from kms_core.identity import admin
from kms_core.identity.errors import AccessDenied, EntityAlreadyExists, ValidationError
from kms_core.domain.principal import USER
from kms_core.identity.store import iam_arn, role_arn, user_arn
from kms_core.policy.authorize import Facts, set_request_tags
from kms_core.policy.evaluate import Decision, decide
from kms_core.protocol.page_tokens import open_page_token, seal_page_token
from kms_core.storage.identities import Conflict, IdentityRepository, reading, writing
from kms_core.storage.tables import IamRoleTable, IamUserTable

Result = Optional[dict]


# --- helpers -----------------------------------------------------------------------------------
def timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def quote_policy(document: str) -> str:
    """IAM returns policy documents URL-encoded (botocore decodes them into dicts)."""
    return quote(document, safe="")


def required(params: dict, name: str) -> str:
    value = optional(params, name)
    if value is None or value == "":
        member = name[0].lower() + name[1:]
        raise ValidationError(invalid(member, "Member must not be null", None))
    return value


def optional(params: dict, name: str) -> Optional[str]:
    """A string parameter (a nested `Name.x=...` where a string belongs is a ValidationError)."""
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        member = name[0].lower() + name[1:]
        raise ValidationError(invalid(member, "Member must be a string"))
    return value


def as_list(value: Any, member: str) -> list:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise ValidationError(f"The parameter {member} must be a list.")
    return value


def as_int(value: Any, member: str) -> Optional[int]:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(invalid(member, "Member must be a number", value)) from None


def authorize(ctx: RequestContext, action: str, resource: str,
              resource_tags: Optional[Callable[[], dict]] = None) -> None:
    """`action` ("iam:CreateUser") on `resource` in the caller's account, or AccessDenied.
    `resource_tags` loads the user's or role's tags for aws:ResourceTag conditions."""
    principal = ctx.principal
    if principal.is_account_root:
        return
    identity = ctx.kms.identities.identity_policies(principal)
    decision = decide(principal, action, resource, None, None, identity, Facts(ctx, None, resource_tags))
    if not decision.allowed:
        raise access_denied(ctx, action, resource, decision)


def access_denied(ctx: RequestContext, action: str, resource: str,
                  decision: Optional[Decision] = None) -> AccessDenied:
    message = f"User: {ctx.principal.arn} is not authorized to perform: {action} on resource: {resource}"
    if decision in (Decision.EXPLICIT_DENY_IDENTITY, Decision.EXPLICIT_DENY_RESOURCE):
        message += f" with an {decision.value}"
    elif decision is not None:
        message += f" because {decision.value} the {action} action"
    return AccessDenied(message)


def _write(ctx: RequestContext, work: Callable[[IdentityRepository], Any], conflict: Optional[str] = None) -> Any:
    """Run `work(rows)` in a write transaction; drop caches after the commit."""
    try:
        with writing(ctx.kms.db) as rows:
            result = work(rows)
    except Conflict:
        # a concurrent request created the same name first
        raise EntityAlreadyExists(conflict or "The entity already exists.") from None
    ctx.kms.changed()
    return result


def _read(ctx: RequestContext, work: Callable[[IdentityRepository], Any]) -> Any:
    with reading(ctx.kms.db) as rows:
        return work(rows)


def _tag_list(tags: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _paginate(ctx: RequestContext, params: dict, operation: str, bound: Any, items: list,
              name_of: Callable[[Any], str]) -> tuple[list, dict]:
    """A MaxItems page of `items` (sorted by `name_of`).  The Marker is sealed for this
    account, Region, operation and `bound` (the request's filter); anything else that
    comes back as a Marker is a ValidationError."""
    after, max_items = _page_request(ctx, params, operation, bound)
    if after is not None:
        items = [i for i in items if name_of(i) > after]
    return _page_of(ctx, operation, bound, items, max_items, name_of)


def _page_request(ctx: RequestContext, params: dict, operation: str, bound: Any) -> tuple[Optional[str], int]:
    """(the name the page starts after, MaxItems) of a list request."""
    max_items = as_int(optional(params, "MaxItems"), "maxItems")
    if max_items is None:
        max_items = 100
    if not 1 <= max_items <= 1000:
        raise ValidationError(invalid("maxItems", "Member must have value between 1 and 1000", max_items))
    marker = optional(params, "Marker")
    if marker is None:
        return None, max_items
    after = open_page_token(ctx, "iam:" + operation, bound, marker)
    if after is None:
        raise ValidationError("Invalid Marker.")
    return after, max_items


def _page_of(ctx: RequestContext, operation: str, bound: Any, items: list, max_items: int,
             name_of: Callable[[Any], str]) -> tuple[list, dict]:
    """The page (the first `max_items` of `items`) and IsTruncated / Marker."""
    page = items[:max_items]
    extra: dict = {"IsTruncated": len(items) > max_items}
    if len(items) > max_items:
        extra["Marker"] = seal_page_token(ctx, "iam:" + operation, bound, name_of(page[-1]))
    return page, extra


def _user_shape(row: IamUserTable, tags: Optional[dict] = None) -> dict:
    out = {"Path": row.path, "UserName": row.user_name, "UserId": row.user_id,
           "Arn": user_arn(row.account_id, row.user_name, row.path), "CreateDate": timestamp(row.created_at)}
    if tags:
        out["Tags"] = _tag_list(tags)
    return out


def _role_shape(row: IamRoleTable, tags: Optional[dict] = None, full: bool = True) -> dict:
    out = {"Path": row.path, "RoleName": row.role_name, "RoleId": row.role_id,
           "Arn": role_arn(row.account_id, row.role_name, row.path), "CreateDate": timestamp(row.created_at),
           "AssumeRolePolicyDocument": quote_policy(row.assume_role_policy)}
    if row.description:
        out["Description"] = row.description
    out["MaxSessionDuration"] = row.max_session_duration
    if tags:
        out["Tags"] = _tag_list(tags)
    if full:
        out["RoleLastUsed"] = {}
    return out


@dataclass(frozen=True)
class _Kind:
    """How users and roles differ in the operations they share."""

    kind: str  #: admin.USER or admin.ROLE (the stored principal type)
    title: str  #: "User" or "Role": in actions (iam:GetUser), parameters (UserName), results
    shape: Callable[[Any, Optional[dict]], dict]  #: Get*'s answer
    brief: Callable[[Any, Optional[dict]], dict]  #: Create*'s and List*'s (a role's lacks RoleLastUsed)

    @property
    def member(self) -> str:
        return f"{self.title}Name"

    def name_in(self, params: dict) -> str:
        """The required UserName / RoleName, checked."""
        return admin.check_name(required(params, self.member), f"{self.kind}Name")

    def name_of(self, row: Any) -> str:
        return row.user_name if self.kind == admin.USER else row.role_name


USERS = _Kind(admin.USER, "User", _user_shape, _user_shape)
ROLES = _Kind(admin.ROLE, "Role", _role_shape, partial(_role_shape, full=False))


def _caller_user(ctx: RequestContext, params: dict) -> Optional[str]:
    """UserName, or the calling user's own name when omitted (None: the account root)."""
    name = optional(params, "UserName")
    if name:
        return admin.check_name(name, "userName")
    principal = ctx.principal
    if principal.is_account_root:
        return None
    if principal.principal_type == USER:
        return principal.name
    raise ValidationError("Must specify userName when calling with non-User credentials")


def _entity_arn(rows: IdentityRepository, ctx: RequestContext, kind: _Kind, name: Optional[str]) -> str:
    """The ARN IAM authorizes on: the stored user's or role's, path included (a user
    under /admins/ is `user/admins/NAME`, never `user/NAME`).  An entity that does not
    exist is named with the root path; the operation then answers NoSuchEntity.
    `name` None is the account root (its own access keys)."""
    if name is None:
        return f"arn:aws:iam::{ctx.account_id}:root"
    row = rows.principal(ctx.account_id, kind.kind, name)
    return iam_arn(ctx.account_id, kind.kind, name, row.path if row is not None else "/")


def _authorize_entity(rows: IdentityRepository, ctx: RequestContext, action: str, kind: _Kind,
                      name: Optional[str]) -> str:
    """Authorize `action` on the entity as stored, in the transaction that acts on it,
    so the path can't change between the check and the change."""
    resource = _entity_arn(rows, ctx, kind, name)
    if resource not in ctx.resources:  # recorded now: a write's event commits with the write
        ctx.resources.append(resource)
    if name is None:
        authorize(ctx, action, resource)
    else:
        authorize(ctx, action, resource, lambda: rows.tags_of(ctx.account_id, kind.kind, name))
    return resource


# --- users and roles ---------------------------------------------------------------------------
def _create(ctx: RequestContext, kind: _Kind, name: str, path: str, tags: dict,
            add: Callable[[IdentityRepository], Any]) -> Result:
    set_request_tags(ctx, tags)
    arn = iam_arn(ctx.account_id, kind.kind, name, path)
    authorize(ctx, f"iam:Create{kind.title}", arn)
    if tags:  # tagging at creation needs iam:TagUser / iam:TagRole too (IAM API reference, CreateUser)
        authorize(ctx, f"iam:Tag{kind.title}", arn)
    ctx.resources.append(arn)
    row = _write(ctx, add, f"{kind.title} with name {name} already exists.")
    return {kind.title: kind.brief(row, tags)}


def _get(ctx: RequestContext, kind: _Kind, name: str) -> Result:
    def work(rows: IdentityRepository) -> dict:
        _authorize_entity(rows, ctx, f"iam:Get{kind.title}", kind, name)
        row = admin.get_principal(rows, ctx.account_id, kind.kind, name)
        return kind.shape(row, rows.tags_of(ctx.account_id, kind.kind, name))

    return {kind.title: _read(ctx, work)}


def _list(ctx: RequestContext, params: dict, kind: _Kind) -> Result:
    prefix = optional(params, "PathPrefix") or "/"
    operation = f"List{kind.title}s"
    authorize(ctx, f"iam:{operation}", "*")
    after, max_items = _page_request(ctx, params, operation, prefix)
    found = _read(ctx, lambda rows: rows.principals_page(ctx.account_id, kind.kind, prefix, after, max_items + 1))
    page, extra = _page_of(ctx, operation, prefix, list(found), max_items, kind.name_of)
    return {f"{kind.title}s": [kind.brief(r, None) for r in page], **extra}


def _delete(ctx: RequestContext, params: dict, kind: _Kind) -> Result:
    name = kind.name_in(params)

    def work(rows: IdentityRepository) -> None:
        _authorize_entity(rows, ctx, f"iam:Delete{kind.title}", kind, name)
        admin.delete_principal(rows, ctx.account_id, kind.kind, name)

    _write(ctx, work)
    return None


def create_user(ctx: RequestContext, params: dict) -> Result:
    name = USERS.name_in(params)
    path = admin.check_path(optional(params, "Path"))
    tags = admin.check_tags(as_list(params.get("Tags"), "Tags"))
    return _create(ctx, USERS, name, path, tags,
                   lambda rows: admin.create_user(rows, ctx.account_id, name, ctx.now(), path, tags))


def get_user(ctx: RequestContext, params: dict) -> Result:
    name = optional(params, "UserName")
    if not name:
        if ctx.principal.principal_type != USER:
            if ctx.principal.is_account_root:
                # the root: AWS answers with the account as a pseudo-user (no name, no path)
                account = _read(ctx, lambda rows: rows.account(ctx.account_id))
                created = account.created_at if account is not None else 0.0
                return {"User": {"UserId": ctx.account_id, "Arn": ctx.principal.arn,
                                 "CreateDate": timestamp(created)}}
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = ctx.principal.name
    return _get(ctx, USERS, admin.check_name(name, "userName"))


def list_users(ctx: RequestContext, params: dict) -> Result:
    return _list(ctx, params, USERS)


def delete_user(ctx: RequestContext, params: dict) -> Result:
    return _delete(ctx, params, USERS)


def create_role(ctx: RequestContext, params: dict) -> Result:
    name = ROLES.name_in(params)
    path = admin.check_path(optional(params, "Path"))
    document = required(params, "AssumeRolePolicyDocument")
    tags = admin.check_tags(as_list(params.get("Tags"), "Tags"))
    duration = as_int(optional(params, "MaxSessionDuration"), "maxSessionDuration")
    return _create(ctx, ROLES, name, path, tags,
                   lambda rows: admin.create_role(rows, ctx.account_id, name, document, ctx.now(), path,
                                                  optional(params, "Description") or "", duration, tags))


def get_role(ctx: RequestContext, params: dict) -> Result:
    return _get(ctx, ROLES, ROLES.name_in(params))


def list_roles(ctx: RequestContext, params: dict) -> Result:
    return _list(ctx, params, ROLES)


def delete_role(ctx: RequestContext, params: dict) -> Result:
    return _delete(ctx, params, ROLES)


def update_assume_role_policy(ctx: RequestContext, params: dict) -> Result:
    name = ROLES.name_in(params)
    document = required(params, "PolicyDocument")

    def work(rows: IdentityRepository) -> None:
        _authorize_entity(rows, ctx, "iam:UpdateAssumeRolePolicy", ROLES, name)
        admin.update_trust_policy(rows, ctx.account_id, name, document)

    _write(ctx, work)
    return None


# --- access keys -------------------------------------------------------------------------------
def _key_metadata(row: Any) -> dict:
    out = {"UserName": row.user_name or "", "AccessKeyId": row.access_key_id, "Status": row.status,
           "CreateDate": timestamp(row.created_at)}
    if row.user_name is None:
        del out["UserName"]
    return out


def create_access_key(ctx: RequestContext, params: dict) -> Result:
    name = _caller_user(ctx, params)

    def work(rows: IdentityRepository) -> tuple:
        _authorize_entity(rows, ctx, "iam:CreateAccessKey", USERS, name)
        return admin.create_access_key(ctx.kms.identities, rows, ctx.account_id, name, ctx.now())

    row, secret = _write(ctx, work)
    key = {"UserName": name or "", "AccessKeyId": row.access_key_id, "Status": row.status,
           "SecretAccessKey": secret, "CreateDate": timestamp(row.created_at)}
    return {"AccessKey": key}


def list_access_keys(ctx: RequestContext, params: dict) -> Result:
    name = _caller_user(ctx, params)

    def work(rows: IdentityRepository) -> list:
        _authorize_entity(rows, ctx, "iam:ListAccessKeys", USERS, name)
        if name is not None:
            admin.get_user(rows, ctx.account_id, name)
        return rows.access_keys_of(ctx.account_id, name)

    found = _read(ctx, work)
    page, extra = _paginate(ctx, params, "ListAccessKeys", name, found, lambda r: r.access_key_id)
    return {"AccessKeyMetadata": [_key_metadata(r) for r in page], **extra}


def update_access_key(ctx: RequestContext, params: dict) -> Result:
    name = _caller_user(ctx, params)
    akid = required(params, "AccessKeyId")
    status = required(params, "Status")

    def work(rows: IdentityRepository) -> None:
        _authorize_entity(rows, ctx, "iam:UpdateAccessKey", USERS, name)
        admin.update_access_key(rows, ctx.account_id, name, akid, status)

    _write(ctx, work)
    return None


def delete_access_key(ctx: RequestContext, params: dict) -> Result:
    name = _caller_user(ctx, params)
    akid = required(params, "AccessKeyId")

    def work(rows: IdentityRepository) -> None:
        _authorize_entity(rows, ctx, "iam:DeleteAccessKey", USERS, name)
        admin.delete_access_key(rows, ctx.account_id, name, akid)

    _write(ctx, work)
    return None


# --- inline policies (of users and roles alike) ------------------------------------------------
def _put_policy(ctx: RequestContext, params: dict, kind: _Kind) -> Result:
    name = kind.name_in(params)
    policy_name = admin.check_policy_name(required(params, "PolicyName"))
    document = required(params, "PolicyDocument")

    def work(rows: IdentityRepository) -> None:
        _authorize_entity(rows, ctx, f"iam:Put{kind.title}Policy", kind, name)
        admin.put_inline_policy(rows, ctx.account_id, kind.kind, name, policy_name, document)

    _write(ctx, work)
    return None


def _get_policy(ctx: RequestContext, params: dict, kind: _Kind) -> Result:
    name = kind.name_in(params)
    policy_name = admin.check_policy_name(required(params, "PolicyName"))

    def work(rows: IdentityRepository) -> Any:
        _authorize_entity(rows, ctx, f"iam:Get{kind.title}Policy", kind, name)
        return admin.get_inline_policy(rows, ctx.account_id, kind.kind, name, policy_name)

    row = _read(ctx, work)
    return {kind.member: name, "PolicyName": policy_name, "PolicyDocument": quote_policy(row.document)}


def _list_policies(ctx: RequestContext, params: dict, kind: _Kind) -> Result:
    name = kind.name_in(params)
    operation = f"List{kind.title}Policies"

    def work(rows: IdentityRepository) -> list:
        _authorize_entity(rows, ctx, f"iam:{operation}", kind, name)
        return admin.list_inline_policies(rows, ctx.account_id, kind.kind, name)

    page, extra = _paginate(ctx, params, operation, name, _read(ctx, work), lambda n: n)
    return {"PolicyNames": page, **extra}


def _delete_policy(ctx: RequestContext, params: dict, kind: _Kind) -> Result:
    name = kind.name_in(params)
    policy_name = admin.check_policy_name(required(params, "PolicyName"))

    def work(rows: IdentityRepository) -> None:
        _authorize_entity(rows, ctx, f"iam:Delete{kind.title}Policy", kind, name)
        admin.delete_inline_policy(rows, ctx.account_id, kind.kind, name, policy_name)

    _write(ctx, work)
    return None


def put_user_policy(ctx: RequestContext, params: dict) -> Result:
    return _put_policy(ctx, params, USERS)


def get_user_policy(ctx: RequestContext, params: dict) -> Result:
    return _get_policy(ctx, params, USERS)


def list_user_policies(ctx: RequestContext, params: dict) -> Result:
    return _list_policies(ctx, params, USERS)


def delete_user_policy(ctx: RequestContext, params: dict) -> Result:
    return _delete_policy(ctx, params, USERS)


def put_role_policy(ctx: RequestContext, params: dict) -> Result:
    return _put_policy(ctx, params, ROLES)


def get_role_policy(ctx: RequestContext, params: dict) -> Result:
    return _get_policy(ctx, params, ROLES)


def list_role_policies(ctx: RequestContext, params: dict) -> Result:
    return _list_policies(ctx, params, ROLES)


def delete_role_policy(ctx: RequestContext, params: dict) -> Result:
    return _delete_policy(ctx, params, ROLES)


#: Action -> operation function
OPERATIONS: dict[str, Callable[[RequestContext, dict], Result]] = {
    "CreateUser": create_user,
    "GetUser": get_user,
    "ListUsers": list_users,
    "DeleteUser": delete_user,
    "CreateRole": create_role,
    "GetRole": get_role,
    "ListRoles": list_roles,
    "DeleteRole": delete_role,
    "UpdateAssumeRolePolicy": update_assume_role_policy,
    "CreateAccessKey": create_access_key,
    "ListAccessKeys": list_access_keys,
    "UpdateAccessKey": update_access_key,
    "DeleteAccessKey": delete_access_key,
    "PutUserPolicy": put_user_policy,
    "GetUserPolicy": get_user_policy,
    "ListUserPolicies": list_user_policies,
    "DeleteUserPolicy": delete_user_policy,
    "PutRolePolicy": put_role_policy,
    "GetRolePolicy": get_role_policy,
    "ListRolePolicies": list_role_policies,
    "DeleteRolePolicy": delete_role_policy,
}
