"""The authorization gate every KMS operation passes through.

`authorize(ctx, action, key)` is called once per key an operation touches (ReEncrypt:
kms:ReEncryptFrom on the source, kms:ReEncryptTo on the destination), and
`authorize_account(ctx, action)` for IAM-only actions (CreateKey, ListKeys, ListAliases,
GenerateRandom).  Today's rule: an account root may do everything in its own account and
nothing elsewhere; key policies, IAM policies and grants plug in here.
"""

from __future__ import annotations

from typing import Optional

from kms_core.context import RequestContext
from kms_core.domain.model import Key
from kms_core.errors import AccessDeniedException


def authorize(ctx: RequestContext, action: str, key: Key) -> None:
    if ctx.principal.account_id == key.account_id and ctx.principal.is_account_root:
        return
    raise _denied(ctx, action, key.arn, "no resource-based policy allows the " + action + " action")


def authorize_account(ctx: RequestContext, action: str) -> None:
    if ctx.principal.is_account_root:
        return
    raise _denied(ctx, action, "*", "no identity-based policy allows the " + action + " action")


def _denied(ctx: RequestContext, action: str, resource: str, why: Optional[str]) -> AccessDeniedException:
    return AccessDeniedException(
        f"User: {ctx.principal.arn} is not authorized to perform: {action} on resource: {resource}"
        + (f" because {why}" if why else ""))
