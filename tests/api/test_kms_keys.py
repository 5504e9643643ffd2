"""KMS key lifecycle through real boto3 clients: CreateKey, DescribeKey, ListKeys,
UpdateKeyDescription, Enable/DisableKey, Schedule/CancelKeyDeletion, deletion at the end
of the waiting period, and Region isolation (reference: aws_api.md 3a, 4.1, 4.3, 8)."""

from __future__ import annotations

import base64
import re
import uuid

import pytest
from sqlalchemy import create_engine, func
from sqlmodel import Session, select

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error, key_arn, pages

ARN_PREFIX = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}"
KEY_ARN_RE = re.compile(rf"^arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/"
                        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DAY = 86_400


def all_key_ids(kms, **kwargs) -> list[str]:
    return [k["KeyId"] for page in pages(kms.list_keys, **kwargs) for k in page["Keys"]]


def new_key(kms, **kwargs) -> str:
    return kms.create_key(**kwargs)["KeyMetadata"]["KeyId"]


# --- CreateKey -------------------------------------------------------------------------

def test_create_key_defaults_metadata_fields_exact(kms, clock):
    meta = kms.create_key(Description="fields")["KeyMetadata"]
    assert set(meta) == {
        "AWSAccountId", "KeyId", "Arn", "CreationDate", "Enabled", "Description", "KeyUsage",
        "KeyState", "Origin", "KeyManager", "CustomerMasterKeySpec", "KeySpec",
        "EncryptionAlgorithms", "MultiRegion", "CurrentKeyMaterialId"}
    assert meta["AWSAccountId"] == ACCOUNT_ID
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", meta["KeyId"])
    assert meta["Arn"] == key_arn(meta["KeyId"])
    assert KEY_ARN_RE.match(meta["Arn"])
    assert meta["Enabled"] is True
    assert meta["KeyState"] == "Enabled"
    assert meta["Description"] == "fields"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["Origin"] == "AWS_KMS"
    assert meta["KeyManager"] == "CUSTOMER"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["MultiRegion"] is False
    assert re.fullmatch(r"[0-9a-f]{64}", meta["CurrentKeyMaterialId"])
    assert abs(meta["CreationDate"].timestamp() - clock.now) < 5


def test_create_key_without_description_empty_description(kms):
    meta = kms.create_key()["KeyMetadata"]
    assert meta["Description"] == ""


def test_create_key_two_keys_distinct_ids_and_materials(kms):
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    assert a["KeyId"] != b["KeyId"]
    assert a["CurrentKeyMaterialId"] != b["CurrentKeyMaterialId"]


def test_create_key_explicit_symmetric_spec_and_usage_accepted(kms):
    meta = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"


def test_create_key_deprecated_customer_master_key_spec_accepted(kms):
    meta = kms.create_key(CustomerMasterKeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"


def test_create_key_tags_stored(kms):
    kid = new_key(kms, Tags=[{"TagKey": "team", "TagValue": "blue"}, {"TagKey": "env", "TagValue": ""}])
    tags = kms.list_resource_tags(KeyId=kid)["Tags"]
    assert sorted(tags, key=lambda t: t["TagKey"]) == [
        {"TagKey": "env", "TagValue": ""}, {"TagKey": "team", "TagValue": "blue"}]


def test_create_key_policy_stored_verbatim(kms):
    policy = ('{"Version":"2012-10-17","Id":"custom",\n "Statement":[{"Sid":"root","Effect":"Allow",'
              f'"Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:root"}},"Action":"kms:*","Resource":"*"}}]}}')
    kid = new_key(kms, Policy=policy)
    assert kms.get_key_policy(KeyId=kid, PolicyName="default")["Policy"] == policy


def test_create_key_description_stored(kms):
    kid = new_key(kms, Description="a description with ünïcode")
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["Description"] == "a description with ünïcode"


def test_create_key_description_max_length_accepted(kms):
    kid = new_key(kms, Description="d" * 8192)
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["Description"] == "d" * 8192


def test_create_key_keyspec_and_customer_master_key_spec_validation_exception(kms):
    expect_error(lambda: kms.create_key(KeySpec="SYMMETRIC_DEFAULT", CustomerMasterKeySpec="SYMMETRIC_DEFAULT"),
                 "ValidationException", contains="CustomerMasterKeySpec")


def test_create_key_description_too_long_validation_exception(kms):
    err = expect_error(lambda: kms.create_key(Description="x" * 8193), "ValidationException")
    assert err["Message"].startswith("1 validation error detected: Value '")
    assert err["Message"].endswith("at 'description' failed to satisfy constraint: "
                                   "Member must have length less than or equal to 8192")


def test_create_key_sign_verify_usage_for_symmetric_validation_exception(kms):
    before = set(all_key_ids(kms))
    expect_error(lambda: kms.create_key(KeyUsage="SIGN_VERIFY"), "ValidationException")
    assert set(all_key_ids(kms)) == before  # nothing was created


def test_create_key_mac_usage_for_symmetric_validation_exception(kms):
    expect_error(lambda: kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="GENERATE_VERIFY_MAC"),
                 "ValidationException")


def test_create_key_unknown_key_usage_enum_validation_exception(kms):
    err = expect_error(lambda: kms.create_key(KeyUsage="ENCRYPT_ONLY"), "ValidationException")
    # the enum list comes from the botocore model (it grows over time)
    assert err["Message"].startswith(
        "1 validation error detected: Value 'ENCRYPT_ONLY' at 'keyUsage' failed to satisfy "
        "constraint: Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, ")


def test_create_key_reserved_aws_tag_tag_exception(kms):
    expect_error(lambda: kms.create_key(Tags=[{"TagKey": "aws:owner", "TagValue": "x"}]), "TagException")


def test_create_key_malformed_policy_malformed_policy_document_exception(kms):
    expect_error(lambda: kms.create_key(Policy="{not json"), "MalformedPolicyDocumentException")


# --- DescribeKey -----------------------------------------------------------------------

def test_describe_key_by_id_arn_alias_and_alias_arn_same_key(kms, key_id):
    alias = f"alias/describe-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    for ref in (key_id, key_arn(key_id), alias, f"{ARN_PREFIX}:{alias}"):
        meta = kms.describe_key(KeyId=ref)["KeyMetadata"]
        assert meta["KeyId"] == key_id, ref
        assert meta["Arn"] == key_arn(key_id), ref


def test_describe_key_unknown_key_not_found(kms):
    missing = str(uuid.uuid4())
    expect_error(lambda: kms.describe_key(KeyId=missing), "NotFoundException",
                 f"Key 'arn:aws:kms:us-east-1:111122223333:key/{missing}' does not exist")


def test_describe_key_unknown_key_arn_not_found(kms):
    missing = str(uuid.uuid4())
    expect_error(lambda: kms.describe_key(KeyId=key_arn(missing)), "NotFoundException",
                 f"Key 'arn:aws:kms:us-east-1:111122223333:key/{missing}' does not exist")


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_describe_key_arn_of_another_partition_not_found(kms, key_id, partition):
    """Keys here live in the "aws" partition; the same id under another partition is no key."""
    foreign = key_arn(key_id).replace("arn:aws:", f"arn:{partition}:", 1)
    expect_error(lambda: kms.describe_key(KeyId=foreign), "NotFoundException", f"Invalid keyId '{foreign}'")
    expect_error(lambda: kms.encrypt(KeyId=foreign, Plaintext=b"x"), "NotFoundException")


def test_describe_key_malformed_id_not_found(kms):
    expect_error(lambda: kms.describe_key(KeyId="not-a-key-id"), "NotFoundException",
                 "Invalid keyId 'not-a-key-id'")


def test_describe_key_unknown_alias_not_found(kms):
    expect_error(lambda: kms.describe_key(KeyId="alias/no-such-alias-xyz"), "NotFoundException",
                 "Alias arn:aws:kms:us-east-1:111122223333:alias/no-such-alias-xyz is not found.")


def test_describe_key_unknown_alias_arn_not_found(kms):
    expect_error(lambda: kms.describe_key(KeyId=f"{ARN_PREFIX}:alias/no-such-alias-abc"), "NotFoundException",
                 "Alias arn:aws:kms:us-east-1:111122223333:alias/no-such-alias-abc is not found.")


def test_describe_key_key_id_too_long_validation_exception(kms):
    expect_error(lambda: kms.describe_key(KeyId="k" * 2049), "ValidationException",
                 contains="at 'keyId' failed to satisfy constraint: "
                          "Member must have length less than or equal to 2048")


# --- ListKeys --------------------------------------------------------------------------

def test_list_keys_limit_marker_pagination_returns_each_key_once(kms):
    mine = {new_key(kms) for _ in range(5)}
    listed = pages(kms.list_keys, Limit=2)
    assert all(len(page["Keys"]) == 2 for page in listed[:-1]) and len(listed[-1]["Keys"]) <= 2
    assert all(k["KeyArn"] == key_arn(k["KeyId"]) for page in listed for k in page["Keys"])
    seen = [k["KeyId"] for page in listed for k in page["Keys"]]
    assert len(listed) >= 3
    assert len(seen) == len(set(seen))
    assert mine <= set(seen)
    assert set(seen) == set(all_key_ids(kms))


def test_list_keys_limit_one_truncated_with_next_marker(kms, key_id):
    page = kms.list_keys(Limit=1)
    assert len(page["Keys"]) == 1
    assert page["Truncated"] is True  # the session has more than one key by now
    assert page["NextMarker"]


def test_list_keys_invalid_marker_invalid_marker_exception(kms, key_id):
    expect_error(lambda: kms.list_keys(Marker="!!!not a marker!!!"), "InvalidMarkerException")


def test_list_keys_foreign_well_formed_marker_invalid_marker_exception(kms, key_id):
    # valid base64, but not a marker the server issued: AWS markers are opaque and checked
    marker = base64.urlsafe_b64encode(b"zzzz-not-a-key").decode()
    expect_error(lambda: kms.list_keys(Marker=marker), "InvalidMarkerException")


# --- UpdateKeyDescription --------------------------------------------------------------

def test_update_key_description_enabled_key_updated(kms, key_id):
    assert kms.update_key_description(KeyId=key_id, Description="new text")["ResponseMetadata"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "new text"


def test_update_key_description_by_arn_updated(kms, key_id):
    kms.update_key_description(KeyId=key_arn(key_id), Description="via arn")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "via arn"


def test_update_key_description_disabled_key_updated(kms, key_id):
    kms.disable_key(KeyId=key_id)
    kms.update_key_description(KeyId=key_id, Description="while disabled")
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["Description"] == "while disabled"
    assert meta["KeyState"] == "Disabled"


def test_update_key_description_pending_deletion_invalid_state(kms, key_id):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error(lambda: kms.update_key_description(KeyId=key_id, Description="nope"),
                 "KMSInvalidStateException", f"{key_arn(key_id)} is pending deletion.")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "test key"


def test_update_key_description_too_long_validation_exception(kms, key_id):
    expect_error(lambda: kms.update_key_description(KeyId=key_id, Description="y" * 8193),
                 "ValidationException", contains="at 'description' failed to satisfy constraint: "
                                                 "Member must have length less than or equal to 8192")


def test_update_key_description_unknown_key_not_found(kms):
    missing = str(uuid.uuid4())
    expect_error(lambda: kms.update_key_description(KeyId=missing, Description="x"), "NotFoundException",
                 f"Key '{key_arn(missing)}' does not exist")


def test_management_ops_alias_identifier_not_found(kms, key_id):
    alias = f"alias/mgmt-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    for ref in (alias, f"{ARN_PREFIX}:{alias}"):
        expect_error(lambda: kms.update_key_description(KeyId=ref, Description="x"), "NotFoundException")
        expect_error(lambda: kms.disable_key(KeyId=ref), "NotFoundException")
        expect_error(lambda: kms.enable_key(KeyId=ref), "NotFoundException")
        expect_error(lambda: kms.schedule_key_deletion(KeyId=ref), "NotFoundException")
        expect_error(lambda: kms.cancel_key_deletion(KeyId=ref), "NotFoundException")
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    assert meta["Description"] == "test key"


# --- EnableKey / DisableKey ------------------------------------------------------------

def test_disable_key_enabled_key_disabled_and_idempotent(kms, key_id):
    kms.disable_key(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("Disabled", False)
    kms.disable_key(KeyId=key_arn(key_id))  # again, by ARN: no error
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"


def test_disable_key_crypto_ops_disabled_exception(kms, key_id):
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), "DisabledException",
                 f"{key_arn(key_id)} is disabled.")


def test_enable_key_disabled_key_enabled_and_idempotent(kms, key_id):
    kms.enable_key(KeyId=key_id)  # already enabled: no error
    kms.disable_key(KeyId=key_id)
    kms.enable_key(KeyId=key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("Enabled", True)
    kms.enable_key(KeyId=key_id)
    assert kms.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"] == key_arn(key_id)


def test_enable_key_pending_deletion_invalid_state(kms, key_id):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error(lambda: kms.enable_key(KeyId=key_id), "KMSInvalidStateException",
                 f"{key_arn(key_id)} is pending deletion.")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_disable_key_pending_deletion_invalid_state(kms, key_id):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error(lambda: kms.disable_key(KeyId=key_id), "KMSInvalidStateException",
                 f"{key_arn(key_id)} is pending deletion.")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_enable_key_unknown_key_not_found(kms):
    missing = str(uuid.uuid4())
    expect_error(lambda: kms.enable_key(KeyId=missing), "NotFoundException",
                 f"Key '{key_arn(missing)}' does not exist")


# --- ScheduleKeyDeletion ---------------------------------------------------------------

def test_schedule_key_deletion_default_window_thirty_days(kms, key_id, clock):
    out = kms.schedule_key_deletion(KeyId=key_id)
    assert out["KeyId"] == key_arn(key_id)
    assert out["KeyState"] == "PendingDeletion"
    assert out["PendingWindowInDays"] == 30
    assert abs(out["DeletionDate"].timestamp() - (clock.now + 30 * DAY)) < 5


def test_schedule_key_deletion_describe_shows_pending_and_deletion_date(kms, key_id, clock):
    out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["PendingWindowInDays"] == 7
    assert abs(out["DeletionDate"].timestamp() - (clock.now + 7 * DAY)) < 5
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["Enabled"] is False
    assert meta["DeletionDate"] == out["DeletionDate"]


def test_schedule_key_deletion_window_thirty_accepted(kms, key_id):
    assert kms.schedule_key_deletion(KeyId=key_arn(key_id), PendingWindowInDays=30)["PendingWindowInDays"] == 30


def test_schedule_key_deletion_disabled_key_accepted(kms, key_id):
    kms.disable_key(KeyId=key_id)
    assert kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)["KeyState"] == "PendingDeletion"


def test_schedule_key_deletion_window_six_validation_exception(kms, key_id):
    expect_error(lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=6), "ValidationException",
                 "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy "
                 "constraint: Member must have value greater than or equal to 7")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_schedule_key_deletion_window_thirty_one_validation_exception(kms, key_id):
    expect_error(lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=31), "ValidationException",
                 "1 validation error detected: Value '31' at 'pendingWindowInDays' failed to satisfy "
                 "constraint: Member must have value less than or equal to 30")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_schedule_key_deletion_already_pending_invalid_state(kms, key_id):
    first = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error(lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=30),
                 "KMSInvalidStateException", f"{key_arn(key_id)} is pending deletion.")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["DeletionDate"] == first["DeletionDate"]


def test_schedule_key_deletion_crypto_ops_invalid_state(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    msg = f"{key_arn(key_id)} is pending deletion."
    expect_error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), "KMSInvalidStateException", msg)
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob), "KMSInvalidStateException", msg)
    expect_error(lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"), "KMSInvalidStateException", msg)
    expect_error(lambda: kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=16),
                 "KMSInvalidStateException", msg)
    expect_error(lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id),
                 "KMSInvalidStateException", msg)


def test_schedule_key_deletion_unknown_key_not_found(kms):
    missing = str(uuid.uuid4())
    expect_error(lambda: kms.schedule_key_deletion(KeyId=missing), "NotFoundException",
                 f"Key '{key_arn(missing)}' does not exist")


# --- CancelKeyDeletion -----------------------------------------------------------------

def test_cancel_key_deletion_pending_key_left_disabled(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"keep")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    out = kms.cancel_key_deletion(KeyId=key_id)
    assert out["KeyId"] == key_arn(key_id)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled"
    assert meta["Enabled"] is False
    assert "DeletionDate" not in meta
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob), "DisabledException", f"{key_arn(key_id)} is disabled.")
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"keep"


def test_cancel_key_deletion_by_arn_rescheduling_allowed(kms, key_id):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key_arn(key_id))
    out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=8)
    assert out["PendingWindowInDays"] == 8


def test_cancel_key_deletion_enabled_key_invalid_state(kms, key_id):
    expect_error(lambda: kms.cancel_key_deletion(KeyId=key_id), "KMSInvalidStateException",
                 f"{key_arn(key_id)} is not pending deletion.")


def test_cancel_key_deletion_disabled_key_invalid_state(kms, key_id):
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: kms.cancel_key_deletion(KeyId=key_id), "KMSInvalidStateException",
                 f"{key_arn(key_id)} is not pending deletion.")


# --- Deletion when the waiting period ends ---------------------------------------------

def _tag_rows(server, key_id: str) -> int:
    from kms_core.storage.tables import KeyTagTable

    url = server.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(KeyTagTable)
                                .where(KeyTagTable.key_id == key_id)).one()
    finally:
        engine.dispose()


def test_schedule_key_deletion_window_passed_key_alias_tags_deleted(server, kms, clock):
    doomed = new_key(kms, Description="doomed", Tags=[{"TagKey": "t", "TagValue": "v"}])
    survivor = new_key(kms, Description="survivor")
    alias = f"alias/doomed-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=doomed)
    assert _tag_rows(server, doomed) == 1
    deletion = kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)["DeletionDate"]

    clock.advance(days=6)  # not yet
    assert kms.describe_key(KeyId=doomed)["KeyMetadata"]["KeyState"] == "PendingDeletion"

    clock.advance(days=2)  # now past DeletionDate
    assert clock.now > deletion.timestamp()
    expect_error(lambda: kms.describe_key(KeyId=doomed), "NotFoundException",
                 f"Key '{key_arn(doomed)}' does not exist")
    expect_error(lambda: kms.describe_key(KeyId=alias), "NotFoundException",
                 f"Alias {ARN_PREFIX}:{alias} is not found.")
    expect_error(lambda: kms.list_resource_tags(KeyId=doomed), "NotFoundException")
    expect_error(lambda: kms.cancel_key_deletion(KeyId=doomed), "NotFoundException")
    ids = all_key_ids(kms)
    assert doomed not in ids
    assert survivor in ids
    names = [a["AliasName"] for a in kms.list_aliases(Limit=100)["Aliases"]]
    page = kms.list_aliases(Limit=100)
    while page["Truncated"]:
        page = kms.list_aliases(Limit=100, Marker=page["NextMarker"])
        names += [a["AliasName"] for a in page["Aliases"]]
    assert alias not in names
    assert _tag_rows(server, doomed) == 0
    assert kms.describe_key(KeyId=survivor)["KeyMetadata"]["KeyState"] == "Enabled"


# --- Region isolation ------------------------------------------------------------------

def test_describe_key_other_region_not_found(server, kms, key_id):
    eu = server.client("kms", region="eu-west-1")
    expect_error(lambda: eu.describe_key(KeyId=key_id), "NotFoundException",
                 f"Key '{key_arn(key_id, 'eu-west-1')}' does not exist")
    expect_error(lambda: eu.describe_key(KeyId=key_arn(key_id)), "NotFoundException")
    expect_error(lambda: eu.encrypt(KeyId=key_arn(key_id), Plaintext=b"x"), "NotFoundException")
    expect_error(lambda: eu.disable_key(KeyId=key_id), "NotFoundException")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_list_keys_other_region_excludes_key(server, kms, key_id):
    eu = server.client("kms", region="eu-west-1")
    eu_key = eu.create_key()["KeyMetadata"]
    assert eu_key["Arn"] == key_arn(eu_key["KeyId"], "eu-west-1")
    eu_ids = all_key_ids(eu)
    assert key_id not in eu_ids
    assert eu_key["KeyId"] in eu_ids
    assert eu_key["KeyId"] not in all_key_ids(kms)
    expect_error(lambda: kms.describe_key(KeyId=eu_key["KeyId"]), "NotFoundException")
