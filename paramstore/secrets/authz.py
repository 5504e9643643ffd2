"""Who may do what to a secret: the caller's identity policies and the secret's resource
policy, evaluated by the same policy engine as KMS key policies and IAM
(kms_core/policy/evaluate.py, decide_with_resource_policy).

Each action carries the condition keys the Service Authorization Reference lists for it:
every action on a secret has secretsmanager:SecretId (its ARN), SecretPrimaryRegion,
resource/AllowRotationLambdaArn and the secret's tags (aws:ResourceTag/... and
secretsmanager:ResourceTag/...); operations add their own request facts to
`ctx.condition_values` before calling `authorize_secret`.
"""

from __future__ import annotations

import json
from typing import Optional

from kms_core.policy.authorize import Facts, denied
from kms_core.policy.evaluate import Decision, decide_with_resource_policy
from kms_core.port import authorize_account
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.storage.tables import AnySecret


def tags_of(secret: AnySecret) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in json.loads(secret.tags)} if secret.tags else {}


def _facts(ctx: SecretsContext, secret: AnySecret) -> Facts:
    """This secret's condition keys (set afresh for each secret: a batch checks several
    secrets in one request, and one's keys must never be read for the next)."""
    values = ctx.condition_values
    values["secretsmanager:secretid"] = secret.arn
    values["secretsmanager:secretprimaryregion"] = secret.region
    if secret.rotation_lambda_arn:
        values["secretsmanager:resource/allowrotationlambdaarn"] = secret.rotation_lambda_arn
    else:
        values.pop("secretsmanager:resource/allowrotationlambdaarn", None)
    return Facts(ctx, None, lambda: tags_of(secret))


def authorize_secret(ctx: SecretsContext, action: str, secret: AnySecret, named: Optional[str] = None) -> None:
    """Allow `action` on the secret or raise AccessDeniedException, naming the secret as the
    caller did (`named`: its SecretId), as AWS does, so a refusal doesn't reveal the ARN's
    random suffix of a secret the caller can't see.  The secret is one of the request's
    audited resources either way."""
    if secret.arn not in ctx.resources:
        ctx.resources.append(secret.arn)
    facts = _facts(ctx, secret)
    policy = ctx.secrets.policy(secret.resource_policy) if secret.resource_policy else None
    decision = decide_with_resource_policy(ctx.principal, action, secret.arn, secret.account_id, policy,
                                           ctx.identity_policies(), facts)
    if not decision.allowed:
        raise denied(ctx, action, named or secret.arn, decision)


def refuse_other_account(ctx: SecretsContext, action: str, named: str) -> None:
    """A secret of another account that doesn't exist has no resource policy to let the
    caller in: refused as an existing one would be, so other accounts' names can't be probed."""
    raise denied(ctx, action, named, Decision.NO_RESOURCE_ALLOW)


def authorize_new_secret(ctx: SecretsContext, action: str, arn: str) -> None:
    """CreateSecret: no secret yet, so identity policies alone decide, on the ARN it would have."""
    ctx.resources.append(arn)
    authorize_account(ctx, action, arn)


def would_allow(ctx: SecretsContext, action: str, secret: AnySecret, policy_text: Optional[str]) -> bool:
    """Whether the caller could still do `action` under `policy_text` (ValidateResourcePolicy's lockout check)."""
    policy = ctx.secrets.policy(policy_text) if policy_text else None
    facts = _facts(ctx, secret)
    return decide_with_resource_policy(ctx.principal, action, secret.arn, secret.account_id, policy,
                                       ctx.identity_policies(), facts).allowed
