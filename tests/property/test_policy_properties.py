"""Hypothesis properties of the KMS policy evaluator (kms_core/policy/evaluate.py).

Random key policies and identity policies are drawn from a small alphabet (effects, action
patterns with wildcards, principals, resources, simple conditions) and evaluated against
random requests.  Properties (IAM policy evaluation logic: "an explicit deny in any policy
overrides any allow"; "if no statement applies the request is implicitly denied"):

* appending a Deny statement never turns a non-allow into an allow, and changes the decision
  only when the new statement applies (then to the matching explicit deny);
* statement order (and identity-policy order) doesn't change the decision;
* policies none of whose statements apply give an implicit deny;
* a grant adds an allow but never overrides an explicit deny.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kms_core.domain.principal import ASSUMED_ROLE, ROOT, USER, Principal
from kms_core.policy.evaluate import CompiledPolicy, Decision, Match, compile_policy, decide

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACCT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCT}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
SSM_VIA = f"ssm.{REGION}.amazonaws.com"

ROLE_ARN = f"arn:aws:iam::{ACCT}:role/EncryptionApp"
PRINCIPALS = [
    Principal(ACCT, f"arn:aws:iam::{ACCT}:root", ROOT, "AKIA0000000000000001", user_id=ACCT),
    Principal(ACCT, f"arn:aws:iam::{ACCT}:user/Alice", USER, "AKIA0000000000000002", name="Alice"),
    Principal(ACCT, f"arn:aws:sts::{ACCT}:assumed-role/EncryptionApp/s1", ASSUMED_ROLE, "ASIA0000000000000003",
              name="EncryptionApp", source_arn=ROLE_ARN),
    Principal(OTHER, f"arn:aws:iam::{OTHER}:root", ROOT, "AKIA0000000000000004", user_id=OTHER),
    Principal(OTHER, f"arn:aws:iam::{OTHER}:user/Carol", USER, "AKIA0000000000000005", name="Carol"),
]

ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom", "kms:PutKeyPolicy",
           "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant"]
ACTION_PATTERNS = ACTIONS + ["kms:*", "*", "kms:Describe*", "kms:ReEncrypt*", "kms:?ncrypt", "kms:GenerateDataKey*",
                             "KMS:ENCRYPT", "kms:*Key", "s3:GetObject"]
PRINCIPAL_ELEMENTS: list[Any] = [
    "*", {"AWS": "*"}, {"AWS": f"arn:aws:iam::{ACCT}:root"}, {"AWS": ACCT}, {"AWS": f"arn:aws:iam::{ACCT}:user/Alice"},
    {"AWS": ROLE_ARN}, {"AWS": f"arn:aws:sts::{ACCT}:assumed-role/EncryptionApp/s1"},
    {"AWS": f"arn:aws:iam::{OTHER}:root"}, {"AWS": f"arn:aws:iam::{OTHER}:user/Carol"},
    {"Service": "ssm.amazonaws.com"}, {"AWS": [f"arn:aws:iam::{ACCT}:user/Alice", f"arn:aws:iam::{OTHER}:root"]},
]
RESOURCES = ["*", KEY_ARN, f"arn:aws:kms:{REGION}:{ACCT}:key/*", OTHER_KEY_ARN, f"arn:aws:kms:*:{ACCT}:key/*"]
CONDITIONS: list[dict] = [
    {"StringEquals": {"kms:CallerAccount": ACCT}},
    {"StringEquals": {"kms:ViaService": SSM_VIA}},
    {"StringNotEquals": {"kms:ViaService": SSM_VIA}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["Department"]}},
    {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Department", "Project"]}},
    {"Null": {"kms:ViaService": "true"}},
    {"StringEqualsIfExists": {"kms:EncryptionContext:Department": "IT"}},
    {"StringLike": {"kms:EncryptionContext:Department": "I*"}},
]


class FakeFacts:
    def __init__(self, values: dict) -> None:
        self._values = {k.lower(): v for k, v in values.items()}

    def get(self, name: str) -> Any:
        return self._values.get(name.lower())


def one_or_list(elements: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(elements, st.lists(elements, min_size=1, max_size=3))


@st.composite
def statements(draw: Any, resource_policy: bool, effect: Any = None) -> dict:
    s: dict = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    if resource_policy:
        s["NotPrincipal" if draw(st.integers(0, 9)) == 0 else "Principal"] = draw(st.sampled_from(PRINCIPAL_ELEMENTS))
    s["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = draw(one_or_list(st.sampled_from(ACTION_PATTERNS)))
    s["NotResource" if draw(st.integers(0, 7)) == 0 else "Resource"] = draw(
        st.sampled_from(RESOURCES) if resource_policy else one_or_list(st.sampled_from(RESOURCES)))
    conditions = draw(st.lists(st.sampled_from(CONDITIONS), max_size=2))
    if conditions:
        block: dict = {}
        for c in conditions:
            for op, keys in c.items():
                block.setdefault(op, {}).update(keys)
        s["Condition"] = block
    return s


def documents(resource_policy: bool, min_size: int = 1) -> st.SearchStrategy:
    return st.lists(statements(resource_policy), min_size=min_size, max_size=5)


@st.composite
def requests(draw: Any) -> dict:
    principal = draw(st.sampled_from(PRINCIPALS))
    facts: dict = {"kms:CallerAccount": principal.account_id}
    if draw(st.booleans()):
        facts["kms:ViaService"] = SSM_VIA
    facts["aws:SecureTransport"] = draw(st.sampled_from(["true", "false"]))
    context = draw(st.dictionaries(st.sampled_from(["Department", "Project", "Other"]),
                                   st.sampled_from(["IT", "HR", "Ops"]), max_size=3))
    if context:
        facts["kms:EncryptionContextKeys"] = list(context)
        for k, v in context.items():
            facts[f"kms:EncryptionContext:{k}"] = v
    return {"principal": principal, "action": draw(st.sampled_from(ACTIONS)), "facts": FakeFacts(facts),
            "grant": draw(st.booleans())}


def doc(stmts: list) -> dict:
    return {"Version": "2012-10-17", "Statement": stmts}


def run(req: dict, key_stmts: list, identity_docs: list, grant: Any = None) -> Decision:
    key_policy = compile_policy(doc(key_stmts), resource_policy=True)
    identity = [compile_policy(doc(d), resource_policy=False) for d in identity_docs]
    g = req["grant"] if grant is None else grant
    return decide(req["principal"], req["action"], KEY_ARN, ACCT, key_policy, identity, req["facts"], lambda: g)


def _only(compiled: CompiledPolicy):
    (statement,) = compiled.statements
    return statement


EXPLICIT = (Decision.EXPLICIT_DENY_RESOURCE, Decision.EXPLICIT_DENY_IDENTITY)


@SETTINGS
@given(req=requests(), key=documents(True), identity=st.lists(documents(False), max_size=2),
       extra=statements(True, effect="Deny"))
def test_adding_a_deny_to_the_key_policy_never_allows(req, key, identity, extra):
    before = run(req, key, identity)
    after = run(req, key + [extra], identity)
    if not before.allowed:
        assert not after.allowed
    new = _only(compile_policy(doc([extra]), resource_policy=True))
    applies = (new.principal.match(req["principal"]) is not Match.NONE
               and new.applies(req["action"], KEY_ARN, req["facts"]))
    if applies and before is not Decision.EXPLICIT_DENY_IDENTITY:
        assert after is Decision.EXPLICIT_DENY_RESOURCE
    else:
        assert after is before


@SETTINGS
@given(req=requests(), key=documents(True), identity=st.lists(documents(False), max_size=2),
       which=st.integers(0, 2), extra=statements(False, effect="Deny"))
def test_adding_a_deny_to_an_identity_policy_never_allows(req, key, identity, which, extra):
    before = run(req, key, identity)
    changed = [list(d) for d in identity]
    if which < len(changed):
        changed[which].append(extra)
    else:
        changed.append([extra])
    after = run(req, key, changed)
    if not before.allowed:
        assert not after.allowed
    new = _only(compile_policy(doc([extra]), resource_policy=False))
    applies = new.applies(req["action"], KEY_ARN, req["facts"])
    if applies and not req["principal"].is_account_root:   # the root has no identity policies
        assert after is Decision.EXPLICIT_DENY_IDENTITY
    else:
        assert after is before


@SETTINGS
@given(req=requests(), key=documents(True), identity=st.lists(documents(False), max_size=3), data=st.data())
def test_statement_order_does_not_matter(req, key, identity, data):
    before = run(req, key, identity)
    shuffled_key = data.draw(st.permutations(key))
    shuffled_identity = [data.draw(st.permutations(d)) for d in data.draw(st.permutations(identity))]
    assert run(req, shuffled_key, shuffled_identity) is before


NOT_ENCRYPT = ["kms:Decrypt", "kms:Describe*", "kms:ReEncrypt*", "s3:*", "kms:GenerateDataKey*", "kms:?ecrypt"]


@st.composite
def statements_for_other_actions(draw: Any, resource_policy: bool) -> dict:
    s = draw(statements(resource_policy))
    s.pop("NotAction", None)
    s["Action"] = draw(one_or_list(st.sampled_from(NOT_ENCRYPT)))
    return s


@SETTINGS
@given(req=requests(), key=st.lists(statements_for_other_actions(True), min_size=1, max_size=5),
       identity=st.lists(st.lists(statements_for_other_actions(False), min_size=1, max_size=3), max_size=2))
def test_no_applicable_statement_is_an_implicit_deny(req, key, identity):
    req = dict(req, action="kms:Encrypt")
    assert run(req, key, identity, grant=False) is Decision.NO_RESOURCE_ALLOW


@SETTINGS
@given(req=requests(), key=documents(True), identity=st.lists(documents(False), max_size=2))
def test_no_applicable_statement_by_filtering_is_an_implicit_deny(req, key, identity):
    """Keep only the statements that don't apply to the request: nothing can allow or deny."""
    p, action, facts = req["principal"], req["action"], req["facts"]
    kept_key = [s for s in key
                if not (_only(compile_policy(doc([s]), resource_policy=True)).principal.match(p) is not Match.NONE
                        and _only(compile_policy(doc([s]), resource_policy=True)).applies(action, KEY_ARN, facts))]
    kept_identity = [[s for s in d if not _only(compile_policy(doc([s]), resource_policy=False))
                      .applies(action, KEY_ARN, facts)] for d in identity]
    kept_identity = [d for d in kept_identity if d]
    if not kept_key:
        return
    decision = run(req, kept_key, kept_identity, grant=False)
    assert decision in (Decision.NO_RESOURCE_ALLOW, Decision.NO_IDENTITY_ALLOW)
    assert decision is Decision.NO_RESOURCE_ALLOW


@SETTINGS
@given(req=requests(), key=documents(True), identity=st.lists(documents(False), max_size=2))
def test_a_grant_adds_an_allow_but_never_overrides_an_explicit_deny(req, key, identity):
    without = run(req, key, identity, grant=False)
    with_grant = run(req, key, identity, grant=True)
    if without in EXPLICIT:
        assert with_grant is without
    else:
        assert with_grant is Decision.ALLOW
