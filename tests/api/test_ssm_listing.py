"""SSM listing through boto3: GetParametersByPath (Recursive, filters, NextToken paging) and
DescribeParameters (legacy Filters, ParameterFilters Name/Type/KeyId/Path/Tier/DataType/tag:, paging).

REF = aws_api.md §5.1 / §5.6; messages in docs/research/ssm_behaviour.md.
Every test works under its own unique path and filters on it: the store is shared by the session.
"""

from __future__ import annotations


import pytest

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"


def by_path(ssm, path: str, max_pages: int = 200, **kwargs) -> list[dict]:
    """All pages of GetParametersByPath; each page holds at most MaxResults (default 10)."""
    out: list[dict] = []
    token = None
    limit = kwargs.get("MaxResults", 10)
    for _ in range(max_pages):
        page = ssm.get_parameters_by_path(Path=path, **kwargs, **({"NextToken": token} if token else {}))
        assert len(page["Parameters"]) <= limit
        out.extend(page["Parameters"])
        token = page.get("NextToken")
        if not token:
            return out
    raise AssertionError("GetParametersByPath never ended")


def describe(ssm, max_pages: int = 500, **kwargs) -> list[dict]:
    out: list[dict] = []
    token = None
    limit = kwargs.get("MaxResults", 50)
    for _ in range(max_pages):
        page = ssm.describe_parameters(**kwargs, **({"NextToken": token} if token else {}))
        assert len(page["Parameters"]) <= limit
        out.extend(page["Parameters"])
        token = page.get("NextToken")
        if not token:
            return out
    raise AssertionError("DescribeParameters never ended")


def names(params: list[dict]) -> list[str]:
    return sorted(p["Name"] for p in params)


def under(base: str) -> list[dict]:
    return [{"Key": "Name", "Option": "BeginsWith", "Values": [base + "/"]}]


@pytest.fixture
def tree(ssm, base):
    """base/a (String), base/b (StringList), base/s (SecureString), base/sub/c, base/sub/deep/d."""
    ssm.put_parameter(Name=base, Value="self", Type="String")
    ssm.put_parameter(Name=f"{base}/a", Value="A", Type="String")
    ssm.put_parameter(Name=f"{base}/b", Value="x,y", Type="StringList")
    ssm.put_parameter(Name=f"{base}/s", Value="secret", Type="SecureString")
    ssm.put_parameter(Name=f"{base}/sub/c", Value="C", Type="String")
    ssm.put_parameter(Name=f"{base}/sub/deep/d", Value="D", Type="String")
    return base


# --- GetParametersByPath -------------------------------------------------------------------

def test_by_path_one_level(ssm, tree):
    got = by_path(ssm, tree)
    assert names(got) == [f"{tree}/a", f"{tree}/b", f"{tree}/s"]  # not the path itself, not deeper
    a = next(p for p in got if p["Name"] == f"{tree}/a")
    assert set(a) == {"Name", "Type", "Value", "Version", "LastModifiedDate", "ARN", "DataType"}
    assert a["ARN"] == f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{tree}/a"


def test_by_path_trailing_slash_is_the_same_path(ssm, tree):
    assert names(by_path(ssm, tree + "/")) == names(by_path(ssm, tree))


def test_by_path_recursive(ssm, tree):
    assert names(by_path(ssm, tree, Recursive=True)) == [
        f"{tree}/a", f"{tree}/b", f"{tree}/s", f"{tree}/sub/c", f"{tree}/sub/deep/d"]
    assert names(by_path(ssm, f"{tree}/sub")) == [f"{tree}/sub/c"]


def test_by_path_is_not_a_string_prefix(ssm, base):
    ssm.put_parameter(Name=f"{base}/ab/x", Value="v", Type="String")
    ssm.put_parameter(Name=f"{base}/abc", Value="v", Type="String")
    assert names(by_path(ssm, f"{base}/ab", Recursive=True)) == [f"{base}/ab/x"]


def test_by_path_secure_string_values(ssm, tree):
    plain = {p["Name"]: p["Value"] for p in by_path(ssm, tree)}
    assert plain[f"{tree}/s"] != "secret"
    decrypted = {p["Name"]: p["Value"] for p in by_path(ssm, tree, WithDecryption=True)}
    assert decrypted == {f"{tree}/a": "A", f"{tree}/b": "x,y", f"{tree}/s": "secret"}


def test_by_path_unknown_path_is_empty(ssm, base):
    assert by_path(ssm, base + "/nothing-here") == []


def test_by_path_must_start_with_slash(ssm, base):
    expect_error(lambda: ssm.get_parameters_by_path(Path=base.lstrip("/")), "ValidationException")


def test_by_path_paging_over_many(ssm, base):
    for i in range(23):
        ssm.put_parameter(Name=f"{base}/p{i:02d}", Value=str(i), Type="String")
    first = ssm.get_parameters_by_path(Path=base, MaxResults=5)
    assert len(first["Parameters"]) <= 5 and first.get("NextToken")
    got = by_path(ssm, base, MaxResults=5)
    assert names(got) == sorted(f"{base}/p{i:02d}" for i in range(23))
    assert len(got) == 23  # no duplicates across pages


def test_by_path_max_results_range(raw, base):
    expect_error(lambda: raw.get_parameters_by_path(Path=base, MaxResults=11), "ValidationException")
    expect_error(lambda: raw.get_parameters_by_path(Path=base, MaxResults=0), "ValidationException")


def test_by_path_invalid_next_token(ssm, base):
    expect_error(lambda: ssm.get_parameters_by_path(Path=base, NextToken="garbage"), "InvalidNextToken")


def test_by_path_type_filter(ssm, tree):
    got = by_path(ssm, tree, Recursive=True,
                  ParameterFilters=[{"Key": "Type", "Option": "Equals", "Values": ["StringList", "SecureString"]}])
    assert names(got) == [f"{tree}/b", f"{tree}/s"]


def test_by_path_key_id_filter(ssm, tree):
    got = by_path(ssm, tree, ParameterFilters=[{"Key": "KeyId", "Values": ["alias/aws/ssm"]}])
    assert names(got) == [f"{tree}/s"]


def test_by_path_label_filter_over_more_than_ten(ssm, base):
    # localstack#4607: with more than 10 labelled parameters only the first page came back
    for i in range(14):
        n = f"{base}/p{i:02d}"
        ssm.put_parameter(Name=n, Value="v1", Type="String")
        ssm.put_parameter(Name=n, Value="v2", Type="String", Overwrite=True)
        ssm.label_parameter_version(Name=n, ParameterVersion=1 if i % 2 else 2, Labels=["prod"])
    ssm.put_parameter(Name=f"{base}/unlabelled", Value="v", Type="String")
    got = by_path(ssm, base, ParameterFilters=[{"Key": "Label", "Option": "Equals", "Values": ["prod"]}])
    assert names(got) == sorted(f"{base}/p{i:02d}" for i in range(14))
    # the labelled version is returned, not the latest
    assert {p["Name"]: p["Value"] for p in got}[f"{base}/p01"] == "v1"
    assert {p["Name"]: p["Value"] for p in got}[f"{base}/p00"] == "v2"


@pytest.mark.parametrize("key", ["Name", "Path", "Tier", "tag:env", "DataType"])
def test_by_path_filter_keys_not_allowed(ssm, base, key):
    expect_error(lambda: ssm.get_parameters_by_path(
        Path=base, ParameterFilters=[{"Key": key, "Option": "Equals", "Values": ["x"]}]), "InvalidFilterKey")


def test_by_path_label_filter_only_equals(ssm, base):
    expect_error(lambda: ssm.get_parameters_by_path(
        Path=base, ParameterFilters=[{"Key": "Label", "Option": "BeginsWith", "Values": ["x"]}]),
        "InvalidFilterOption")


# --- DescribeParameters ----------------------------------------------------------------------

def test_describe_metadata_shape(ssm, base, server):
    key_id = server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=f"{base}/plain", Value="v", Type="String", Description="d", AllowedPattern=".*")
    ssm.put_parameter(Name=f"{base}/sec", Value="s", Type="SecureString", KeyId=key_id)
    got = {p["Name"]: p for p in describe(ssm, ParameterFilters=under(base))}
    assert set(got) == {f"{base}/plain", f"{base}/sec"}
    plain, sec = got[f"{base}/plain"], got[f"{base}/sec"]
    for p in (plain, sec):
        assert "Value" not in p
        assert p["ARN"] == f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{p['Name']}"
        assert p["Version"] == 1
        assert p["Tier"] == "Standard"
        assert p["DataType"] == "text"
        assert p["LastModifiedUser"] == ROOT_ARN
        assert "LastModifiedDate" in p
    assert (plain["Type"], plain["Description"], plain["AllowedPattern"]) == ("String", "d", ".*")
    assert "KeyId" not in plain
    assert (sec["Type"], sec["KeyId"]) == ("SecureString", key_id)


def test_describe_name_filter_options(ssm, base):
    for leaf in ("alpha", "beta", "alphabet"):
        ssm.put_parameter(Name=f"{base}/{leaf}", Value="v", Type="String")
    eq = describe(ssm, ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [f"{base}/alpha"]}])
    assert names(eq) == [f"{base}/alpha"]
    eq_default = describe(ssm, ParameterFilters=[{"Key": "Name", "Values": [f"{base}/alpha", f"{base}/beta"]}])
    assert names(eq_default) == [f"{base}/alpha", f"{base}/beta"]
    begins = describe(ssm, ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [f"{base}/alpha"]}])
    assert names(begins) == [f"{base}/alpha", f"{base}/alphabet"]
    contains = describe(ssm, ParameterFilters=[
        {"Key": "Name", "Option": "Contains", "Values": [base.split("/")[-1] + "/alph"]}])
    assert names(contains) == [f"{base}/alpha", f"{base}/alphabet"]


def test_describe_name_contains_matches_the_raw_substring(ssm, base):
    """"/tan" matches ".../tank" and not "standby-5": the value is not made a name first
    (moto's KMS/SSM suites found the leading "/" dropped)."""
    tag = base.split("/")[-1]
    for leaf in ("tank", "standby-5", "x/tanker"):
        ssm.put_parameter(Name=f"{base}/{leaf}", Value="v", Type="String")
    found = describe(ssm, ParameterFilters=[{"Key": "Name", "Option": "Contains", "Values": ["/tan"]},
                                            {"Key": "Path", "Option": "Recursive", "Values": [base]}])
    assert names(found) == [f"{base}/tank", f"{base}/x/tanker"]
    top = describe(ssm, ParameterFilters=[{"Key": "Name", "Option": "Contains", "Values": [f"/{tag}/stand"]}])
    assert names(top) == [f"{base}/standby-5"]


def test_describe_filters_and_together_values_or(ssm, base):
    ssm.put_parameter(Name=f"{base}/s1", Value="v", Type="String")
    ssm.put_parameter(Name=f"{base}/l1", Value="a,b", Type="StringList")
    ssm.put_parameter(Name=f"{base}/x1", Value="v", Type="SecureString")
    got = describe(ssm, ParameterFilters=under(base) + [
        {"Key": "Type", "Option": "Equals", "Values": ["String", "StringList"]}])
    assert names(got) == [f"{base}/l1", f"{base}/s1"]
    got = describe(ssm, ParameterFilters=under(base) + [{"Key": "Type", "Values": ["SecureString"]}])
    assert names(got) == [f"{base}/x1"]


def test_describe_key_id_tier_and_data_type_filters(ssm, base, server):
    key_id = server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=f"{base}/default", Value="v", Type="SecureString")
    ssm.put_parameter(Name=f"{base}/custom", Value="v", Type="SecureString", KeyId=key_id)
    ssm.put_parameter(Name=f"{base}/adv", Value="v", Type="String", Tier="Advanced")
    ssm.put_parameter(Name=f"{base}/ami", Value="ami-0123456789abcdef0", Type="String", DataType="aws:ec2:image")
    assert names(describe(ssm, ParameterFilters=under(base) + [{"Key": "KeyId", "Values": [key_id]}])) == [
        f"{base}/custom"]
    assert names(describe(ssm, ParameterFilters=under(base) + [{"Key": "KeyId", "Values": ["alias/aws/ssm"]}])) == [
        f"{base}/default"]
    assert names(describe(ssm, ParameterFilters=under(base) + [{"Key": "Tier", "Values": ["Advanced"]}])) == [
        f"{base}/adv"]
    assert names(describe(ssm, ParameterFilters=under(base) + [
        {"Key": "DataType", "Values": ["aws:ec2:image"]}])) == [f"{base}/ami"]


def test_describe_tag_filters(ssm, base):
    ssm.put_parameter(Name=f"{base}/prod", Value="v", Type="String", Tags=[{"Key": "env", "Value": "production"}])
    ssm.put_parameter(Name=f"{base}/dev", Value="v", Type="String", Tags=[{"Key": "env", "Value": "dev"}])
    ssm.put_parameter(Name=f"{base}/none", Value="v", Type="String")
    eq = describe(ssm, ParameterFilters=under(base) + [{"Key": "tag:env", "Option": "Equals", "Values": ["dev"]}])
    assert names(eq) == [f"{base}/dev"]
    begins = describe(ssm, ParameterFilters=under(base) + [
        {"Key": "tag:env", "Option": "BeginsWith", "Values": ["prod"]}])
    assert names(begins) == [f"{base}/prod"]
    exists = describe(ssm, ParameterFilters=under(base) + [{"Key": "tag:env"}])
    assert names(exists) == [f"{base}/dev", f"{base}/prod"]
    # tag changes are reflected at once (moto PR #9014 / localstack#11050)
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=f"{base}/none", Tags=[{"Key": "env", "Value": "dev"}])
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=f"{base}/dev", TagKeys=["env"])
    eq = describe(ssm, ParameterFilters=under(base) + [{"Key": "tag:env", "Values": ["dev"]}])
    assert names(eq) == [f"{base}/none"]


def test_describe_path_filter(ssm, tree):
    one = describe(ssm, ParameterFilters=[{"Key": "Path", "Values": [tree]}])
    assert names(one) == [f"{tree}/a", f"{tree}/b", f"{tree}/s"]
    one_explicit = describe(ssm, ParameterFilters=[{"Key": "Path", "Option": "OneLevel", "Values": [tree]}])
    assert names(one_explicit) == names(one)
    rec = describe(ssm, ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [tree]}])
    assert names(rec) == [f"{tree}/a", f"{tree}/b", f"{tree}/s", f"{tree}/sub/c", f"{tree}/sub/deep/d"]


def test_describe_legacy_filters(ssm, base):
    ssm.put_parameter(Name=f"{base}/s", Value="v", Type="String")
    ssm.put_parameter(Name=f"{base}/l", Value="a,b", Type="StringList")
    both = [f"{base}/l", f"{base}/s"]  # exact names: match whether the legacy Name filter is Equals or BeginsWith
    got = describe(ssm, Filters=[{"Key": "Name", "Values": both}])
    assert names(got) == both
    got = describe(ssm, Filters=[{"Key": "Name", "Values": both}, {"Key": "Type", "Values": ["StringList"]}])
    assert names(got) == [f"{base}/l"]


def test_describe_filters_and_parameter_filters_are_exclusive(ssm, base):
    expect_error(lambda: ssm.describe_parameters(Filters=[{"Key": "Name", "Values": [base]}],
                                                 ParameterFilters=under(base)),
                 "ValidationException", "You can use either Filters or ParameterFilters in a single request.")


def test_describe_paging(ssm, base):
    for i in range(7):
        ssm.put_parameter(Name=f"{base}/p{i}", Value="v", Type="String")
    first = ssm.describe_parameters(ParameterFilters=under(base), MaxResults=3)
    assert len(first["Parameters"]) <= 3
    got = describe(ssm, ParameterFilters=under(base), MaxResults=3)
    assert names(got) == sorted(f"{base}/p{i}" for i in range(7))
    assert len(got) == 7


def test_describe_max_results_range(raw, base):
    expect_error(lambda: raw.describe_parameters(ParameterFilters=under(base), MaxResults=51), "ValidationException")
    raw.describe_parameters(ParameterFilters=under(base), MaxResults=50)


def test_describe_invalid_next_token(ssm, base):
    expect_error(lambda: ssm.describe_parameters(ParameterFilters=under(base), NextToken="garbage"),
                 "InvalidNextToken")


def test_describe_label_filter_not_allowed(ssm, base):
    expect_error(lambda: ssm.describe_parameters(ParameterFilters=[{"Key": "Label", "Values": ["prod"]}]),
                 "InvalidFilterKey")


def test_describe_duplicate_filter_key(ssm, base):
    err = expect_error(lambda: ssm.describe_parameters(ParameterFilters=[
        {"Key": "Type", "Values": ["String"]}, {"Key": "Type", "Values": ["SecureString"]}]), "InvalidFilterKey")
    assert "duplicated" in err["Message"], err


def test_describe_path_filter_bad_option(ssm, base):
    err = expect_error(lambda: ssm.describe_parameters(ParameterFilters=[
        {"Key": "Path", "Option": "Equals", "Values": [base]}]), "InvalidFilterOption")
    assert "Equals" in err["Message"], err


def test_describe_name_filter_bad_option(ssm, base):
    expect_error(lambda: ssm.describe_parameters(ParameterFilters=[
        {"Key": "Type", "Option": "Contains", "Values": ["String"]}]), "InvalidFilterOption")


@pytest.mark.parametrize("key, value", [("Type", "Integer"), ("Tier", "Premium")])
def test_describe_bad_enum_filter_values(ssm, key, value):
    # moto (AWS-verified): "The following filter value is not valid: <v>. Valid values include: [...]"
    err = expect_error(lambda: ssm.describe_parameters(ParameterFilters=[{"Key": key, "Values": [value]}]),
                       "InvalidFilterOption")
    assert value in err["Message"], err


@pytest.mark.parametrize("key", ["Name", "Type", "Tier", "Path"])
def test_describe_filter_values_required(ssm, key):
    expect_error(lambda: ssm.describe_parameters(ParameterFilters=[{"Key": key}]), "InvalidFilterValue")


@pytest.mark.parametrize("value", ["/aws/service", "/ssm/x", "/AWS"])
def test_describe_path_filter_reserved(ssm, value):
    expect_error(lambda: ssm.describe_parameters(ParameterFilters=[{"Key": "Path", "Values": [value]}]),
                 "ValidationException",
                 'Filters for common parameters can\'t be prefixed with "aws" or "ssm" (case-insensitive). '
                 "When using global parameters, please specify within a global namespace.")


def test_describe_unknown_filter_key(ssm):
    expect_error(lambda: ssm.describe_parameters(ParameterFilters=[{"Key": "Colour", "Values": ["red"]}]),
                 "ValidationException")


def test_describe_reflects_new_versions(ssm, base):
    ssm.put_parameter(Name=f"{base}/p", Value="v1", Type="String")
    ssm.put_parameter(Name=f"{base}/p", Value="v2", Type="String", Overwrite=True, Description="now")
    [meta] = describe(ssm, ParameterFilters=under(base))
    assert (meta["Version"], meta["Description"]) == (2, "now")
    ssm.delete_parameter(Name=f"{base}/p")
    assert describe(ssm, ParameterFilters=under(base)) == []
