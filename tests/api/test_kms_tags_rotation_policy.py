"""KMS tags, key rotation and key policies through real boto3 clients: TagResource,
UntagResource, ListResourceTags, Enable/DisableKeyRotation, GetKeyRotationStatus,
RotateKeyOnDemand, ListKeyRotations (incl. automatic rotation on a fake clock),
GetKeyPolicy, PutKeyPolicy, ListKeyPolicies (reference: aws_api.md 4.3, 4.7, 4.8, 4.11, 4.14, 6)."""

from __future__ import annotations

import json
import re
import uuid

import boto3
import pytest
from botocore.config import Config

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import expect_error, key_arn, pages

ARN_PREFIX = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}"
DAY = 86_400


@pytest.fixture
def raw_kms(server):
    """A client without botocore's client-side parameter checks, so the server sees the bad input."""
    return boto3.client("kms", endpoint_url=server.url, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))


def tags_of(kms, key_id: str) -> dict[str, str]:
    return {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}


def tag(k: str, v: str) -> dict:
    return {"TagKey": k, "TagValue": v}


# === Tags ==============================================================================

def test_tag_resource_new_tags_listed(kms, key_id):
    kms.tag_resource(KeyId=key_id, Tags=[tag("a", "1"), tag("b", "")])
    assert tags_of(kms, key_id) == {"a": "1", "b": ""}


def test_tag_resource_by_arn_listed_by_arn(kms, key_id):
    kms.tag_resource(KeyId=key_arn(key_id), Tags=[tag("viaArn", "yes")])
    assert tags_of(kms, key_arn(key_id)) == {"viaArn": "yes"}


def test_tag_resource_existing_key_value_overwritten(kms, key_id):
    kms.tag_resource(KeyId=key_id, Tags=[tag("env", "dev"), tag("keep", "k")])
    kms.tag_resource(KeyId=key_id, Tags=[tag("env", "prod")])
    assert tags_of(kms, key_id) == {"env": "prod", "keep": "k"}


def test_tag_resource_keys_case_sensitive_distinct(kms, key_id):
    kms.tag_resource(KeyId=key_id, Tags=[tag("Env", "A"), tag("env", "b")])
    assert tags_of(kms, key_id) == {"Env": "A", "env": "b"}


def test_tag_resource_aws_prefix_tag_exception(kms, key_id):
    for k in ("aws:createdBy", "AWS:x"):
        expect_error(lambda: kms.tag_resource(KeyId=key_id, Tags=[tag("ok", "1"), tag(k, "v")]), "TagException")
    assert tags_of(kms, key_id) == {}


def test_tag_resource_duplicate_keys_in_request_tag_exception(kms, key_id):
    expect_error(lambda: kms.tag_resource(KeyId=key_id, Tags=[tag("d", "1"), tag("d", "2")]), "TagException")
    assert tags_of(kms, key_id) == {}


def test_tag_resource_fifty_one_tags_limit_exceeded(kms, key_id):
    expect_error(lambda: kms.tag_resource(KeyId=key_id, Tags=[tag(f"k{i:02d}", "v") for i in range(51)]),
                 "LimitExceededException")
    assert tags_of(kms, key_id) == {}


def test_tag_resource_fifty_tags_then_one_more_limit_exceeded(kms, key_id):
    kms.tag_resource(KeyId=key_id, Tags=[tag(f"k{i:02d}", "v") for i in range(50)])
    assert len(tags_of(kms, key_id)) == 50
    # overwriting an existing tag at the limit is fine; a 51st key is not
    kms.tag_resource(KeyId=key_id, Tags=[tag("k00", "changed")])
    expect_error(lambda: kms.tag_resource(KeyId=key_id, Tags=[tag("extra", "v")]), "LimitExceededException")
    tags = tags_of(kms, key_id)
    assert len(tags) == 50 and tags["k00"] == "changed" and "extra" not in tags


def test_tag_resource_key_too_long_validation_exception(kms, key_id):
    expect_error(lambda: kms.tag_resource(KeyId=key_id, Tags=[tag("k" * 129, "v")]), "ValidationException",
                 contains="Member must have length less than or equal to 128")


def test_tag_resource_disabled_key_accepted(kms, key_id):
    kms.disable_key(KeyId=key_id)
    kms.tag_resource(KeyId=key_id, Tags=[tag("d", "1")])
    kms.untag_resource(KeyId=key_id, TagKeys=["d"])
    kms.tag_resource(KeyId=key_id, Tags=[tag("e", "2")])
    assert tags_of(kms, key_id) == {"e": "2"}


def test_tag_resource_pending_deletion_invalid_state(kms, key_id):
    kms.tag_resource(KeyId=key_id, Tags=[tag("before", "1")])
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    msg = f"{key_arn(key_id)} is pending deletion."
    expect_error(lambda: kms.tag_resource(KeyId=key_id, Tags=[tag("x", "1")]), "KMSInvalidStateException", msg)
    expect_error(lambda: kms.untag_resource(KeyId=key_id, TagKeys=["before"]), "KMSInvalidStateException", msg)
    assert tags_of(kms, key_id) == {"before": "1"}  # listing still works


def test_tag_resource_alias_identifier_not_found(kms, key_id):
    alias = f"alias/tagalias-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    expect_error(lambda: kms.tag_resource(KeyId=alias, Tags=[tag("a", "1")]), "NotFoundException")
    expect_error(lambda: kms.list_resource_tags(KeyId=alias), "NotFoundException")


def test_tag_resource_unknown_key_not_found(kms):
    missing = str(uuid.uuid4())
    expect_error(lambda: kms.tag_resource(KeyId=missing, Tags=[tag("a", "1")]), "NotFoundException",
                 f"Key '{key_arn(missing)}' does not exist")


def test_untag_resource_removes_only_named_keys(kms, key_id):
    kms.tag_resource(KeyId=key_id, Tags=[tag("a", "1"), tag("b", "2"), tag("c", "3")])
    kms.untag_resource(KeyId=key_id, TagKeys=["a", "c"])
    assert tags_of(kms, key_id) == {"b": "2"}


def test_untag_resource_missing_key_silent(kms, key_id):
    kms.tag_resource(KeyId=key_id, Tags=[tag("a", "1")])
    kms.untag_resource(KeyId=key_id, TagKeys=["never-set"])
    assert tags_of(kms, key_id) == {"a": "1"}


def test_list_resource_tags_untagged_key_empty(kms, key_id):
    page = kms.list_resource_tags(KeyId=key_id)
    assert page["Tags"] == []
    assert page["Truncated"] is False


def test_list_resource_tags_limit_marker_pagination_each_once(kms, key_id):
    expected = {f"t{i}": str(i) for i in range(5)}
    kms.tag_resource(KeyId=key_id, Tags=[tag(k, v) for k, v in expected.items()])
    listed = pages(kms.list_resource_tags, KeyId=key_id, Limit=2)
    seen = [(t["TagKey"], t["TagValue"]) for page in listed for t in page["Tags"]]
    assert [len(page["Tags"]) for page in listed] == [2, 2, 1]
    assert len(seen) == 5
    assert dict(seen) == expected


def test_list_resource_tags_invalid_marker_invalid_marker_exception(kms, key_id):
    expect_error(lambda: kms.list_resource_tags(KeyId=key_id, Marker="!!!not a marker!!!"),
                 "InvalidMarkerException")


# === Rotation ==========================================================================

def test_get_key_rotation_status_new_key_disabled(kms, key_id):
    out = kms.get_key_rotation_status(KeyId=key_id)
    assert out["KeyRotationEnabled"] is False
    assert out["KeyId"] == key_arn(key_id)


def test_enable_key_rotation_default_period_365(kms, key_id, clock):
    kms.enable_key_rotation(KeyId=key_id)
    out = kms.get_key_rotation_status(KeyId=key_arn(key_id))
    assert out["KeyRotationEnabled"] is True
    assert out["KeyId"] == key_arn(key_id)
    assert out["RotationPeriodInDays"] == 365
    assert abs(out["NextRotationDate"].timestamp() - (clock.now + 365 * DAY)) < 5


@pytest.mark.parametrize("days", [90, 2560])
def test_enable_key_rotation_period_bounds_accepted(kms, key_id, clock, days):
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)
    out = kms.get_key_rotation_status(KeyId=key_id)
    assert out["RotationPeriodInDays"] == days
    assert abs(out["NextRotationDate"].timestamp() - (clock.now + days * DAY)) < 5


def test_enable_key_rotation_period_89_validation_exception(raw_kms, key_id):
    expect_error(lambda: raw_kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=89), "ValidationException",
                 "1 validation error detected: Value '89' at 'rotationPeriodInDays' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 90")
    assert raw_kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_enable_key_rotation_period_2561_validation_exception(kms, key_id):
    expect_error(lambda: kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=2561), "ValidationException",
                 "1 validation error detected: Value '2561' at 'rotationPeriodInDays' failed to satisfy "
                 "constraint: Member must have value less than or equal to 2560")


def test_disable_key_rotation_enabled_rotation_reads_false(kms, key_id):
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=100)
    kms.disable_key_rotation(KeyId=key_id)
    out = kms.get_key_rotation_status(KeyId=key_id)
    assert out["KeyRotationEnabled"] is False
    assert "NextRotationDate" not in out


def test_enable_key_rotation_disabled_key_disabled_exception(kms, key_id):
    kms.disable_key(KeyId=key_id)
    msg = f"{key_arn(key_id)} is disabled."
    expect_error(lambda: kms.enable_key_rotation(KeyId=key_id), "DisabledException", msg)
    expect_error(lambda: kms.disable_key_rotation(KeyId=key_id), "DisabledException", msg)
    expect_error(lambda: kms.rotate_key_on_demand(KeyId=key_id), "DisabledException", msg)
    # reading the status of a disabled key is allowed
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_enable_key_rotation_pending_deletion_invalid_state(kms, key_id):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    msg = f"{key_arn(key_id)} is pending deletion."
    expect_error(lambda: kms.enable_key_rotation(KeyId=key_id), "KMSInvalidStateException", msg)
    expect_error(lambda: kms.rotate_key_on_demand(KeyId=key_id), "KMSInvalidStateException", msg)


def test_enable_key_rotation_alias_identifier_not_found(kms, key_id):
    alias = f"alias/rot-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    expect_error(lambda: kms.enable_key_rotation(KeyId=alias), "NotFoundException")
    expect_error(lambda: kms.get_key_rotation_status(KeyId=alias), "NotFoundException")
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_get_key_rotation_status_pending_deletion_false_then_restored(kms, key_id):
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    kms.cancel_key_deletion(KeyId=key_id)
    kms.enable_key(KeyId=key_id)
    out = kms.get_key_rotation_status(KeyId=key_id)
    assert out["KeyRotationEnabled"] is True
    assert out["RotationPeriodInDays"] == 180


def test_rotate_key_on_demand_new_material_old_ciphertext_decrypts(kms, key_id):
    before = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"old material", EncryptionContext={"c": "1"})["CiphertextBlob"]
    out = kms.rotate_key_on_demand(KeyId=key_id)
    assert out["KeyId"] == key_arn(key_id)
    after = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert re.fullmatch(r"[0-9a-f]{64}", after)
    assert after != before
    dec = kms.decrypt(CiphertextBlob=old_blob, EncryptionContext={"c": "1"})
    assert dec["Plaintext"] == b"old material"
    assert dec["KeyId"] == key_arn(key_id)
    assert dec["KeyMaterialId"] == before
    new = kms.encrypt(KeyId=key_id, Plaintext=b"new material")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new)["KeyMaterialId"] == after
    # rotation doesn't change the key's id, state or aliases-facing identity
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyId"], meta["KeyState"]) == (key_id, "Enabled")


def test_rotate_key_on_demand_twenty_sixth_limit_exceeded(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"first")["CiphertextBlob"]
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=key_id)
    current = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    expect_error(lambda: kms.rotate_key_on_demand(KeyId=key_id), "LimitExceededException",
                 "The on-demand rotations limit has been reached for the given keyId. "
                 f"No more on-demand rotations can be performed for this key: {key_arn(key_id)}")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == current
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"first"
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 25


def test_rotate_key_on_demand_does_not_enable_automatic_rotation(kms, key_id):
    kms.rotate_key_on_demand(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_list_key_rotations_new_key_empty(kms, key_id):
    page = kms.list_key_rotations(KeyId=key_id)
    assert page["Rotations"] == []
    assert page["Truncated"] is False


def test_list_key_rotations_on_demand_entries_and_all_key_material(kms, key_id, clock):
    original = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    clock.advance(seconds=5)
    kms.rotate_key_on_demand(KeyId=key_id)
    current = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]

    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 2
    assert all(r["RotationType"] == "ON_DEMAND" for r in rotations)
    assert all(r["KeyId"] == key_arn(key_id) for r in rotations)
    assert all(abs(r["RotationDate"].timestamp() - clock.now) < 10 for r in rotations)
    assert original not in [r["KeyMaterialId"] for r in rotations]
    assert rotations[-1]["KeyMaterialId"] == current

    everything = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    ids = [r["KeyMaterialId"] for r in everything]
    assert len(everything) == 3 and len(set(ids)) == 3
    assert original in ids and current in ids
    first = next(r for r in everything if r["KeyMaterialId"] == original)
    assert "RotationType" not in first
    states = {r["KeyMaterialId"]: r["KeyMaterialState"] for r in everything}
    assert states[current] == "CURRENT"
    assert states[original] == "NON_CURRENT"

    rotations_only = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ROTATIONS_ONLY")["Rotations"]
    assert [r["KeyMaterialId"] for r in rotations_only] == [r["KeyMaterialId"] for r in rotations]


def test_list_key_rotations_limit_marker_pagination_each_once(kms, key_id):
    for _ in range(3):
        kms.rotate_key_on_demand(KeyId=key_id)
    listed = pages(kms.list_key_rotations, KeyId=key_id, Limit=2, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    seen = [r["KeyMaterialId"] for page in listed for r in page["Rotations"]]
    assert [len(page["Rotations"]) for page in listed] == [2, 2]
    assert len(seen) == 4 and len(set(seen)) == 4


def test_list_key_rotations_invalid_marker_invalid_marker_exception(kms, key_id):
    kms.rotate_key_on_demand(KeyId=key_id)
    expect_error(lambda: kms.list_key_rotations(KeyId=key_id, Marker="!!!not a marker!!!"),
                 "InvalidMarkerException")


def test_enable_key_rotation_period_elapsed_automatic_rotation(kms, key_id, clock):
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key_id)
    first_due = status["NextRotationDate"]
    original = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before rotation")["CiphertextBlob"]

    clock.advance(days=91)
    assert clock.now > first_due.timestamp()
    kms.list_keys(Limit=1)  # any request lets the server notice the due rotation

    rotated = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert rotated != original
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
    assert rotations[0]["KeyMaterialId"] == rotated
    assert rotations[0]["RotationDate"].timestamp() > first_due.timestamp() - 1
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["NextRotationDate"].timestamp() >= first_due.timestamp() + 90 * DAY - 5
    assert status["NextRotationDate"].timestamp() > clock.now
    dec = kms.decrypt(CiphertextBlob=blob)
    assert dec["Plaintext"] == b"before rotation"
    assert dec["KeyMaterialId"] == original
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"n")["CiphertextBlob"])[
        "KeyMaterialId"] == rotated


def test_enable_key_rotation_disabled_key_no_automatic_rotation(kms, key_id, clock):
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    original = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    kms.disable_key(KeyId=key_id)
    clock.advance(days=91)
    kms.list_keys(Limit=1)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == original
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []


# === Key policy ========================================================================

def test_get_key_policy_no_policy_given_aws_default_policy(kms, key_id):
    out = kms.get_key_policy(KeyId=key_id, PolicyName="default")
    assert out["PolicyName"] == "default"
    doc = json.loads(out["Policy"])
    assert doc == {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }],
    }


def test_get_key_policy_policy_name_omitted_default_returned(kms, key_id):
    out = kms.get_key_policy(KeyId=key_id)
    assert out["PolicyName"] == "default"
    assert json.loads(out["Policy"])["Id"] == "key-default-1"


def test_get_key_policy_other_policy_name_not_found(kms, key_id):
    expect_error(lambda: kms.get_key_policy(KeyId=key_id, PolicyName="custom"), "NotFoundException")


def test_get_key_policy_alias_identifier_not_found(kms, key_id):
    alias = f"alias/pol-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    expect_error(lambda: kms.get_key_policy(KeyId=alias, PolicyName="default"), "NotFoundException")


def test_get_key_policy_pending_deletion_allowed(kms, key_id):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])["Id"] == "key-default-1"


def _policy(statement_extra: str = "", sid: str = "Allow root") -> str:
    return ('{\n  "Version": "2012-10-17",\n  "Id": "my-policy",\n  "Statement": [\n    {"Sid": "' + sid + '",'
            ' "Effect": "Allow",  "Principal": {"AWS": "arn:aws:iam::' + ACCOUNT_ID + ':root"},'
            ' "Action": "kms:*", "Resource": "*"' + statement_extra + '}\n  ]\n}\n')


def test_put_key_policy_text_returned_verbatim(kms, key_id):
    policy = _policy()
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == policy


def test_put_key_policy_by_arn_without_name_stored(kms, key_id):
    policy = _policy(sid="via arn")
    kms.put_key_policy(KeyId=key_arn(key_id), Policy=policy)
    assert kms.get_key_policy(KeyId=key_arn(key_id))["Policy"] == policy


def test_put_key_policy_disabled_and_pending_deletion_key_stored(kms, key_id):
    kms.disable_key(KeyId=key_id)
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=_policy(sid="disabled"))
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    policy = _policy(sid="pending")
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == policy


def test_put_key_policy_other_policy_name_not_found(kms, key_id):
    expect_error(lambda: kms.put_key_policy(KeyId=key_id, PolicyName="custom", Policy=_policy()),
                 "NotFoundException")
    assert json.loads(kms.get_key_policy(KeyId=key_id)["Policy"])["Id"] == "key-default-1"


@pytest.mark.parametrize("policy", [
    pytest.param("{not json", id="malformed-json"),
    pytest.param('{"Version": "2012-10-17"}', id="missing-statement"),
    pytest.param('["a", "list"]', id="not-an-object"),
    pytest.param(_policy().replace('"Effect": "Allow"', '"Effect": "Maybe"'), id="bad-effect"),
    pytest.param(_policy().replace('"Effect": "Allow",', ''), id="missing-effect"),
    pytest.param(_policy().replace('"Version": "2012-10-17"', '"Version": "2020-01-01"'), id="bad-version"),
])
def test_put_key_policy_malformed_document_malformed_policy_document_exception(kms, key_id, policy):
    expect_error(lambda: kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy),
                 "MalformedPolicyDocumentException")
    assert json.loads(kms.get_key_policy(KeyId=key_id)["Policy"])["Id"] == "key-default-1"


@pytest.mark.parametrize("principal", [
    '{"AWS": "not-an-arn"}',
    '{"AWS": "arn:aws:iam::12345:root"}',
    '{"Bogus": "arn:aws:iam::111122223333:root"}',
    '"root"',
])
def test_put_key_policy_invalid_principal_malformed_policy_document_exception(kms, key_id, principal):
    policy = _policy().replace('{"AWS": "arn:aws:iam::' + ACCOUNT_ID + ':root"}', principal)
    assert principal in policy
    expect_error(lambda: kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy),
                 "MalformedPolicyDocumentException",
                 "Policy contains a statement with one or more invalid principals.")


def test_put_key_policy_over_32768_bytes_limit_exceeded(kms, key_id):
    policy = _policy(sid="s" * 33_000)
    assert len(policy.encode()) > 32_768
    expect_error(lambda: kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy),
                 "LimitExceededException")
    assert json.loads(kms.get_key_policy(KeyId=key_id)["Policy"])["Id"] == "key-default-1"


def test_put_key_policy_exactly_32768_bytes_accepted(kms, key_id):
    base = _policy(sid="")
    policy = _policy(sid="s" * (32_768 - len(base.encode())))
    assert len(policy.encode()) == 32_768
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == policy


def test_put_key_policy_unknown_key_not_found(kms):
    missing = str(uuid.uuid4())
    expect_error(lambda: kms.put_key_policy(KeyId=missing, PolicyName="default", Policy=_policy()),
                 "NotFoundException", f"Key '{key_arn(missing)}' does not exist")


def test_list_key_policies_any_key_default_only(kms, key_id):
    out = kms.list_key_policies(KeyId=key_id)
    assert out["PolicyNames"] == ["default"]
    assert out["Truncated"] is False
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=_policy())
    assert kms.list_key_policies(KeyId=key_arn(key_id))["PolicyNames"] == ["default"]


def test_list_key_policies_alias_identifier_not_found(kms, key_id):
    alias = f"alias/lkp-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    expect_error(lambda: kms.list_key_policies(KeyId=alias), "NotFoundException")
