"""Identity pages: who the signed-in principal is and what its own policies let it do;
the account's users and roles and their inline policies (read-only), through IAM and STS
as the principal (ListUsers, GetUserPolicy... each authorized as for an SDK call: a part
the principal may not read says so instead of failing the page).
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import unquote

from fastapi.responses import Response

from paramstore.console.backend import ConsoleError, Failure
from paramstore.console.web import Site, Visit

KINDS = {"user": ("User", "UserName"), "role": ("Role", "RoleName")}


def register(site: Site) -> None:
    site.page("/identity")(identity)
    site.page("/identity/entity")(entity)


async def _optional(visit: Visit, service: str, action: str, params: dict) -> tuple[Any, Optional[Failure]]:
    try:
        return await visit.query(service, action, params), None
    except ConsoleError as exc:
        return None, exc.failure


async def identity(visit: Visit) -> Response:
    caller = await visit.query("sts", "GetCallerIdentity")
    owner = visit.principal.policy_owner
    own = await _policies(visit, *owner) if owner else None
    users, users_error = await _optional(visit, "iam", "ListUsers", {"MaxItems": "100"})
    roles, roles_error = await _optional(visit, "iam", "ListRoles", {"MaxItems": "100"})
    return visit.page("identity.html", caller=caller, root=visit.principal.is_account_root, owner=owner,
                      own=own, users=(users or {}).get("Users"), users_error=users_error,
                      roles=(roles or {}).get("Roles"), roles_error=roles_error)


async def entity(visit: Visit) -> Response:
    kind = visit.arg("kind")
    if kind not in KINDS:
        raise ConsoleError(Failure("ValidationException", "Choose a user or a role."))
    title, member = KINDS[kind]
    name = visit.arg("name")
    found = (await visit.query("iam", f"Get{title}", {member: name}))[title]
    policies = await _policies(visit, kind, name)
    keys = None
    if kind == "user":
        keys, _ = await _optional(visit, "iam", "ListAccessKeys", {"UserName": name})
    trust = unquote(found["AssumeRolePolicyDocument"]) if found.get("AssumeRolePolicyDocument") else None
    return visit.page("entity.html", kind=kind, entity=found, policies=policies, trust=_pretty(trust),
                      keys=(keys or {}).get("AccessKeyMetadata"))


async def _policies(visit: Visit, kind: str, name: str) -> dict:
    """{"documents": [(name, pretty JSON)], "allowed": [...], "denied": [...], "error": Failure}"""
    title, member = KINDS[kind]
    listed, error = await _optional(visit, "iam", f"List{title}Policies", {member: name})
    documents, allowed, denied = [], [], []
    for policy_name in (listed or {}).get("PolicyNames", []):
        got, failure = await _optional(visit, "iam", f"Get{title}Policy", {member: name, "PolicyName": policy_name})
        if failure is not None:
            error = failure
            continue
        text = unquote(got["PolicyDocument"])
        documents.append((policy_name, _pretty(text)))
        for effect, actions, resources in _statements(text):
            (allowed if effect == "Allow" else denied).append((", ".join(actions), ", ".join(resources)))
    return {"documents": documents, "allowed": allowed, "denied": denied, "error": error}


def _statements(text: str) -> list[tuple[str, list[str], list[str]]]:
    """(effect, actions, resources) of each statement; NotAction shown as "all but ..."."""
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []
    out = []
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, dict):
            continue
        actions = _as_list(st.get("Action")) or [f"all but {a}" for a in _as_list(st.get("NotAction"))]
        resources = _as_list(st.get("Resource")) or [f"all but {r}" for r in _as_list(st.get("NotResource"))]
        out.append((str(st.get("Effect", "")), actions, resources))
    return out


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _pretty(text: Optional[str]) -> Optional[str]:
    if text is None:
        return None
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text
