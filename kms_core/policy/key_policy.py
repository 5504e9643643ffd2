"""Accepting a new key policy (CreateKey, PutKeyPolicy): grammar, principals, lockout check.

AWS refuses a key policy that names IAM users or roles that don't exist, and, unless
BypassPolicyLockoutSafetyCheck is set, one that would not let the calling principal call
PutKeyPolicy on the key afterwards ("lockout safety check").
"""

from __future__ import annotations

from sqlmodel import Session

from kms_core.context import RequestContext
from kms_core.domain.model import Key, KeyWithMaterial
from kms_core.errors import MalformedPolicyDocumentException
from kms_core.policy.authorize import would_allow
from kms_core.policy.document import validate_key_policy
from kms_core.policy.evaluate import CompiledPolicy, compile_policy
from kms_core.storage.tables import AccountTable, IamRoleTable, IamUserTable

LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."
INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."


def accept_key_policy(ctx: RequestContext, text: str, key: Key, bypass_lockout_check: bool) -> CompiledPolicy:
    validate_key_policy(text)
    compiled = compile_policy(text, resource_policy=True)
    with ctx.kms.db.session() as session:
        for st in compiled.statements:
            if st.principal is not None and not all(_exists(session, arn) for arn in st.principal.arns):
                raise MalformedPolicyDocumentException(INVALID_PRINCIPALS)
    if not bypass_lockout_check:
        probe = KeyWithMaterial(key, {}, {}, policy=compiled)
        if not would_allow(ctx, "kms:PutKeyPolicy", probe, compiled):
            raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)
    return compiled


def _exists(session: Session, arn: str) -> bool:
    """Users and roles of accounts this server hosts must exist; other accounts can't be checked."""
    parts = arn.split(":", 5)
    account, resource = parts[4], parts[5]
    if session.get(AccountTable, account) is None:
        return True
    kind, _, rest = resource.partition("/")
    name = rest.rsplit("/", 1)[-1]
    if kind == "user":
        return session.get(IamUserTable, (account, name)) is not None
    if kind in ("role", "assumed-role"):
        role = rest.split("/", 1)[0] if kind == "assumed-role" else name
        return session.get(IamRoleTable, (account, role)) is not None
    return False
