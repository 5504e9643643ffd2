"""Attacks on multi-Region keys, cross-account key management and the predefined
alias/aws/* keys: each test asserts the secure (and AWS) behaviour, so the ones that
first failed are the review's findings, fixed, and the others guard what an attacker
would try next (reference: aws_api.md 4.15)."""

from __future__ import annotations

import json
import random
import string
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.api.test_kms_multi_region import (  # noqa: F401  (eu / ap are fixtures)
    AP,
    EU,
    ROOT_ARN,
    allow,
    ap,
    describe,
    eu,
    iam_user,
    is_gone,
    primary,
    replicate,
    root_policy,
    settled,
)
from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error, key_arn, second_account_key

OTHER_ACCOUNT = "777788889999"


def _fresh_region() -> str:
    """A Region name SigV4 accepts and no other test uses (alias/aws/* state is per Region)."""
    return "xq-" + "".join(random.choices(string.ascii_lowercase, k=10)) + "-1"


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# === Findings (these fail today) ==========================================================

@pytest.mark.parametrize("region", ["a-b-1", "ab-cd-123", "abc-def-ghi-7"])
def test_replicate_key_to_region_no_request_can_reach_refused(server, kms, region):
    """ReplicaRegion passes the model pattern ^([a-z]+-){2,3}\\d+$ but not the SigV4 Region
    rule (kms_core/protocol/sigv4.py REGION_NAME), so no client can ever call that Region:
    a replica there can never be disabled, re-keyed or deleted, and its primary can then
    never be deleted (ScheduleKeyDeletion -> PendingReplicaDeletion forever).  AWS refuses
    Regions that are not enabled Regions of the partition."""
    key_id = primary(kms)["KeyId"]
    try:
        kms.replicate_key(KeyId=key_id, ReplicaRegion=region)
    except ClientError as e:
        assert e.response["Error"]["Code"] in ("ValidationException", "UnsupportedOperationException"), e.response
    else:
        replicas = describe(kms, key_id)["MultiRegionConfiguration"]["ReplicaKeys"]
        try:
            server.client("kms", region=region).schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
            reach = "reachable"
        except ClientError as e:
            reach = f"unreachable ({e.response['Error']['Code']})"
        out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        pytest.fail(f"replica made in the Region {region}, {reach}: {replicas}; the primary is now "
                    f"{out['KeyState']} and stays so")


def test_replicate_key_bypass_lockout_check_denied_by_iam_condition(server, kms, eu):
    """An IAM policy that denies kms:CreateKey with kms:BypassPolicyLockoutSafetyCheck=true
    (AWS's recommended guard) is sidestepped by ReplicateKey: the replica's CreateKey check
    (_authorize_replica_creation) never sets kms:BypassPolicyLockoutSafetyCheck, so the user
    makes a replica whose policy locks out every principal - an unmanageable key that also
    pins its primary in PendingReplicaDeletion for good."""
    user = iam_user(server, allow(["kms:CreateKey", "kms:ReplicateKey", "kms:DescribeKey"]),
                    {"Effect": "Deny", "Action": ["kms:CreateKey", "kms:PutKeyPolicy"], "Resource": "*",
                     "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}}})
    # the guard works for CreateKey itself
    lockout = _policy({"Sid": "nobody", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
                       "Action": "kms:Encrypt", "Resource": "*"})
    expect_error(lambda: user().create_key(Policy=lockout, BypassPolicyLockoutSafetyCheck=True),
                 "AccessDeniedException")
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: user().replicate_key(KeyId=key_id, ReplicaRegion=EU, Policy=lockout,
                                              BypassPolicyLockoutSafetyCheck=True), "AccessDeniedException")
    assert is_gone(eu, key_id)


def test_describe_key_predefined_alias_denied_principal_makes_no_key(server):
    """DescribeKey on alias/aws/<service> makes the AWS-managed key in
    _resolve._managed_key_on_first_use *before* kms:DescribeKey is authorized, so a principal
    that is explicitly denied everything still writes keys, aliases and material - 12 per
    Region, in as many Regions as SigV4 accepts (any [a-z]{2}(-[a-z]+){1,3}-\\d{1,2})."""
    user = iam_user(server, {"Effect": "Deny", "Action": "*", "Resource": "*"})
    region = _fresh_region()
    expect_error(lambda: user(region).describe_key(KeyId="alias/aws/xray"), "AccessDeniedException")
    admin = server.client("kms", region=region)
    entry = [a for a in admin.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/xray"]
    assert entry and "TargetKeyId" not in entry[0], entry
    assert admin.list_keys()["Keys"] == []


# === Guards (pass today) ==================================================================

def test_replicate_key_iam_region_deny_on_create_key_blocks_replica(server, kms, eu):
    """kms:CreateKey is evaluated as made in the replica Region (aws:RequestedRegion)."""
    user = iam_user(server, allow(["kms:CreateKey", "kms:ReplicateKey", "kms:DescribeKey"]),
                    {"Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*",
                     "Condition": {"StringEquals": {"aws:RequestedRegion": EU}}})
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: user().replicate_key(KeyId=key_id, ReplicaRegion=EU), "AccessDeniedException")
    assert is_gone(eu, key_id)
    assert describe(kms, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == []


def test_replicate_key_create_key_allowed_only_single_region_blocks_replica(server, kms, eu):
    user = iam_user(server, allow(["kms:ReplicateKey", "kms:DescribeKey"]),
                    allow("kms:CreateKey", Condition={"Bool": {"kms:MultiRegion": "false"}}))
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: user().replicate_key(KeyId=key_id, ReplicaRegion=EU), "AccessDeniedException")
    assert is_gone(eu, key_id)


def test_update_primary_region_needs_permission_on_replica_key_policy(server, kms, eu):
    """The replica's own key policy decides too: a user named only in the primary's policy
    can't move the primary."""
    name = "upr-" + uuid.uuid4().hex[:8]
    iam = server.client("iam")
    user_arn = iam.create_user(UserName=name)["User"]["Arn"]
    access = iam.create_access_key(UserName=name)["AccessKey"]
    client = server.client("kms", access_key_id=access["AccessKeyId"], secret=access["SecretAccessKey"])
    statement = {"Sid": "mover", "Effect": "Allow", "Principal": {"AWS": user_arn},
                 "Action": ["kms:UpdatePrimaryRegion", "kms:DescribeKey"], "Resource": "*"}
    key_id = primary(kms, Policy=root_policy(extra_statements=(statement,)))["KeyId"]
    replicate(kms, eu, key_id)  # replica: AWS's default policy (root only; the user has no IAM policy)
    expect_error(lambda: client.update_primary_region(KeyId=key_id, PrimaryRegion=EU), "AccessDeniedException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert describe(eu, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"


def test_replica_key_policy_governs_decrypt_in_its_region(server, kms, eu):
    """A principal the primary's policy lets decrypt gets nothing from the replica, whose
    policy is its own."""
    name = "dec-" + uuid.uuid4().hex[:8]
    iam = server.client("iam")
    user_arn = iam.create_user(UserName=name)["User"]["Arn"]
    access = iam.create_access_key(UserName=name)["AccessKey"]
    statement = {"Sid": "user", "Effect": "Allow", "Principal": {"AWS": user_arn},
                 "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "*"}
    key_id = primary(kms, Policy=root_policy(extra_statements=(statement,)))["KeyId"]
    replicate(kms, eu, key_id)
    user_us = server.client("kms", access_key_id=access["AccessKeyId"], secret=access["SecretAccessKey"])
    user_eu = server.client("kms", region=EU, access_key_id=access["AccessKeyId"], secret=access["SecretAccessKey"])
    blob = user_us.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert user_us.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    expect_error(lambda: user_eu.decrypt(CiphertextBlob=blob), "AccessDeniedException")


def test_grant_on_primary_not_usable_or_retirable_from_replica_region(server, kms, eu):
    name = "gr-" + uuid.uuid4().hex[:8]
    iam = server.client("iam")
    user_arn = iam.create_user(UserName=name)["User"]["Arn"]
    access = iam.create_access_key(UserName=name)["AccessKey"]
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=user_arn, RetiringPrincipal=user_arn,
                             Operations=["Decrypt", "Encrypt"])
    user_us = server.client("kms", access_key_id=access["AccessKeyId"], secret=access["SecretAccessKey"])
    user_eu = server.client("kms", region=EU, access_key_id=access["AccessKeyId"], secret=access["SecretAccessKey"])
    blob = user_us.encrypt(KeyId=key_id, Plaintext=b"g", GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
    expect_error(lambda: user_eu.decrypt(CiphertextBlob=blob, GrantTokens=[grant["GrantToken"]]),
                 "AccessDeniedException")
    expect_error(lambda: user_eu.retire_grant(GrantToken=grant["GrantToken"]), "NotFoundException")
    expect_error(lambda: eu.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"]), "NotFoundException")
    assert eu.list_retirable_grants(RetiringPrincipal=user_arn)["Grants"] == []
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [grant["GrantId"]]


def test_other_account_cannot_manage_or_replicate_mrk_despite_kms_star_policy(server, kms, eu):
    other_akid, other_secret = second_account_key(server, OTHER_ACCOUNT)
    other_root = f"arn:aws:iam::{OTHER_ACCOUNT}:root"
    policy = root_policy(extra_statements=({"Sid": "other", "Effect": "Allow", "Principal": {"AWS": other_root},
                                            "Action": "kms:*", "Resource": "*"},))
    key_id = primary(kms, Policy=policy)["KeyId"]
    replicate(kms, eu, key_id, Policy=policy)
    other = server.client("kms", access_key_id=other_akid, secret=other_secret)
    arn = key_arn(key_id)
    # use works across accounts ...
    blob = other.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
    assert other.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    # ... management never does
    expect_error(lambda: other.replicate_key(KeyId=arn, ReplicaRegion=AP), "AccessDeniedException")
    expect_error(lambda: other.update_primary_region(KeyId=arn, PrimaryRegion=EU), "AccessDeniedException")
    expect_error(lambda: other.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7), "AccessDeniedException")
    expect_error(lambda: other.put_key_policy(KeyId=arn, PolicyName="default", Policy=policy),
                 "AccessDeniedException")
    other_eu = server.client("kms", region=EU, access_key_id=other_akid, secret=other_secret)
    expect_error(lambda: other_eu.disable_key(KeyId=key_arn(key_id, EU)), "AccessDeniedException")
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    assert describe(eu, key_id)["KeyState"] == "Enabled"
    assert describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"


def test_alias_cannot_target_another_regions_related_key(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    name = "alias/mrk-x-" + uuid.uuid4().hex[:8]
    expect_error(lambda: eu.create_alias(AliasName=name, TargetKeyId=key_arn(key_id, REGION)), "NotFoundException")
    eu.create_alias(AliasName=name, TargetKeyId=key_id)
    assert [a["TargetKeyId"] for a in eu.list_aliases(KeyId=key_id)["Aliases"]] == [key_id]
    assert kms.list_aliases(KeyId=key_id)["Aliases"] == []
    expect_error(lambda: kms.describe_key(KeyId=name), "NotFoundException")
    assert eu.describe_key(KeyId=name)["KeyMetadata"]["Arn"] == key_arn(key_id, EU)


@pytest.mark.parametrize("kwargs, code", [
    ({"Tags": [{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}]}, "TagException"),
    ({"Tags": [{"TagKey": "aws:x", "TagValue": "1"}]}, "TagException"),
    ({"Tags": [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)]}, "LimitExceededException"),
    ({"Policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "x" * 40_000, "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*",
         "Resource": "*"}]})}, "LimitExceededException"),
    ({"Policy": "{not json"}, "MalformedPolicyDocumentException"),
    ({"Policy": _policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/nobody-here"},
                         "Action": "kms:*", "Resource": "*"})}, "MalformedPolicyDocumentException"),
])
def test_replicate_key_hostile_input_client_error_nothing_created(kms, eu, kwargs, code):
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=EU, **kwargs), code)
    assert is_gone(eu, key_id)
    assert describe(kms, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == []


def test_update_primary_region_iam_scoped_to_primary_region_arn_refused(server, kms, eu):
    """An IAM policy allowing kms:UpdatePrimaryRegion on the primary's Region's keys only
    does not reach the replica (both keys are checked, each by its own ARN)."""
    user = iam_user(server, allow("kms:DescribeKey"),
                    {"Effect": "Allow", "Action": "kms:UpdatePrimaryRegion",
                     "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/*"})
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    expect_error(lambda: user().update_primary_region(KeyId=key_id, PrimaryRegion=EU), "AccessDeniedException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"


#: 30 characters: fits the 32-character Region columns, not a "<mrk id>.<Region>" row id (64)
TOO_LONG_REGION = "abcdefghijklmnopqrstuvwxyz-a-1"


def test_long_region_names_client_errors_not_500(server, kms):
    key_id = primary(kms)["KeyId"]
    # not a Region requests can be signed for: refused as such
    expect_error(lambda: kms.update_primary_region(KeyId=key_id, PrimaryRegion=TOO_LONG_REGION),
                 "ValidationException")
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=TOO_LONG_REGION), "ValidationException")
    far_region = "ab-cdefghijklmnopqrstuvwxyz-1"  # 29 characters, SigV4-valid, too long for a related key
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=far_region), "UnsupportedOperationException")
    expect_error(lambda: kms.update_primary_region(KeyId=key_id, PrimaryRegion=far_region),
                 "UnsupportedOperationException")
    far = server.client("kms", region=far_region)
    expect_error(lambda: far.create_key(MultiRegion=True), "UnsupportedOperationException")
    expect_error(lambda: far.describe_key(KeyId=key_id), "NotFoundException")
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    expect_error(lambda: far.decrypt(CiphertextBlob=blob), "InvalidCiphertextException")
