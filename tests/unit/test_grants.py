"""Grant matching without a server: constraints, grantee matching, escalation, tokens."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest

from kms_core.crypto.root import RootKey
from kms_core.errors import InvalidGrantTokenException
from kms_core.domain.principal import ASSUMED_ROLE, ROOT, USER, Principal
from kms_core.policy.grants import (
    Grant,
    at_least_as_strict,
    check_grant_tokens,
    constraints_hold,
    context_satisfies,
    grant_id_of_token,
    grant_operation,
    grantee_matches,
    grants_allow,
    new_grant_token,
)

ACCT = "111122223333"
USER_ARN = f"arn:aws:iam::{ACCT}:user/alice"
ROLE_ARN = f"arn:aws:iam::{ACCT}:role/app"
SESSION_ARN = f"arn:aws:sts::{ACCT}:assumed-role/app/s1"
ROOT_ARN = f"arn:aws:iam::{ACCT}:root"

alice = Principal(ACCT, USER_ARN, USER, "AKIA1", name="alice")
session = Principal(ACCT, SESSION_ARN, ASSUMED_ROLE, "ASIA1", name="app", source_arn=ROLE_ARN)
root = Principal(ACCT, ROOT_ARN, ROOT, "AKIA2")
other_root = Principal("444455556666", "arn:aws:iam::444455556666:root", ROOT, "AKIA3")


def make_grant(grantee: str = USER_ARN, ops=("Encrypt", "Decrypt"), constraints=None) -> Grant:
    return Grant("a" * 64, "k", None, grantee, None, tuple(ops), constraints, ACCT, 0.0)


def ctx_for(principal, context=None, values=None, policies=()):
    kms = SimpleNamespace(root=RootKey(b"\x01" * 32, "test"))
    return SimpleNamespace(principal=principal, encryption_context=context, condition_values=values or {}, kms=kms,
                           identity_policies=lambda: list(policies))


def entry_with(*grants):
    return SimpleNamespace(grants=grants, key=SimpleNamespace(arn=f"arn:aws:kms:us-east-1:{ACCT}:key/k"))


# --- encryption context constraints ------------------------------------------------------------
@pytest.mark.parametrize("context, ok", [
    ({"Purpose": "x"}, True),
    ({"purpose": "x"}, True),            # key: case-insensitive
    ({"PURPOSE": "x"}, True),
    ({"Purpose": "X"}, False),           # value: case-sensitive
    ({"Purpose": "x", "b": "1"}, False),  # equals: no extra pairs
    ({}, False),
    (None, False),
])
def test_equals(context, ok):
    assert context_satisfies({"EncryptionContextEquals": {"Purpose": "x"}}, context) is ok


@pytest.mark.parametrize("context, ok", [
    ({"a": "1"}, True),
    ({"A": "1", "b": "2"}, True),
    ({"a": "2"}, False),
    ({"b": "2"}, False),
    (None, False),
])
def test_subset(context, ok):
    assert context_satisfies({"EncryptionContextSubset": {"a": "1"}}, context) is ok


def test_empty_equals_requires_empty_context():
    assert context_satisfies({"EncryptionContextEquals": {}}, None)
    assert context_satisfies({"EncryptionContextEquals": {}}, {})
    assert not context_satisfies({"EncryptionContextEquals": {}}, {"a": "1"})


def test_no_constraints_always_hold():
    assert context_satisfies(None, {"a": "1"})
    assert context_satisfies({}, None)


def test_constraints_only_apply_to_ec_operations():
    g = make_grant(ops=("Encrypt", "DescribeKey"), constraints={"EncryptionContextEquals": {"a": "1"}})
    assert not constraints_hold(g, "Encrypt", ctx_for(alice, {"a": "2"}))
    assert constraints_hold(g, "DescribeKey", ctx_for(alice, {"a": "2"}))
    assert constraints_hold(g, "Encrypt", ctx_for(alice, {"A": "1"}))


def test_source_arn_constraint_needs_matching_source():
    g = make_grant(constraints={"SourceArn": "arn:aws:s3:::b"})
    assert not constraints_hold(g, "Encrypt", ctx_for(alice))
    assert constraints_hold(g, "Encrypt", ctx_for(alice, values={"aws:sourcearn": "arn:aws:s3:::b"}))


# --- grantee matching ------------------------------------------------------------------------
def test_grantee_matching():
    assert grantee_matches(USER_ARN, alice) == "direct"
    assert grantee_matches(ROLE_ARN, session) == "direct"      # role ARN covers its sessions
    assert grantee_matches(SESSION_ARN, session) == "direct"
    assert grantee_matches(ROLE_ARN, alice) is None
    assert grantee_matches(ROOT_ARN, root) == "direct"
    assert grantee_matches(ROOT_ARN, alice) == "account"
    assert grantee_matches(ROOT_ARN, other_root) is None
    assert grantee_matches(f"arn:aws:iam::{ACCT}:user/bob", alice) is None


def test_grant_operation_names():
    assert grant_operation("kms:Decrypt") == "Decrypt"
    assert grant_operation("kms:ReEncryptFrom") == "ReEncryptFrom"
    assert grant_operation("kms:ReEncryptTo") == "ReEncryptTo"
    assert grant_operation("kms:DescribeKey") == "DescribeKey"
    assert grant_operation("kms:ReEncrypt") is None
    assert grant_operation("kms:ListGrants") is None
    assert grant_operation("kms:PutKeyPolicy") is None


def test_grants_allow_checks_operation_grantee_and_constraints():
    g = make_grant(constraints={"EncryptionContextSubset": {"a": "1"}})
    e = entry_with(g)
    assert grants_allow(ctx_for(alice, {"a": "1"}), "kms:Encrypt", e, None)
    assert not grants_allow(ctx_for(alice, {"a": "2"}), "kms:Encrypt", e, None)
    assert not grants_allow(ctx_for(alice, {"a": "1"}), "kms:GenerateDataKey", e, None)
    assert not grants_allow(ctx_for(session, {"a": "1"}), "kms:Encrypt", e, None)
    assert not grants_allow(ctx_for(alice, {"a": "1"}), "kms:Encrypt", entry_with(), None)


def test_grants_allow_role_session_through_role_grant():
    assert grants_allow(ctx_for(session), "kms:Decrypt", entry_with(make_grant(ROLE_ARN)), None)


def test_grants_allow_retire_grant_never_via_decide():
    assert not grants_allow(ctx_for(alice), "kms:RetireGrant", entry_with(make_grant(ops=("RetireGrant", "Encrypt"))),
                            None)


def test_account_grant_delegates_to_iam():
    from kms_core.policy.evaluate import compile_policy

    g = make_grant(ROOT_ARN, ops=("Encrypt",))
    allow = compile_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}, resource_policy=False)
    assert not grants_allow(ctx_for(alice), "kms:Encrypt", entry_with(g), None)
    assert grants_allow(ctx_for(alice, policies=[allow]), "kms:Encrypt", entry_with(g), None)
    assert grants_allow(ctx_for(root), "kms:Encrypt", entry_with(g), None)


# --- CreateGrant through a grant -----------------------------------------------------------------
@pytest.mark.parametrize("child, parent, ok", [
    (None, None, True),
    ({"EncryptionContextSubset": {"a": "1"}}, None, True),
    (None, {"EncryptionContextSubset": {"a": "1"}}, False),
    ({"EncryptionContextSubset": {"a": "1"}}, {"EncryptionContextSubset": {"a": "1"}}, True),
    ({"EncryptionContextSubset": {"A": "1", "b": "2"}}, {"EncryptionContextSubset": {"a": "1"}}, True),
    ({"EncryptionContextEquals": {"a": "1", "b": "2"}}, {"EncryptionContextSubset": {"a": "1"}}, True),
    ({"EncryptionContextSubset": {"b": "2"}}, {"EncryptionContextSubset": {"a": "1"}}, False),
    ({"EncryptionContextSubset": {"a": "1"}}, {"EncryptionContextEquals": {"a": "1"}}, False),
    ({"EncryptionContextEquals": {"a": "1"}}, {"EncryptionContextEquals": {"a": "1"}}, True),
    ({"EncryptionContextEquals": {"a": "1", "b": "2"}}, {"EncryptionContextEquals": {"a": "1"}}, False),
    ({"SourceArn": "arn:aws:s3:::b"}, {"SourceArn": "arn:aws:s3:::b"}, True),
    (None, {"SourceArn": "arn:aws:s3:::b"}, False),
])
def test_at_least_as_strict(child, parent, ok):
    assert at_least_as_strict(child, parent) is ok


def test_create_grant_through_grant_needs_subset_of_operations():
    g = make_grant(ops=("Encrypt", "CreateGrant"))
    e = entry_with(g)
    key = "paramstore:requestedgrant"
    assert grants_allow(ctx_for(alice, values={key: {"operations": ("Encrypt",), "constraints": None}}),
                        "kms:CreateGrant", e, None)
    assert grants_allow(ctx_for(alice, values={key: {"operations": ("Encrypt", "CreateGrant"),
                                                     "constraints": None}}), "kms:CreateGrant", e, None)
    assert not grants_allow(ctx_for(alice, values={key: {"operations": ("Decrypt",), "constraints": None}}),
                            "kms:CreateGrant", e, None)
    assert not grants_allow(ctx_for(alice), "kms:CreateGrant", e, None)


# --- tokens ------------------------------------------------------------------------------------
def test_token_round_trip_and_uniqueness():
    ctx = ctx_for(alice)
    gid = "0123456789abcdef" * 4
    t1, t2 = new_grant_token(ctx, gid), new_grant_token(ctx, gid)
    assert t1 != t2
    assert grant_id_of_token(ctx, t1) == gid == grant_id_of_token(ctx, t2)
    check_grant_tokens(ctx, {"GrantTokens": [t1, t2]})
    check_grant_tokens(ctx, {})


@pytest.mark.parametrize("bad", ["", "garbage", "!!!!", base64.urlsafe_b64encode(b"\x01" * 81).decode()])
def test_bad_tokens_rejected(bad):
    with pytest.raises(InvalidGrantTokenException):
        grant_id_of_token(ctx_for(alice), bad)


def test_token_from_another_root_key_rejected():
    token = new_grant_token(ctx_for(alice), "a" * 64)
    other = ctx_for(alice)
    other.kms.root = RootKey(b"\x02" * 32, "other")
    with pytest.raises(InvalidGrantTokenException):
        check_grant_tokens(other, {"GrantTokens": [token]})


def test_grant_set_index_finds_caller_grants_only():
    from kms_core.policy.grants import GrantSet

    grants = GrantSet([make_grant(f"arn:aws:iam::{ACCT}:user/u{i}") for i in range(100)]
                      + [make_grant(USER_ARN), make_grant(ROLE_ARN), make_grant(ROOT_ARN, ops=("Encrypt",))])
    assert len(grants) == 103 and grants[-1].grantee_principal == ROOT_ARN
    assert grants_allow(ctx_for(alice), "kms:Decrypt", SimpleNamespace(grants=grants, key=entry_with().key), None)
    assert grants_allow(ctx_for(session), "kms:Decrypt", SimpleNamespace(grants=grants, key=entry_with().key), None)
    assert not grants_allow(ctx_for(other_root), "kms:Decrypt",
                            SimpleNamespace(grants=grants, key=entry_with().key), None)
