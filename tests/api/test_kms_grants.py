"""KMS grants end to end through boto3: CreateGrant, ListGrants, ListRetirableGrants,
RetireGrant, RevokeGrant, and grants authorizing a principal with no policy of its own."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid

import pytest

from kms_core.identity.store import new_unique_id
from kms_core.storage.tables import IamInlinePolicyTable, IamUserTable
from tests.conftest import ACCOUNT_ID
from tests.helpers import expect_error, key_arn

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
USE_OPS = ["Encrypt", "Decrypt", "GenerateDataKey"]


class User:
    def __init__(self, name: str, arn: str, kms, access_key_id: str = "", secret: str = "") -> None:
        self.name, self.arn, self.kms = name, arn, kms
        self.access_key_id, self.secret = access_key_id, secret


def make_user(server, policy: dict | None = None) -> User:
    """An IAM user in the test account, inserted straight into the store."""
    store = server.app.state.store
    name = "grantee-" + uuid.uuid4().hex[:10]
    now = time.time()
    with store.db.write() as s:
        s.add(IamUserTable(account_id=ACCOUNT_ID, user_name=name, user_id=new_unique_id("AIDA"), path="/",
                           created_at=now))
        s.flush()
        akid, secret = store.kms.identities.add_access_key(s, ACCOUNT_ID, now, user_name=name)
        if policy is not None:
            s.add(IamInlinePolicyTable(account_id=ACCOUNT_ID, principal_type="user", principal_name=name,
                                       policy_name="p", document=json.dumps(policy)))
    store.kms.changed()
    return User(name, f"arn:aws:iam::{ACCOUNT_ID}:user/{name}",
                server.client("kms", access_key_id=akid, secret=secret), akid, secret)


@pytest.fixture
def alice(server) -> User:
    return make_user(server)


@pytest.fixture
def bob(server) -> User:
    return make_user(server)


def grant(kms, key_id: str, grantee: str, ops=None, **kw) -> dict:
    return kms.create_grant(KeyId=key_id, GranteePrincipal=grantee, Operations=ops or USE_OPS, **kw)


# --- CreateGrant basics -------------------------------------------------------------------
def test_create_grant_returns_id_and_token(kms, key_id, alice):
    out = grant(kms, key_id, alice.arn)
    assert re.fullmatch(r"[0-9a-f]{64}", out["GrantId"])
    assert out["GrantToken"] and len(out["GrantToken"]) <= 8192


def test_create_grant_key_arn_accepted(kms, key_id, alice):
    out = grant(kms, key_arn(key_id), alice.arn)
    assert kms.list_grants(KeyId=key_id, GrantId=out["GrantId"])["Grants"]


def test_create_grant_alias_rejected(kms, key_id, alice):
    kms.create_alias(AliasName="alias/g-" + uuid.uuid4().hex[:8], TargetKeyId=key_id)
    alias = kms.list_aliases(KeyId=key_id)["Aliases"][0]["AliasName"]
    expect_error(lambda: grant(kms, alias, alice.arn), "NotFoundException")


def test_create_grant_unknown_key_not_found(kms, alice):
    expect_error(lambda: grant(kms, str(uuid.uuid4()), alice.arn), "NotFoundException")


def test_create_grant_only_create_grant_rejected(kms, key_id, alice):
    expect_error(lambda: grant(kms, key_id, alice.arn, ["CreateGrant"]), "ValidationException",
                 "Grants must not contain only the CreateGrant operation.")


@pytest.mark.parametrize("op", ["Sign", "Verify", "GetPublicKey", "GenerateMac", "VerifyMac", "DeriveSharedSecret"])
def test_create_grant_operation_invalid_for_symmetric_key(kms, key_id, alice, op):
    expect_error(lambda: grant(kms, key_id, alice.arn, ["Decrypt", op]), "ValidationException", contains=op)


def test_create_grant_unknown_operation_is_validation_error(kms, key_id, alice):
    expect_error(lambda: kms.create_grant(KeyId=key_id, GranteePrincipal=alice.arn, Operations=["Fly"]),
                 "ValidationException", contains="enum")


def test_create_grant_empty_operations_rejected(kms, key_id, alice):
    expect_error(lambda: kms.create_grant(KeyId=key_id, GranteePrincipal=alice.arn, Operations=[]),
                 "ValidationException")


def test_create_grant_grantee_not_an_arn_rejected(kms, key_id):
    expect_error(lambda: grant(kms, key_id, "alice"), "ValidationException")


@pytest.mark.parametrize("bad", ["arn:aws:iam::1234:user/x", "arn:aws:s3:::bucket", "arn:aws:iam::111122223333:group/g"])
def test_create_grant_grantee_bad_arn_invalid_arn(kms, key_id, bad):
    expect_error(lambda: grant(kms, key_id, bad), "InvalidArnException")


def test_create_grant_retiring_bad_arn_invalid_arn(kms, key_id, alice):
    expect_error(lambda: grant(kms, key_id, alice.arn, RetiringPrincipal="arn:aws:iam::1:root"),
                 "InvalidArnException")


def test_create_grant_both_constraint_kinds_rejected(kms, key_id, alice):
    c = {"EncryptionContextEquals": {"a": "1"}, "EncryptionContextSubset": {"a": "1"}}
    expect_error(lambda: grant(kms, key_id, alice.arn, Constraints=c), "ValidationException")


def test_create_grant_nine_constraint_pairs_rejected(kms, key_id, alice):
    c = {"EncryptionContextSubset": {f"k{i}": "v" for i in range(9)}}
    expect_error(lambda: grant(kms, key_id, alice.arn, Constraints=c), "ValidationException")
    grant(kms, key_id, alice.arn, Constraints={"EncryptionContextSubset": {f"k{i}": "v" for i in range(8)}})


def test_create_grant_constraint_value_over_384_rejected(kms, key_id, alice):
    expect_error(lambda: grant(kms, key_id, alice.arn, Constraints={"EncryptionContextEquals": {"k": "v" * 385}}),
                 "ValidationException")


def test_create_grant_disabled_key_disabled_exception(kms, key_id, alice):
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: grant(kms, key_id, alice.arn), "DisabledException", f"{key_arn(key_id)} is disabled.")


def test_create_grant_pending_deletion_invalid_state(kms, key_id, alice):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error(lambda: grant(kms, key_id, alice.arn), "KMSInvalidStateException")
    kms.cancel_key_deletion(KeyId=key_id)


def test_create_grant_dry_run_creates_nothing(kms, key_id, alice):
    expect_error(lambda: grant(kms, key_id, alice.arn, DryRun=True), "DryRunOperationException")
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


def test_create_grant_garbage_grant_token_rejected(kms, key_id, alice):
    expect_error(lambda: grant(kms, key_id, alice.arn, GrantTokens=["garbage"]), "InvalidGrantTokenException")


def test_create_grant_service_principal_unsupported(kms, key_id):
    expect_error(lambda: kms.create_grant(KeyId=key_id, GranteeServicePrincipal="ssm.amazonaws.com",
                                          Operations=["Decrypt"]), "UnsupportedOperationException")


def test_create_grant_without_permission_denied(kms, key_id, alice, bob):
    expect_error(lambda: grant(alice.kms, key_id, bob.arn), "AccessDeniedException",
                 contains="kms:CreateGrant")


# --- Name idempotency ---------------------------------------------------------------------
def test_create_grant_same_name_same_params_returns_same_id_new_token(kms, key_id, alice):
    a = grant(kms, key_id, alice.arn, Name="my-grant")
    b = grant(kms, key_id, alice.arn, list(reversed(USE_OPS)), Name="my-grant")
    assert a["GrantId"] == b["GrantId"]
    assert a["GrantToken"] != b["GrantToken"]
    assert len(kms.list_grants(KeyId=key_id)["Grants"]) == 1


def test_create_grant_same_name_other_key_is_separate(kms, key_id, alice):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    a = grant(kms, key_id, alice.arn, Name="shared-name")
    b = grant(kms, other, alice.arn, Name="shared-name")
    assert a["GrantId"] != b["GrantId"]
    assert kms.list_grants(KeyId=other)["Grants"][0]["KeyId"] == key_arn(other)


def test_create_grant_same_name_other_params_creates_new(kms, key_id, alice):
    a = grant(kms, key_id, alice.arn, Name="n1")
    b = grant(kms, key_id, alice.arn, ["Encrypt"], Name="n1")
    assert a["GrantId"] != b["GrantId"]


def test_create_grant_without_name_not_idempotent(kms, key_id, alice):
    assert grant(kms, key_id, alice.arn)["GrantId"] != grant(kms, key_id, alice.arn)["GrantId"]


# --- grants authorize the grantee ---------------------------------------------------------
def test_user_without_grant_denied(key_id, alice):
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException",
                 contains=f"User: {alice.arn} is not authorized to perform: kms:Encrypt")


def test_grant_allows_encrypt_decrypt_generate_data_key(kms, key_id, alice):
    grant(kms, key_id, alice.arn)
    blob = alice.kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert alice.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    dk = alice.kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]


def test_grant_covers_only_its_operations(kms, key_id, alice):
    grant(kms, key_id, alice.arn, ["Encrypt"])
    blob = alice.kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    expect_error(lambda: alice.kms.decrypt(CiphertextBlob=blob), "AccessDeniedException")
    expect_error(lambda: alice.kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256"),
                 "AccessDeniedException")
    expect_error(lambda: alice.kms.describe_key(KeyId=key_id), "AccessDeniedException")
    expect_error(lambda: alice.kms.list_grants(KeyId=key_id), "AccessDeniedException")


def test_grant_covers_only_its_key(kms, key_id, alice):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    grant(kms, key_id, alice.arn)
    expect_error(lambda: alice.kms.encrypt(KeyId=other, Plaintext=b"x"), "AccessDeniedException")


def test_grant_for_other_user_does_not_apply(kms, key_id, alice, bob):
    grant(kms, key_id, bob.arn)
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException")


def test_grant_describe_key(kms, key_id, alice):
    grant(kms, key_id, alice.arn, ["DescribeKey"])
    assert alice.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id


def test_grant_re_encrypt_needs_from_and_to(kms, key_id, alice):
    dest = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    grant(kms, key_id, alice.arn, ["ReEncryptFrom"])
    expect_error(lambda: alice.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dest),
                 "AccessDeniedException", contains="kms:ReEncryptTo")
    grant(kms, dest, alice.arn, ["ReEncryptTo"])
    out = alice.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dest)
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == b"x"


def test_grant_to_account_root_does_not_cover_users_without_iam_permission(kms, key_id, alice):
    grant(kms, key_id, ROOT_ARN, ["Encrypt"])
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException")


def test_grant_works_when_key_policy_does_not_delegate(kms, alice):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}]}
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    grant(kms, key, alice.arn, ["Encrypt"])
    assert alice.kms.encrypt(KeyId=key, Plaintext=b"x")["KeyId"] == key_arn(key)


def test_explicit_deny_in_key_policy_beats_grant(kms, alice):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "deny", "Effect": "Deny", "Principal": {"AWS": alice.arn}, "Action": "kms:Encrypt",
         "Resource": "*"}]}
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    grant(kms, key, alice.arn, ["Encrypt"])
    expect_error(lambda: alice.kms.encrypt(KeyId=key, Plaintext=b"x"), "AccessDeniedException",
                 contains="explicit deny")


# --- constraints ----------------------------------------------------------------------------
def test_constraint_equals_exact_match_only(kms, key_id, alice):
    grant(kms, key_id, alice.arn, Constraints={"EncryptionContextEquals": {"Purpose": "test", "Team": "a"}})
    ok = alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"Team": "a", "Purpose": "test"})
    assert alice.kms.decrypt(CiphertextBlob=ok["CiphertextBlob"],
                             EncryptionContext={"Team": "a", "Purpose": "test"})["Plaintext"] == b"x"
    for ec in ({"Purpose": "test"}, {"Purpose": "test", "Team": "a", "extra": "1"}, {}, None,
               {"Purpose": "TEST", "Team": "a"}):
        kw = {"EncryptionContext": ec} if ec is not None else {}
        expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", **kw), "AccessDeniedException")


def test_constraint_key_case_insensitive_value_case_sensitive(kms, key_id, alice):
    grant(kms, key_id, alice.arn, Constraints={"EncryptionContextSubset": {"Purpose": "Test"}})
    alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"purpose": "Test"})
    alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"PURPOSE": "Test"})
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"purpose": "test"}),
                 "AccessDeniedException")


def test_constraint_subset_allows_extra_pairs(kms, key_id, alice):
    grant(kms, key_id, alice.arn, Constraints={"EncryptionContextSubset": {"a": "1"}})
    out = alice.kms.generate_data_key(KeyId=key_id, KeySpec="AES_128", EncryptionContext={"a": "1", "b": "2"})
    assert len(out["Plaintext"]) == 16
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"b": "2"}),
                 "AccessDeniedException")
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException")


def test_constraint_does_not_apply_to_describe_key(kms, key_id, alice):
    grant(kms, key_id, alice.arn, ["Encrypt", "DescribeKey"],
          Constraints={"EncryptionContextEquals": {"a": "1"}})
    assert alice.kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"] == key_arn(key_id)


def test_constraint_applies_to_decrypt_context(kms, key_id, alice):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "2"})["CiphertextBlob"]
    grant(kms, key_id, alice.arn, ["Decrypt"], Constraints={"EncryptionContextSubset": {"a": "1"}})
    expect_error(lambda: alice.kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "2"}),
                 "AccessDeniedException")


def test_two_grants_either_may_apply(kms, key_id, alice):
    grant(kms, key_id, alice.arn, ["Encrypt"], Constraints={"EncryptionContextEquals": {"a": "1"}})
    grant(kms, key_id, alice.arn, ["Encrypt"], Constraints={"EncryptionContextEquals": {"b": "2"}})
    alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "1"})
    alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"b": "2"})
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"c": "3"}),
                 "AccessDeniedException")


# --- grant tokens ---------------------------------------------------------------------------
def test_grant_token_accepted_immediately(kms, key_id, alice):
    token = grant(kms, key_id, alice.arn, ["Encrypt", "Decrypt", "DescribeKey", "GenerateDataKey",
                                           "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo"]
                  )["GrantToken"]
    blob = alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", GrantTokens=[token])["CiphertextBlob"]
    alice.kms.decrypt(CiphertextBlob=blob, GrantTokens=[token])
    alice.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id, GrantTokens=[token])
    alice.kms.generate_data_key(KeyId=key_id, NumberOfBytes=8, GrantTokens=[token])
    alice.kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=8, GrantTokens=[token])
    alice.kms.describe_key(KeyId=key_id, GrantTokens=[token])


@pytest.mark.parametrize("op", ["encrypt", "decrypt", "re_encrypt", "generate_data_key",
                                "generate_data_key_without_plaintext", "describe_key"])
def test_garbage_grant_token_invalid_grant_token_exception(kms, key_id, op):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    args = {
        "encrypt": {"KeyId": key_id, "Plaintext": b"x"},
        "decrypt": {"CiphertextBlob": blob},
        "re_encrypt": {"CiphertextBlob": blob, "DestinationKeyId": key_id},
        "generate_data_key": {"KeyId": key_id, "NumberOfBytes": 8},
        "generate_data_key_without_plaintext": {"KeyId": key_id, "NumberOfBytes": 8},
        "describe_key": {"KeyId": key_id},
    }[op]
    expect_error(lambda: getattr(kms, op)(GrantTokens=["not-a-token"], **args), "InvalidGrantTokenException")


def test_tampered_grant_token_rejected(kms, key_id, alice):
    token = grant(kms, key_id, alice.arn)["GrantToken"]
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[5] ^= 1
    bad = base64.urlsafe_b64encode(bytes(raw)).decode()
    expect_error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x", GrantTokens=[token, bad]),
                 "InvalidGrantTokenException")


def test_grant_tokens_unique_per_call_and_interchangeable(kms, key_id, alice):
    a = grant(kms, key_id, alice.arn, Name="tok")
    b = grant(kms, key_id, alice.arn, Name="tok")
    assert a["GrantToken"] != b["GrantToken"]
    alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", GrantTokens=[a["GrantToken"], b["GrantToken"]])
    kms.retire_grant(GrantToken=b["GrantToken"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


# --- RetireGrant ----------------------------------------------------------------------------
def test_retire_by_token_as_retiring_principal(kms, key_id, alice, bob):
    token = grant(kms, key_id, alice.arn, RetiringPrincipal=bob.arn)["GrantToken"]
    alice.kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert bob.kms.retire_grant(GrantToken=token)["ResponseMetadata"]["HTTPStatusCode"] == 200
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException")
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


def test_retire_by_id_as_retiring_principal(kms, key_id, alice, bob):
    gid = grant(kms, key_id, alice.arn, RetiringPrincipal=bob.arn)["GrantId"]
    bob.kms.retire_grant(KeyId=key_arn(key_id), GrantId=gid)
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException")


def test_retire_as_grantee_needs_retire_grant_operation(kms, key_id, alice):
    gid = grant(kms, key_id, alice.arn)["GrantId"]
    expect_error(lambda: alice.kms.retire_grant(KeyId=key_arn(key_id), GrantId=gid), "AccessDeniedException")
    gid2 = grant(kms, key_id, alice.arn, ["Encrypt", "RetireGrant"])["GrantId"]
    # a grant with RetireGrant lets its grantee retire that grant, not others
    expect_error(lambda: alice.kms.retire_grant(KeyId=key_arn(key_id), GrantId=gid), "AccessDeniedException")
    alice.kms.retire_grant(KeyId=key_arn(key_id), GrantId=gid2)
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [gid]


def test_retire_as_key_owner(kms, key_id, alice):
    out = grant(kms, key_id, alice.arn)
    kms.retire_grant(KeyId=key_arn(key_id), GrantId=out["GrantId"])
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException")


def test_retire_by_other_user_denied(kms, key_id, alice, bob):
    token = grant(kms, key_id, alice.arn)["GrantToken"]
    expect_error(lambda: bob.kms.retire_grant(GrantToken=token), "AccessDeniedException")
    alice.kms.encrypt(KeyId=key_id, Plaintext=b"x")


def test_retire_twice_not_found(kms, key_id, alice):
    token = grant(kms, key_id, alice.arn)["GrantToken"]
    kms.retire_grant(GrantToken=token)
    expect_error(lambda: kms.retire_grant(GrantToken=token), "NotFoundException")


def test_retire_garbage_token_invalid_grant_token(kms):
    expect_error(lambda: kms.retire_grant(GrantToken="garbage"), "InvalidGrantTokenException")


def test_retire_malformed_grant_id(kms, key_id):
    expect_error(lambda: kms.retire_grant(KeyId=key_arn(key_id), GrantId="nope"), "InvalidGrantIdException")


def test_retire_unknown_grant_id_not_found(kms, key_id):
    expect_error(lambda: kms.retire_grant(KeyId=key_arn(key_id), GrantId="0" * 64), "NotFoundException")


def test_retire_without_identifiers_validation(kms):
    expect_error(lambda: kms.retire_grant(), "ValidationException")


def test_retire_dry_run_keeps_grant(kms, key_id, alice):
    token = grant(kms, key_id, alice.arn)["GrantToken"]
    expect_error(lambda: kms.retire_grant(GrantToken=token, DryRun=True), "DryRunOperationException")
    assert len(kms.list_grants(KeyId=key_id)["Grants"]) == 1


# --- RevokeGrant ----------------------------------------------------------------------------
def test_revoke_stops_grant_at_once(kms, key_id, alice):
    gid = grant(kms, key_id, alice.arn)["GrantId"]
    alice.kms.encrypt(KeyId=key_id, Plaintext=b"x")
    kms.revoke_grant(KeyId=key_id, GrantId=gid)
    expect_error(lambda: alice.kms.encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException")
    expect_error(lambda: kms.revoke_grant(KeyId=key_id, GrantId=gid), "NotFoundException")


def test_revoke_needs_permission(kms, key_id, alice):
    gid = grant(kms, key_id, alice.arn, ["Encrypt", "RetireGrant"])["GrantId"]
    expect_error(lambda: alice.kms.revoke_grant(KeyId=key_id, GrantId=gid), "AccessDeniedException",
                 contains="kms:RevokeGrant")


def test_revoke_malformed_and_unknown(kms, key_id):
    expect_error(lambda: kms.revoke_grant(KeyId=key_id, GrantId="x"), "InvalidGrantIdException")
    expect_error(lambda: kms.revoke_grant(KeyId=key_id, GrantId="a" * 64), "NotFoundException")
    expect_error(lambda: kms.revoke_grant(KeyId=str(uuid.uuid4()), GrantId="a" * 64), "NotFoundException")


def test_revoke_works_on_disabled_key_and_dry_run(kms, key_id, alice):
    gid = grant(kms, key_id, alice.arn)["GrantId"]
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: kms.revoke_grant(KeyId=key_id, GrantId=gid, DryRun=True), "DryRunOperationException")
    kms.revoke_grant(KeyId=key_id, GrantId=gid)
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


# --- ListGrants -----------------------------------------------------------------------------
def test_list_grants_fields(kms, key_id, alice, bob):
    c = {"EncryptionContextSubset": {"a": "1"}}
    out = grant(kms, key_id, alice.arn, ["Encrypt", "Decrypt"], RetiringPrincipal=bob.arn, Constraints=c,
                Name="fields")
    page = kms.list_grants(KeyId=key_id)
    assert page["Truncated"] is False and "NextMarker" not in page
    (g,) = page["Grants"]
    assert g["KeyId"] == key_arn(key_id)
    assert g["GrantId"] == out["GrantId"]
    assert g["Name"] == "fields"
    assert g["GranteePrincipal"] == alice.arn
    assert g["RetiringPrincipal"] == bob.arn
    assert g["IssuingAccount"] == ROOT_ARN
    assert g["Operations"] == ["Encrypt", "Decrypt"]
    assert g["Constraints"] == c
    assert g["CreationDate"].timestamp() > 0


def test_list_grants_minimal_entry_omits_optional_fields(kms, key_id, alice):
    grant(kms, key_id, alice.arn)
    (g,) = kms.list_grants(KeyId=key_id)["Grants"]
    assert "Name" not in g and "RetiringPrincipal" not in g and "Constraints" not in g


def test_list_grants_pagination_and_filters(kms, key_id, alice, bob):
    ids = {grant(kms, key_id, alice.arn)["GrantId"] for _ in range(5)}
    bob_id = grant(kms, key_id, bob.arn)["GrantId"]
    seen, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = kms.list_grants(KeyId=key_id, Limit=2, **kw)
        assert len(page["Grants"]) <= 2
        seen += [g["GrantId"] for g in page["Grants"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert sorted(seen) == sorted(ids | {bob_id})
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id, GranteePrincipal=bob.arn)["Grants"]] == [bob_id]
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id, GrantId=bob_id)["Grants"]] == [bob_id]
    assert kms.list_grants(KeyId=key_id, GrantId="f" * 64)["Grants"] == []
    paginator = kms.get_paginator("list_grants")
    assert sum(len(p["Grants"]) for p in paginator.paginate(KeyId=key_id, PaginationConfig={"PageSize": 4})) == 6


def test_list_grants_errors(kms, key_id):
    expect_error(lambda: kms.list_grants(KeyId=key_id, Marker="garbage!"), "InvalidMarkerException")
    expect_error(lambda: kms.list_grants(KeyId=key_id, GrantId="bad"), "InvalidGrantIdException")
    expect_error(lambda: kms.list_grants(KeyId=str(uuid.uuid4())), "NotFoundException")
    expect_error(lambda: kms.list_grants(KeyId=key_id, GranteePrincipal="arn:aws:iam::1:user/x"),
                 "InvalidArnException")


def test_list_grants_limit_clamped_to_100(kms, key_id, alice):
    for _ in range(3):
        grant(kms, key_id, alice.arn)
    assert len(kms.list_grants(KeyId=key_id, Limit=1000)["Grants"]) == 3


# --- ListRetirableGrants --------------------------------------------------------------------
def test_list_retirable_grants_across_keys_with_pagination(kms, key_id, alice, bob):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    mine = {grant(kms, k, alice.arn, RetiringPrincipal=bob.arn)["GrantId"] for k in (key_id, other, key_id)}
    grant(kms, key_id, alice.arn)  # no retiring principal: not listed
    seen, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = kms.list_retirable_grants(RetiringPrincipal=bob.arn, Limit=2, **kw)
        seen += page["Grants"]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert {g["GrantId"] for g in seen} == mine and len(seen) == 3
    assert {g["KeyId"] for g in seen} == {key_arn(key_id), key_arn(other)}
    assert all(g["RetiringPrincipal"] == bob.arn and g["IssuingAccount"] == ROOT_ARN for g in seen)


def test_list_retirable_grants_iam_only(server, kms, key_id, bob):
    user = make_user(server)
    expect_error(lambda: user.kms.list_retirable_grants(RetiringPrincipal=bob.arn), "AccessDeniedException")
    allowed = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:ListRetirableGrants", "Resource": "*"}]})
    gid = grant(kms, key_id, allowed.arn, RetiringPrincipal=bob.arn)["GrantId"]
    assert gid in {g["GrantId"] for g in allowed.kms.list_retirable_grants(RetiringPrincipal=bob.arn)["Grants"]}


def test_list_retirable_grants_errors(kms):
    expect_error(lambda: kms.list_retirable_grants(RetiringPrincipal="arn:aws:iam::1:root"), "InvalidArnException")
    expect_error(lambda: kms.list_retirable_grants(RetiringPrincipal=ROOT_ARN, Marker="zz"),
                 "InvalidMarkerException")


# --- CreateGrant through a grant: no escalation -------------------------------------------------
def test_grantee_with_create_grant_can_delegate_subset(kms, key_id, alice, bob):
    grant(kms, key_id, alice.arn, ["Encrypt", "Decrypt", "CreateGrant"],
          Constraints={"EncryptionContextSubset": {"a": "1"}})
    grant(alice.kms, key_id, bob.arn, ["Encrypt"], Constraints={"EncryptionContextSubset": {"a": "1", "b": "2"}})
    grant(alice.kms, key_id, bob.arn, ["Decrypt"], Constraints={"EncryptionContextEquals": {"A": "1"}})
    bob.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "1", "b": "2"})
    expect_error(lambda: bob.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "1"}),
                 "AccessDeniedException")


@pytest.mark.parametrize("ops, constraints", [
    (["Encrypt", "GenerateDataKey"], {"EncryptionContextSubset": {"a": "1"}}),   # op it doesn't hold
    (["Encrypt"], None),                                                          # drops the constraint
    (["Encrypt"], {"EncryptionContextSubset": {"b": "2"}}),                       # different constraint
    (["Encrypt"], {"EncryptionContextSubset": {"a": "2"}}),                       # value differs
])
def test_grantee_with_create_grant_cannot_escalate(kms, key_id, alice, bob, ops, constraints):
    grant(kms, key_id, alice.arn, ["Encrypt", "Decrypt", "CreateGrant"],
          Constraints={"EncryptionContextSubset": {"a": "1"}})
    kw = {"Constraints": constraints} if constraints else {}
    expect_error(lambda: grant(alice.kms, key_id, bob.arn, ops, **kw), "AccessDeniedException",
                 contains="kms:CreateGrant")


def test_equals_parent_requires_same_equals(kms, key_id, alice, bob):
    grant(kms, key_id, alice.arn, ["Encrypt", "CreateGrant"], Constraints={"EncryptionContextEquals": {"a": "1"}})
    expect_error(lambda: grant(alice.kms, key_id, bob.arn, ["Encrypt"],
                               Constraints={"EncryptionContextSubset": {"a": "1"}}), "AccessDeniedException")
    expect_error(lambda: grant(alice.kms, key_id, bob.arn, ["Encrypt"],
                               Constraints={"EncryptionContextEquals": {"a": "1", "b": "2"}}),
                 "AccessDeniedException")
    grant(alice.kms, key_id, bob.arn, ["Encrypt"], Constraints={"EncryptionContextEquals": {"a": "1"}})


def test_unconstrained_create_grant_grant_may_delegate_its_ops(kms, key_id, alice, bob):
    grant(kms, key_id, alice.arn, ["Encrypt", "CreateGrant"])
    grant(alice.kms, key_id, bob.arn, ["Encrypt", "CreateGrant"])
    bob.kms.encrypt(KeyId=key_id, Plaintext=b"x")


# --- condition keys on CreateGrant ---------------------------------------------------------
def test_create_grant_condition_keys_in_key_policy(kms, alice):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "no-decrypt-grants", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:CreateGrant",
         "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"kms:GrantOperations": "Decrypt"}}},
        {"Sid": "only-constrained", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:CreateGrant",
         "Resource": "*", "Condition": {"Null": {"kms:GrantConstraintType": "true"}}},
        {"Sid": "not-for-aws", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:CreateGrant",
         "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]}
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    c = {"EncryptionContextSubset": {"a": "1"}}
    expect_error(lambda: grant(kms, key, alice.arn, ["Encrypt", "Decrypt"], Constraints=c), "AccessDeniedException")
    expect_error(lambda: grant(kms, key, alice.arn, ["Encrypt"]), "AccessDeniedException")
    grant(kms, key, alice.arn, ["Encrypt"], Constraints=c)


def test_create_grant_grantee_principal_condition(kms, alice, bob):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "only-alice", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:CreateGrant",
         "Resource": "*", "Condition": {"StringNotEquals": {"kms:GranteePrincipal": alice.arn}}}]}
    key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    grant(kms, key, alice.arn)
    expect_error(lambda: grant(kms, key, bob.arn), "AccessDeniedException")


# --- grants go with their key ------------------------------------------------------------------
def test_grants_disappear_with_key(kms, clock, alice, bob):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    gid = grant(kms, key, alice.arn, RetiringPrincipal=bob.arn)["GrantId"]
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    # pending deletion: crypto refused, the grant is still listed and revocable
    expect_error(lambda: alice.kms.encrypt(KeyId=key, Plaintext=b"x"), "KMSInvalidStateException")
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key)["Grants"]] == [gid]
    clock.advance(days=8)
    expect_error(lambda: kms.list_grants(KeyId=key), "NotFoundException")
    assert gid not in {g["GrantId"] for g in kms.list_retirable_grants(RetiringPrincipal=bob.arn)["Grants"]}
    expect_error(lambda: alice.kms.encrypt(KeyId=key, Plaintext=b"x"), "NotFoundException")
