"""Table-driven tests of the KMS policy evaluator (kms_core/policy/evaluate.py, conditions.py).

Every row names the documented AWS behaviour it checks (`doc`): the IAM User Guide's policy
evaluation logic, JSON element and condition-operator references, and the KMS developer
guide's key-policy / authorization chapters (condensed in docs reference aws_api.md §4.11-4.13).

Facts are a tiny dict wrapper (condition keys looked up lower-cased, as `authorize.Facts`
does); principals are built directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import pytest

from kms_core.errors import MalformedPolicyDocumentException
from kms_core.domain.principal import ASSUMED_ROLE, ROOT, USER, Principal
from kms_core.policy.evaluate import Decision, compile_policy, decide

ACCT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCT}:key/{KEY_ID}"
OTHER_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCT}:key/0987dcba-09fe-87dc-65ba-ab0987654321"

ROOT_ARN = f"arn:aws:iam::{ACCT}:root"
ALICE_ARN = f"arn:aws:iam::{ACCT}:user/Alice"
BOB_ARN = f"arn:aws:iam::{ACCT}:user/Bob"
APP_ROLE_ARN = f"arn:aws:iam::{ACCT}:role/EncryptionApp"
APP_SESSION_ARN = f"arn:aws:sts::{ACCT}:assumed-role/EncryptionApp/app-1"
OPS_ROLE_ARN = f"arn:aws:iam::{ACCT}:role/Ops"
OTHER_ROOT_ARN = f"arn:aws:iam::{OTHER}:root"
CAROL_ARN = f"arn:aws:iam::{OTHER}:user/Carol"
OTHER_ALICE_ARN = f"arn:aws:iam::{OTHER}:user/Alice"

ROOT_P = Principal(ACCT, ROOT_ARN, ROOT, "AKIAROOT0000000000001", user_id=ACCT)
ALICE = Principal(ACCT, ALICE_ARN, USER, "AKIAALICE00000000001", name="Alice", user_id="AIDAALICE")
BOB = Principal(ACCT, BOB_ARN, USER, "AKIABOB0000000000001", name="Bob", user_id="AIDABOB")
APP = Principal(ACCT, APP_SESSION_ARN, ASSUMED_ROLE, "ASIAAPP0000000000001", name="EncryptionApp",
                user_id="AROAAPP:app-1", source_arn=APP_ROLE_ARN)
APP2 = Principal(ACCT, f"arn:aws:sts::{ACCT}:assumed-role/EncryptionApp/app-2", ASSUMED_ROLE,
                 "ASIAAPP0000000000002", name="EncryptionApp", user_id="AROAAPP:app-2", source_arn=APP_ROLE_ARN)
OPS = Principal(ACCT, f"arn:aws:sts::{ACCT}:assumed-role/Ops/night", ASSUMED_ROLE, "ASIAOPS0000000000001",
                name="Ops", user_id="AROAOPS:night", source_arn=OPS_ROLE_ARN)
OTHER_ROOT = Principal(OTHER, OTHER_ROOT_ARN, ROOT, "AKIAOROOT00000000001", user_id=OTHER)
CAROL = Principal(OTHER, CAROL_ARN, USER, "AKIACAROL00000000001", name="Carol", user_id="AIDACAROL")
OTHER_ALICE = Principal(OTHER, OTHER_ALICE_ARN, USER, "AKIAOALICE0000000001", name="Alice", user_id="AIDAOALICE")


class FakeFacts:
    """Condition-key values for one request; names are case-insensitive."""

    def __init__(self, values: Optional[dict] = None) -> None:
        self._values = {k.lower(): v for k, v in (values or {}).items()}

    def get(self, name: str) -> Any:
        return self._values.get(name.lower())


# --- policy builders ----------------------------------------------------------------------
def st(effect: str, action: Any = "kms:*", principal: Any = None, resource: Any = "*",
       condition: Optional[dict] = None, **extra: Any) -> dict:
    """One statement; principal None = identity-policy statement.  `extra` may carry
    NotAction/NotResource/NotPrincipal (then pass action/resource/principal=None)."""
    s: dict = {"Effect": effect}
    if principal is not None:
        s["Principal"] = principal
    if action is not None:
        s["Action"] = action
    if resource is not None:
        s["Resource"] = resource
    if condition is not None:
        s["Condition"] = condition
    s.update(extra)
    return s


def allow(principal: Any, action: Any = "kms:*", **kw: Any) -> dict:
    return st("Allow", action, principal, **kw)


def deny(principal: Any, action: Any = "kms:*", **kw: Any) -> dict:
    return st("Deny", action, principal, **kw)


def iallow(action: Any = "kms:*", **kw: Any) -> dict:
    return st("Allow", action, None, **kw)


def ideny(action: Any = "kms:*", **kw: Any) -> dict:
    return st("Deny", action, None, **kw)


def aws(*arns: str) -> dict:
    return {"AWS": arns[0] if len(arns) == 1 else list(arns)}


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


DEFAULT_POLICY = {
    "Version": "2012-10-17", "Id": "key-default-1",
    "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                   "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}],
}

# The developer guide's example key policy: the account root (kms:*) plus a key-user role.
SEED_POLICY = {
    "Version": "2012-10-17", "Id": "key-consolepolicy",
    "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": APP_ROLE_ARN},
         "Action": ["kms:DescribeKey", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncrypt*", "kms:Decrypt"],
         "Resource": "*"},
    ],
}

SSM_VIA = f"ssm.{REGION}.amazonaws.com"
# §4.12: the AWS-managed key policy (alias/aws/ssm).
MANAGED_POLICY = {
    "Version": "2012-10-17", "Id": "auto-ssm-1",
    "Statement": [
        {"Sid": "Allow access through Systems Manager for all principals in the account that are authorized "
                "to use Systems Manager",
         "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant",
                    "kms:DescribeKey"],
         "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": ACCT, "kms:ViaService": SSM_VIA}}},
        {"Sid": "Allow direct access to key metadata to the account", "Effect": "Allow",
         "Principal": {"AWS": ROOT_ARN},
         "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"], "Resource": "*"},
    ],
}

A = Decision.ALLOW
DR = Decision.EXPLICIT_DENY_RESOURCE
DI = Decision.EXPLICIT_DENY_IDENTITY
NR = Decision.NO_RESOURCE_ALLOW
NI = Decision.NO_IDENTITY_ALLOW


@dataclass(frozen=True)
class Case:
    doc: str
    key_policy: Optional[dict]          # None: an IAM-only action
    principal: Principal
    action: str
    expect: Union[Decision, bool]       # a Decision, or just allowed / not allowed
    identity: tuple = ()                # identity policies (dicts)
    facts: dict = field(default_factory=dict)
    resource: str = KEY_ARN
    resource_account: Optional[str] = ACCT
    grant: bool = False


def C(doc: str, key_policy: Optional[dict], principal: Principal, action: str, expect: Union[Decision, bool],
      *identity: dict, facts: Optional[dict] = None, **kw: Any) -> Case:
    return Case(doc, key_policy, principal, action, expect, tuple(identity), facts or {}, **kw)


def cond(doc: str, condition: dict, facts: dict, ok: bool, principal: Principal = ALICE,
         action: str = "kms:Decrypt") -> Case:
    """A key policy that names the caller directly, narrowed by `condition`: ALLOW iff it holds."""
    return C(doc, policy(allow(aws(principal.arn), action, condition=condition)), principal, action,
             A if ok else NR, facts=facts)


def icond(doc: str, condition: dict, facts: dict, ok: bool) -> Case:
    """Default key policy (delegation) + an identity policy narrowed by `condition`."""
    return C(doc, DEFAULT_POLICY, ALICE, "kms:Encrypt", A if ok else NI,
             policy(iallow("kms:Encrypt", condition=condition)), facts=facts)


EC = "kms:EncryptionContext:Department"
VIA_ONLY_POLICY = policy(allow(aws(ROOT_ARN)),
                         deny("*", "kms:Decrypt", condition={"StringNotEquals": {"kms:ViaService": SSM_VIA}}))
ECK = "kms:EncryptionContextKeys"

CASES: list[Case] = [
    # ---------------------------------------------------------------- core decision logic (§4.13)
    C("KMS: default key policy gives the account root full access", DEFAULT_POLICY, ROOT_P, "kms:Encrypt", A),
    C("KMS: default key policy gives the account root PutKeyPolicy", DEFAULT_POLICY, ROOT_P, "kms:PutKeyPolicy", A),
    C("KMS: default key policy delegates to IAM (user with IAM allow)", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(iallow("kms:Encrypt"))),
    C("KMS: default key policy delegates to IAM (role session with IAM allow)", DEFAULT_POLICY, OPS, "kms:Decrypt",
      A, policy(iallow("kms:Decrypt"))),
    C("KMS: default key policy + no IAM policy is an implicit deny", DEFAULT_POLICY, ALICE, "kms:Encrypt", NI),
    C("IAM: an IAM policy for another action doesn't allow this one", DEFAULT_POLICY, ALICE, "kms:Encrypt", NI,
      policy(iallow("kms:Decrypt"))),
    C("IAM: identity policy Resource naming the key ARN applies", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(iallow("kms:*", resource=KEY_ARN))),
    C("IAM: identity policy Resource naming another key doesn't apply", DEFAULT_POLICY, ALICE, "kms:Encrypt", NI,
      policy(iallow("kms:*", resource=OTHER_KEY_ARN))),
    C("IAM: explicit deny overrides allow (same policy)", DEFAULT_POLICY, ALICE, "kms:Encrypt", DI,
      policy(iallow("kms:*"), ideny("kms:Encrypt"))),
    C("IAM: explicit deny overrides allow (separate policies)", DEFAULT_POLICY, ALICE, "kms:Encrypt", DI,
      policy(iallow("kms:*")), policy(ideny("kms:Encrypt"))),
    C("IAM: a deny of one action leaves the others allowed", DEFAULT_POLICY, ALICE, "kms:Decrypt", A,
      policy(iallow("kms:*"), ideny("kms:Encrypt"))),
    C("KMS: key policy naming the user allows without any IAM policy", policy(allow(aws(ALICE_ARN))), ALICE,
      "kms:Encrypt", A),
    C("IAM: explicit deny in the key policy overrides its allow", policy(allow(aws(ALICE_ARN)),
      deny(aws(ALICE_ARN), "kms:Encrypt")), ALICE, "kms:Encrypt", DR),
    C("IAM: explicit deny in an identity policy overrides a key-policy allow", policy(allow(aws(ALICE_ARN))),
      ALICE, "kms:Encrypt", DI, policy(ideny("kms:Encrypt"))),
    C("IAM: explicit deny applies even to the account root", policy(allow(aws(ROOT_ARN)),
      deny("*", "kms:ScheduleKeyDeletion")), ROOT_P, "kms:ScheduleKeyDeletion", DR),
    C("IAM: explicit deny in the key policy overrides an IAM allow", policy(allow(aws(ROOT_ARN)),
      deny(aws(ALICE_ARN), "kms:Decrypt")), ALICE, "kms:Decrypt", DR, policy(iallow("kms:*"))),
    C("IAM: a Deny naming an account applies to every principal in it", policy(allow(aws(ROOT_ARN)),
      deny(aws(ROOT_ARN), "kms:Decrypt")), ALICE, "kms:Decrypt", DR, policy(iallow("kms:*"))),
    C("KMS: IAM policy alone never grants access without key-policy delegation",
      policy(allow(aws(APP_ROLE_ARN))), ALICE, "kms:Encrypt", NR, policy(iallow("kms:*"))),
    C("KMS: IAM policy alone never grants access (role session)", policy(allow(aws(ALICE_ARN))), OPS,
      "kms:Decrypt", NR, policy(iallow("*"))),
    C("KMS: even the account root needs the key policy to allow it", policy(allow(aws(BOB_ARN))), ROOT_P,
      "kms:Encrypt", NR),
    C("IAM: no applicable statement is an implicit deny", policy(allow(aws(ALICE_ARN), "kms:Decrypt")), ALICE,
      "kms:Encrypt", NR),
    C("IAM: a policy of only Deny statements allows nothing", policy(deny(aws(BOB_ARN))), ROOT_P, "kms:Encrypt",
      NR),
    C("KMS: key policy allowing the user and IAM allowing too", policy(allow(aws(ALICE_ARN))), ALICE,
      "kms:Encrypt", A, policy(iallow("kms:Encrypt"))),

    # ---------------------------------------------------------------- cross-account
    C("KMS: cross-account needs key policy and IAM policy (both present)", policy(allow(aws(ROOT_ARN)),
      allow(aws(OTHER_ROOT_ARN), "kms:Decrypt")), CAROL, "kms:Decrypt", A, policy(iallow("kms:Decrypt"))),
    C("KMS: cross-account needs key policy and IAM policy (no IAM policy)", policy(allow(aws(ROOT_ARN)),
      allow(aws(OTHER_ROOT_ARN), "kms:Decrypt")), CAROL, "kms:Decrypt", NI),
    C("KMS: cross-account needs key policy and IAM policy (no key policy grant)", DEFAULT_POLICY, CAROL,
      "kms:Decrypt", NR, policy(iallow("kms:*"))),
    C("KMS: cross-account key policy naming the user directly still needs IAM",
      policy(allow(aws(ROOT_ARN)), allow(aws(CAROL_ARN), "kms:Decrypt")), CAROL, "kms:Decrypt", NI),
    C("KMS: cross-account key policy naming the user + IAM allow", policy(allow(aws(ROOT_ARN)),
      allow(aws(CAROL_ARN), "kms:Decrypt")), CAROL, "kms:Decrypt", A, policy(iallow("kms:Decrypt"))),
    C("KMS: cross-account key policy naming another user of that account", policy(allow(aws(CAROL_ARN))),
      OTHER_ALICE, "kms:Decrypt", NR, policy(iallow("kms:*"))),
    C("KMS: cross-account key policy allows only the listed actions", policy(allow(aws(ROOT_ARN)),
      allow(aws(OTHER_ROOT_ARN), "kms:Decrypt")), CAROL, "kms:Encrypt", NR, policy(iallow("kms:*"))),
    C("KMS: external account root has every permission in its own account", policy(allow(aws(ROOT_ARN)),
      allow(aws(OTHER_ROOT_ARN), "kms:Decrypt")), OTHER_ROOT, "kms:Decrypt", A),
    C("KMS: external account root still needs the key policy", DEFAULT_POLICY, OTHER_ROOT, "kms:Decrypt", NR),
    C("KMS: Principal * with an external caller still needs IAM", policy(allow("*", "kms:Decrypt")), CAROL,
      "kms:Decrypt", NI),
    C("KMS: Principal * with an external caller and IAM allow", policy(allow("*", "kms:Decrypt")), CAROL,
      "kms:Decrypt", A, policy(iallow("kms:Decrypt"))),
    C("IAM: cross-account explicit deny in the caller's IAM policy", policy(allow(aws(OTHER_ROOT_ARN))), CAROL,
      "kms:Decrypt", DI, policy(iallow("kms:*"), ideny("kms:Decrypt"))),
    C("KMS: cross-account IAM policy for another key doesn't count", policy(allow(aws(OTHER_ROOT_ARN))), CAROL,
      "kms:Decrypt", NI, policy(iallow("kms:*", resource=OTHER_KEY_ARN))),
    C("KMS: cross-account key policy naming the bare account id", policy(allow(aws(OTHER), "kms:Decrypt")),
      CAROL, "kms:Decrypt", A, policy(iallow("kms:Decrypt"))),
    C("IAM: a user ARN includes the account (same name, other account)", policy(allow(aws(ALICE_ARN))),
      OTHER_ALICE, "kms:Decrypt", NR, policy(iallow("kms:*"))),

    # ---------------------------------------------------------------- principal matching
    C("IAM: Principal root ARN matches the account root", policy(allow(aws(ROOT_ARN))), ROOT_P, "kms:Encrypt", A),
    C("IAM: Principal bare account id matches the account root", policy(allow(aws(ACCT))), ROOT_P,
      "kms:Encrypt", A),
    C("IAM: Principal bare account id delegates to IAM like the root ARN", policy(allow(aws(ACCT))), ALICE,
      "kms:Encrypt", A, policy(iallow("kms:Encrypt"))),
    C("IAM: Principal bare account id without IAM allow", policy(allow(aws(ACCT))), ALICE, "kms:Encrypt", NI),
    C("IAM: Principal user ARN matches only that user", policy(allow(aws(ALICE_ARN))), BOB, "kms:Encrypt", NR),
    C("IAM: Principal user ARN does not match the account root", policy(allow(aws(ALICE_ARN))), ROOT_P,
      "kms:Encrypt", NR),
    C("IAM: Principal list of ARNs: any entry matches", policy(allow(aws(BOB_ARN, ALICE_ARN))), ALICE,
      "kms:Encrypt", A),
    C("IAM: Principal role ARN matches an assumed-role session of the role", policy(allow(aws(APP_ROLE_ARN))),
      APP, "kms:Encrypt", A),
    C("IAM: Principal role ARN matches every session of the role", policy(allow(aws(APP_ROLE_ARN))), APP2,
      "kms:Encrypt", A),
    C("IAM: Principal role ARN does not match another role's session", policy(allow(aws(APP_ROLE_ARN))), OPS,
      "kms:Encrypt", NR),
    C("IAM: Principal assumed-role session ARN matches that session", policy(allow(aws(APP_SESSION_ARN))), APP,
      "kms:Encrypt", A),
    C("IAM: Principal assumed-role session ARN doesn't match another session", policy(allow(aws(APP_SESSION_ARN))),
      APP2, "kms:Encrypt", NR),
    C("IAM: Principal \"*\" matches any caller", policy(allow("*")), BOB, "kms:Encrypt", A),
    C("IAM: Principal {\"AWS\":\"*\"} matches any caller", policy(allow({"AWS": "*"})), BOB, "kms:Encrypt", A),
    C("IAM: Principal {\"AWS\":\"*\"} matches a role session", policy(allow({"AWS": "*"})), APP, "kms:Encrypt", A),
    C("IAM: Principal {\"AWS\":\"*\"} matches the account root", policy(allow({"AWS": "*"})), ROOT_P,
      "kms:Encrypt", A),
    C("IAM: a Service principal never matches an IAM caller", policy(allow({"Service": "ssm.amazonaws.com"})),
      ALICE, "kms:Encrypt", NR, policy(iallow("kms:*"))),
    C("IAM: a Service principal never matches the account root", policy(allow({"Service": "ssm.amazonaws.com"})),
      ROOT_P, "kms:Encrypt", NR),
    C("IAM: a Principal mixing AWS and Service entries matches the AWS entry",
      policy(allow({"AWS": ALICE_ARN, "Service": "ssm.amazonaws.com"})), ALICE, "kms:Encrypt", A),
    C("IAM: a Deny with a Service principal doesn't apply to an IAM caller",
      policy(allow(aws(ALICE_ARN)), deny({"Service": "ssm.amazonaws.com"})), ALICE, "kms:Encrypt", A),

    # ---------------------------------------------------------------- NotPrincipal
    C("IAM: NotPrincipal with Deny exempts the listed user (with its account)",
      policy(allow(aws(ROOT_ARN)), st("Deny", "kms:*", None, NotPrincipal=aws(ALICE_ARN, ROOT_ARN))),
      ALICE, "kms:Decrypt", A, policy(iallow("kms:*"))),
    C("IAM: NotPrincipal with Deny denies everyone not listed",
      policy(allow(aws(ROOT_ARN)), st("Deny", "kms:*", None, NotPrincipal=aws(ALICE_ARN, ROOT_ARN))),
      BOB, "kms:Decrypt", DR, policy(iallow("kms:*"))),
    C("IAM: NotPrincipal with Deny exempts the listed account root",
      policy(allow(aws(ROOT_ARN)), st("Deny", "kms:*", None, NotPrincipal=aws(ALICE_ARN, ROOT_ARN))),
      ROOT_P, "kms:Decrypt", A),
    C("IAM: NotPrincipal with Deny: listing only the account doesn't exempt its users",
      policy(allow(aws(ROOT_ARN)), st("Deny", "kms:*", None, NotPrincipal=aws(ROOT_ARN))),
      ALICE, "kms:Decrypt", DR, policy(iallow("kms:*"))),
    C("IAM: NotPrincipal with Deny: a user listed without its account is still denied",
      policy(allow(aws(ROOT_ARN)), st("Deny", "kms:*", None, NotPrincipal=aws(ALICE_ARN))),
      ALICE, "kms:Decrypt", DR, policy(iallow("kms:*"))),
    C("IAM: NotPrincipal with Deny exempts a session listed with its role and account",
      policy(allow(aws(ROOT_ARN)),
             st("Deny", "kms:*", None, NotPrincipal=aws(APP_SESSION_ARN, APP_ROLE_ARN, ROOT_ARN))),
      APP, "kms:Decrypt", A, policy(iallow("kms:*"))),
    C("IAM: NotPrincipal with Deny applies to external accounts not listed",
      policy(allow(aws(OTHER_ROOT_ARN)), st("Deny", "kms:*", None, NotPrincipal=aws(ALICE_ARN, ROOT_ARN))),
      CAROL, "kms:Decrypt", DR, policy(iallow("kms:*"))),
    C("IAM: NotPrincipal with Allow applies to principals not listed",
      policy(st("Allow", "kms:Decrypt", None, NotPrincipal=aws(BOB_ARN, ROOT_ARN))), ALICE, "kms:Decrypt", A),

    # ---------------------------------------------------------------- actions
    C("IAM: action wildcard kms:* matches every KMS action", policy(allow(aws(ALICE_ARN), "kms:*")), ALICE,
      "kms:CreateGrant", A),
    C("IAM: action wildcard * matches every action", policy(allow(aws(ALICE_ARN), "*")), ALICE, "kms:Sign", A),
    C("IAM: action wildcard kms:Describe* matches DescribeKey", policy(allow(aws(ALICE_ARN), "kms:Describe*")),
      ALICE, "kms:DescribeKey", A),
    C("IAM: action wildcard kms:Describe* doesn't match Decrypt", policy(allow(aws(ALICE_ARN), "kms:Describe*")),
      ALICE, "kms:Decrypt", NR),
    C("IAM: action wildcard kms:ReEncrypt* matches ReEncryptFrom", policy(allow(aws(ALICE_ARN), "kms:ReEncrypt*")),
      ALICE, "kms:ReEncryptFrom", A),
    C("IAM: action wildcard kms:ReEncrypt* matches ReEncryptTo", policy(allow(aws(ALICE_ARN), "kms:ReEncrypt*")),
      ALICE, "kms:ReEncryptTo", A),
    C("IAM: action wildcard kms:GenerateDataKey* matches GenerateDataKeyWithoutPlaintext",
      policy(allow(aws(ALICE_ARN), "kms:GenerateDataKey*")), ALICE, "kms:GenerateDataKeyWithoutPlaintext", A),
    C("IAM: action wildcard kms:GenerateDataKey* matches GenerateDataKey itself",
      policy(allow(aws(ALICE_ARN), "kms:GenerateDataKey*")), ALICE, "kms:GenerateDataKey", A),
    C("IAM: an action without a wildcard matches only that action",
      policy(allow(aws(ALICE_ARN), "kms:GenerateDataKey")), ALICE, "kms:GenerateDataKeyWithoutPlaintext", NR),
    C("IAM: action wildcard in the middle (kms:*Key)", policy(allow(aws(ALICE_ARN), "kms:*Key")), ALICE,
      "kms:DisableKey", A),
    C("IAM: action wildcard in the middle doesn't over-match", policy(allow(aws(ALICE_ARN), "kms:*Key")), ALICE,
      "kms:Decrypt", NR),
    C("IAM: ? wildcard matches exactly one character", policy(allow(aws(ALICE_ARN), "kms:?ncrypt")), ALICE,
      "kms:Encrypt", A),
    C("IAM: ? wildcard doesn't match zero characters", policy(allow(aws(ALICE_ARN), "kms:Encrypt?")), ALICE,
      "kms:Encrypt", NR),
    C("IAM: ? wildcard doesn't match two characters", policy(allow(aws(ALICE_ARN), "kms:?crypt")), ALICE,
      "kms:Decrypt", NR),
    C("IAM: action names are case-insensitive", policy(allow(aws(ALICE_ARN), "KMS:ENCRYPT")), ALICE,
      "kms:Encrypt", A),
    C("IAM: action names are case-insensitive with wildcards", policy(allow(aws(ALICE_ARN), "kms:describe*")),
      ALICE, "kms:DescribeKey", A),
    C("IAM: action names are case-insensitive in identity policies", DEFAULT_POLICY, ALICE, "kms:Decrypt", A,
      policy(iallow("Kms:dEcRyPt"))),
    C("IAM: an Action list matches any of its entries",
      policy(allow(aws(ALICE_ARN), ["kms:Encrypt", "kms:Decrypt"])), ALICE, "kms:Decrypt", A),
    C("IAM: another service's action wildcard doesn't match KMS", policy(allow(aws(ALICE_ARN), "s3:*")), ALICE,
      "kms:Encrypt", NR),
    C("IAM: the service prefix is part of the action", policy(allow(aws(ALICE_ARN), "Encrypt")), ALICE,
      "kms:Encrypt", NR),

    # ---------------------------------------------------------------- NotAction
    C("IAM: NotAction allows every action except those listed",
      policy(st("Allow", None, aws(ALICE_ARN), NotAction="kms:Decrypt")), ALICE, "kms:Encrypt", A),
    C("IAM: NotAction doesn't allow a listed action",
      policy(st("Allow", None, aws(ALICE_ARN), NotAction="kms:Decrypt")), ALICE, "kms:Decrypt", NR),
    C("IAM: NotAction with wildcards",
      policy(st("Allow", None, aws(ALICE_ARN), NotAction=["kms:Describe*", "kms:List*"])), ALICE,
      "kms:ListGrants", NR),
    C("IAM: Deny with NotAction denies everything else",
      policy(allow(aws(ALICE_ARN)), st("Deny", None, aws(ALICE_ARN), NotAction=["kms:Describe*", "kms:List*"])),
      ALICE, "kms:Encrypt", DR),
    C("IAM: Deny with NotAction leaves the listed actions allowed",
      policy(allow(aws(ALICE_ARN)), st("Deny", None, aws(ALICE_ARN), NotAction=["kms:Describe*", "kms:List*"])),
      ALICE, "kms:DescribeKey", A),
    C("IAM: NotAction in an identity policy", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(st("Allow", None, NotAction="kms:ScheduleKeyDeletion", resource="*"))),
    C("IAM: NotAction in an identity policy excludes the listed action", DEFAULT_POLICY, ALICE,
      "kms:ScheduleKeyDeletion", NI, policy(st("Allow", None, NotAction="kms:ScheduleKeyDeletion", resource="*"))),
    C("IAM: NotAction kms:* allows no KMS action", policy(st("Allow", None, aws(ALICE_ARN), NotAction="kms:*")),
      ALICE, "kms:Encrypt", NR),
    C("IAM: NotAction names are case-insensitive",
      policy(st("Allow", None, aws(ALICE_ARN), NotAction="KMS:DECRYPT")), ALICE, "kms:Decrypt", NR),

    # ---------------------------------------------------------------- Resource / NotResource
    C("KMS: key policy Resource * means this key", policy(allow(aws(ALICE_ARN), resource="*")), ALICE,
      "kms:Encrypt", A),
    C("KMS: key policy Resource naming the key ARN", policy(allow(aws(ALICE_ARN), resource=KEY_ARN)), ALICE,
      "kms:Encrypt", A),
    C("IAM: Resource glob key/*", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(iallow("kms:Encrypt", resource=f"arn:aws:kms:{REGION}:{ACCT}:key/*"))),
    C("IAM: Resource glob with a wildcard region", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(iallow("kms:Encrypt", resource=f"arn:aws:kms:*:{ACCT}:key/*"))),
    C("IAM: Resource in another region doesn't match", DEFAULT_POLICY, ALICE, "kms:Encrypt", NI,
      policy(iallow("kms:Encrypt", resource=f"arn:aws:kms:eu-west-1:{ACCT}:key/*"))),
    C("IAM: Resource ARNs are case-sensitive", DEFAULT_POLICY, ALICE, "kms:Encrypt", NI,
      policy(iallow("kms:Encrypt", resource=f"arn:aws:kms:{REGION}:{ACCT}:KEY/*"))),
    C("IAM: Resource ? wildcard", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(iallow("kms:Encrypt", resource=KEY_ARN[:-1] + "?"))),
    C("IAM: Resource list matches any entry", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(iallow("kms:Encrypt", resource=[OTHER_KEY_ARN, KEY_ARN]))),
    C("IAM: NotResource allows every resource except those listed", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(st("Allow", "kms:Encrypt", None, None, NotResource=OTHER_KEY_ARN))),
    C("IAM: NotResource excludes the listed resource", DEFAULT_POLICY, ALICE, "kms:Encrypt", NI,
      policy(st("Allow", "kms:Encrypt", None, None, NotResource=KEY_ARN))),
    C("IAM: Deny with NotResource denies all other resources", DEFAULT_POLICY, ALICE, "kms:Encrypt", DI,
      policy(iallow("kms:*"), st("Deny", "kms:*", None, None, NotResource=OTHER_KEY_ARN))),
    C("IAM: Deny with NotResource spares the listed resource", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(iallow("kms:*"), st("Deny", "kms:*", None, None, NotResource=KEY_ARN))),
    C("KMS: a key-policy statement without Resource is accepted but never applies",
      policy(st("Allow", "kms:*", aws(ALICE_ARN), None)), ALICE, "kms:Encrypt", NR),
    C("KMS: a key-policy statement without Action is accepted but never applies",
      policy(st("Allow", None, aws(ALICE_ARN))), ALICE, "kms:Encrypt", NR),
    C("KMS: a key-policy Deny without Action never applies",
      policy(allow(aws(ALICE_ARN)), st("Deny", None, aws(ALICE_ARN))), ALICE, "kms:Encrypt", A),

    # ---------------------------------------------------------------- IAM-only actions (key_policy None)
    C("KMS: IAM-only action: the account root may do it", None, ROOT_P, "kms:CreateKey", A, resource="*",
      resource_account=None),
    C("KMS: IAM-only action: a user without an identity policy may not", None, ALICE, "kms:CreateKey", NI,
      resource="*", resource_account=None),
    C("KMS: IAM-only action: a user with an identity policy allowing it", None, ALICE, "kms:CreateKey", A,
      policy(iallow("kms:CreateKey")), resource="*", resource_account=None),
    C("KMS: IAM-only action: a role session with kms:List*", None, OPS, "kms:ListKeys", A,
      policy(iallow("kms:List*")), resource="*", resource_account=None),
    C("KMS: IAM-only action: explicit deny in the identity policy", None, ALICE, "kms:CreateKey", DI,
      policy(iallow("kms:*"), ideny("kms:CreateKey")), resource="*", resource_account=None),
    C("KMS: IAM-only action: an allow for another action doesn't count", None, ALICE, "kms:CreateKey", NI,
      policy(iallow("kms:ListKeys")), resource="*", resource_account=None),
    C("KMS: CreateKey isn't resource-level: a key-ARN Resource doesn't cover it", None, ALICE, "kms:CreateKey",
      NI, policy(iallow("kms:CreateKey", resource=f"arn:aws:kms:{REGION}:{ACCT}:key/*")), resource="*",
      resource_account=None),

    # ---------------------------------------------------------------- grants
    C("KMS: a grant allows without key policy or IAM permission", DEFAULT_POLICY, ALICE, "kms:Decrypt", A,
      grant=True),
    C("KMS: a grant allows even when the key policy doesn't name the caller", policy(allow(aws(BOB_ARN))), ALICE,
      "kms:Decrypt", A, grant=True),
    C("KMS: a grant never overrides an explicit deny in the key policy",
      policy(allow(aws(ROOT_ARN)), deny(aws(ALICE_ARN), "kms:Decrypt")), ALICE, "kms:Decrypt", DR, grant=True),
    C("KMS: a grant never overrides an explicit deny in an IAM policy", DEFAULT_POLICY, ALICE, "kms:Decrypt", DI,
      policy(ideny("kms:Decrypt")), grant=True),
    C("KMS: without a grant the same request is denied", policy(allow(aws(BOB_ARN))), ALICE, "kms:Decrypt", NR),

    # ---------------------------------------------------------------- the seed example key policy
    C("KMS example policy: EncryptionApp may Encrypt", SEED_POLICY, APP, "kms:Encrypt", A),
    C("KMS example policy: EncryptionApp may Decrypt", SEED_POLICY, APP, "kms:Decrypt", A),
    C("KMS example policy: EncryptionApp may GenerateDataKey", SEED_POLICY, APP, "kms:GenerateDataKey", A),
    C("KMS example policy: EncryptionApp may DescribeKey", SEED_POLICY, APP, "kms:DescribeKey", A),
    C("KMS example policy: EncryptionApp may ReEncryptFrom (ReEncrypt*)", SEED_POLICY, APP, "kms:ReEncryptFrom", A),
    C("KMS example policy: EncryptionApp may ReEncryptTo (ReEncrypt*)", SEED_POLICY, APP, "kms:ReEncryptTo", A),
    C("KMS example policy: EncryptionApp may not PutKeyPolicy", SEED_POLICY, APP, "kms:PutKeyPolicy", NI),
    C("KMS example policy: EncryptionApp may not ScheduleKeyDeletion", SEED_POLICY, APP,
      "kms:ScheduleKeyDeletion", NI),
    C("KMS example policy: EncryptionApp may not GenerateDataKeyWithoutPlaintext", SEED_POLICY, APP,
      "kms:GenerateDataKeyWithoutPlaintext", NI),
    C("KMS example policy: EncryptionApp may not CreateGrant", SEED_POLICY, APP, "kms:CreateGrant", NI),
    C("KMS example policy: EncryptionApp may not GetKeyPolicy", SEED_POLICY, APP, "kms:GetKeyPolicy", NI),
    C("KMS example policy: the root statement lets IAM give EncryptionApp more", SEED_POLICY, APP,
      "kms:PutKeyPolicy", A, policy(iallow("kms:*"))),
    C("KMS example policy: an IAM deny still stops EncryptionApp", SEED_POLICY, APP, "kms:Decrypt", DI,
      policy(ideny("kms:Decrypt"))),
    C("KMS example policy: the account root may PutKeyPolicy", SEED_POLICY, ROOT_P, "kms:PutKeyPolicy", A),
    C("KMS example policy: another role needs IAM permission", SEED_POLICY, OPS, "kms:Encrypt", NI),
    C("KMS example policy: another role with IAM permission", SEED_POLICY, OPS, "kms:Encrypt", A,
      policy(iallow("kms:Encrypt"))),
    C("KMS example policy: a user with IAM kms:* may administer", SEED_POLICY, ALICE, "kms:PutKeyPolicy", A,
      policy(iallow("kms:*"))),

    # ---------------------------------------------------------------- AWS-managed key policy (§4.12)
    C("KMS managed key: usable via the service by a principal of the account", MANAGED_POLICY, ALICE,
      "kms:Encrypt", A, facts={"kms:CallerAccount": ACCT, "kms:ViaService": SSM_VIA}),
    C("KMS managed key: GenerateDataKey* via the service", MANAGED_POLICY, ALICE,
      "kms:GenerateDataKeyWithoutPlaintext", A, facts={"kms:CallerAccount": ACCT, "kms:ViaService": SSM_VIA}),
    C("KMS managed key: ReEncrypt* via the service", MANAGED_POLICY, OPS, "kms:ReEncryptFrom", A,
      facts={"kms:CallerAccount": ACCT, "kms:ViaService": SSM_VIA}),
    C("KMS managed key: not usable directly (no kms:ViaService)", MANAGED_POLICY, ALICE, "kms:Encrypt", NR,
      policy(iallow("kms:*")), facts={"kms:CallerAccount": ACCT}),
    C("KMS managed key: not usable via another service", MANAGED_POLICY, ALICE, "kms:Decrypt", NR,
      facts={"kms:CallerAccount": ACCT, "kms:ViaService": f"ec2.{REGION}.amazonaws.com"}),
    C("KMS managed key: not usable via the service in another region", MANAGED_POLICY, ALICE, "kms:Decrypt", NR,
      facts={"kms:CallerAccount": ACCT, "kms:ViaService": "ssm.eu-west-1.amazonaws.com"}),
    C("KMS managed key: not usable by another account even via the service", MANAGED_POLICY, CAROL,
      "kms:Decrypt", NR, policy(iallow("kms:*")), facts={"kms:CallerAccount": OTHER, "kms:ViaService": SSM_VIA}),
    C("KMS managed key: the account root can't use it directly", MANAGED_POLICY, ROOT_P, "kms:Encrypt", NR,
      facts={"kms:CallerAccount": ACCT}),
    C("KMS managed key: the account root may DescribeKey directly", MANAGED_POLICY, ROOT_P, "kms:DescribeKey", A,
      facts={"kms:CallerAccount": ACCT}),
    C("KMS managed key: the account root may GetKeyPolicy (kms:Get*)", MANAGED_POLICY, ROOT_P,
      "kms:GetKeyPolicy", A, facts={"kms:CallerAccount": ACCT}),
    C("KMS managed key: the account root may ListGrants (kms:List*)", MANAGED_POLICY, ROOT_P, "kms:ListGrants", A,
      facts={"kms:CallerAccount": ACCT}),
    C("KMS managed key: metadata access for users is delegated to IAM", MANAGED_POLICY, ALICE, "kms:DescribeKey",
      A, policy(iallow("kms:DescribeKey")), facts={"kms:CallerAccount": ACCT}),
    C("KMS managed key: metadata access without IAM permission", MANAGED_POLICY, ALICE, "kms:GetKeyPolicy", NI,
      facts={"kms:CallerAccount": ACCT}),
    C("KMS managed key: no administrative action even via the service", MANAGED_POLICY, ALICE,
      "kms:ScheduleKeyDeletion", NR, facts={"kms:CallerAccount": ACCT, "kms:ViaService": SSM_VIA}),
    C("KMS managed key: IAM kms:* doesn't allow PutKeyPolicy", MANAGED_POLICY, ALICE, "kms:PutKeyPolicy", NR,
      policy(iallow("kms:*")), facts={"kms:CallerAccount": ACCT}),

    # ---------------------------------------------------------------- String operators
    cond("IAM: StringEquals match", {"StringEquals": {EC: "IT"}}, {EC: "IT"}, True),
    cond("IAM: StringEquals mismatch", {"StringEquals": {EC: "IT"}}, {EC: "HR"}, False),
    cond("IAM: StringEquals is case-sensitive in the value", {"StringEquals": {EC: "IT"}}, {EC: "it"}, False),
    cond("IAM: StringEquals with a missing key is false", {"StringEquals": {EC: "IT"}}, {}, False),
    cond("IAM: values in one condition are ORed", {"StringEquals": {EC: ["HR", "IT"]}}, {EC: "IT"}, True),
    cond("IAM: values in one condition are ORed (none match)", {"StringEquals": {EC: ["HR", "Sales"]}},
         {EC: "IT"}, False),
    cond("IAM: keys in one condition block are ANDed (one fails)",
         {"StringEquals": {EC: "IT", "kms:CallerAccount": ACCT}}, {EC: "IT", "kms:CallerAccount": OTHER}, False),
    cond("IAM: keys in one condition block are ANDed (all hold)",
         {"StringEquals": {EC: "IT", "kms:CallerAccount": ACCT}}, {EC: "IT", "kms:CallerAccount": ACCT}, True),
    cond("IAM: condition operators are ANDed",
         {"StringEquals": {EC: "IT"}, "Bool": {"aws:SecureTransport": "true"}},
         {EC: "IT", "aws:SecureTransport": "false"}, False),
    cond("IAM: condition key names are case-insensitive", {"StringEquals": {"KMS:CALLERACCOUNT": ACCT}},
         {"kms:CallerAccount": ACCT}, True),
    cond("IAM: a numeric JSON value compares as its string form", {"StringEquals": {"kms:CallerAccount": 111122223333}},
         {"kms:CallerAccount": ACCT}, True),
    cond("IAM: StringNotEquals with a different value is true", {"StringNotEquals": {EC: "HR"}}, {EC: "IT"}, True),
    cond("IAM: StringNotEquals with an equal value is false", {"StringNotEquals": {EC: "IT"}}, {EC: "IT"}, False),
    cond("IAM: StringNotEquals with a missing key is true", {"StringNotEquals": {EC: "IT"}}, {}, True),
    cond("IAM: StringNotEquals with several values: equal to one is false",
         {"StringNotEquals": {EC: ["HR", "IT"]}}, {EC: "IT"}, False),
    cond("IAM: StringNotEquals with several values: equal to none is true",
         {"StringNotEquals": {EC: ["HR", "Sales"]}}, {EC: "IT"}, True),
    cond("IAM: StringEqualsIgnoreCase ignores case", {"StringEqualsIgnoreCase": {EC: "it"}}, {EC: "It"}, True),
    cond("IAM: StringEqualsIgnoreCase mismatch", {"StringEqualsIgnoreCase": {EC: "hr"}}, {EC: "IT"}, False),
    cond("IAM: StringNotEqualsIgnoreCase with a case variant is false",
         {"StringNotEqualsIgnoreCase": {EC: "it"}}, {EC: "IT"}, False),
    cond("IAM: StringNotEqualsIgnoreCase with a missing key is true", {"StringNotEqualsIgnoreCase": {EC: "it"}},
         {}, True),
    cond("IAM: StringLike * glob", {"StringLike": {"kms:RequestAlias": "alias/app-*"}},
         {"kms:RequestAlias": "alias/app-prod"}, True),
    cond("IAM: StringLike * glob mismatch", {"StringLike": {"kms:RequestAlias": "alias/app-*"}},
         {"kms:RequestAlias": "alias/db-prod"}, False),
    cond("IAM: StringLike ? glob matches one character", {"StringLike": {EC: "Team?"}}, {EC: "TeamA"}, True),
    cond("IAM: StringLike ? glob doesn't match two characters", {"StringLike": {EC: "Team?"}}, {EC: "TeamAB"},
         False),
    cond("IAM: StringLike is case-sensitive", {"StringLike": {"kms:RequestAlias": "alias/App-*"}},
         {"kms:RequestAlias": "alias/app-prod"}, False),
    cond("IAM: StringLike must match the whole value", {"StringLike": {EC: "IT"}}, {EC: "IT-ops"}, False),
    cond("IAM: StringLike treats regex characters literally", {"StringLike": {EC: "a.c"}}, {EC: "abc"}, False),
    cond("IAM: StringLike with a missing key is false", {"StringLike": {EC: "*"}}, {}, False),
    cond("IAM: StringNotLike with a matching value is false", {"StringNotLike": {EC: "I*"}}, {EC: "IT"}, False),
    cond("IAM: StringNotLike with a missing key is true", {"StringNotLike": {EC: "I*"}}, {}, True),

    # ---------------------------------------------------------------- IfExists / Null
    cond("IAM: ...IfExists with a missing key is true", {"StringEqualsIfExists": {EC: "IT"}}, {}, True),
    cond("IAM: ...IfExists with a present key compares normally (mismatch)", {"StringEqualsIfExists": {EC: "IT"}},
         {EC: "HR"}, False),
    cond("IAM: ...IfExists with a present key compares normally (match)", {"StringEqualsIfExists": {EC: "IT"}},
         {EC: "IT"}, True),
    cond("IAM: BoolIfExists with a missing key is true", {"BoolIfExists": {"aws:SecureTransport": "true"}}, {},
         True),
    cond("IAM: NumericLessThanIfExists with a missing key is true",
         {"NumericLessThanIfExists": {"kms:ScheduleKeyDeletionPendingWindowInDays": "10"}}, {}, True),
    cond("IAM: ArnLikeIfExists with a missing key is true",
         {"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:ssm:*:*:parameter/app/*"}}, {}, True),
    cond("IAM: ForAnyValue:...IfExists with a missing key is true",
         {"ForAnyValue:StringEqualsIfExists": {ECK: "Department"}}, {}, True),
    cond("IAM: Null true: key absent", {"Null": {EC: "true"}}, {}, True),
    cond("IAM: Null true: key present", {"Null": {EC: "true"}}, {EC: "IT"}, False),
    cond("IAM: Null false: key present", {"Null": {EC: "false"}}, {EC: "IT"}, True),
    cond("IAM: Null false: key absent", {"Null": {EC: "false"}}, {}, False),
    cond("IAM: Null with a JSON boolean value", {"Null": {"kms:ViaService": True}}, {}, True),
    cond("IAM: Null true: an empty multivalued key counts as absent", {"Null": {ECK: "true"}}, {ECK: []}, True),
    cond("IAM: Null false requires an encryption context", {"Null": {ECK: "false"}}, {ECK: ["Department"]}, True),

    # ---------------------------------------------------------------- Bool
    cond("IAM: Bool true matches \"true\"", {"Bool": {"aws:SecureTransport": "true"}},
         {"aws:SecureTransport": "true"}, True),
    cond("IAM: Bool with a JSON boolean", {"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "true"},
         True),
    cond("IAM: Bool true doesn't match false", {"Bool": {"aws:SecureTransport": "true"}},
         {"aws:SecureTransport": "false"}, False),
    cond("IAM: Bool false matches false", {"Bool": {"aws:SecureTransport": "false"}},
         {"aws:SecureTransport": "false"}, True),
    cond("IAM: Bool with a missing key is false", {"Bool": {"aws:SecureTransport": "true"}}, {}, False),
    cond("IAM: Bool false doesn't match true", {"Bool": {"kms:GrantIsForAWSResource": "false"}},
         {"kms:GrantIsForAWSResource": "true"}, False),

    # ---------------------------------------------------------------- Numeric
    cond("IAM: NumericEquals", {"NumericEquals": {"kms:RotationPeriodInDays": "365"}},
         {"kms:RotationPeriodInDays": "365"}, True),
    cond("IAM: NumericEquals compares numbers, not strings", {"NumericEquals": {"kms:RotationPeriodInDays": 365}},
         {"kms:RotationPeriodInDays": "365.0"}, True),
    cond("IAM: NumericEquals mismatch", {"NumericEquals": {"kms:RotationPeriodInDays": "365"}},
         {"kms:RotationPeriodInDays": "90"}, False),
    cond("IAM: NumericNotEquals", {"NumericNotEquals": {"kms:RotationPeriodInDays": "365"}},
         {"kms:RotationPeriodInDays": "90"}, True),
    cond("IAM: NumericLessThan", {"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "10"}},
         {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"}, True),
    cond("IAM: NumericLessThan is strict", {"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"}},
         {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"}, False),
    cond("IAM: NumericLessThanEquals includes the bound",
         {"NumericLessThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"}},
         {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"}, True),
    cond("IAM: NumericGreaterThan", {"NumericGreaterThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"}},
         {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}, True),
    cond("IAM: NumericGreaterThanEquals below the bound",
         {"NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": "14"}},
         {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"}, False),
    cond("IAM: Numeric operators compare decimals", {"NumericLessThan": {"kms:RotationPeriodInDays": "90.5"}},
         {"kms:RotationPeriodInDays": "90.25"}, True),
    cond("IAM: Numeric with a non-numeric request value is false",
         {"NumericEquals": {"kms:RotationPeriodInDays": "365"}}, {"kms:RotationPeriodInDays": "yearly"}, False),
    cond("IAM: Numeric with a missing key is false", {"NumericLessThan": {"kms:RotationPeriodInDays": "365"}}, {},
         False),

    # ---------------------------------------------------------------- Date (ISO 8601 and epoch)
    cond("IAM: DateLessThan with ISO 8601 dates", {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
         {"aws:CurrentTime": "2025-06-01T12:00:00Z"}, True),
    cond("IAM: DateLessThan after the date is false",
         {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
         {"aws:CurrentTime": "2025-06-01T12:00:00Z"}, False),
    cond("IAM: DateGreaterThan with ISO 8601 dates",
         {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
         {"aws:CurrentTime": "2025-06-01T12:00:00Z"}, True),
    cond("IAM: Date operators accept epoch seconds in the policy",
         {"DateGreaterThan": {"aws:CurrentTime": "1577836800"}}, {"aws:CurrentTime": "2025-06-01T12:00:00Z"}, True),
    cond("IAM: Date operators accept an epoch request value (aws:EpochTime)",
         {"DateLessThan": {"aws:EpochTime": "2030-01-01T00:00:00Z"}}, {"aws:EpochTime": "1748779200"}, True),
    cond("IAM: DateEquals across ISO and epoch forms", {"DateEquals": {"kms:ValidTo": "2030-01-01T00:00:00Z"}},
         {"kms:ValidTo": "1893456000"}, True),
    cond("IAM: DateNotEquals", {"DateNotEquals": {"kms:ValidTo": "2030-01-01T00:00:00Z"}},
         {"kms:ValidTo": "1893456001"}, True),
    cond("IAM: Date comparisons honour UTC offsets",
         {"DateEquals": {"aws:CurrentTime": "2025-06-01T13:00:00+01:00"}},
         {"aws:CurrentTime": "2025-06-01T12:00:00Z"}, True),
    cond("IAM: DateLessThanEquals includes the bound",
         {"DateLessThanEquals": {"kms:ValidTo": "2030-01-01T00:00:00Z"}}, {"kms:ValidTo": "1893456000"}, True),
    cond("IAM: DateGreaterThanEquals below the bound", {"DateGreaterThanEquals": {"kms:ValidTo": "1893456000"}},
         {"kms:ValidTo": "2029-12-31T23:59:59Z"}, False),
    cond("IAM: Date with a missing key is false", {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
         {}, False),

    # ---------------------------------------------------------------- ARN operators
    cond("IAM: ArnEquals exact match", {"ArnEquals": {"aws:PrincipalArn": ALICE_ARN}},
         {"aws:PrincipalArn": ALICE_ARN}, True),
    cond("IAM: ArnEquals mismatch", {"ArnEquals": {"aws:PrincipalArn": BOB_ARN}}, {"aws:PrincipalArn": ALICE_ARN},
         False),
    cond("IAM: ArnLike with * in the resource segment",
         {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/*"}},
         {"aws:PrincipalArn": ALICE_ARN}, True),
    cond("IAM: ArnLike with * in the account segment",
         {"ArnLike": {"aws:SourceArn": "arn:aws:ssm:us-east-1:*:parameter/*"}},
         {"aws:SourceArn": f"arn:aws:ssm:us-east-1:{ACCT}:parameter/app/db"}, True),
    cond("IAM: ArnLike compares segment by segment (service differs)",
         {"ArnLike": {"aws:SourceArn": "arn:aws:ssm:*:*:parameter/*"}},
         {"aws:SourceArn": f"arn:aws:s3:us-east-1:{ACCT}:parameter/app"}, False),
    cond("IAM: ArnLike with ? in a segment", {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/Alic?"}},
         {"aws:PrincipalArn": ALICE_ARN}, True),
    cond("IAM: ArnLike is case-sensitive", {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/alice"}},
         {"aws:PrincipalArn": ALICE_ARN}, False),
    cond("IAM: ArnLike on a role ARN (aws:PrincipalArn of a session)",
         {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:role/Encryption*"}},
         {"aws:PrincipalArn": APP_ROLE_ARN}, True, principal=APP),
    cond("IAM: ArnNotEquals with a different ARN is true", {"ArnNotEquals": {"aws:PrincipalArn": BOB_ARN}},
         {"aws:PrincipalArn": ALICE_ARN}, True),
    cond("IAM: ArnNotLike with a matching ARN is false",
         {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/*"}}, {"aws:PrincipalArn": ALICE_ARN}, False),
    cond("IAM: ArnNotLike with a missing key is true", {"ArnNotLike": {"aws:SourceArn": "arn:aws:ssm:*:*:*"}}, {},
         True),
    cond("IAM: ArnLike with a missing key is false", {"ArnLike": {"aws:SourceArn": "arn:aws:ssm:*:*:*"}}, {}, False),

    # ---------------------------------------------------------------- IP address operators
    cond("IAM: IpAddress inside a CIDR", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
         {"aws:SourceIp": "203.0.113.42"}, True),
    cond("IAM: IpAddress outside a CIDR", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
         {"aws:SourceIp": "198.51.100.7"}, False),
    cond("IAM: IpAddress with a single address", {"IpAddress": {"aws:SourceIp": "203.0.113.42"}},
         {"aws:SourceIp": "203.0.113.42"}, True),
    cond("IAM: IpAddress with several ranges (ORed)",
         {"IpAddress": {"aws:SourceIp": ["198.51.100.0/24", "203.0.113.0/24"]}}, {"aws:SourceIp": "203.0.113.9"},
         True),
    cond("IAM: IpAddress with IPv6", {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}},
         {"aws:SourceIp": "2001:db8:1234::1"}, True),
    cond("IAM: IpAddress: an IPv4 caller doesn't match an IPv6 range", {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}},
         {"aws:SourceIp": "203.0.113.42"}, False),
    cond("IAM: IpAddress with a missing key is false", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, {}, False),
    cond("IAM: NotIpAddress inside the range is false", {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
         {"aws:SourceIp": "203.0.113.42"}, False),
    cond("IAM: NotIpAddress outside the range is true", {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
         {"aws:SourceIp": "198.51.100.7"}, True),
    cond("IAM: NotIpAddress with a missing key is true", {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {},
         True),

    # ---------------------------------------------------------------- Binary
    cond("IAM: BinaryEquals compares base64-decoded bytes",
         {"BinaryEquals": {"kms:RecipientAttestation:ImageSha384": "QmluYXJ5VmFsdWU="}},
         {"kms:RecipientAttestation:ImageSha384": "QmluYXJ5VmFsdWU="}, True),
    cond("IAM: BinaryEquals with different bytes",
         {"BinaryEquals": {"kms:RecipientAttestation:ImageSha384": "QmluYXJ5VmFsdWU="}},
         {"kms:RecipientAttestation:ImageSha384": "T3RoZXI="}, False),

    # ---------------------------------------------------------------- policy variables
    cond("IAM: policy variable ${aws:username} in a condition value",
         {"StringEquals": {"kms:EncryptionContext:Owner": "${aws:username}"}},
         {"kms:EncryptionContext:Owner": "Alice", "aws:username": "Alice"}, True),
    cond("IAM: policy variable ${aws:username} resolves to the caller's name",
         {"StringEquals": {"kms:EncryptionContext:Owner": "${aws:username}"}},
         {"kms:EncryptionContext:Owner": "Bob", "aws:username": "Alice"}, False),
    cond("IAM: a policy variable whose key is absent matches nothing (role sessions have no aws:username)",
         {"StringEquals": {"kms:EncryptionContext:Owner": "${aws:username}"}},
         {"kms:EncryptionContext:Owner": "${aws:username}"}, False, principal=APP),
    cond("IAM: policy variable inside a StringLike pattern",
         {"StringLike": {"kms:EncryptionContext:Path": "home/${aws:username}/*"}},
         {"kms:EncryptionContext:Path": "home/Alice/notes", "aws:username": "Alice"}, True),
    cond("IAM: policy variable ${aws:PrincipalTag/team}",
         {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
         {"aws:ResourceTag/team": "crypto", "aws:PrincipalTag/team": "crypto"}, True),
    cond("IAM: ABAC: resource tag must equal the principal's tag",
         {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
         {"aws:ResourceTag/team": "payments", "aws:PrincipalTag/team": "crypto"}, False),
    cond("IAM: policy variable names are case-insensitive",
         {"StringEquals": {"kms:EncryptionContext:Owner": "${AWS:UserName}"}},
         {"kms:EncryptionContext:Owner": "Alice", "aws:username": "Alice"}, True),
    cond("IAM: special characters ${*} ${?} ${$} are literals",
         {"StringEquals": {EC: "${*}${?}${$}"}}, {EC: "*?$"}, True),
    cond("IAM: ${*} in StringLike matches a literal asterisk only",
         {"StringLike": {EC: "a${*}"}}, {EC: "abc"}, False),
    cond("IAM: policy variable default value used when the key is absent",
         {"StringEquals": {"kms:EncryptionContext:Owner": "${aws:username, 'nobody'}"}},
         {"kms:EncryptionContext:Owner": "nobody"}, True, principal=APP),
    cond("IAM: policy variable default value ignored when the key is present",
         {"StringEquals": {"kms:EncryptionContext:Owner": "${aws:username, 'nobody'}"}},
         {"kms:EncryptionContext:Owner": "nobody", "aws:username": "Alice"}, False),
    C("IAM: policy variable in an identity-policy Resource", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(iallow("kms:Encrypt", resource=f"arn:aws:kms:{REGION}:{ACCT}:key/${{aws:PrincipalTag/key}}")),
      facts={"aws:PrincipalTag/key": KEY_ID}),
    C("IAM: policy variable in a Resource: another value doesn't match", DEFAULT_POLICY, ALICE, "kms:Encrypt", NI,
      policy(iallow("kms:Encrypt", resource=f"arn:aws:kms:{REGION}:{ACCT}:key/${{aws:PrincipalTag/key}}")),
      facts={"aws:PrincipalTag/key": "something-else"}),
    C("IAM: policy variables are literal text in a 2008-10-17 policy",
      {"Version": "2008-10-17", "Statement": [allow(aws(ALICE_ARN), "kms:Decrypt",
                                                     condition={"StringEquals": {EC: "${aws:username}"}})]},
      ALICE, "kms:Decrypt", A, facts={EC: "${aws:username}", "aws:username": "Alice"}),
    C("IAM: policy variables are not substituted without a Version element",
      {"Statement": [allow(aws(ALICE_ARN), "kms:Decrypt", condition={"StringEquals": {EC: "${aws:username}"}})]},
      ALICE, "kms:Decrypt", NR, facts={EC: "Alice", "aws:username": "Alice"}),

    # ---------------------------------------------------------------- kms:EncryptionContext:<key>
    cond("KMS: kms:EncryptionContext:<key> StringEquals", {"StringEquals": {EC: "IT"}}, {EC: "IT"}, True),
    cond("KMS: kms:EncryptionContext:<key> the key part is case-insensitive",
         {"StringEquals": {"kms:EncryptionContext:DEPARTMENT": "IT"}}, {"kms:encryptioncontext:department": "IT"},
         True),
    cond("KMS: kms:EncryptionContext:<key> the value is case-sensitive under StringEquals",
         {"StringEquals": {EC: "IT"}}, {EC: "It"}, False),
    cond("KMS: kms:EncryptionContext:<key> StringEqualsIgnoreCase for case-insensitive values",
         {"StringEqualsIgnoreCase": {EC: "it"}}, {EC: "It"}, True),
    cond("KMS: kms:EncryptionContext:<key> absent from the request context",
         {"StringEquals": {EC: "IT"}}, {"kms:EncryptionContext:Project": "X"}, False),
    cond("KMS: kms:EncryptionContext:<key> StringLike on a parameter ARN",
         {"StringLike": {"kms:EncryptionContext:PARAMETER_ARN": f"arn:aws:ssm:{REGION}:{ACCT}:parameter/app/*"}},
         {"kms:EncryptionContext:PARAMETER_ARN": f"arn:aws:ssm:{REGION}:{ACCT}:parameter/app/db"}, True),

    # ---------------------------------------------------------------- kms:EncryptionContextKeys (multivalued)
    cond("KMS: EncryptionContextKeys ForAnyValue: one key matches",
         {"ForAnyValue:StringEquals": {ECK: "Department"}}, {ECK: ["Department", "Project"]}, True),
    cond("KMS: EncryptionContextKeys ForAnyValue: no key matches",
         {"ForAnyValue:StringEquals": {ECK: "Department"}}, {ECK: ["Project"]}, False),
    cond("IAM: ForAnyValue with an empty/missing set is false",
         {"ForAnyValue:StringEquals": {ECK: "Department"}}, {}, False),
    cond("KMS: EncryptionContextKeys ForAllValues: every key allowed",
         {"ForAllValues:StringEquals": {ECK: ["Department", "Project"]}}, {ECK: ["Department"]}, True),
    cond("KMS: EncryptionContextKeys ForAllValues: one key not allowed",
         {"ForAllValues:StringEquals": {ECK: ["Department", "Project"]}}, {ECK: ["Department", "Other"]}, False),
    cond("IAM: ForAllValues with an empty set is true",
         {"ForAllValues:StringEquals": {ECK: ["Department", "Project"]}}, {ECK: []}, True),
    cond("IAM: ForAllValues with a missing key is true",
         {"ForAllValues:StringEquals": {ECK: ["Department", "Project"]}}, {}, True),
    cond("KMS: ForAllValues + Null false requires a non-empty context",
         {"ForAllValues:StringEquals": {ECK: ["Department"]}, "Null": {ECK: "false"}}, {}, False),
    cond("IAM: ForAllValues:StringLike", {"ForAllValues:StringLike": {ECK: "app-*"}}, {ECK: ["app-a", "app-b"]},
         True),
    cond("IAM: ForAnyValue:StringLike", {"ForAnyValue:StringLike": {ECK: "app-*"}}, {ECK: ["x", "app-b"]}, True),
    cond("IAM: ForAllValues:StringNotEquals: no value may be listed",
         {"ForAllValues:StringNotEquals": {ECK: "Secret"}}, {ECK: ["Department", "Secret"]}, False),
    cond("IAM: ForAnyValue:StringNotEquals: some value is not listed",
         {"ForAnyValue:StringNotEquals": {ECK: "Department"}}, {ECK: ["Department", "Project"]}, True),
    cond("IAM: set operator values are case-sensitive under StringEquals",
         {"ForAnyValue:StringEquals": {ECK: "department"}}, {ECK: ["Department"]}, False),

    # ---------------------------------------------------------------- kms:GrantOperations, kms:CallerAccount/ViaService
    cond("KMS: kms:GrantOperations ForAllValues: a subset of allowed operations",
         {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt", "GenerateDataKey"]}},
         {"kms:GrantOperations": ["Decrypt", "GenerateDataKey"]}, True, action="kms:CreateGrant"),
    cond("KMS: kms:GrantOperations ForAllValues: an operation outside the list",
         {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}},
         {"kms:GrantOperations": ["Decrypt", "Sign"]}, False, action="kms:CreateGrant"),
    cond("KMS: kms:GrantOperations ForAnyValue: includes RetireGrant",
         {"ForAnyValue:StringEquals": {"kms:GrantOperations": "RetireGrant"}},
         {"kms:GrantOperations": ["Decrypt", "RetireGrant"]}, True, action="kms:CreateGrant"),
    cond("KMS: kms:GrantIsForAWSResource Bool", {"Bool": {"kms:GrantIsForAWSResource": "true"}},
         {"kms:GrantIsForAWSResource": "true"}, True, action="kms:CreateGrant"),
    cond("KMS: kms:CallerAccount restricts to one account", {"StringEquals": {"kms:CallerAccount": ACCT}},
         {"kms:CallerAccount": ACCT}, True),
    cond("KMS: kms:ViaService restricts use to one service",
         {"StringEquals": {"kms:ViaService": ["ssm.us-east-1.amazonaws.com", "ssm.us-west-2.amazonaws.com"]}},
         {"kms:ViaService": SSM_VIA}, True),
    cond("KMS: kms:ViaService absent on direct calls", {"StringEquals": {"kms:ViaService": SSM_VIA}}, {}, False),
    C("KMS: Deny unless via the service (StringNotEquals with the key absent denies)",
      VIA_ONLY_POLICY,
      ALICE, "kms:Decrypt", DR, policy(iallow("kms:*"))),
    C("KMS: Deny unless via the service (via the service is allowed)",
      VIA_ONLY_POLICY,
      ALICE, "kms:Decrypt", A, policy(iallow("kms:*")), facts={"kms:ViaService": SSM_VIA}),

    # ---------------------------------------------------------------- tags
    cond("IAM: aws:PrincipalTag/<key> match", {"StringEquals": {"aws:PrincipalTag/team": "crypto"}},
         {"aws:PrincipalTag/team": "crypto"}, True),
    cond("IAM: aws:PrincipalTag/<key> mismatch", {"StringEquals": {"aws:PrincipalTag/team": "crypto"}},
         {"aws:PrincipalTag/team": "web"}, False),
    cond("IAM: aws:PrincipalTag/<key> untagged principal", {"StringEquals": {"aws:PrincipalTag/team": "crypto"}},
         {}, False),
    cond("IAM: aws:PrincipalTag/<key> tag key is case-insensitive",
         {"StringEquals": {"aws:PrincipalTag/Team": "crypto"}}, {"aws:principaltag/team": "crypto"}, True),
    icond("IAM: aws:ResourceTag/<key> in an identity policy (ABAC)",
          {"StringEquals": {"aws:ResourceTag/env": "prod"}}, {"aws:ResourceTag/env": "prod"}, True),
    icond("IAM: aws:ResourceTag/<key> mismatch", {"StringEquals": {"aws:ResourceTag/env": "prod"}},
          {"aws:ResourceTag/env": "dev"}, False),
    icond("IAM: aws:ResourceTag/<key> untagged key", {"StringEquals": {"aws:ResourceTag/env": "prod"}}, {}, False),
    icond("IAM: condition in an identity policy: aws:SourceIp", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
          {"aws:SourceIp": "10.1.2.3"}, True),
    C("IAM: a conditional Deny in an identity policy applies when the condition holds", DEFAULT_POLICY, ALICE,
      "kms:Encrypt", DI, policy(iallow("kms:*"), ideny("kms:*", condition={"Bool": {"aws:SecureTransport": "false"}})),
      facts={"aws:SecureTransport": "false"}),
    C("IAM: a conditional Deny doesn't apply when the condition fails", DEFAULT_POLICY, ALICE, "kms:Encrypt", A,
      policy(iallow("kms:*"), ideny("kms:*", condition={"Bool": {"aws:SecureTransport": "false"}})),
      facts={"aws:SecureTransport": "true"}),
]


def _compile(doc: Optional[dict], resource_policy: bool):
    return None if doc is None else compile_policy(doc, resource_policy=resource_policy)


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c.doc}" for i, c in enumerate(CASES)])
def test_decide(case: Case) -> None:
    key_policy = _compile(case.key_policy, True)
    identity = [compile_policy(p, resource_policy=False) for p in case.identity]
    decision = decide(case.principal, case.action, case.resource, case.resource_account, key_policy, identity,
                      FakeFacts(case.facts), lambda: case.grant)
    if isinstance(case.expect, Decision):
        assert decision is case.expect, f"{case.doc}: got {decision}"
    else:
        assert decision.allowed is case.expect, f"{case.doc}: got {decision}"


def test_case_table_is_large_and_documented() -> None:
    assert len(CASES) >= 160
    assert all(c.doc.strip() for c in CASES)


def test_grant_callback_not_consulted_on_explicit_deny() -> None:
    """KMS: grants only allow; an explicit deny is decided before any grant lookup."""
    kp = compile_policy(policy(allow(aws(ROOT_ARN)), deny(aws(ALICE_ARN), "kms:Decrypt")), resource_policy=True)

    def boom() -> bool:
        raise AssertionError("grants consulted despite an explicit deny")

    assert decide(ALICE, "kms:Decrypt", KEY_ARN, ACCT, kp, [], FakeFacts(), boom) is DR


def test_compile_accepts_a_json_string_and_single_statement_object() -> None:
    """IAM grammar: Statement may be one object; KMS stores the text given."""
    text = json.dumps({"Version": "2012-10-17", "Statement": allow(aws(ALICE_ARN), "kms:Encrypt")})
    compiled = compile_policy(text, resource_policy=True)
    assert compiled.text == text
    assert decide(ALICE, "kms:Encrypt", KEY_ARN, ACCT, compiled, [], FakeFacts()) is A


# --- malformed documents ------------------------------------------------------------------
def _kp(**statement: Any) -> dict:
    base = {"Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}
    base.update(statement)
    return {"Version": "2012-10-17", "Statement": [{k: v for k, v in base.items() if v is not _DROP}]}


def _ip(**statement: Any) -> dict:
    base = {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}
    base.update(statement)
    return {"Version": "2012-10-17", "Statement": [{k: v for k, v in base.items() if v is not _DROP}]}


_DROP = object()

MALFORMED: list[tuple[str, Any, bool]] = [
    ("grammar: document is not valid JSON", '{"Statement": [', True),
    ("grammar: document is not an object", "[]", True),
    ("grammar: missing Statement", {"Version": "2012-10-17"}, True),
    ("grammar: empty Statement list", {"Version": "2012-10-17", "Statement": []}, True),
    ("grammar: Statement is a string", {"Version": "2012-10-17", "Statement": "Allow all"}, True),
    ("grammar: statement is not an object", {"Version": "2012-10-17", "Statement": ["Allow"]}, True),
    ("grammar: bad Effect", _kp(Effect="Permit"), True),
    ("grammar: missing Effect", _kp(Effect=_DROP), True),
    ("grammar: Effect must be a string", _kp(Effect=True), True),
    ("KMS: missing Principal in a key policy", _kp(Principal=_DROP), True),
    ("KMS: both Principal and NotPrincipal", _kp(NotPrincipal={"AWS": BOB_ARN}), True),
    ("IAM: Principal in an identity policy", _ip(Principal={"AWS": ALICE_ARN}), False),
    ("IAM: NotPrincipal in an identity policy", _ip(NotPrincipal={"AWS": ALICE_ARN}), False),
    ("IAM: identity policy statement without Resource", _ip(Resource=_DROP), False),
    ("grammar: Action and NotAction together", _kp(NotAction="kms:Decrypt"), True),
    ("grammar: Resource and NotResource together", _kp(NotResource=OTHER_KEY_ARN), True),
    ("grammar: Action and NotAction together (identity policy)", _ip(NotAction="kms:Decrypt"), False),
    ("grammar: non-string action", _kp(Action=5), True),
    ("grammar: non-string action in a list", _kp(Action=["kms:Encrypt", 3]), True),
    ("grammar: empty Action list", _kp(Action=[]), True),
    ("grammar: Action as an object", _kp(Action={"kms": "Encrypt"}), True),
    ("grammar: non-string Resource", _kp(Resource=7), True),
    ("grammar: unknown condition operator", _kp(Condition={"StringEqualz": {EC: "IT"}}), True),
    ("grammar: unknown operator after a set qualifier", _kp(Condition={"ForAnyValue:Foo": {ECK: "a"}}), True),
    ("grammar: Null takes no set qualifier", _kp(Condition={"ForAllValues:Null": {ECK: "true"}}), True),
    ("grammar: Condition is not an object", _kp(Condition=["StringEquals"]), True),
    ("grammar: condition operator maps to a non-object", _kp(Condition={"StringEquals": "IT"}), True),
    ("grammar: condition operator with no keys", _kp(Condition={"StringEquals": {}}), True),
    ("grammar: condition value is an object", _kp(Condition={"StringEquals": {EC: {"a": "b"}}}), True),
    ("grammar: condition value is null", _kp(Condition={"StringEquals": {EC: None}}), True),
    ("grammar: condition value is an empty list", _kp(Condition={"StringEquals": {EC: []}}), True),
    ("KMS: invalid principal: a bare name", _kp(Principal={"AWS": "Alice"}), True),
    ("KMS: invalid principal: account id of 11 digits", _kp(Principal={"AWS": "11112222333"}), True),
    ("KMS: invalid principal: root ARN with a bad account", _kp(Principal={"AWS": "arn:aws:iam::1234:root"}), True),
    ("IAM: a user group can't be a principal", _kp(Principal={"AWS": f"arn:aws:iam::{ACCT}:group/Admins"}), True),
    ("KMS: invalid principal: an S3 ARN", _kp(Principal={"AWS": "arn:aws:s3:::bucket"}), True),
    ("KMS: invalid principal: empty list", _kp(Principal={"AWS": []}), True),
    ("KMS: invalid principal: empty string", _kp(Principal={"AWS": ""}), True),
    ("KMS: invalid principal: a number", _kp(Principal={"AWS": 111122223333}), True),
    ("KMS: invalid principal: unknown principal type", _kp(Principal={"Robot": "r2d2"}), True),
    ("KMS: invalid principal: empty object", _kp(Principal={}), True),
    ("KMS: invalid principal: a plain string other than *", _kp(Principal=ROOT_ARN), True),
    ("KMS: invalid principal: a list", _kp(Principal=["*"]), True),
]


@pytest.mark.parametrize("doc,document,resource_policy", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_policy_rejected(doc: str, document: Any, resource_policy: bool) -> None:
    with pytest.raises(MalformedPolicyDocumentException):
        compile_policy(document, resource_policy=resource_policy)


ACCEPTED: list[tuple[str, Any, bool]] = [
    ("grammar: Statement may be a single object",
     {"Version": "2012-10-17", "Statement": allow(aws(ROOT_ARN))}, True),
    ("KMS: a statement without Action is accepted", _kp(Action=_DROP), True),
    ("KMS: a statement without Resource is accepted", _kp(Resource=_DROP), True),
    ("IAM: Service principal", _kp(Principal={"Service": "ssm.amazonaws.com"}), True),
    ("IAM: federated-user session principal", _kp(Principal={"AWS": f"arn:aws:sts::{ACCT}:federated-user/Bob"}),
     True),
    ("IAM: role ARN with a path", _kp(Principal={"AWS": f"arn:aws:iam::{ACCT}:role/service/App"}), True),
    ("IAM: Principal * and {\"AWS\": \"*\"}", {"Statement": [allow("*"), allow({"AWS": "*"})]}, True),
    ("IAM: every documented operator compiles",
     _kp(Condition={op: {"aws:x": "1"} for op in (
         "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
         "StringNotLike", "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
         "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals", "DateNotEquals", "DateLessThan",
         "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals", "Bool", "BinaryEquals", "IpAddress",
         "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null", "StringEqualsIfExists",
         "ForAnyValue:StringLike", "ForAllValues:StringEquals")}), True),
    ("IAM: identity policy with NotResource", _ip(Resource=_DROP, NotResource=OTHER_KEY_ARN), False),
]


@pytest.mark.parametrize("doc,document,resource_policy", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_valid_policy_compiles(doc: str, document: Any, resource_policy: bool) -> None:
    compile_policy(document, resource_policy=resource_policy)


# --- ArnLike: substituted values are literal, also when they hold `*` or `:` ----------------
def test_arn_like_substitutes_variables_as_literal_text():
    from kms_core.policy.conditions import compile_condition

    class Facts:
        def __init__(self, values: dict) -> None:
            self.values = values

        def get(self, name: str):
            return self.values.get(name.lower())

    check = compile_condition("ArnLike", "aws:SourceArn",
                              "arn:aws:kms:*:111122223333:key/${aws:PrincipalTag/team}", "Statement 1")
    arn = "arn:aws:kms:us-east-1:111122223333:key/red"
    assert check(Facts({"aws:sourcearn": arn, "aws:principaltag/team": "red"}))
    assert not check(Facts({"aws:sourcearn": arn, "aws:principaltag/team": "*"}))
    assert not check(Facts({"aws:sourcearn": arn, "aws:principaltag/team": "r?d"}))
    check = compile_condition("ArnLike", "aws:SourceArn", "arn:aws:kms:${aws:RequestedRegion}:*:key/*", "Statement 1")
    assert check(Facts({"aws:sourcearn": arn, "aws:requestedregion": "us-east-1"}))
    assert not check(Facts({"aws:sourcearn": arn, "aws:requestedregion": "*"}))
