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
from kms_core.policy.evaluate import compile_policy

_ALLOWED_CHARS = re.compile(r"^[\u0009\u000A\u000D\u0020-\u00FF]*$")
_VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                   "Resource", "NotResource", "Condition"}


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
    """Check a key policy's size, characters and grammar; returns the parsed document.

    The statement grammar (Effect, Principal, Action, Resource, Condition) is checked by
    compiling it (policy/evaluate.py), so what is accepted is exactly what is enforced."""
    if len(text.encode("utf-8")) > MAX_KEY_POLICY_BYTES:
        raise LimitExceededException(
            f"Policy document exceeds the maximum size of {MAX_KEY_POLICY_BYTES} bytes.")
    if not _ALLOWED_CHARS.match(text):
        raise MalformedPolicyDocumentException("The policy contains characters that are not allowed.")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise MalformedPolicyDocumentException("The policy is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise MalformedPolicyDocumentException("The policy must be a JSON object.")
    version = doc.get("Version")
    if version is not None and version not in _VERSIONS:
        raise MalformedPolicyDocumentException(f"The policy Version '{version}' is not supported.")
    statements = doc.get("Statement")
    listed = [statements] if isinstance(statements, dict) else statements
    sids = set()
    for i, st in enumerate(listed if isinstance(listed, list) else [], 1):
        if not isinstance(st, dict):
            continue
        unknown = set(st) - _STATEMENT_KEYS
        if unknown:
            raise MalformedPolicyDocumentException(
                f"Statement {i} has unsupported element(s): {', '.join(sorted(unknown))}.")
        sid = st.get("Sid")
        if sid is not None and not isinstance(sid, str):
            raise MalformedPolicyDocumentException(f"Statement {i} has a Sid that is not a string.")
        if sid is not None:
            if sid in sids:
                raise MalformedPolicyDocumentException(f"Statement IDs (SID) must be unique: '{sid}'.")
            sids.add(sid)
    compile_policy(doc, resource_policy=True)
    return doc
