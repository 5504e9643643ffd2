"""KMS aliases through real boto3 clients: CreateAlias, UpdateAlias, DeleteAlias,
ListAliases and aliases as KeyId in crypto operations (reference: aws_api.md 4.1, 4.6, 6, 8)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error, pages

ARN_PREFIX = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}"


def key_arn(key_id: str) -> str:
    return f"{ARN_PREFIX}:key/{key_id}"


def alias_arn(name: str) -> str:
    return f"{ARN_PREFIX}:{name}"


def unique(prefix: str = "t") -> str:
    return f"alias/{prefix}-{uuid.uuid4().hex[:10]}"


def all_aliases(kms, **kwargs) -> list[dict]:
    return [a for page in pages(kms.list_aliases, **kwargs) for a in page["Aliases"]]


def alias_names(kms, **kwargs) -> list[str]:
    return [a["AliasName"] for a in all_aliases(kms, **kwargs)]


# --- CreateAlias -----------------------------------------------------------------------

def test_create_alias_valid_name_resolves_to_key(kms, key_id):
    name = unique("ok")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key_id
    assert name in alias_names(kms)


def test_create_alias_target_key_arn_accepted(kms, key_id):
    name = unique("arn")
    kms.create_alias(AliasName=name, TargetKeyId=key_arn(key_id))
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["Arn"] == key_arn(key_id)


def test_create_alias_all_allowed_characters_accepted(kms, key_id):
    name = f"alias/Az09_-/nested/{uuid.uuid4().hex[:6]}"
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key_id


def test_create_alias_names_case_sensitive_distinct(kms, key_id):
    base = uuid.uuid4().hex[:8]
    kms.create_alias(AliasName=f"alias/Case-{base}", TargetKeyId=key_id)
    kms.create_alias(AliasName=f"alias/case-{base}", TargetKeyId=key_id)
    names = alias_names(kms, KeyId=key_id)
    assert f"alias/Case-{base}" in names and f"alias/case-{base}" in names


def test_create_alias_disabled_target_accepted(kms, key_id):
    kms.disable_key(KeyId=key_id)
    name = unique("dis")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyState"] == "Disabled"


def test_create_alias_missing_prefix_validation_exception(kms, key_id):
    expect_error(lambda: kms.create_alias(AliasName="noprefix", TargetKeyId=key_id),
                 "ValidationException", contains="Invalid identifier")
    assert alias_names(kms, KeyId=key_id) == []


def test_create_alias_reserved_aws_prefix_not_authorized(kms, key_id):
    expect_error(lambda: kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key_id),
                 "NotAuthorizedException")
    assert alias_names(kms, KeyId=key_id) == []


def test_create_alias_colon_in_name_validation_exception(kms, key_id):
    expect_error(lambda: kms.create_alias(AliasName="alias/my:alias", TargetKeyId=key_id),
                 "ValidationException", "alias/my:alias contains invalid characters for an alias")


@pytest.mark.parametrize("name", ["alias/has space", "alias/bang!", "alias/dot.dot", "alias/ünï"])
def test_create_alias_invalid_characters_validation_exception(kms, key_id, name):
    expect_error(lambda: kms.create_alias(AliasName=name, TargetKeyId=key_id), "ValidationException",
                 f"1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$")
    assert alias_names(kms, KeyId=key_id) == []


def test_create_alias_name_too_long_validation_exception(kms, key_id):
    name = "alias/" + "a" * 251  # 257 characters
    expect_error(lambda: kms.create_alias(AliasName=name, TargetKeyId=key_id), "ValidationException",
                 contains="at 'aliasName' failed to satisfy constraint: "
                          "Member must have length less than or equal to 256")


def test_create_alias_name_max_length_accepted(kms, key_id):
    name = "alias/" + uuid.uuid4().hex + "a" * (250 - 32)  # exactly 256 characters
    assert len(name) == 256
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key_id


def test_create_alias_duplicate_name_already_exists(kms, key_id):
    name = unique("dup")
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    expect_error(lambda: kms.create_alias(AliasName=name, TargetKeyId=other), "AlreadyExistsException",
                 f"An alias with the name arn:aws:kms:us-east-1:111122223333:{name} already exists")
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key_id


def test_create_alias_target_is_alias_validation_exception(kms, key_id):
    name = unique("first")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    second = unique("second")
    for target in (name, alias_arn(name)):
        expect_error(lambda: kms.create_alias(AliasName=second, TargetKeyId=target), "ValidationException",
                     "Aliases must refer to keys. Not aliases")
    assert second not in alias_names(kms)


def test_create_alias_unknown_target_not_found(kms):
    missing = str(uuid.uuid4())
    expect_error(lambda: kms.create_alias(AliasName=unique("nf"), TargetKeyId=missing), "NotFoundException",
                 f"Key '{key_arn(missing)}' does not exist")


def test_create_alias_target_pending_deletion_invalid_state(kms, key_id):
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    name = unique("pend")
    expect_error(lambda: kms.create_alias(AliasName=name, TargetKeyId=key_id), "KMSInvalidStateException",
                 f"{key_arn(key_id)} is pending deletion.")
    assert name not in alias_names(kms)


def test_create_alias_fifty_first_alias_limit_exceeded(kms, key_id):
    base = uuid.uuid4().hex[:8]
    for i in range(50):
        kms.create_alias(AliasName=f"alias/lim-{base}-{i:02d}", TargetKeyId=key_id)
    expect_error(lambda: kms.create_alias(AliasName=f"alias/lim-{base}-50", TargetKeyId=key_id),
                 "LimitExceededException")
    assert len(alias_names(kms, KeyId=key_id)) == 50
    # another key is unaffected by this key's limit
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/lim-{base}-50", TargetKeyId=other)
    # UpdateAlias onto the full key is refused too
    expect_error(lambda: kms.update_alias(AliasName=f"alias/lim-{base}-50", TargetKeyId=key_id),
                 "LimitExceededException")
    assert kms.describe_key(KeyId=f"alias/lim-{base}-50")["KeyMetadata"]["KeyId"] == other


# --- UpdateAlias -----------------------------------------------------------------------

def test_update_alias_new_target_encrypt_uses_new_key(kms, key_id):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    name = unique("move")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    old_blob = kms.encrypt(KeyId=name, Plaintext=b"before")["CiphertextBlob"]
    kms.update_alias(AliasName=name, TargetKeyId=other)
    enc = kms.encrypt(KeyId=name, Plaintext=b"after")
    assert enc["KeyId"] == key_arn(other)
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"])
    assert dec["KeyId"] == key_arn(other)
    assert dec["Plaintext"] == b"after"
    old = kms.decrypt(CiphertextBlob=old_blob)
    assert old["KeyId"] == key_arn(key_id)
    assert old["Plaintext"] == b"before"
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == other
    assert name not in alias_names(kms, KeyId=key_id)
    assert name in alias_names(kms, KeyId=other)


def test_update_alias_target_key_arn_accepted(kms, key_id):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    name = unique("movearn")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    kms.update_alias(AliasName=name, TargetKeyId=key_arn(other))
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == other


def test_update_alias_last_updated_date_changes(kms, key_id, clock):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    name = unique("dates")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    before = next(a for a in all_aliases(kms, KeyId=key_id) if a["AliasName"] == name)
    clock.advance(seconds=120)
    kms.update_alias(AliasName=name, TargetKeyId=other)
    after = next(a for a in all_aliases(kms, KeyId=other) if a["AliasName"] == name)
    assert after["CreationDate"] == before["CreationDate"]
    assert (after["LastUpdatedDate"] - before["LastUpdatedDate"]).total_seconds() == pytest.approx(120, abs=1)


def test_update_alias_unknown_alias_not_found(kms, key_id):
    name = unique("ghost")
    expect_error(lambda: kms.update_alias(AliasName=name, TargetKeyId=key_id), "NotFoundException",
                 f"Alias {alias_arn(name)} is not found.")
    assert name not in alias_names(kms)


def test_update_alias_target_is_alias_validation_exception(kms, key_id):
    a, b = unique("ua"), unique("ub")
    kms.create_alias(AliasName=a, TargetKeyId=key_id)
    kms.create_alias(AliasName=b, TargetKeyId=key_id)
    expect_error(lambda: kms.update_alias(AliasName=a, TargetKeyId=b), "ValidationException",
                 "Aliases must refer to keys. Not aliases")


def test_update_alias_new_target_pending_deletion_invalid_state(kms, key_id):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=other, PendingWindowInDays=7)
    name = unique("upend")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    expect_error(lambda: kms.update_alias(AliasName=name, TargetKeyId=other), "KMSInvalidStateException",
                 f"{key_arn(other)} is pending deletion.")
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key_id


def test_update_alias_old_target_pending_deletion_accepted(kms, key_id):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    name = unique("oldpend")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.update_alias(AliasName=name, TargetKeyId=other)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == other


def test_update_alias_reserved_name_not_authorized(kms, key_id):
    expect_error(lambda: kms.update_alias(AliasName="alias/aws/ssm", TargetKeyId=key_id),
                 "NotAuthorizedException")


# --- DeleteAlias -----------------------------------------------------------------------

def test_delete_alias_existing_alias_removed(kms, key_id):
    name = unique("del")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    kms.delete_alias(AliasName=name)
    assert name not in alias_names(kms)
    expect_error(lambda: kms.describe_key(KeyId=name), "NotFoundException", f"Alias {alias_arn(name)} is not found.")
    # the key itself is untouched, and the name can be reused
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    kms.create_alias(AliasName=name, TargetKeyId=key_id)


def test_delete_alias_unknown_alias_not_found(kms):
    name = unique("nodel")
    expect_error(lambda: kms.delete_alias(AliasName=name), "NotFoundException",
                 f"Alias {alias_arn(name)} is not found.")


def test_delete_alias_twice_second_not_found(kms, key_id):
    name = unique("twice")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    kms.delete_alias(AliasName=name)
    expect_error(lambda: kms.delete_alias(AliasName=name), "NotFoundException")


def test_delete_alias_target_pending_deletion_allowed(kms, key_id):
    name = unique("delpend")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.delete_alias(AliasName=name)
    assert name not in alias_names(kms)


def test_delete_alias_reserved_name_not_authorized(kms):
    expect_error(lambda: kms.delete_alias(AliasName="alias/aws/ssm"), "NotAuthorizedException")


# --- ListAliases -----------------------------------------------------------------------

def test_list_aliases_entry_fields(kms, key_id, clock):
    name = unique("fields")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    entries = [a for a in all_aliases(kms) if a["AliasName"] == name]
    assert len(entries) == 1
    entry = entries[0]
    assert set(entry) == {"AliasName", "AliasArn", "TargetKeyId", "CreationDate", "LastUpdatedDate"}
    assert entry["AliasArn"] == f"arn:aws:kms:us-east-1:111122223333:{name}"
    assert entry["TargetKeyId"] == key_id
    assert abs(entry["CreationDate"].timestamp() - clock.now) < 5
    assert entry["LastUpdatedDate"] == entry["CreationDate"]


def test_list_aliases_key_id_filter_only_that_key(kms, key_id):
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    mine = sorted([unique("fa"), unique("fb")])
    for n in mine:
        kms.create_alias(AliasName=n, TargetKeyId=key_id)
    theirs = unique("fc")
    kms.create_alias(AliasName=theirs, TargetKeyId=other)
    assert sorted(alias_names(kms, KeyId=key_id)) == mine
    assert sorted(alias_names(kms, KeyId=key_arn(key_id))) == mine
    assert alias_names(kms, KeyId=other) == [theirs]


def test_list_aliases_key_without_aliases_empty(kms, key_id):
    page = kms.list_aliases(KeyId=key_id)
    assert page["Aliases"] == []
    assert page["Truncated"] is False


def test_list_aliases_unknown_key_filter_not_found(kms):
    missing = str(uuid.uuid4())
    expect_error(lambda: kms.list_aliases(KeyId=missing), "NotFoundException",
                 f"Key '{key_arn(missing)}' does not exist")


def test_list_aliases_limit_marker_pagination_each_once(kms, key_id):
    names = {unique("pg") for _ in range(5)}
    for n in names:
        kms.create_alias(AliasName=n, TargetKeyId=key_id)
    listed = pages(kms.list_aliases, KeyId=key_id, Limit=2)
    seen = [a["AliasName"] for page in listed for a in page["Aliases"]]
    assert [len(page["Aliases"]) for page in listed[:-1]] == [2, 2]
    assert len(listed) == 3
    assert sorted(seen) == sorted(names)
    # unfiltered pagination also yields every alias exactly once
    everything = alias_names(kms, Limit=3)
    assert len(everything) == len(set(everything))
    assert names <= set(everything)


def test_list_aliases_invalid_marker_invalid_marker_exception(kms):
    expect_error(lambda: kms.list_aliases(Marker="!!!not a marker!!!"), "InvalidMarkerException")


def test_list_aliases_foreign_well_formed_marker_invalid_marker_exception(kms):
    marker = base64.urlsafe_b64encode(b"zzzz-not-an-alias").decode()
    expect_error(lambda: kms.list_aliases(Marker=marker), "InvalidMarkerException")


def test_list_aliases_other_region_excludes_alias(server, kms, key_id):
    name = unique("region")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    eu = server.client("kms", region="eu-west-1")
    assert name not in alias_names(eu)
    expect_error(lambda: eu.describe_key(KeyId=name), "NotFoundException",
                 f"Alias arn:aws:kms:eu-west-1:{ACCOUNT_ID}:{name} is not found.")


# --- Aliases as KeyId in crypto operations ---------------------------------------------

def test_encrypt_alias_name_and_arn_response_key_id_is_key_arn(kms, key_id):
    name = unique("enc")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    for ref in (name, alias_arn(name)):
        enc = kms.encrypt(KeyId=ref, Plaintext=b"via alias")
        assert enc["KeyId"] == key_arn(key_id)
        dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], KeyId=ref)
        assert dec["KeyId"] == key_arn(key_id)
        assert dec["Plaintext"] == b"via alias"


def test_generate_data_key_alias_response_key_id_is_key_arn(kms, key_id):
    name = unique("gdk")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    out = kms.generate_data_key(KeyId=name, KeySpec="AES_256")
    assert out["KeyId"] == key_arn(key_id)
    assert len(out["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == out["Plaintext"]
    out2 = kms.generate_data_key_without_plaintext(KeyId=alias_arn(name), NumberOfBytes=16)
    assert out2["KeyId"] == key_arn(key_id)


def test_describe_key_alias_returns_key_metadata(kms, key_id):
    name = unique("desc")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    meta = kms.describe_key(KeyId=name)["KeyMetadata"]
    assert meta["KeyId"] == key_id
    assert meta["Arn"] == key_arn(key_id)


def test_encrypt_alias_of_disabled_key_disabled_exception(kms, key_id):
    name = unique("encdis")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: kms.encrypt(KeyId=name, Plaintext=b"x"), "DisabledException",
                 f"{key_arn(key_id)} is disabled.")


def test_encrypt_deleted_alias_not_found(kms, key_id):
    name = unique("gone")
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    kms.delete_alias(AliasName=name)
    expect_error(lambda: kms.encrypt(KeyId=name, Plaintext=b"x"), "NotFoundException",
                 f"Alias {alias_arn(name)} is not found.")


def test_list_aliases_shows_the_predefined_aws_aliases(server):
    """As AWS does in a new account: every predefined alias/aws/* alias, without a
    TargetKeyId until its service first uses it; paging sees each name once; a KeyId
    filter leaves them out."""
    from kms_core.operations.aliases import PREDEFINED_ALIASES
    from tests.helpers import second_account_key

    akid, secret = second_account_key(server, "777788889999")
    kms = server.client("kms", region="ca-central-1", access_key_id=akid, secret=secret)
    aliases = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    assert set(PREDEFINED_ALIASES) <= set(aliases)
    s3 = aliases["alias/aws/s3"]
    assert s3["AliasArn"] == "arn:aws:kms:ca-central-1:777788889999:alias/aws/s3" and "TargetKeyId" not in s3
    # a first use of aws/secretsmanager makes its key: the alias then has a target
    sm = server.client("secretsmanager", region="ca-central-1", access_key_id=akid, secret=secret)
    sm.create_secret(Name="first-use", SecretString="v")
    kms.create_alias(AliasName="alias/aa-mine", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    paged = []
    for page in kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 3}):
        paged += page["Aliases"]
    names = [a["AliasName"] for a in paged]
    assert names == sorted(names) and len(names) == len(set(names)) == len(PREDEFINED_ALIASES) + 1
    managed = next(a for a in paged if a["AliasName"] == "alias/aws/secretsmanager")
    assert managed["TargetKeyId"]
    key_id = next(a for a in paged if a["AliasName"] == "alias/aa-mine")["TargetKeyId"]
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=key_id)["Aliases"]] == ["alias/aa-mine"]


def test_describe_key_on_a_predefined_alias_makes_its_aws_managed_key(server):
    """AWS: DescribeKey on a predefined alias/aws/* alias with no key yet creates the
    AWS-managed key and answers with it; ListAliases then shows its target.  The key is
    usable only through its service, so a direct Encrypt is refused."""
    from kms_core.operations.aliases import PREDEFINED_ALIASES
    from tests.helpers import second_account_key

    akid, secret = second_account_key(server, "777788880000")
    kms = server.client("kms", region="sa-east-1", access_key_id=akid, secret=secret)
    for alias in PREDEFINED_ALIASES:  # every listed alias names a key set DescribeKey can make
        meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
        assert meta["KeyManager"] == "AWS" and meta["KeyState"] == "Enabled"
        assert meta["Arn"].startswith("arn:aws:kms:sa-east-1:777788880000:key/")
    meta = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert meta["Description"] == "Default key that protects my S3 objects when no other key is defined"
    listed = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    assert listed["alias/aws/s3"]["TargetKeyId"] == meta["KeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Condition"]["StringEquals"]["kms:ViaService"] == "s3.sa-east-1.amazonaws.com"
    expect_error(lambda: kms.encrypt(KeyId="alias/aws/s3", Plaintext=b"x"), "AccessDeniedException")
    expect_error(lambda: kms.disable_key(KeyId=meta["KeyId"]), "AccessDeniedException")
