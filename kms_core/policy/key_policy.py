"""Accepting a new key policy (CreateKey, PutKeyPolicy): grammar, principals, lockout check.

AWS refuses a key policy that names IAM users or roles that don't exist, and, unless
BypassPolicyLockoutSafetyCheck is set, one that would not let the calling principal call
PutKeyPolicy on the key afterwards ("lockout safety check").
"""

from __future__ import annotations

from typing import Callable

from kms_core.context import RequestContext
from kms_core.domain.model import Key, KeyWithMaterial
from kms_core.errors import MalformedPolicyDocumentException
from kms_core.policy.authorize import would_allow
from kms_core.policy.document import validate_key_policy
from kms_core.policy.evaluate import CompiledPolicy, compile_policy

LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."
INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."


def accept_key_policy(ctx: RequestContext, text: str, key: Key, bypass_lockout_check: bool,
                      principal_exists: Callable[[str], bool]) -> CompiledPolicy:
    """`principal_exists(arn)`: whether a user or role the policy names exists (the
    identity store answers; accounts this server doesn't host can't be checked)."""
    validate_key_policy(text)
    compiled = compile_policy(text, resource_policy=True)
    for st in compiled.statements:
        if st.principal is not None and not all(principal_exists(arn) for arn in st.principal.arns):
            raise MalformedPolicyDocumentException(INVALID_PRINCIPALS)
    if not bypass_lockout_check:
        probe = KeyWithMaterial(key, {}, {}, policy=compiled)
        if not would_allow(ctx, "kms:PutKeyPolicy", probe, compiled):
            raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)
    return compiled
