"""Key policy documents: validation and AWS's default policy.

Validation follows the IAM JSON grammar closely enough to refuse what AWS refuses
(MalformedPolicyDocumentException with a message that says what is wrong) and stores the
document as given, byte for byte, because GetKeyPolicy returns it unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kms_core.domain.limits import MAX_KEY_POLICY_BYTES
from kms_core.errors import LimitExceededException, MalformedPolicyDocumentException

_ALLOWED_CHARS = re.compile(r"^[\u0009\u000A\u000D\u0020-\u00FF]*$")
_VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                   "Resource", "NotResource", "Condition"}
_AWS_PRINCIPAL = re.compile(
    r"^(\*|\d{12}|arn:aws[a-zA-Z-]*:(iam::\d{12}:(root|user/.+|role/.+|group/.+)"
    r"|sts::\d{12}:(assumed-role/.+/.+|federated-user/.+)))$")
_INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."


def default_key_policy(account_id: str) -> str:
    """Exactly what AWS's GetKeyPolicy returns for a key created without Policy."""
    return (
        "{\n"
        '  "Version" : "2012-10-17",\n'
        '  "Id" : "key-default-1",\n'
        '  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions",\n'
        '    "Effect" : "Allow",\n'
        '    "Principal" : {\n'
        f'      "AWS" : "arn:aws:iam::{account_id}:root"\n'
        "    },\n"
        '    "Action" : "kms:*",\n'
        '    "Resource" : "*"\n'
        "  } ]\n"
        "}"
    )


def validate_key_policy(text: str) -> dict[str, Any]:
    """Parse and check a key policy; returns the parsed document."""
    if len(text.encode("utf-8")) > MAX_KEY_POLICY_BYTES:
        raise LimitExceededException(
            f"Policy document exceeds the maximum size of {MAX_KEY_POLICY_BYTES} bytes.")
    if not _ALLOWED_CHARS.match(text):
        raise MalformedPolicyDocumentException("The policy contains characters that are not allowed.")
    try:
        doc = json.loads(text)
    except ValueError:
        raise MalformedPolicyDocumentException("The policy is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise MalformedPolicyDocumentException("The policy must be a JSON object.")
    version = doc.get("Version")
    if version is not None and version not in _VERSIONS:
        raise MalformedPolicyDocumentException(f"The policy Version '{version}' is not supported.")
    statements = doc.get("Statement")
    if statements is None:
        raise MalformedPolicyDocumentException("The policy is missing the required 'Statement' element.")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocumentException("The policy 'Statement' must be an object or a non-empty list.")
    sids = set()
    for i, st in enumerate(statements, 1):
        _validate_statement(st, i)
        sid = st.get("Sid")
        if sid is not None:
            if sid in sids:
                raise MalformedPolicyDocumentException(f"Statement IDs (SID) must be unique: '{sid}'.")
            sids.add(sid)
    return doc


def _validate_statement(st: Any, i: int) -> None:
    if not isinstance(st, dict):
        raise MalformedPolicyDocumentException(f"Statement {i} must be a JSON object.")
    unknown = set(st) - _STATEMENT_KEYS
    if unknown:
        raise MalformedPolicyDocumentException(
            f"Statement {i} has unsupported element(s): {', '.join(sorted(unknown))}.")
    if st.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicyDocumentException(f"Statement {i} must have an Effect of 'Allow' or 'Deny'.")
    if "Sid" in st and not isinstance(st["Sid"], str):
        raise MalformedPolicyDocumentException(f"Statement {i} has a Sid that is not a string.")
    has_p, has_np = "Principal" in st, "NotPrincipal" in st
    if has_p == has_np:
        raise MalformedPolicyDocumentException(
            f"Statement {i} must have exactly one of 'Principal' or 'NotPrincipal' in a key policy.")
    _validate_principal(st["Principal"] if has_p else st["NotPrincipal"])
    for a, na in (("Action", "NotAction"), ("Resource", "NotResource")):
        if a in st and na in st:
            raise MalformedPolicyDocumentException(f"Statement {i} can't have both '{a}' and '{na}'.")
        for name in (a, na):
            if name in st:
                _string_or_list(st[name], f"Statement {i} '{name}'")
    if "Condition" in st:
        _validate_condition(st["Condition"], i)


def _validate_principal(principal: Any) -> None:
    if principal == "*":
        return
    if not isinstance(principal, dict) or not principal:
        raise MalformedPolicyDocumentException(_INVALID_PRINCIPALS)
    for kind, values in principal.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise MalformedPolicyDocumentException(_INVALID_PRINCIPALS)
        items = values if isinstance(values, list) else [values]
        if not items or not all(isinstance(v, str) and v for v in items):
            raise MalformedPolicyDocumentException(_INVALID_PRINCIPALS)
        if kind == "AWS" and not all(_AWS_PRINCIPAL.match(v) for v in items):
            raise MalformedPolicyDocumentException(_INVALID_PRINCIPALS)


def _string_or_list(value: Any, where: str) -> None:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) for v in items):
        raise MalformedPolicyDocumentException(f"{where} must be a string or a list of strings.")


def _validate_condition(cond: Any, i: int) -> None:
    if not isinstance(cond, dict):
        raise MalformedPolicyDocumentException(f"Statement {i} 'Condition' must be a JSON object.")
    for operator, block in cond.items():
        if not isinstance(block, dict) or not block:
            raise MalformedPolicyDocumentException(
                f"Statement {i} condition operator '{operator}' must map condition keys to values.")
        for key, values in block.items():
            items = values if isinstance(values, list) else [values]
            if not all(isinstance(v, (str, bool, int, float)) for v in items):
                raise MalformedPolicyDocumentException(
                    f"Statement {i} condition key '{key}' has a value that is not a string, number or boolean.")
