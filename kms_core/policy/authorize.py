"""The authorization gate every KMS operation passes through.

`authorize(ctx, action, entry)` is called once per key an operation touches (ReEncrypt:
kms:ReEncryptFrom on the source, kms:ReEncryptTo on the destination);
`authorize_account(ctx, action)` for IAM-only actions (CreateKey, ListKeys, ListAliases,
GenerateRandom).  Both evaluate compiled policies held in memory (the key cache keeps the
key policy, tags, aliases and grants; the identity store keeps identity policies), so a
decision costs no database round trip.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Optional

from kms_core.context import RequestContext
from kms_core.domain.model import KeyWithMaterial
from kms_core.domain.errors import AccessDeniedException
from kms_core.domain.principal import USER
from kms_core.policy.conditions import to_condition_string
from kms_core.policy.evaluate import Decision, decide
from kms_core.policy.grants import grants_allow


class Facts:
    """Condition-key values for one request, computed on demand (keys are lower-case).

    `used_context` records whether a decision read the encryption context, so a service
    decrypting many values for one request may reuse a decision that did not."""

    __slots__ = ("ctx", "entry", "used_context", "resource_tags")

    def __init__(self, ctx: RequestContext, entry: Optional[KeyWithMaterial],
                 resource_tags: Optional[Callable[[], Mapping[str, str]]] = None) -> None:
        self.ctx = ctx
        self.entry = entry
        self.used_context = False
        #: the tags of a resource that is not a KMS key (an SSM parameter), loaded only if a
        #: condition asks for aws:ResourceTag/...
        self.resource_tags = resource_tags

    def get(self, name: str) -> Any:
        name = name.lower()
        ctx, p = self.ctx, self.ctx.principal
        extra = ctx.condition_values
        if name in extra:
            return to_condition_string(extra[name])
        if name.startswith("kms:encryptioncontext"):
            self.used_context = True
        if name.startswith("kms:encryptioncontext:"):
            wanted = name[len("kms:encryptioncontext:"):]
            for k, v in (ctx.encryption_context or {}).items():
                if k.lower() == wanted:
                    return v
            return None
        if name == "kms:encryptioncontextkeys":
            return list(ctx.encryption_context) if ctx.encryption_context else None
        if name.startswith("aws:principaltag/"):
            wanted = name[len("aws:principaltag/"):]
            return next((v for k, v in p.tags.items() if k.lower() == wanted), None)
        if name.startswith(_RESOURCE_TAG_KEYS):
            if self.entry is not None and name.startswith("aws:"):
                tags: Mapping[str, str] = self.entry.tags
            elif self.resource_tags is not None:  # ssm:resourceTag/..., iam:ResourceTag/...
                tags = self.resource_tags()
            else:
                return None
            wanted = name[name.index("/") + 1:]
            return next((v for k, v in tags.items() if k.lower() == wanted), None)
        simple = _SIMPLE.get(name)
        return simple(self) if simple is not None else None


#: a resource's tags: aws:ResourceTag/<key>, and the SSM, IAM and Secrets Manager spellings of the same
_RESOURCE_TAG_KEYS = ("aws:resourcetag/", "ssm:resourcetag/", "iam:resourcetag/", "secretsmanager:resourcetag/")


def _iso(epoch: Optional[float]) -> Optional[str]:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_attr(attr: str) -> Callable[["Facts"], Any]:
    return lambda f: getattr(f.entry.key, attr) if f.entry is not None else None


_SIMPLE: dict[str, Callable[["Facts"], Any]] = {
    "aws:principalarn": lambda f: f.ctx.principal.principal_arn,
    "aws:principalaccount": lambda f: f.ctx.principal.account_id,
    "aws:principaltype": lambda f: f.ctx.principal.principal_type,
    "aws:username": lambda f: f.ctx.principal.name if f.ctx.principal.principal_type == USER else None,
    "aws:userid": lambda f: f.ctx.principal.user_id,
    "aws:sourceip": lambda f: f.ctx.source_ip,
    "aws:currenttime": lambda f: _iso(f.ctx.now()),
    "aws:epochtime": lambda f: str(int(f.ctx.now())),
    "aws:securetransport": lambda f: "true" if f.ctx.secure_transport else "false",
    "aws:requestedregion": lambda f: f.ctx.region,
    "aws:tokenissuetime": lambda f: _iso(f.ctx.principal.token_issued),
    "aws:sourceidentity": lambda f: f.ctx.principal.source_identity,
    "kms:calleraccount": lambda f: f.ctx.principal.account_id,
    "kms:viaservice": lambda f: f.ctx.via_service,
    "kms:requestalias": lambda f: f.ctx.request_alias,
    "kms:resourcealiases": lambda f: list(f.entry.aliases) if f.entry is not None and f.entry.aliases else None,
    "kms:keyspec": _key_attr("key_spec"),
    "kms:keyusage": _key_attr("key_usage"),
    "kms:keyorigin": _key_attr("origin"),
    "kms:multiregion": lambda f: None if f.entry is None else ("true" if f.entry.key.multi_region else "false"),
    "kms:multiregionkeytype": lambda f: f.entry.key.multi_region_key_type if f.entry is not None else None,
}


def authorize(ctx: RequestContext, action: str, entry: KeyWithMaterial) -> bool:
    """Allow `action` on the key, or raise AccessDeniedException as AWS words it.

    Returns whether the decision may depend on the encryption context (a condition read
    it, or grants were consulted: their constraints are on the context)."""
    key = entry.key
    principal = ctx.principal
    facts = Facts(ctx, entry)

    def grants() -> bool:
        facts.used_context = True
        return grants_allow(ctx, action, entry, facts)

    decision = decide(principal, action, key.arn, key.account_id,
                      entry.policy,  # type: ignore[arg-type]  # the cache holds a CompiledPolicy; domain types it object
                      ctx.identity_policies(), facts, grants)
    if not decision.allowed:
        raise denied(ctx, action, key.arn, decision)
    return facts.used_context


def authorize_account(ctx: RequestContext, action: str, resource: str = "*",
                      resource_tags: Optional[Callable[[], Mapping[str, str]]] = None) -> None:
    """IAM-only actions (KMS CreateKey, ListKeys, ...; every ssm:* action on a parameter
    ARN): identity policies decide (the root may do anything in its account).
    `resource_tags` loads the resource's tags for aws:ResourceTag conditions."""
    principal = ctx.principal
    decision = decide(principal, action, resource, None, None, ctx.identity_policies(),
                      Facts(ctx, None, resource_tags))
    if not decision.allowed:
        raise denied(ctx, action, resource, decision)


def set_request_tags(ctx: RequestContext, tags: Optional[Mapping[str, str]],
                     keys: Optional[Iterable[str]] = None) -> None:
    """aws:RequestTag/<key> for each tag a request sets and aws:TagKeys for the keys it
    names (set or removed), so tag-based (ABAC) policies can limit who retags what."""
    names = list(keys if keys is not None else (tags or {}))
    if not names:  # a request that names no tag has no aws:TagKeys (Null: true)
        return
    values = ctx.condition_values
    for key, value in (tags or {}).items():
        values["aws:requesttag/" + key.lower()] = value
    values["aws:tagkeys"] = names


def would_allow(ctx: RequestContext, action: str, entry: KeyWithMaterial, policy: Any) -> bool:
    """Whether `policy` (a compiled key policy) would let the caller do `action` on the key:
    the lockout safety check of CreateKey and PutKeyPolicy."""
    return decide(ctx.principal, action, entry.key.arn, entry.key.account_id, policy, ctx.identity_policies(),
                  Facts(ctx, entry)).allowed


def denied(ctx: RequestContext, action: str, resource: str, decision: Decision) -> AccessDeniedException:
    if decision in (Decision.EXPLICIT_DENY_RESOURCE, Decision.EXPLICIT_DENY_IDENTITY):
        why = f"with an {decision.value}"
    else:
        why = f"because {decision.value} the {action} action"
    return AccessDeniedException(
        f"User: {ctx.principal.arn} is not authorized to perform: {action} on resource: {resource} {why}")
