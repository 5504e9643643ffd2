"""The IAM API subset: one function per AWS operation, `op(ctx, params) -> result`.

`params` are the decoded query parameters (protocol/query.py: `Tags.member.1.Key` arrives
as `{"Tags": [{"Key": ...}]}`); the result dict becomes the `<{Action}Result>` element.
A caller only ever sees its own account.  The account root may do anything in it; a user
or a role session needs an identity policy allowing `iam:<Action>` on the user/role ARN.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Optional
from urllib.parse import quote

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from kms_core.domain.errors import invalid
from kms_core.context import RequestContext
from kms_core.identity import admin
from kms_core.identity.errors import AccessDenied, EntityAlreadyExists, ValidationError
from kms_core.domain.principal import USER
from kms_core.identity.store import role_arn, user_arn
from kms_core.policy.authorize import Facts, set_request_tags
from kms_core.policy.evaluate import Decision, decide
from kms_core.protocol.page_tokens import open_page_token, seal_page_token
from kms_core.storage.tables import AccountTable, IamRoleTable, IamUserTable

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


def _write(ctx: RequestContext, work: Callable[[Any], Any], conflict: Optional[str] = None) -> Any:
    """Run `work(session)` in a write transaction; drop caches after the commit."""
    try:
        with ctx.kms.db.write() as session:
            result = work(session)
    except IntegrityError:
        # a concurrent request created the same name first
        raise EntityAlreadyExists(conflict or "The entity already exists.") from None
    ctx.kms.changed()
    return result


def _read(ctx: RequestContext, work: Callable[[Any], Any]) -> Any:
    with ctx.kms.db.session() as session:
        return work(session)


def _tag_list(tags: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _paginate(ctx: RequestContext, params: dict, operation: str, bound: Any, items: list,
              name_of: Callable[[Any], str]) -> tuple[list, dict]:
    """A MaxItems page of `items` (sorted by `name_of`).  The Marker is sealed for this
    account, Region, operation and `bound` (the request's filter); anything else that
    comes back as a Marker is a ValidationError."""
    max_items = as_int(optional(params, "MaxItems"), "maxItems")
    if max_items is None:
        max_items = 100
    if not 1 <= max_items <= 1000:
        raise ValidationError(invalid("maxItems", "Member must have value between 1 and 1000", max_items))
    marker = optional(params, "Marker")
    if marker is not None:
        after = open_page_token(ctx, "iam:" + operation, bound, marker)
        if after is None:
            raise ValidationError("Invalid Marker.")
        items = [i for i in items if name_of(i) > after]
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


def _entity_arn(session: Any, ctx: RequestContext, kind: str, name: Optional[str]) -> str:
    """The ARN IAM authorizes on: the stored user's or role's, path included (a user
    under /admins/ is `user/admins/NAME`, never `user/NAME`).  An entity that does not
    exist is named with the root path; the operation then answers NoSuchEntity.
    `name` None is the account root (its own access keys)."""
    if name is None:
        return f"arn:aws:iam::{ctx.account_id}:root"
    table, arn = (IamUserTable, user_arn) if kind == admin.USER else (IamRoleTable, role_arn)
    row = session.get(table, (ctx.account_id, name))
    return arn(ctx.account_id, name, row.path if row is not None else "/")


def _authorize_entity(session: Any, ctx: RequestContext, action: str, kind: str, name: Optional[str]) -> str:
    """Authorize `action` on the entity as stored, in the transaction that acts on it,
    so the path can't change between the check and the change."""
    resource = _entity_arn(session, ctx, kind, name)
    if resource not in ctx.resources:  # recorded now: a write's event commits with the write
        ctx.resources.append(resource)
    if name is None:
        authorize(ctx, action, resource)
    else:
        authorize(ctx, action, resource, lambda: admin.tags_of(session, ctx.account_id, kind, name))
    return resource


# --- users -------------------------------------------------------------------------------------
def create_user(ctx: RequestContext, params: dict) -> Result:
    name = admin.check_name(required(params, "UserName"), "userName")
    path = admin.check_path(optional(params, "Path"))
    tags = admin.check_tags(as_list(params.get("Tags"), "Tags"))
    set_request_tags(ctx, tags)
    authorize(ctx, "iam:CreateUser", user_arn(ctx.account_id, name, path))
    if tags:  # tagging at creation needs iam:TagUser too (IAM API reference, CreateUser)
        authorize(ctx, "iam:TagUser", user_arn(ctx.account_id, name, path))
    ctx.resources.append(user_arn(ctx.account_id, name, path))
    row = _write(ctx, lambda s: admin.create_user(s, ctx.account_id, name, ctx.now(), path, tags),
                 f"User with name {name} already exists.")
    return {"User": _user_shape(row, tags)}


def get_user(ctx: RequestContext, params: dict) -> Result:
    name = optional(params, "UserName")
    if not name:
        if ctx.principal.principal_type != USER:
            if ctx.principal.is_account_root:
                # the root: AWS answers with the account as a pseudo-user (no name, no path)
                account = _read(ctx, lambda s: s.get(AccountTable, ctx.account_id))
                created = account.created_at if account is not None else 0.0
                return {"User": {"UserId": ctx.account_id, "Arn": ctx.principal.arn,
                                 "CreateDate": timestamp(created)}}
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = ctx.principal.name
    admin.check_name(name, "userName")

    def work(s: Any) -> dict:
        _authorize_entity(s, ctx, "iam:GetUser", admin.USER, name)
        row = admin.get_user(s, ctx.account_id, name)
        return _user_shape(row, admin.tags_of(s, ctx.account_id, admin.USER, name))

    shape = _read(ctx, work)
    return {"User": shape}


def list_users(ctx: RequestContext, params: dict) -> Result:
    prefix = optional(params, "PathPrefix") or "/"
    authorize(ctx, "iam:ListUsers", "*")
    rows = _read(ctx, lambda s: list(s.exec(select(IamUserTable).where(IamUserTable.account_id == ctx.account_id))))
    rows = sorted((r for r in rows if r.path.startswith(prefix)), key=lambda r: r.user_name)
    page, extra = _paginate(ctx, params, "ListUsers", prefix, rows, lambda r: r.user_name)
    return {"Users": [_user_shape(r) for r in page], **extra}


def delete_user(ctx: RequestContext, params: dict) -> Result:
    name = admin.check_name(required(params, "UserName"), "userName")

    def work(s: Any) -> str:
        resource = _authorize_entity(s, ctx, "iam:DeleteUser", admin.USER, name)
        admin.delete_user(s, ctx.account_id, name)
        return resource

    _write(ctx, work)
    return None


# --- roles -------------------------------------------------------------------------------------
def create_role(ctx: RequestContext, params: dict) -> Result:
    name = admin.check_name(required(params, "RoleName"), "roleName")
    path = admin.check_path(optional(params, "Path"))
    document = required(params, "AssumeRolePolicyDocument")
    tags = admin.check_tags(as_list(params.get("Tags"), "Tags"))
    duration = as_int(optional(params, "MaxSessionDuration"), "maxSessionDuration")
    set_request_tags(ctx, tags)
    authorize(ctx, "iam:CreateRole", role_arn(ctx.account_id, name, path))
    if tags:  # tagging at creation needs iam:TagRole too (IAM API reference, CreateRole)
        authorize(ctx, "iam:TagRole", role_arn(ctx.account_id, name, path))
    ctx.resources.append(role_arn(ctx.account_id, name, path))
    row = _write(ctx, lambda s: admin.create_role(s, ctx.account_id, name, document, ctx.now(), path,
                                                  optional(params, "Description") or "", duration, tags),
                 f"Role with name {name} already exists.")
    return {"Role": _role_shape(row, tags, full=False)}


def get_role(ctx: RequestContext, params: dict) -> Result:
    name = admin.check_name(required(params, "RoleName"), "roleName")

    def work(s: Any) -> dict:
        _authorize_entity(s, ctx, "iam:GetRole", admin.ROLE, name)
        row = admin.get_role(s, ctx.account_id, name)
        return _role_shape(row, admin.tags_of(s, ctx.account_id, admin.ROLE, name))

    shape = _read(ctx, work)
    return {"Role": shape}


def list_roles(ctx: RequestContext, params: dict) -> Result:
    prefix = optional(params, "PathPrefix") or "/"
    authorize(ctx, "iam:ListRoles", "*")
    rows = _read(ctx, lambda s: list(s.exec(select(IamRoleTable).where(IamRoleTable.account_id == ctx.account_id))))
    rows = sorted((r for r in rows if r.path.startswith(prefix)), key=lambda r: r.role_name)
    page, extra = _paginate(ctx, params, "ListRoles", prefix, rows, lambda r: r.role_name)
    return {"Roles": [_role_shape(r, full=False) for r in page], **extra}


def delete_role(ctx: RequestContext, params: dict) -> Result:
    name = admin.check_name(required(params, "RoleName"), "roleName")

    def work(s: Any) -> str:
        resource = _authorize_entity(s, ctx, "iam:DeleteRole", admin.ROLE, name)
        admin.delete_role(s, ctx.account_id, name)
        return resource

    _write(ctx, work)
    return None


def update_assume_role_policy(ctx: RequestContext, params: dict) -> Result:
    name = admin.check_name(required(params, "RoleName"), "roleName")
    document = required(params, "PolicyDocument")

    def work(s: Any) -> str:
        resource = _authorize_entity(s, ctx, "iam:UpdateAssumeRolePolicy", admin.ROLE, name)
        admin.update_trust_policy(s, ctx.account_id, name, document)
        return resource

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

    def work(s: Any) -> tuple:
        resource = _authorize_entity(s, ctx, "iam:CreateAccessKey", admin.USER, name)
        return resource, *admin.create_access_key(ctx.kms.identities, s, ctx.account_id, name, ctx.now())

    _, row, secret = _write(ctx, work)
    key = {"UserName": name or "", "AccessKeyId": row.access_key_id, "Status": row.status,
           "SecretAccessKey": secret, "CreateDate": timestamp(row.created_at)}
    return {"AccessKey": key}


def list_access_keys(ctx: RequestContext, params: dict) -> Result:
    name = _caller_user(ctx, params)

    def work(s: Any) -> list:
        _authorize_entity(s, ctx, "iam:ListAccessKeys", admin.USER, name)
        if name is not None:
            admin.get_user(s, ctx.account_id, name)
        return admin.access_keys_of(s, ctx.account_id, name)

    rows = _read(ctx, work)
    page, extra = _paginate(ctx, params, "ListAccessKeys", name, rows, lambda r: r.access_key_id)
    return {"AccessKeyMetadata": [_key_metadata(r) for r in page], **extra}


def update_access_key(ctx: RequestContext, params: dict) -> Result:
    name = _caller_user(ctx, params)
    akid = required(params, "AccessKeyId")
    status = required(params, "Status")

    def work(s: Any) -> str:
        resource = _authorize_entity(s, ctx, "iam:UpdateAccessKey", admin.USER, name)
        admin.update_access_key(s, ctx.account_id, name, akid, status)
        return resource

    _write(ctx, work)
    return None


def delete_access_key(ctx: RequestContext, params: dict) -> Result:
    name = _caller_user(ctx, params)
    akid = required(params, "AccessKeyId")

    def work(s: Any) -> str:
        resource = _authorize_entity(s, ctx, "iam:DeleteAccessKey", admin.USER, name)
        admin.delete_access_key(s, ctx.account_id, name, akid)
        return resource

    _write(ctx, work)
    return None


# --- inline policies ---------------------------------------------------------------------------
def _policy_ops(kind: str) -> dict[str, Callable[[RequestContext, dict], Result]]:
    title = "User" if kind == admin.USER else "Role"
    member = "UserName" if kind == admin.USER else "RoleName"

    def owner(params: dict) -> str:
        return admin.check_name(required(params, member), member[0].lower() + member[1:])

    def put(ctx: RequestContext, params: dict) -> Result:
        name = owner(params)
        policy_name = admin.check_policy_name(required(params, "PolicyName"))
        document = required(params, "PolicyDocument")

        def work(s: Any) -> str:
            resource = _authorize_entity(s, ctx, f"iam:Put{title}Policy", kind, name)
            admin.put_inline_policy(s, ctx.account_id, kind, name, policy_name, document)
            return resource

        _write(ctx, work)
        return None

    def get(ctx: RequestContext, params: dict) -> Result:
        name = owner(params)
        policy_name = admin.check_policy_name(required(params, "PolicyName"))

        def work(s: Any) -> tuple:
            resource = _authorize_entity(s, ctx, f"iam:Get{title}Policy", kind, name)
            return resource, admin.get_inline_policy(s, ctx.account_id, kind, name, policy_name)

        _, row = _read(ctx, work)
        return {member: name, "PolicyName": policy_name, "PolicyDocument": quote_policy(row.document)}

    def list_(ctx: RequestContext, params: dict) -> Result:
        name = owner(params)

        def work(s: Any) -> list:
            _authorize_entity(s, ctx, f"iam:List{title}Policies", kind, name)
            return admin.list_inline_policies(s, ctx.account_id, kind, name)

        page, extra = _paginate(ctx, params, f"List{title}Policies", name, _read(ctx, work), lambda n: n)
        return {"PolicyNames": page, **extra}

    def delete(ctx: RequestContext, params: dict) -> Result:
        name = owner(params)
        policy_name = admin.check_policy_name(required(params, "PolicyName"))

        def work(s: Any) -> str:
            resource = _authorize_entity(s, ctx, f"iam:Delete{title}Policy", kind, name)
            admin.delete_inline_policy(s, ctx.account_id, kind, name, policy_name)
            return resource

        _write(ctx, work)
        return None

    return {f"Put{title}Policy": put, f"Get{title}Policy": get, f"List{title}Policies": list_,
            f"Delete{title}Policy": delete}


_user_policy_ops = _policy_ops(admin.USER)
_role_policy_ops = _policy_ops(admin.ROLE)
put_user_policy = _user_policy_ops["PutUserPolicy"]
get_user_policy = _user_policy_ops["GetUserPolicy"]
list_user_policies = _user_policy_ops["ListUserPolicies"]
delete_user_policy = _user_policy_ops["DeleteUserPolicy"]
put_role_policy = _role_policy_ops["PutRolePolicy"]
get_role_policy = _role_policy_ops["GetRolePolicy"]
list_role_policies = _role_policy_ops["ListRolePolicies"]
delete_role_policy = _role_policy_ops["DeleteRolePolicy"]


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
