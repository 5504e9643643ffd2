"""Creating and deleting users, roles, access keys and inline policies.

Small functions on an open write transaction (`txn`: the session of the caller's
`db.write()`, or the IdentityRepository over it), shared by the IAM API
(iam_operations.py) and anything else that manages identities (e.g. a declarative seed
file).  They validate their input the way IAM does and raise IAM's error codes
(identity/errors.py); they never authorize (callers do) and never commit (the caller's
`db.write()` does), and the caller must call `kms.changed()` after the commit so caches
drop the old state.  Users and roles share their code: `kind` is USER or ROLE.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Optional, TypeVar

from kms_core.domain.errors import invalid
from kms_core.errors import MalformedPolicyDocumentException
from kms_core.identity.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    IamError,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
    ValidationError,
)
from kms_core.identity.store import IdentityStore, new_unique_id, role_arn, user_arn
from kms_core.policy.evaluate import CompiledPolicy, compile_policy
from kms_core.storage.identities import ROLE, USER, IdentityRepository, PrincipalRow, Txn
from kms_core.storage.tables import AccessKeyTable, IamInlinePolicyTable, IamRoleTable, IamUserTable

Row = TypeVar("Row", IamUserTable, IamRoleTable)

NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}\Z", re.ASCII)
POLICY_NAME_RE = re.compile(r"^[\w+=,.@-]{1,128}\Z", re.ASCII)
PATH_RE = re.compile(r"^(/|/[\x21-\x7e]+/)\Z")
#: tag keys and values: letters, digits, spaces and _ . : / = + - @ (no control characters)
_TAG_RE = re.compile(r"[\w .:/=+\-@]+")
#: role descriptions: printable Latin-1 plus tab and newlines
_DESCRIPTION_RE = re.compile(r"[\t\n\r\x20-\x7e\xa1-\xff]*")
#: IAM quotas: aggregate inline policy size per user / role, trust policy size (characters,
#: whitespace not counted)
USER_POLICY_QUOTA = 2048
ROLE_POLICY_QUOTA = 10240
TRUST_POLICY_QUOTA = 2048
MAX_ACCESS_KEYS_PER_USER = 2
MAX_TAGS = 50
MIN_SESSION_DURATION, MAX_SESSION_DURATION = 3600, 43200


# --- validation ------------------------------------------------------------------------------
def _invalid(value: Any, member: str, constraint: str) -> ValidationError:
    return ValidationError(invalid(member, constraint, value))


def check_name(name: Any, member: str = "userName") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        if isinstance(name, str) and not 1 <= len(name) <= 64:
            raise _invalid(name, member, "Member must have length between 1 and 64")
        raise _invalid(name, member, "Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    return name


def check_policy_name(name: Any) -> str:
    if not isinstance(name, str) or not POLICY_NAME_RE.match(name):
        raise _invalid(name, "policyName", "Member must satisfy regular expression pattern: [\\w+=,.@-]+"
                       " and have length between 1 and 128")
    return name


def check_path(path: Optional[str]) -> str:
    if path is None:
        return "/"
    if not isinstance(path, str) or len(path) > 512 or not PATH_RE.match(path):
        raise _invalid(path, "path", "Member must satisfy regular expression pattern: "
                       "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)")
    return path


def check_tags(tags: Optional[list]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags or []:
        if not isinstance(tag, dict) or not isinstance(tag.get("Key"), str) or not isinstance(tag.get("Value"), str):
            raise ValidationError("Each tag must have a Key and a Value.")
        key, value = tag["Key"], tag["Value"]
        if not 1 <= len(key) <= 128 or not _TAG_RE.fullmatch(key):
            raise _invalid(key, "tags.member.key", "Member must have length between 1 and 128 and satisfy "
                           "regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+")
        if len(value) > 256 or not (value == "" or _TAG_RE.fullmatch(value)):
            raise _invalid(value, "tags.member.value", "Member must have length less than or equal to 256 and "
                           "satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*")
        if key.lower() in (k.lower() for k in out):
            raise ValidationError("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        out[key] = value
    if len(out) > MAX_TAGS:
        raise LimitExceeded(f"Cannot exceed quota for TagsPerUser: {MAX_TAGS}.")
    return out


def _policy_dict(text: Any) -> dict:
    if not isinstance(text, str) or not text.strip():
        raise MalformedPolicyDocument("Syntax errors in policy: the policy document is empty.")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise MalformedPolicyDocument("Syntax errors in policy: the policy is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise MalformedPolicyDocument("Syntax errors in policy: the policy must be a JSON object.")
    version = doc.get("Version")
    if version is not None and version not in ("2012-10-17", "2008-10-17"):
        raise MalformedPolicyDocument(f"The policy must contain a valid version string: '{version}' is not one.")
    return doc


def validate_identity_policy(text: Any) -> CompiledPolicy:
    """An identity policy as IAM accepts it (MalformedPolicyDocument otherwise)."""
    doc = _policy_dict(text)
    try:
        return compile_policy(doc, resource_policy=False)
    except MalformedPolicyDocumentException as exc:
        raise MalformedPolicyDocument(exc.message) from None


def compile_trust_policy(text: Any) -> CompiledPolicy:
    """A role's trust policy, compiled as a resource policy on the role.

    Trust policies have no Resource element (the role is the resource): each statement is
    compiled with `"Resource": "*"` so its Action applies."""
    doc = _policy_dict(text)
    statements = doc.get("Statement")
    items = [statements] if isinstance(statements, dict) else statements
    if isinstance(items, list):
        fixed = []
        for i, st in enumerate(items, 1):
            if isinstance(st, dict):
                if "Resource" in st or "NotResource" in st:
                    raise MalformedPolicyDocument(f"Has prohibited field Resource (statement {i}).")
                st = {**st, "Resource": "*"}
            fixed.append(st)
        doc = {**doc, "Statement": fixed}
    try:
        compiled = compile_policy(doc, resource_policy=True)
    except MalformedPolicyDocumentException as exc:
        message = exc.message.replace("in a key policy", "in a trust policy")
        raise MalformedPolicyDocument(message) from None
    return CompiledPolicy(text, compiled.statements)


def policy_size(text: str) -> int:
    """The size IAM counts against its quotas: characters, whitespace excluded."""
    return sum(1 for ch in text if not ch.isspace())


def validate_trust_policy(text: Any) -> str:
    compile_trust_policy(text)
    if policy_size(text) > TRUST_POLICY_QUOTA:
        raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_QUOTA}")
    return text


# --- lookups ---------------------------------------------------------------------------------
def _no_such(kind: str, name: str) -> IamError:
    return NoSuchEntity(f"The {kind} with name {name} cannot be found.")


def get_principal(txn: Txn, account_id: str, kind: str, name: str) -> PrincipalRow:
    row = IdentityRepository.of(txn).principal(account_id, kind, name)
    if row is None:
        raise _no_such(kind, name)
    return row


def get_user(txn: Txn, account_id: str, name: str) -> IamUserTable:
    """get_principal, typed for the user-only callers (access keys)."""
    row = IdentityRepository.of(txn).user(account_id, name)
    if row is None:
        raise _no_such(USER, name)
    return row


def tags_of(txn: Txn, account_id: str, kind: str, name: str) -> dict[str, str]:
    return IdentityRepository.of(txn).tags_of(account_id, kind, name)


def access_keys_of(txn: Txn, account_id: str, user_name: Optional[str]) -> list[AccessKeyTable]:
    """A user's access keys (user_name None: the account root's)."""
    return IdentityRepository.of(txn).access_keys_of(account_id, user_name)


# --- users and roles -------------------------------------------------------------------------
def _add_principal(rows: IdentityRepository, account_id: str, kind: str, name: str,
                   tags: Optional[dict[str, str]], add: Callable[[], Row]) -> Row:
    """What creating a user and a role share: the name must be free, case-blind (IAM's
    names are), and the tags come with the row."""
    if rows.name_taken(account_id, kind, name):
        raise EntityAlreadyExists(f"{kind.capitalize()} with name {name} already exists.")
    row = add()
    rows.add_tags(account_id, kind, name, tags or {})
    rows.flush()
    return row


def create_user(txn: Txn, account_id: str, name: str, now: float, path: Optional[str] = "/",
                tags: Optional[dict[str, str]] = None) -> IamUserTable:
    check_name(name, "userName")
    path = check_path(path)
    rows = IdentityRepository.of(txn)
    return _add_principal(rows, account_id, USER, name, tags,
                          lambda: rows.add_user(account_id, name, new_unique_id("AIDA"), path, now))


def create_role(txn: Txn, account_id: str, name: str, trust_policy: str, now: float,
                path: Optional[str] = "/", description: str = "", max_session_duration: Optional[int] = None,
                tags: Optional[dict[str, str]] = None) -> IamRoleTable:
    check_name(name, "roleName")
    path = check_path(path)
    validate_trust_policy(trust_policy)
    if len(description or "") > 1000 or not _DESCRIPTION_RE.fullmatch(description or ""):
        raise _invalid(description, "description", "Member must have length less than or equal to 1000 and "
                       "satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*")
    duration = MIN_SESSION_DURATION if max_session_duration is None else max_session_duration
    if not MIN_SESSION_DURATION <= duration <= MAX_SESSION_DURATION:
        raise _invalid(duration, "maxSessionDuration",
                       f"Member must have value between {MIN_SESSION_DURATION} and {MAX_SESSION_DURATION}")
    rows = IdentityRepository.of(txn)
    return _add_principal(rows, account_id, ROLE, name, tags,
                          lambda: rows.add_role(account_id, name, new_unique_id("AROA"), path, trust_policy,
                                                description or "", duration, now))


def delete_principal(txn: Txn, account_id: str, kind: str, name: str) -> PrincipalRow:
    """A user or role with nothing attached (IAM refuses to orphan keys and policies)."""
    rows = IdentityRepository.of(txn)
    row = get_principal(rows, account_id, kind, name)
    if kind == USER and rows.access_keys_of(account_id, name):
        raise DeleteConflict("Cannot delete entity, must delete access keys first.")
    if rows.inline_policies(account_id, kind, name):
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    rows.delete_tags(account_id, kind, name)
    rows.delete(row)
    return row


def update_trust_policy(txn: Txn, account_id: str, name: str, trust_policy: str) -> IamRoleTable:
    rows = IdentityRepository.of(txn)
    row = rows.role(account_id, name)
    if row is None:
        raise _no_such(ROLE, name)
    validate_trust_policy(trust_policy)
    row.assume_role_policy = trust_policy
    rows.save(row)
    return row


# --- inline policies -------------------------------------------------------------------------
def put_inline_policy(txn: Txn, account_id: str, kind: str, owner: str, policy_name: str,
                      document: str) -> None:
    """Create or replace an inline policy on a user or role, within IAM's size quota."""
    check_policy_name(policy_name)
    rows = IdentityRepository.of(txn)
    get_principal(rows, account_id, kind, owner)
    validate_identity_policy(document)
    quota = USER_POLICY_QUOTA if kind == USER else ROLE_POLICY_QUOTA
    others = sum(policy_size(r.document) for r in rows.inline_policies(account_id, kind, owner)
                 if r.policy_name != policy_name)
    if others + policy_size(document) > quota:
        raise LimitExceeded(f"Maximum policy size of {quota} bytes exceeded for {kind} {owner}")
    rows.put_inline_policy(account_id, kind, owner, policy_name, document)


def get_inline_policy(txn: Txn, account_id: str, kind: str, owner: str,
                      policy_name: str) -> IamInlinePolicyTable:
    rows = IdentityRepository.of(txn)
    get_principal(rows, account_id, kind, owner)
    row = rows.inline_policy(account_id, kind, owner, policy_name)
    if row is None:
        raise NoSuchEntity(f"The {kind} policy with name {policy_name} cannot be found.")
    return row


def list_inline_policies(txn: Txn, account_id: str, kind: str, owner: str) -> list[str]:
    rows = IdentityRepository.of(txn)
    get_principal(rows, account_id, kind, owner)
    return sorted(r.policy_name for r in rows.inline_policies(account_id, kind, owner))


def delete_inline_policy(txn: Txn, account_id: str, kind: str, owner: str, policy_name: str) -> None:
    row = get_inline_policy(txn, account_id, kind, owner, policy_name)
    IdentityRepository.of(txn).delete(row)


# --- access keys -----------------------------------------------------------------------------
def create_access_key(identities: IdentityStore, txn: Txn, account_id: str, user_name: Optional[str],
                      now: float, access_key_id: Optional[str] = None,
                      secret: Optional[str] = None) -> tuple[AccessKeyTable, str]:
    """A new Active access key for a user (user_name None: for the account root)."""
    rows = IdentityRepository.of(txn)
    if user_name is not None:
        user = get_user(rows, account_id, user_name)
        principal_arn: Optional[str] = user_arn(account_id, user.user_name, user.path)
    else:
        principal_arn = None
    if len(rows.access_keys_of(account_id, user_name)) >= MAX_ACCESS_KEYS_PER_USER:
        raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}")
    akid, secret = identities.add_access_key(rows, account_id, now, access_key_id, secret,
                                             principal_arn=principal_arn, user_name=user_name)
    rows.flush()
    row = rows.access_key(akid)
    assert row is not None  # just added, in this transaction
    return row, secret


def _own_key(rows: IdentityRepository, account_id: str, user_name: Optional[str],
             access_key_id: str) -> AccessKeyTable:
    """The key, if it is this user's (or the root's): another's is reported as missing."""
    if user_name is not None:
        get_user(rows, account_id, user_name)
    row = rows.access_key(access_key_id)
    if row is None or row.account_id != account_id or row.user_name != user_name:
        raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
    return row


def update_access_key(txn: Txn, account_id: str, user_name: Optional[str], access_key_id: str,
                      status: str) -> AccessKeyTable:
    if status not in ("Active", "Inactive"):
        raise _invalid(status, "status", "Member must satisfy enum value set: [Active, Inactive]")
    rows = IdentityRepository.of(txn)
    row = _own_key(rows, account_id, user_name, access_key_id)
    row.status = status
    rows.save(row)
    return row


def delete_access_key(txn: Txn, account_id: str, user_name: Optional[str], access_key_id: str) -> None:
    rows = IdentityRepository.of(txn)
    rows.delete(_own_key(rows, account_id, user_name, access_key_id))


__all__ = [
    "get_principal", "create_user", "create_role", "delete_principal", "update_trust_policy", "put_inline_policy",
    "get_inline_policy", "list_inline_policies", "delete_inline_policy", "create_access_key",
    "update_access_key", "delete_access_key", "validate_identity_policy", "validate_trust_policy",
    "compile_trust_policy", "user_arn", "role_arn",
]
