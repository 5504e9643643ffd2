"""Secrets Manager lifecycle through boto3 against the live server: create, describe, list
(filters, sorting, paging), update, delete / restore / sweep, names and ARNs, tags and the
dates DescribeSecret reports.  Section numbers refer to shared/reference/secretsmanager.md."""

from __future__ import annotations

import random
import re
import string
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error

DAY = 86_400
NOT_FOUND = "Secrets Manager can't find the specified secret."
MARKED = "You can't perform this operation on the secret because it was marked for deletion."
SCHEDULED_NAME = "You can't create this secret because a secret with this name is already scheduled for deletion."
INVALID_NAME = ("Invalid name. Must be a valid name containing alphanumeric characters, "
                "or any of the following: -/_+=.@!")
ARN_PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:"


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


def unique(prefix: str = "lc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def word() -> str:
    """A unique all-lowercase word: ListSecrets `all` splits at letter/digit changes (§5.4),
    so a uuid would not stay one word."""
    return "".join(random.choices(string.ascii_lowercase, k=14))


def error_400(call, code: str, message: str | None = None) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    assert response["Error"]["Code"] == code, response["Error"]
    if message is not None:
        assert response["Error"]["Message"] == message
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return response["Error"]


def listed(sm, **kwargs) -> list[dict]:
    entries, token = [], None
    while True:
        page = sm.list_secrets(**kwargs, **({"NextToken": token} if token else {}))
        entries.extend(page["SecretList"])
        token = page.get("NextToken")
        if not token:
            return entries


def listed_names(sm, **kwargs) -> list[str]:
    return [entry["Name"] for entry in listed(sm, **kwargs)]


# --- create / describe (§3.1, §2) ---------------------------------------------------------------


def test_create_returns_an_arn_with_a_six_character_suffix(sm):
    name = unique()
    created = sm.create_secret(Name=name, SecretString="v")
    assert created["Name"] == name
    assert re.fullmatch(re.escape(ARN_PREFIX + name) + r"-[A-Za-z0-9]{6}", created["ARN"]), created["ARN"]
    assert re.fullmatch(r"[0-9a-fA-F-]{32,64}", created["VersionId"])


def test_create_without_a_value_returns_no_version_id(sm):
    created = sm.create_secret(Name=unique())
    assert "VersionId" not in created
    assert created["ARN"].startswith(ARN_PREFIX)


def test_two_secrets_get_different_suffixes(sm):
    a = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    b = sm.create_secret(Name=unique(), SecretString="v")["ARN"]
    assert a[-6:] != b[-6:]


def test_describe_reports_the_created_secret(sm):
    name = unique()
    created = sm.create_secret(Name=name, SecretString="v", Description="the description")
    described = sm.describe_secret(SecretId=name)
    assert described["ARN"] == created["ARN"]
    assert described["Name"] == name
    assert described["Description"] == "the description"
    assert described["VersionIdsToStages"] == {created["VersionId"]: ["AWSCURRENT"]}
    assert "CreatedDate" in described and "LastChangedDate" in described


def test_describe_omits_fields_without_a_value(sm):
    """DescribeSecret "only returns fields that have a value" (§3.1)."""
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    described = sm.describe_secret(SecretId=name)
    for absent in ("KmsKeyId", "RotationEnabled", "RotationRules", "RotationLambdaARN", "Tags",
                   "LastAccessedDate", "DeletedDate", "Description"):
        assert absent not in described, absent


def test_describe_of_a_secret_without_a_value_has_no_version_map(sm):
    name = unique()
    sm.create_secret(Name=name, Description="empty")
    assert "VersionIdsToStages" not in sm.describe_secret(SecretId=name)


def test_describe_shows_a_customer_kms_key(sm, key_id):
    name = unique()
    sm.create_secret(Name=name, SecretString="v", KmsKeyId=key_id)
    assert key_id in sm.describe_secret(SecretId=name)["KmsKeyId"]


def test_create_with_tags_shows_them_in_describe(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v", Tags=[{"Key": "env", "Value": "prod"}])
    assert sm.describe_secret(SecretId=name)["Tags"] == [{"Key": "env", "Value": "prod"}]


# --- update (§3.1, §4) ---------------------------------------------------------------------------


def test_update_description_changes_it_without_a_new_version(sm):
    name = unique()
    version = sm.create_secret(Name=name, SecretString="v", Description="old")["VersionId"]
    updated = sm.update_secret(SecretId=name, Description="new")
    assert "VersionId" not in updated
    described = sm.describe_secret(SecretId=name)
    assert described["Description"] == "new"
    assert described["VersionIdsToStages"] == {version: ["AWSCURRENT"]}


def test_update_value_creates_a_new_current_version(sm):
    name = unique()
    first = sm.create_secret(Name=name, SecretString="one")["VersionId"]
    second = sm.update_secret(SecretId=name, SecretString="two")["VersionId"]
    assert second != first
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "two"
    assert sm.describe_secret(SecretId=name)["VersionIdsToStages"] == {
        first: ["AWSPREVIOUS"], second: ["AWSCURRENT"]}


def test_update_description_moves_last_changed_date(sm, server):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    before = sm.describe_secret(SecretId=name)["LastChangedDate"]
    server.clock.advance(seconds=120)
    sm.update_secret(SecretId=name, Description="changed")
    after = sm.describe_secret(SecretId=name)["LastChangedDate"]
    assert after.timestamp() - before.timestamp() >= 119


def test_update_value_moves_last_changed_date(sm, server):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    before = sm.describe_secret(SecretId=name)["LastChangedDate"]
    server.clock.advance(seconds=120)
    sm.update_secret(SecretId=name, SecretString="w")
    after = sm.describe_secret(SecretId=name)["LastChangedDate"]
    assert after.timestamp() - before.timestamp() >= 119


def test_put_secret_value_moves_last_changed_date(sm, server):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    before = sm.describe_secret(SecretId=name)["LastChangedDate"]
    server.clock.advance(seconds=120)
    sm.put_secret_value(SecretId=name, SecretString="w")
    after = sm.describe_secret(SecretId=name)["LastChangedDate"]
    assert after.timestamp() - before.timestamp() >= 119


def test_reading_does_not_move_last_changed_date(sm, server):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    before = sm.describe_secret(SecretId=name)["LastChangedDate"]
    server.clock.advance(seconds=120)
    sm.get_secret_value(SecretId=name)
    assert sm.describe_secret(SecretId=name)["LastChangedDate"] == before


# --- LastAccessedDate (§3.1) ---------------------------------------------------------------------


def test_last_accessed_date_is_absent_until_the_first_read(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.describe_secret(SecretId=name)
    assert "LastAccessedDate" not in sm.describe_secret(SecretId=name)
    sm.get_secret_value(SecretId=name)
    assert "LastAccessedDate" in sm.describe_secret(SecretId=name)


def test_last_accessed_date_has_day_resolution(sm, server):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.get_secret_value(SecretId=name)
    first = sm.describe_secret(SecretId=name)["LastAccessedDate"].timestamp()
    assert server.clock.now - DAY < first <= server.clock.now
    server.clock.advance(seconds=1)
    sm.get_secret_value(SecretId=name)
    assert sm.describe_secret(SecretId=name)["LastAccessedDate"].timestamp() == first
    server.clock.advance(days=2)
    sm.get_secret_value(SecretId=name)
    assert sm.describe_secret(SecretId=name)["LastAccessedDate"].timestamp() > first + DAY


# --- ListSecrets (§3.1, §5.4) --------------------------------------------------------------------


def test_list_entries_use_secret_versions_to_stages(sm):
    name = unique()
    version = sm.create_secret(Name=name, SecretString="v")["VersionId"]
    (entry,) = listed(sm, Filters=[{"Key": "name", "Values": [name]}])
    assert entry["SecretVersionsToStages"] == {version: ["AWSCURRENT"]}
    assert "VersionIdsToStages" not in entry
    assert "SecretString" not in entry and "SecretBinary" not in entry


def test_name_filter_is_a_case_sensitive_prefix(sm):
    base = unique("pf")
    for suffix in ("Alpha", "alpha2", "beta", "x/alpha"):
        sm.create_secret(Name=f"{base}/{suffix}", SecretString="v")
    assert sorted(listed_names(sm, Filters=[{"Key": "name", "Values": [f"{base}/alpha"]}])) == [f"{base}/alpha2"]
    assert sorted(listed_names(sm, Filters=[{"Key": "name", "Values": [f"{base}/"]}])) == sorted(
        f"{base}/{s}" for s in ("Alpha", "alpha2", "beta", "x/alpha"))


def test_name_filter_negation(sm):
    base, scope = unique("neg"), word()
    for suffix in ("keep", "drop1", "drop2"):
        sm.create_secret(Name=f"{base}/{suffix}", SecretString="v", Tags=[{"Key": scope, "Value": "x"}])
    names = listed_names(sm, Filters=[{"Key": "tag-key", "Values": [scope]},
                                      {"Key": "name", "Values": [f"!{base}/drop"]}])
    assert names == [f"{base}/keep"]


def test_description_filter_matches_whole_words_case_insensitively(sm):
    base, w = unique("desc"), word()
    sm.create_secret(Name=f"{base}/lower", SecretString="v", Description=f"rotated {w} credentials")
    sm.create_secret(Name=f"{base}/upper", SecretString="v", Description=f"UPPER {w.upper()}")
    sm.create_secret(Name=f"{base}/inside", SecretString="v", Description=f"embedded x{w}y here")
    sm.create_secret(Name=f"{base}/none", SecretString="v", Description="nothing to see")
    names = listed_names(sm, Filters=[{"Key": "name", "Values": [base]},
                                      {"Key": "description", "Values": [w]}])
    assert sorted(names) == [f"{base}/lower", f"{base}/upper"]


def test_description_filter_words_match_as_recorded_on_aws(sm):
    """`a secret` matched "a secret" and "an secret" but not "asecret" (§5.4, LS AWS-validated)."""
    base = unique("descaws")
    for suffix, description in (("a", "a secret"), ("an", "an secret"), ("as", "asecret")):
        sm.create_secret(Name=f"{base}/{suffix}", SecretString="v", Description=description)
    names = listed_names(sm, Filters=[{"Key": "name", "Values": [base]},
                                      {"Key": "description", "Values": ["a secret"]}])
    assert sorted(names) == [f"{base}/a", f"{base}/an"]


def test_all_filter_splits_at_punctuation_and_digits(sm):
    """`credsDatabase#892` holds the words creds, Database and 892 (§5.4)."""
    base, w = unique("allp"), word()
    sm.create_secret(Name=f"{base}/x", SecretString="v", Description=f"{w}Database#892")
    filters = [{"Key": "name", "Values": [base]}]
    for value in (w, "database", "892"):
        assert listed_names(sm, Filters=filters + [{"Key": "all", "Values": [value]}]) == [f"{base}/x"], value


def test_all_filter_searches_name_words_description_and_tags(sm):
    """`all` splits at case changes, so `<w>` finds `Alpha<W>Omega` (moto#8421, §5.4)."""
    base, w = unique("all"), word()
    sm.create_secret(Name=f"{base}/Alpha{w.capitalize()}Omega", SecretString="v")
    sm.create_secret(Name=f"{base}/d", SecretString="v", Description=f"has {w} inside")
    sm.create_secret(Name=f"{base}/k", SecretString="v", Tags=[{"Key": w, "Value": "x"}])
    sm.create_secret(Name=f"{base}/v", SecretString="v", Tags=[{"Key": "k", "Value": w.upper()}])
    sm.create_secret(Name=f"{base}/no", SecretString="v", Description="unrelated")
    names = listed_names(sm, Filters=[{"Key": "all", "Values": [w]}])
    assert sorted(names) == sorted([f"{base}/Alpha{w.capitalize()}Omega", f"{base}/d", f"{base}/k", f"{base}/v"])


def test_tag_key_filter(sm):
    base, key = unique("tk"), word()
    sm.create_secret(Name=f"{base}/a", SecretString="v", Tags=[{"Key": key, "Value": "1"}])
    sm.create_secret(Name=f"{base}/b", SecretString="v", Tags=[{"Key": key.upper(), "Value": "1"}])
    sm.create_secret(Name=f"{base}/c", SecretString="v")
    assert listed_names(sm, Filters=[{"Key": "tag-key", "Values": [key]}]) == [f"{base}/a"]


def test_tag_value_filter(sm):
    base, value = unique("tv"), word()
    sm.create_secret(Name=f"{base}/a", SecretString="v", Tags=[{"Key": "k", "Value": value}])
    sm.create_secret(Name=f"{base}/b", SecretString="v", Tags=[{"Key": value, "Value": "other"}])
    assert listed_names(sm, Filters=[{"Key": "tag-value", "Values": [value]}]) == [f"{base}/a"]


def test_filters_are_anded_and_values_ored(sm):
    base, w = unique("and"), word()
    sm.create_secret(Name=f"{base}/a", SecretString="v", Tags=[{"Key": "team", "Value": w}])
    sm.create_secret(Name=f"{base}/b", SecretString="v", Tags=[{"Key": "team", "Value": w}])
    sm.create_secret(Name=f"{base}/c", SecretString="v", Tags=[{"Key": "team", "Value": w}])
    sm.create_secret(Name=f"{base}/d", SecretString="v")
    ored = listed_names(sm, Filters=[{"Key": "name", "Values": [f"{base}/a", f"{base}/d"]}])
    assert sorted(ored) == [f"{base}/a", f"{base}/d"]
    anded = listed_names(sm, Filters=[{"Key": "name", "Values": [f"{base}/a", f"{base}/d"]},
                                      {"Key": "tag-value", "Values": [w]}])
    assert anded == [f"{base}/a"]


def test_sort_by_name(sm):
    base = unique("sn")
    for suffix in ("b", "c", "a"):
        sm.create_secret(Name=f"{base}/{suffix}", SecretString="v")
    filters = [{"Key": "name", "Values": [base]}]
    expected = [f"{base}/a", f"{base}/b", f"{base}/c"]
    assert listed_names(sm, Filters=filters, SortBy="name", SortOrder="asc") == expected
    assert listed_names(sm, Filters=filters, SortBy="name", SortOrder="desc") == expected[::-1]


def test_sort_by_created_date(sm, server):
    base = unique("sc")
    order = [f"{base}/b", f"{base}/c", f"{base}/a"]
    for name in order:
        sm.create_secret(Name=name, SecretString="v")
        server.clock.advance(seconds=5)
    filters = [{"Key": "name", "Values": [base]}]
    assert listed_names(sm, Filters=filters, SortBy="created-date", SortOrder="asc") == order
    assert listed_names(sm, Filters=filters, SortBy="created-date", SortOrder="desc") == order[::-1]


def test_paging_with_max_results(sm):
    base = unique("pg")
    names = sorted(f"{base}/{i}" for i in range(5))
    for name in names:
        sm.create_secret(Name=name, SecretString="v")
    seen, token, pages = [], None, 0
    while True:
        page = sm.list_secrets(MaxResults=2, Filters=[{"Key": "name", "Values": [base]}],
                               **({"NextToken": token} if token else {}))
        assert len(page["SecretList"]) <= 2
        seen.extend(entry["Name"] for entry in page["SecretList"])
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 20
    assert sorted(seen) == names
    assert pages >= 3


def test_sort_by_last_changed_date(sm, server):
    base = unique("slc")
    names = [f"{base}/a", f"{base}/b", f"{base}/c"]
    for name in names:
        sm.create_secret(Name=name, SecretString="v")
        server.clock.advance(seconds=5)
    sm.update_secret(SecretId=names[0], Description="touched")
    filters = [{"Key": "name", "Values": [base]}]
    expected = [names[1], names[2], names[0]]
    assert listed_names(sm, Filters=filters, SortBy="last-changed-date", SortOrder="asc") == expected
    assert listed_names(sm, Filters=filters, SortBy="last-changed-date", SortOrder="desc") == expected[::-1]


def test_a_bad_next_token_is_refused(sm):
    error_400(lambda: sm.list_secrets(NextToken="this-is-not-a-token"), "InvalidNextTokenException")


# --- delete / restore / sweep (§5.3) --------------------------------------------------------------


def test_delete_defaults_to_a_thirty_day_window(sm, server):
    name = unique()
    arn = sm.create_secret(Name=name, SecretString="v")["ARN"]
    deleted = sm.delete_secret(SecretId=name)
    assert deleted["ARN"] == arn and deleted["Name"] == name
    assert abs(deleted["DeletionDate"].timestamp() - (server.clock.now + 30 * DAY)) < 5


def test_delete_with_a_seven_day_window(sm, server):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert abs(deleted["DeletionDate"].timestamp() - (server.clock.now + 7 * DAY)) < 5


@pytest.mark.parametrize("days", [6, 31, 0])
def test_recovery_window_out_of_range(sm, days):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    error_400(lambda: sm.delete_secret(SecretId=name, RecoveryWindowInDays=days), "InvalidParameterException")
    assert "DeletedDate" not in sm.describe_secret(SecretId=name)


def test_delete_with_a_thirty_day_window(sm, server):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=30)
    assert abs(deleted["DeletionDate"].timestamp() - (server.clock.now + 30 * DAY)) < 5


def test_recovery_window_and_force_together_are_refused(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    error_400(lambda: sm.delete_secret(SecretId=name, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True),
              "InvalidParameterException")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v"


def test_describe_of_a_scheduled_secret_shows_deleted_date(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert "DeletedDate" in sm.describe_secret(SecretId=name)


def test_get_secret_value_of_a_scheduled_secret_is_refused(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.delete_secret(SecretId=name)
    # §5.3 records the full message only for Tag/UntagResource; clients (terraform-provider-aws
    # secret_version.go) match "because it was marked for deletion" on GetSecretValue.
    expect_error(lambda: sm.get_secret_value(SecretId=name), "InvalidRequestException",
                 contains="because it was marked for deletion")


def test_put_secret_value_on_a_scheduled_secret_is_refused(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.delete_secret(SecretId=name)
    expect_error(lambda: sm.put_secret_value(SecretId=name, SecretString="w"), "InvalidRequestException")


def test_tag_resource_on_a_scheduled_secret_is_refused(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.delete_secret(SecretId=name)
    error_400(lambda: sm.tag_resource(SecretId=name, Tags=[{"Key": "k", "Value": "v"}]),
              "InvalidRequestException", MARKED)


def test_untag_resource_on_a_scheduled_secret_is_refused(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v", Tags=[{"Key": "k", "Value": "v"}])
    sm.delete_secret(SecretId=name)
    error_400(lambda: sm.untag_resource(SecretId=name, TagKeys=["k"]), "InvalidRequestException", MARKED)


def test_update_secret_on_a_scheduled_secret_is_refused(sm):
    """InvalidRequestException covers "an operation on a secret that's marked deleted" (§1)."""
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.delete_secret(SecretId=name)
    expect_error(lambda: sm.update_secret(SecretId=name, SecretString="w"), "InvalidRequestException")


def test_list_hides_scheduled_secrets_unless_asked(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.delete_secret(SecretId=name)
    filters = [{"Key": "name", "Values": [name]}]
    assert listed(sm, Filters=filters) == []
    (entry,) = listed(sm, Filters=filters, IncludePlannedDeletion=True)
    assert entry["Name"] == name and "DeletedDate" in entry


def test_create_of_a_scheduled_name_is_refused(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.delete_secret(SecretId=name)
    error_400(lambda: sm.create_secret(Name=name, SecretString="w"), "InvalidRequestException", SCHEDULED_NAME)


def test_restore_makes_the_secret_usable_again(sm):
    name = unique()
    arn = sm.create_secret(Name=name, SecretString="v")["ARN"]
    sm.delete_secret(SecretId=name)
    restored = sm.restore_secret(SecretId=name)
    assert restored["ARN"] == arn and restored["Name"] == name
    assert "DeletedDate" not in sm.describe_secret(SecretId=name)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v"
    sm.tag_resource(SecretId=name, Tags=[{"Key": "k", "Value": "v"}])
    assert listed_names(sm, Filters=[{"Key": "name", "Values": [name]}]) == [name]


def test_force_delete_removes_a_live_secret_at_once(sm, server):
    name = unique()
    arn = sm.create_secret(Name=name, SecretString="v")["ARN"]
    deleted = sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert deleted["ARN"] == arn and deleted["Name"] == name
    assert abs(deleted["DeletionDate"].timestamp() - server.clock.now) < 5
    error_400(lambda: sm.describe_secret(SecretId=name), "ResourceNotFoundException", NOT_FOUND)


def test_force_delete_of_a_scheduled_secret(sm):
    name = unique()
    arn = sm.create_secret(Name=name, SecretString="v")["ARN"]
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    deleted = sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert deleted["ARN"] == arn and deleted["Name"] == name and "DeletionDate" in deleted
    error_400(lambda: sm.describe_secret(SecretId=name), "ResourceNotFoundException", NOT_FOUND)


def test_force_delete_of_a_missing_secret_answers_as_if_it_existed(sm):
    name = unique()
    deleted = sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert deleted["Name"] == name
    assert name in deleted["ARN"]
    assert "DeletionDate" in deleted


def test_delete_without_force_of_a_missing_secret_is_not_found(sm):
    error_400(lambda: sm.delete_secret(SecretId=unique()), "ResourceNotFoundException", NOT_FOUND)


def test_a_name_can_be_recreated_after_force_delete_with_a_new_suffix(sm):
    name = unique()
    old = sm.create_secret(Name=name, SecretString="v")["ARN"]
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    new = sm.create_secret(Name=name, SecretString="w")["ARN"]
    assert new != old and new[:-6] == old[:-6]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "w"


def test_scheduled_secret_survives_until_the_window_ends(sm, server):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    server.clock.advance(days=6)
    assert "DeletedDate" in sm.describe_secret(SecretId=name)
    assert sm.restore_secret(SecretId=name)["Name"] == name


def test_sweeper_deletes_at_the_end_of_the_window(sm, server):
    name = unique()
    old = sm.create_secret(Name=name, SecretString="v")["ARN"]
    sm.delete_secret(SecretId=name)
    server.clock.advance(days=31)
    sm.list_secrets(MaxResults=1)  # the sweep runs on the next request
    error_400(lambda: sm.describe_secret(SecretId=name), "ResourceNotFoundException", NOT_FOUND)
    error_400(lambda: sm.restore_secret(SecretId=name), "ResourceNotFoundException", NOT_FOUND)
    error_400(lambda: sm.describe_secret(SecretId=old), "ResourceNotFoundException", NOT_FOUND)
    assert listed(sm, Filters=[{"Key": "name", "Values": [name]}], IncludePlannedDeletion=True) == []


def test_sweeper_honours_a_seven_day_window(sm, server):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    server.clock.advance(days=8)
    sm.list_secrets(MaxResults=1)
    error_400(lambda: sm.describe_secret(SecretId=name), "ResourceNotFoundException", NOT_FOUND)


def test_a_swept_name_is_recreated_with_a_different_suffix(sm, server):
    name = unique()
    old = sm.create_secret(Name=name, SecretString="v")["ARN"]
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    server.clock.advance(days=31)
    sm.list_secrets(MaxResults=1)
    new = sm.create_secret(Name=name, SecretString="w")["ARN"]
    assert new[:-6] == old[:-6] and new[-6:] != old[-6:]
    error_400(lambda: sm.describe_secret(SecretId=old), "ResourceNotFoundException", NOT_FOUND)
    assert sm.describe_secret(SecretId=new)["Name"] == name


# --- names (§2) ----------------------------------------------------------------------------------


def test_every_allowed_name_character(sm):
    name = f"{unique()}/Az09_+=.@-x"
    sm.create_secret(Name=name, SecretString="v")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v"


def test_a_512_character_name_is_accepted(sm):
    name = unique() + "/" + "n" * (512 - 16)
    assert len(name) == 512
    sm.create_secret(Name=name, SecretString="v")
    assert sm.describe_secret(SecretId=name)["Name"] == name


@pytest.mark.parametrize("bad", ["has space", "star*", "quest?", "brack]", "back\\slash", "hash#"])
def test_create_with_an_invalid_name(sm, bad):
    name = f"{unique()}{bad}"
    error_400(lambda: sm.create_secret(Name=name, SecretString="v"), "ValidationException", INVALID_NAME)


INVALID_NAME_CALLS = {
    "DescribeSecret": lambda sm, n: sm.describe_secret(SecretId=n),
    "GetSecretValue": lambda sm, n: sm.get_secret_value(SecretId=n),
    "DeleteSecret": lambda sm, n: sm.delete_secret(SecretId=n),
    "PutSecretValue": lambda sm, n: sm.put_secret_value(SecretId=n, SecretString="v"),
    "UpdateSecret": lambda sm, n: sm.update_secret(SecretId=n, Description="d"),
    "TagResource": lambda sm, n: sm.tag_resource(SecretId=n, Tags=[{"Key": "k", "Value": "v"}]),
    "UntagResource": lambda sm, n: sm.untag_resource(SecretId=n, TagKeys=["k"]),
    "ListSecretVersionIds": lambda sm, n: sm.list_secret_version_ids(SecretId=n),
    "ValidateResourcePolicy": lambda sm, n: sm.validate_resource_policy(
        SecretId=n, ResourcePolicy='{"Version":"2012-10-17","Statement":[]}'),
    "RestoreSecret": lambda sm, n: sm.restore_secret(SecretId=n),
    "UpdateSecretVersionStage": lambda sm, n: sm.update_secret_version_stage(
        SecretId=n, VersionStage="L", MoveToVersionId=str(uuid.uuid4())),
    "GetResourcePolicy": lambda sm, n: sm.get_resource_policy(SecretId=n),
    "PutResourcePolicy": lambda sm, n: sm.put_resource_policy(
        SecretId=n, ResourcePolicy='{"Version":"2012-10-17","Statement":[]}'),
    "DeleteResourcePolicy": lambda sm, n: sm.delete_resource_policy(SecretId=n),
}


@pytest.mark.parametrize("operation", sorted(INVALID_NAME_CALLS))
def test_invalid_secret_id_on_every_operation(sm, operation):
    call = INVALID_NAME_CALLS[operation]
    error_400(lambda: call(sm, f"{unique()} bad*name"), "ValidationException", INVALID_NAME)


# --- SecretId forms (§2) -------------------------------------------------------------------------


def test_secret_id_by_name_full_arn_and_partial_arn(sm):
    name = unique()
    arn = sm.create_secret(Name=name, SecretString="v")["ARN"]
    for secret_id in (name, arn, ARN_PREFIX + name):
        assert sm.describe_secret(SecretId=secret_id)["ARN"] == arn, secret_id
        assert sm.get_secret_value(SecretId=secret_id)["SecretString"] == "v", secret_id


def test_put_by_partial_arn(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.put_secret_value(SecretId=ARN_PREFIX + name, SecretString="w")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "w"


def test_partial_arn_is_not_a_prefix_match(sm):
    name = unique()
    arn = sm.create_secret(Name=name, SecretString="short")["ARN"]
    sm.create_secret(Name=f"{name}-longer", SecretString="long")
    assert sm.get_secret_value(SecretId=ARN_PREFIX + name)["ARN"] == arn
    error_400(lambda: sm.describe_secret(SecretId=ARN_PREFIX + name[:-3]), "ResourceNotFoundException", NOT_FOUND)


def test_full_arn_with_a_wrong_suffix_is_not_found(sm):
    name = unique()
    arn = sm.create_secret(Name=name, SecretString="v")["ARN"]
    wrong = arn[:-6] + ("AAAAAA" if arn[-6:] != "AAAAAA" else "BBBBBB")
    error_400(lambda: sm.describe_secret(SecretId=wrong), "ResourceNotFoundException", NOT_FOUND)


def test_partial_arn_of_a_name_ending_like_a_suffix_is_not_found(sm):
    """A partial ARN ending in -XXXXXX reads as a full ARN (§2, LS-snap)."""
    name = f"{unique()}-a1b2c3"
    arn = sm.create_secret(Name=name, SecretString="v")["ARN"]
    assert sm.describe_secret(SecretId=name)["ARN"] == arn
    assert sm.describe_secret(SecretId=arn)["ARN"] == arn
    error_400(lambda: sm.describe_secret(SecretId=ARN_PREFIX + name), "ResourceNotFoundException", NOT_FOUND)


def test_arn_of_another_region_is_not_found(sm):
    name = unique()
    arn = sm.create_secret(Name=name, SecretString="v")["ARN"]
    other = arn.replace(f":{REGION}:", ":eu-west-1:")
    error_400(lambda: sm.describe_secret(SecretId=other), "ResourceNotFoundException", NOT_FOUND)


NOT_FOUND_CALLS = {
    "DescribeSecret": lambda sm, n: sm.describe_secret(SecretId=n),
    "GetSecretValue": lambda sm, n: sm.get_secret_value(SecretId=n),
    "PutSecretValue": lambda sm, n: sm.put_secret_value(SecretId=n, SecretString="v"),
    "UpdateSecret": lambda sm, n: sm.update_secret(SecretId=n, Description="d"),
    "RestoreSecret": lambda sm, n: sm.restore_secret(SecretId=n),
    "TagResource": lambda sm, n: sm.tag_resource(SecretId=n, Tags=[{"Key": "k", "Value": "v"}]),
    "UntagResource": lambda sm, n: sm.untag_resource(SecretId=n, TagKeys=["k"]),
    "ListSecretVersionIds": lambda sm, n: sm.list_secret_version_ids(SecretId=n),
    "UpdateSecretVersionStage": lambda sm, n: sm.update_secret_version_stage(
        SecretId=n, VersionStage="L", MoveToVersionId=str(uuid.uuid4())),
    "GetResourcePolicy": lambda sm, n: sm.get_resource_policy(SecretId=n),
}


@pytest.mark.parametrize("operation", sorted(NOT_FOUND_CALLS))
def test_unknown_secret_is_not_found_with_http_400(sm, operation):
    call = NOT_FOUND_CALLS[operation]
    error_400(lambda: call(sm, unique("missing")), "ResourceNotFoundException", NOT_FOUND)


def test_unknown_full_arn_is_not_found(sm):
    error_400(lambda: sm.get_secret_value(SecretId=f"{ARN_PREFIX}{unique('missing')}-AbCdEf"),
              "ResourceNotFoundException", NOT_FOUND)


# --- tags (§3.4) ---------------------------------------------------------------------------------


def test_a_never_tagged_secret_has_no_tags_field(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    assert "Tags" not in sm.describe_secret(SecretId=name)


def test_tag_resource_appends(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v", Tags=[{"Key": "a", "Value": "1"}])
    assert sm.tag_resource(SecretId=name, Tags=[{"Key": "b", "Value": "2"}]).keys() == {"ResponseMetadata"}
    tags = sm.describe_secret(SecretId=name)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "2")]


def test_tag_resource_replaces_the_value_of_an_existing_key(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v", Tags=[{"Key": "a", "Value": "1"}])
    sm.tag_resource(SecretId=name, Tags=[{"Key": "a", "Value": "2"}])
    assert sm.describe_secret(SecretId=name)["Tags"] == [{"Key": "a", "Value": "2"}]


def test_a_tag_value_may_be_empty(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.tag_resource(SecretId=name, Tags=[{"Key": "flag", "Value": ""}])
    assert sm.describe_secret(SecretId=name)["Tags"] == [{"Key": "flag", "Value": ""}]


def test_tag_keys_are_case_sensitive(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    sm.tag_resource(SecretId=name, Tags=[{"Key": "Env", "Value": "1"}, {"Key": "env", "Value": "2"}])
    tags = sm.describe_secret(SecretId=name)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("Env", "1"), ("env", "2")]


def test_untag_of_an_absent_key_is_a_no_op(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v", Tags=[{"Key": "a", "Value": "1"}])
    assert sm.untag_resource(SecretId=name, TagKeys=["absent"]).keys() == {"ResponseMetadata"}
    assert sm.describe_secret(SecretId=name)["Tags"] == [{"Key": "a", "Value": "1"}]


def test_untag_removes_only_the_named_keys(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    sm.untag_resource(SecretId=name, TagKeys=["a"])
    assert sm.describe_secret(SecretId=name)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_tags_are_an_empty_list_after_removing_all(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v", Tags=[{"Key": "a", "Value": "1"}])
    sm.untag_resource(SecretId=name, TagKeys=["a"])
    assert sm.describe_secret(SecretId=name)["Tags"] == []
