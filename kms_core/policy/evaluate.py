"""Policy evaluation as AWS KMS does it (developer guide, "Determining access").

Pure code: `compile_policy` turns a JSON document into statements with pre-built matchers
(once per document; the key cache and the identity store keep the compiled form), and
`decide` combines a key policy, the caller's identity policies and grants:

1. an explicit Deny in any policy that applies wins;
2. otherwise the request is allowed if the key policy allows the caller directly (its
   user/role/session ARN, or "*"), or allows the caller's account root (delegation to
   IAM) and the caller's identity policies allow too, or a grant allows it;
3. cross-account callers need both: the key policy naming their account or principal,
   and their own identity policies (an account root has every permission in its account);
4. otherwise deny (implicit).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Iterable, Optional

from kms_core.errors import MalformedPolicyDocumentException
from kms_core.domain.principal import Principal
from kms_core.policy.conditions import Check, compile_condition_block, pattern_glob
from kms_core.policy.glob import Glob, compile_glob

_ACCOUNT_ID = re.compile(r"^\d{12}\Z", re.ASCII)
_ROOT_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::(\d{12}):root\Z", re.ASCII)


class Effect(Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY_RESOURCE = "explicit deny in a resource-based policy"
    EXPLICIT_DENY_IDENTITY = "explicit deny in an identity-based policy"
    NO_RESOURCE_ALLOW = "no resource-based policy allows"
    NO_IDENTITY_ALLOW = "no identity-based policy allows"

    @property
    def allowed(self) -> bool:
        return self is Decision.ALLOW


class Match(Enum):
    NONE = 0
    ACCOUNT = 1  # the statement names the caller's account (root): delegation to IAM
    DIRECT = 2   # the statement names the caller (or "*")


@dataclass(frozen=True)
class PrincipalMatcher:
    """Compiled Principal / NotPrincipal element of a resource policy."""

    everyone: bool
    accounts: frozenset[str]  # account ids named as "<id>" or "arn:...:root"
    arns: frozenset[str]      # user, role and assumed-role ARNs
    negate: bool

    def match(self, p: Principal) -> Match:
        if self.negate:
            # NotPrincipal: AWS checks the caller's account as well as the caller itself, so a
            # principal is exempt only when it is listed together with its account (IAM JSON
            # reference, "NotPrincipal": "you must also specify the account ARN").
            own = p.is_account_root or p.arn in self.arns or (
                p.source_arn is not None and p.source_arn in self.arns)
            exempt = self.everyone or (p.account_id in self.accounts and own)
            return Match.NONE if exempt else Match.DIRECT
        if self.everyone:
            found = Match.DIRECT
        elif p.arn in self.arns or (p.source_arn is not None and p.source_arn in self.arns):
            found = Match.DIRECT
        elif p.account_id in self.accounts:
            found = Match.DIRECT if p.is_account_root else Match.ACCOUNT
        else:
            found = Match.NONE
        return found


@dataclass(frozen=True)
class Statement:
    sid: Optional[str]
    effect: Effect
    principal: Optional[PrincipalMatcher]   # None in identity policies
    actions: tuple[Glob, ...]               # compiled case-insensitive globs
    not_action: bool
    resources: tuple[str, ...]              # raw patterns (may hold policy variables)
    not_resource: bool
    conditions: tuple[Check, ...]

    def applies(self, action: str, resource: str, facts: Any) -> bool:
        return self.matches_action(action) and self.applies_to(resource, facts)

    def matches_action(self, action: str) -> bool:
        if not self.actions:
            return False
        hit = any(a.fullmatch(action) for a in self.actions)
        return hit != self.not_action

    def applies_to(self, resource: str, facts: Any) -> bool:
        """The per-request part: resource and conditions (the action was matched already)."""
        if self.resources != ("*",) or self.not_resource:
            hit = any(_resource_match(r, resource, facts) for r in self.resources)
            if hit == self.not_resource:
                return False
        for check in self.conditions:
            if not check(facts):
                return False
        return True


def _resource_match(pattern: str, resource: str, facts: Any) -> bool:
    if pattern == "*":
        return True
    return pattern_glob(pattern, facts).fullmatch(resource)


_MEMO_LIMIT = 4096


@dataclass(frozen=True)
class CompiledPolicy:
    text: str
    statements: tuple[Statement, ...] = field(default_factory=tuple)
    #: (action, caller) -> the statements whose action and principal match, with the match
    #: kind: decisions then only evaluate resources and conditions.  Cached policies live
    #: as long as the policy text, so this memo does too.
    _memo: dict[tuple[Optional[str], ...], tuple[tuple[Statement, Match], ...]] = field(
        default_factory=dict, compare=False, repr=False)

    def candidates(self, action: str, principal: Optional[Principal]) -> tuple[tuple[Statement, Match], ...]:
        memo_key = (action,) if principal is None else (
            action, principal.arn, principal.source_arn, principal.account_id, principal.principal_type)
        hit = self._memo.get(memo_key)
        if hit is None:
            found = []
            for st in self.statements:
                if not st.matches_action(action):
                    continue
                match = Match.DIRECT if st.principal is None else st.principal.match(
                    principal)  # type: ignore[arg-type]  # None only for identity policies, which have no Principal
                if match is not Match.NONE:
                    found.append((st, match))
            hit = tuple(found)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = hit
        return hit


def compile_policy(document: str | dict[str, Any], *, resource_policy: bool) -> CompiledPolicy:
    """Compile a key policy (resource_policy=True) or an identity policy."""
    if isinstance(document, str):
        try:
            doc = json.loads(document)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            raise MalformedPolicyDocumentException("The policy is not valid JSON.") from None
        text = document
    else:
        doc, text = document, json.dumps(document)
    if not isinstance(doc, dict):
        raise MalformedPolicyDocumentException("The policy must be a JSON object.")
    raw = doc.get("Statement")
    if raw is None:
        raise MalformedPolicyDocumentException("The policy is missing the required 'Statement' element.")
    raw_list = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw_list, list) or not raw_list:
        raise MalformedPolicyDocumentException("The policy 'Statement' must be an object or a non-empty list.")
    # Policy variables are only recognised in Version 2012-10-17 documents; otherwise
    # `${...}` is literal text (IAM JSON reference, "Version").
    literal = doc.get("Version") != "2012-10-17"
    return CompiledPolicy(text, tuple(_compile_statement(st, i, resource_policy, literal)
                                      for i, st in enumerate(raw_list, 1)))


def _no_variables(value: Any) -> Any:
    """Make `${` literal: `${$}` is the variable for a literal `$`."""
    if isinstance(value, str):
        return value.replace("${", "${$}{")
    if isinstance(value, list):
        return [_no_variables(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_variables(v) for k, v in value.items()}
    return value


def _strings(value: Any, where: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) for v in items):
        raise MalformedPolicyDocumentException(f"{where} must be a string or a list of strings.")
    return items


def _compile_statement(st: Any, i: int, resource_policy: bool, literal: bool = False) -> Statement:
    where = f"Statement {i}"
    if not isinstance(st, dict):
        raise MalformedPolicyDocumentException(f"{where} must be a JSON object.")
    effect = st.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyDocumentException(f"{where} must have an Effect of 'Allow' or 'Deny'.")
    principal = None
    if resource_policy:
        if ("Principal" in st) == ("NotPrincipal" in st):
            raise MalformedPolicyDocumentException(
                f"{where} must have exactly one of 'Principal' or 'NotPrincipal' in a key policy.")
        principal = _compile_principal(st.get("Principal", st.get("NotPrincipal")), "NotPrincipal" in st)
    elif "Principal" in st or "NotPrincipal" in st:
        raise MalformedPolicyDocumentException(f"{where}: identity policies can't have a 'Principal'.")
    if "Action" in st and "NotAction" in st:
        raise MalformedPolicyDocumentException(f"{where} can't have both 'Action' and 'NotAction'.")
    if "Resource" in st and "NotResource" in st:
        raise MalformedPolicyDocumentException(f"{where} can't have both 'Resource' and 'NotResource'.")
    not_action = "NotAction" in st
    # A key-policy statement without Action or Resource is accepted but never applies.
    action_patterns = _strings(st["NotAction" if not_action else "Action"], f"{where} Action") \
        if ("Action" in st or not_action) else []
    not_resource = "NotResource" in st
    resources = _strings(st["NotResource" if not_resource else "Resource"], f"{where} Resource") \
        if ("Resource" in st or not_resource) else []
    if not resource_policy and not resources:
        raise MalformedPolicyDocumentException(f"{where} is missing the 'Resource' element.")
    if not action_patterns or not resources:
        # AWS accepts a key-policy statement without Action or Resource; it never applies.
        action_patterns, not_action, resources, not_resource = [], False, [], False
    if literal:
        resources = _no_variables(resources)
    condition = _no_variables(st["Condition"]) if literal and "Condition" in st else st.get("Condition")
    conditions = tuple(compile_condition_block(condition, where)) if "Condition" in st else ()
    return Statement(
        sid=st.get("Sid"), effect=Effect(effect), principal=principal,
        actions=tuple(compile_glob(a, True) for a in action_patterns), not_action=not_action,
        resources=tuple(resources), not_resource=not_resource, conditions=conditions)


def _compile_principal(value: Any, negate: bool) -> PrincipalMatcher:
    invalid = MalformedPolicyDocumentException("Policy contains a statement with one or more invalid principals.")
    if value == "*":
        return PrincipalMatcher(True, frozenset(), frozenset(), negate)
    if not isinstance(value, dict) or not value:
        raise invalid
    accounts, arns, everyone = set(), set(), False
    for kind, entries in value.items():
        items = entries if isinstance(entries, list) else [entries]
        if not items or not all(isinstance(e, str) and e for e in items):
            raise invalid
        if kind != "AWS":
            if kind not in ("Service", "Federated", "CanonicalUser"):
                raise invalid
            continue  # service principals never match a signed-in caller here
        for e in items:
            if e == "*":
                everyone = True
            elif _ACCOUNT_ID.match(e):
                accounts.add(e)
            elif (m := _ROOT_ARN.match(e)):
                accounts.add(m.group(1))
            elif re.match(r"^arn:aws[a-zA-Z-]*:(iam::\d{12}:(user|role)/.+"
                          r"|sts::\d{12}:(assumed-role/[^/]+/.+|federated-user/.+))\Z", e, re.ASCII | re.S):
                arns.add(e)
            else:
                raise invalid
    return PrincipalMatcher(everyone, frozenset(accounts), frozenset(arns), negate)


# --- decisions ----------------------------------------------------------------------------
def evaluate_identity(policies: Iterable[CompiledPolicy], action: str, resource: str, facts: Any) -> Optional[Effect]:
    """DENY if any statement denies, ALLOW if one allows, else None."""
    allowed = False
    for policy in policies:
        for st, _ in policy.candidates(action, None):
            if st.applies_to(resource, facts):
                if st.effect is Effect.DENY:
                    return Effect.DENY
                allowed = True
    return Effect.ALLOW if allowed else None


def decide(principal: Principal, action: str, resource: str, resource_account: Optional[str],
           key_policy: Optional[CompiledPolicy], identity_policies: Iterable[CompiledPolicy], facts: Any,
           grant_allows: Callable[[], bool] = lambda: False) -> Decision:
    """The KMS authorization decision for one action on one resource.

    `key_policy` None means an IAM-only action (CreateKey, ListKeys, ...)."""
    same_account = resource_account is None or resource_account == principal.account_id
    identity = _identity_effect(principal, action, resource, identity_policies, facts)
    if isinstance(identity, Decision):
        return identity
    if key_policy is None:
        return Decision.ALLOW if identity is Effect.ALLOW else Decision.NO_IDENTITY_ALLOW
    found = _resource_effect(key_policy, principal, action, resource, facts)
    if isinstance(found, Decision):
        return found
    direct, delegated = found
    if same_account:
        if direct or (delegated and identity is Effect.ALLOW):
            return Decision.ALLOW
    elif (direct or delegated) and identity is Effect.ALLOW:
        return Decision.ALLOW
    if grant_allows():
        return Decision.ALLOW
    if (delegated or not same_account and direct) and identity is not Effect.ALLOW:
        return Decision.NO_IDENTITY_ALLOW
    return Decision.NO_RESOURCE_ALLOW


def decide_with_resource_policy(principal: Principal, action: str, resource: str, resource_account: str,
                                resource_policy: Optional[CompiledPolicy], identity_policies: Iterable[CompiledPolicy],
                                facts: Any) -> Decision:
    """IAM's decision for a resource whose policy is optional (a Secrets Manager secret):
    in the resource's own account the caller's identity policies or a resource-policy
    statement naming the caller allow; from another account both the resource policy (the
    caller or its account) and the caller's identity policies must.  An explicit Deny in
    either wins; a session policy only narrows."""
    identity = _identity_effect(principal, action, resource, identity_policies, facts)
    if isinstance(identity, Decision):
        return identity
    direct = delegated = False
    if resource_policy is not None:
        found = _resource_effect(resource_policy, principal, action, resource, facts)
        if isinstance(found, Decision):
            return found
        direct, delegated = found
    if resource_account == principal.account_id:
        if identity is Effect.ALLOW or direct:
            return Decision.ALLOW
        return Decision.NO_IDENTITY_ALLOW
    if not (direct or delegated):
        return Decision.NO_RESOURCE_ALLOW
    return Decision.ALLOW if identity is Effect.ALLOW else Decision.NO_IDENTITY_ALLOW


def _identity_effect(principal: Principal, action: str, resource: str, identity_policies: Iterable[CompiledPolicy],
                     facts: Any) -> "Effect | Decision | None":
    """The caller's own side: its identity policies (the root may do anything in its own
    account; no SCPs here) narrowed by a session policy; a Decision when that already
    refuses."""
    identity: Optional[Effect]
    if principal.is_account_root:
        identity = Effect.ALLOW
    else:
        identity = evaluate_identity(identity_policies, action, resource, facts)
    if identity is Effect.DENY:
        return Decision.EXPLICIT_DENY_IDENTITY
    if principal.session_policy is not None:
        # A session policy only narrows: what it does not allow, no other policy or grant
        # gives the session (AWS lets a resource policy naming the session ARN itself
        # through; this server does not, which can only refuse more).
        narrowed = evaluate_identity((principal.session_policy,), action, resource, facts)
        if narrowed is Effect.DENY:
            return Decision.EXPLICIT_DENY_IDENTITY
        if narrowed is not Effect.ALLOW:
            return Decision.NO_IDENTITY_ALLOW
    return identity


def _resource_effect(policy: CompiledPolicy, principal: Principal, action: str, resource: str,
                     facts: Any) -> "tuple[bool, bool] | Decision":
    """(allowed directly, allowed for the caller's account) by a resource policy, or the
    explicit-deny Decision."""
    direct = delegated = False
    for st, match in policy.candidates(action, principal):
        if not st.applies_to(resource, facts):
            continue
        if st.effect is Effect.DENY:
            return Decision.EXPLICIT_DENY_RESOURCE
        if match is Match.DIRECT:
            direct = True
        else:
            delegated = True
    return direct, delegated
