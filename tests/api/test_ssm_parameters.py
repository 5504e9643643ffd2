"""SSM Parameter Store through boto3: PutParameter, GetParameter(s), selectors, history, deletion,
overwrite, types, tiers, DataType, AllowedPattern and limits.

Expected behaviour and messages: aws_api.md §5 and §6 (REF §x below) and
docs/research/ssm_behaviour.md.  Where the reference marks a text as uncertain only the code is asserted.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
PARAMETER_FIELDS = {"Name", "Type", "Value", "Version", "LastModifiedDate", "ARN", "DataType"}
ALREADY_EXISTS = ("The parameter already exists. To overwrite this value, set the overwrite option in the "
                  "request to true.")
NON_PATH_PREFIX = 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).'
PATH_SSM_PREFIX = ('Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, it can '
                   'consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, '
                   'numbers and the following 3 symbols .-_')
TAGS_AND_OVERWRITE = ("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, "
                      "please remove overwrite flag. To update tags for an existing parameter, please use "
                      "AddTagsToResource or RemoveTagsFromResource.")
STANDARD_TOO_BIG = ("Standard tier parameters support a maximum parameter value of 4096 characters. To create a "
                    "larger parameter value, upgrade the parameter to use the advanced-parameter tier.")


def parameter_arn(name: str) -> str:
    return f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/{name.lstrip('/')}"


def version_not_found(name: str, version) -> str:
    return f"Systems Manager could not find version {version} of {name}. Verify the version and try again."


def history(ssm, name: str, **kwargs) -> list[dict]:
    out: list[dict] = []
    token = None
    for _ in range(100):
        page = ssm.get_parameter_history(Name=name, **kwargs, **({"NextToken": token} if token else {}))
        out.extend(page["Parameters"])
        token = page.get("NextToken")
        if not token:
            return out
    raise AssertionError("GetParameterHistory never ended")


# --- PutParameter / GetParameter basics --------------------------------------------------

def test_put_and_get_string(ssm, name, server):
    out = ssm.put_parameter(Name=name, Value="hello", Type="String")
    assert out["Version"] == 1
    assert out["Tier"] == "Standard"
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert set(p) == PARAMETER_FIELDS, p  # no KeyId/Description/Tier/Labels/Selector in `Parameter`
    assert p["Name"] == name
    assert p["Type"] == "String"
    assert p["Value"] == "hello"
    assert p["Version"] == 1
    assert p["ARN"] == parameter_arn(name)
    assert p["DataType"] == "text"
    assert abs(p["LastModifiedDate"].timestamp() - server.clock.now) < 5


def test_parameter_arn_drops_the_leading_slash(ssm):
    top = f"top{uuid.uuid4().hex[:8]}"
    ssm.put_parameter(Name=top, Value="v", Type="String")
    assert ssm.get_parameter(Name=top)["Parameter"]["ARN"] == f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/{top}"


def test_top_level_name_with_and_without_slash_is_the_same_parameter(ssm):
    top = f"top{uuid.uuid4().hex[:8]}"
    ssm.put_parameter(Name=top, Value="one", Type="String")
    assert ssm.get_parameter(Name="/" + top)["Parameter"]["Value"] == "one"
    expect_error(lambda: ssm.put_parameter(Name="/" + top, Value="two", Type="String"),
                 "ParameterAlreadyExists", ALREADY_EXISTS)
    assert ssm.put_parameter(Name="/" + top, Value="two", Type="String", Overwrite=True)["Version"] == 2
    assert ssm.get_parameter(Name=top)["Parameter"]["Value"] == "two"


def test_leaf_and_prefix_coexist(ssm, base):
    ssm.put_parameter(Name=f"{base}/a", Value="leaf", Type="String")
    ssm.put_parameter(Name=f"{base}/a/b", Value="child", Type="String")
    assert ssm.get_parameter(Name=f"{base}/a")["Parameter"]["Value"] == "leaf"
    assert ssm.get_parameter(Name=f"{base}/a/b")["Parameter"]["Value"] == "child"


def test_get_parameter_by_arn(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    p = ssm.get_parameter(Name=parameter_arn(name))["Parameter"]
    assert p["Value"] == "v"
    assert p["ARN"] == parameter_arn(name)


def test_get_unknown_parameter_not_found(ssm, name):
    expect_error(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")


def test_put_existing_without_overwrite(ssm, name):
    ssm.put_parameter(Name=name, Value="v1", Type="String")
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v2", Type="String"),
                 "ParameterAlreadyExists", ALREADY_EXISTS)
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "v1"


def test_overwrite_creates_a_new_version_even_with_the_same_value(ssm, name):
    ssm.put_parameter(Name=name, Value="same", Type="String")
    out = ssm.put_parameter(Name=name, Value="same", Type="String", Overwrite=True)
    assert out == {**out, "Version": 2, "Tier": "Standard"}
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 2
    assert [h["Version"] for h in history(ssm, name)] == [1, 2]


def test_type_required_on_create(ssm, name):
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v"), "ValidationException",
                 "A parameter type is required when you create a parameter.")


def test_type_optional_on_overwrite_keeps_previous(ssm, name):
    ssm.put_parameter(Name=name, Value="a,b", Type="StringList")
    assert ssm.put_parameter(Name=name, Value="c,d", Overwrite=True)["Version"] == 2
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert (p["Type"], p["Value"]) == ("StringList", "c,d")


def test_overwrite_carries_over_omitted_fields(ssm, name):
    ssm.put_parameter(Name=name, Value="123", Type="String", Description="desc", AllowedPattern=r"^\d+$")
    ssm.put_parameter(Name=name, Value="456", Overwrite=True)
    latest = history(ssm, name)[-1]
    assert latest["Version"] == 2
    assert latest["Description"] == "desc"
    assert latest["AllowedPattern"] == r"^\d+$"
    assert latest["Tier"] == "Standard"
    assert latest["DataType"] == "text"


def test_bad_type_is_a_validation_error(raw, name):
    expect_error(lambda: raw.put_parameter(Name=name, Value="v", Type="Integer"), "ValidationException")


def test_empty_value_is_a_validation_error(raw, name):
    expect_error(lambda: raw.put_parameter(Name=name, Value="", Type="String"), "ValidationException")


def test_description_longer_than_1024_rejected(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String", Description="d" * 1024)
    expect_error(lambda: ssm.put_parameter(Name=name + "x", Value="v", Type="String", Description="d" * 1025),
                 "ValidationException")


def test_tags_and_overwrite_cannot_be_combined(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v2", Type="String", Overwrite=True,
                                           Tags=[{"Key": "k", "Value": "v"}]),
                 "ValidationException", TAGS_AND_OVERWRITE)
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 1


def test_string_list_round_trip(ssm, name):
    ssm.put_parameter(Name=name, Value="a,b,c", Type="StringList")
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert (p["Type"], p["Value"]) == ("StringList", "a,b,c")


def test_key_id_on_a_string_parameter_is_rejected(ssm, name, server):
    key_id = server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v", Type="String", KeyId=key_id), "ValidationException")
    expect_error(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")


# --- names ------------------------------------------------------------------------------

@pytest.mark.parametrize("template, code, message", [
    ("/aws/{u}/x", "AccessDeniedException", "No access to reserved parameter name: {name}."),
    ("/AWS/{u}", "AccessDeniedException", "No access to reserved parameter name: {name}."),
    ("aws{u}", "ValidationException", NON_PATH_PREFIX),
    ("AWS-{u}", "ValidationException", NON_PATH_PREFIX),
    ("ssm{u}", "ValidationException", NON_PATH_PREFIX),
    ("SsM_{u}", "ValidationException", NON_PATH_PREFIX),
    ("/ssm/{u}/x", "ValidationException", PATH_SSM_PREFIX),
    ("/SSM/{u}", "ValidationException", PATH_SSM_PREFIX),
])
def test_reserved_prefixes(ssm, template, code, message):
    bad = template.format(u=uuid.uuid4().hex[:8])
    expect_error(lambda: ssm.put_parameter(Name=bad, Value="v", Type="String"), code, message.format(name=bad))


def test_reserved_prefix_is_a_plain_prefix_test(ssm):
    # REF §5.2: "/awsfoo/x is rejected too"
    bad = f"/awsfoo{uuid.uuid4().hex[:6]}/x"
    expect_error(lambda: ssm.put_parameter(Name=bad, Value="v", Type="String"), "AccessDeniedException",
                 f"No access to reserved parameter name: {bad}.")


@pytest.mark.parametrize("suffix", ["rel/ative", "/in ner/x", "/a//b", "/a:b", "/a/b?", "/a/b#", "/a/é"])
def test_invalid_names_are_validation_errors(ssm, base, suffix):
    bad = suffix if not suffix.startswith("/") else base + suffix
    if suffix == "rel/ative":
        bad = f"x{uuid.uuid4().hex[:6]}/ative"  # hierarchical but not fully qualified
    expect_error(lambda: ssm.put_parameter(Name=bad, Value="v", Type="String"), "ValidationException")


def test_invalid_name_on_get_is_a_validation_error_not_not_found(ssm, base):
    # localstack#7712: AWS answers ValidationException for an invalid name
    expect_error(lambda: ssm.get_parameter(Name=base + "/in valid"), "ValidationException")


def test_valid_name_characters(ssm, base):
    name = f"{base}/Mixed.Case-name_09"
    ssm.put_parameter(Name=name, Value="v", Type="String")
    assert ssm.get_parameter(Name=name)["Parameter"]["Name"] == name
    expect_error(lambda: ssm.get_parameter(Name=name.lower()), "ParameterNotFound")  # case-sensitive


def test_hierarchy_depth_limit(ssm, base):
    fifteen = base + "".join(f"/l{i}" for i in range(13))  # /t/<u>/l0/.../l12: 15 levels
    assert fifteen.count("/") == 15
    ssm.put_parameter(Name=fifteen, Value="v", Type="String")
    expect_error(lambda: ssm.put_parameter(Name=fifteen + "/deeper", Value="v", Type="String"),
                 "HierarchyLevelLimitExceededException")


def test_name_length_limit_includes_the_arn_prefix(ssm, base):
    # REF §5.2/§6: 1011 characters including "arn:aws:ssm:<region>:<account>:parameter/" (45 here)
    prefix = len(f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/")
    ok = f"{base}/" + "a" * (1000 - prefix - len(base))
    assert prefix + len(ok) <= 1001
    ssm.put_parameter(Name=ok, Value="v", Type="String")
    too_long = f"{base}/" + "b" * (1020 - prefix - len(base))
    assert prefix + len(too_long) - 1 > 1011
    expect_error(lambda: ssm.put_parameter(Name=too_long, Value="v", Type="String"), "ValidationException")


# --- tiers and sizes ---------------------------------------------------------------------

def test_standard_value_size_limit(ssm, name):
    assert ssm.put_parameter(Name=name, Value="x" * 4096, Type="String")["Tier"] == "Standard"
    err = expect_error(lambda: ssm.put_parameter(Name=name + "2", Value="x" * 4097, Type="String"),
                       "ValidationException")
    assert err["Message"].startswith(STANDARD_TOO_BIG), err["Message"]


def test_advanced_value_size_limit(ssm, name):
    out = ssm.put_parameter(Name=name, Value="x" * 8192, Type="String", Tier="Advanced")
    assert out["Tier"] == "Advanced"
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "x" * 8192
    expect_error(lambda: ssm.put_parameter(Name=name + "2", Value="x" * 8193, Type="String", Tier="Advanced"),
                 "ValidationException")


def test_intelligent_tiering_picks_the_tier(ssm, base):
    small = ssm.put_parameter(Name=f"{base}/small", Value="v", Type="String", Tier="Intelligent-Tiering")
    assert small["Tier"] == "Standard"
    big = ssm.put_parameter(Name=f"{base}/big", Value="x" * 5000, Type="String", Tier="Intelligent-Tiering")
    assert big["Tier"] == "Advanced"
    tiers = {p["Name"]: p["Tier"] for p in ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [base + "/"]}])["Parameters"]}
    assert tiers == {f"{base}/small": "Standard", f"{base}/big": "Advanced"}


def test_standard_to_advanced_upgrade_but_never_back(ssm, name):
    ssm.put_parameter(Name=name, Value="v1", Type="String")
    assert ssm.put_parameter(Name=name, Value="v2", Overwrite=True, Tier="Advanced")["Tier"] == "Advanced"
    # omitted Tier on overwrite keeps Advanced
    assert ssm.put_parameter(Name=name, Value="v3", Overwrite=True)["Tier"] == "Advanced"
    err = expect_error(lambda: ssm.put_parameter(Name=name, Value="v4", Overwrite=True, Tier="Standard"),
                       "ValidationException")
    assert err["Message"].startswith(
        "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
        "advanced-parameter tier to the standard-parameter tier."), err["Message"]
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "v3"
    assert [h["Tier"] for h in history(ssm, name)] == ["Standard", "Advanced", "Advanced"]


def test_overwrite_of_a_big_standard_value_needs_a_tier(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    expect_error(lambda: ssm.put_parameter(Name=name, Value="x" * 5000, Overwrite=True), "ValidationException")
    assert ssm.put_parameter(Name=name, Value="x" * 5000, Overwrite=True,
                             Tier="Intelligent-Tiering")["Tier"] == "Advanced"


# --- DataType ----------------------------------------------------------------------------

def test_data_type_default_and_ec2_image(ssm, base):
    ssm.put_parameter(Name=f"{base}/text", Value="v", Type="String")
    ssm.put_parameter(Name=f"{base}/ami", Value="ami-0123456789abcdef0", Type="String", DataType="aws:ec2:image")
    assert ssm.get_parameter(Name=f"{base}/text")["Parameter"]["DataType"] == "text"
    assert ssm.get_parameter(Name=f"{base}/ami")["Parameter"]["DataType"] == "aws:ec2:image"


@pytest.mark.parametrize("data_type", ["foo", "TEXT", "aws:ec2:Image"])
def test_unsupported_data_type(ssm, name, data_type):
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v", Type="String", DataType=data_type),
                 "ValidationException",
                 f"The following data type is not supported: {data_type} (Data type names are all lowercase.)")


# --- AllowedPattern ------------------------------------------------------------------------

def test_allowed_pattern_enforced_on_put_and_overwrite(ssm, name):
    pattern = r"^\d+$"
    ssm.put_parameter(Name=name, Value="123", Type="String", AllowedPattern=pattern)
    mismatch = f"Parameter value, cannot be validated against allowedPattern: {pattern}"
    expect_error(lambda: ssm.put_parameter(Name=name, Value="abc", Overwrite=True),
                 "ParameterPatternMismatchException", mismatch)
    expect_error(lambda: ssm.put_parameter(Name=name + "2", Value="abc", Type="String", AllowedPattern=pattern),
                 "ParameterPatternMismatchException", mismatch)
    assert ssm.put_parameter(Name=name, Value="456", Overwrite=True)["Version"] == 2


def test_allowed_pattern_matches_the_whole_value(ssm, name):
    expect_error(lambda: ssm.put_parameter(Name=name, Value="12a", Type="String", AllowedPattern=r"\d+"),
                 "ParameterPatternMismatchException")
    ssm.put_parameter(Name=name, Value="12", Type="String", AllowedPattern=r"\d+")


def test_invalid_allowed_pattern(ssm, name):
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v", Type="String", AllowedPattern="[unclosed"),
                 "InvalidAllowedPatternException")


# --- selectors ---------------------------------------------------------------------------

def test_version_and_label_selectors(ssm, name):
    for value in ("v1", "v2", "v3"):
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=["stable"])

    p = ssm.get_parameter(Name=f"{name}:1")["Parameter"]
    assert (p["Name"], p["Value"], p["Version"], p["Selector"]) == (name, "v1", 1, ":1")
    p = ssm.get_parameter(Name=f"{name}:stable")["Parameter"]
    assert (p["Name"], p["Value"], p["Version"], p["Selector"]) == (name, "v2", 2, ":stable")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "v3"


def test_unknown_version_selector(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    expect_error(lambda: ssm.get_parameter(Name=f"{name}:9"), "ParameterVersionNotFound",
                 version_not_found(name, 9))


def test_unknown_label_selector_does_not_fall_back(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    with pytest.raises(ClientError) as info:
        ssm.get_parameter(Name=f"{name}:nolabel")
    assert info.value.response["Error"]["Code"] in ("ParameterNotFound", "ParameterVersionNotFound")


def test_selector_with_two_colons_is_rejected(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    with pytest.raises(ClientError):
        ssm.get_parameter(Name=f"{name}:1:1")


# --- GetParameters -----------------------------------------------------------------------

def test_get_parameters_mixes_found_and_invalid(ssm, base):
    a, b, missing = f"{base}/b", f"{base}/a", f"{base}/missing"
    ssm.put_parameter(Name=a, Value="A", Type="String")
    ssm.put_parameter(Name=b, Value="B", Type="String")
    out = ssm.get_parameters(Names=[a, missing, b, a])
    assert sorted(p["Name"] for p in out["Parameters"]) == [b, a]   # duplicates collapse
    assert [p["Name"] for p in out["Parameters"]] == sorted([a, b])  # REF §5.6: sorted by name
    assert out["InvalidParameters"] == [missing]
    assert all(set(p) == PARAMETER_FIELDS for p in out["Parameters"])


def test_get_parameters_with_selectors(ssm, name):
    ssm.put_parameter(Name=name, Value="v1", Type="String")
    ssm.put_parameter(Name=name, Value="v2", Type="String", Overwrite=True)
    out = ssm.get_parameters(Names=[f"{name}:1", f"{name}:7"])
    assert [(p["Name"], p["Value"], p["Selector"]) for p in out["Parameters"]] == [(name, "v1", ":1")]
    assert out["InvalidParameters"] == [f"{name}:7"]


def test_get_parameters_by_arn(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    out = ssm.get_parameters(Names=[parameter_arn(name)])
    assert [p["Value"] for p in out["Parameters"]] == ["v"]
    assert out["InvalidParameters"] == []


def test_get_parameters_at_most_ten_names(raw, base):
    expect_error(lambda: raw.get_parameters(Names=[f"{base}/{i}" for i in range(11)]), "ValidationException")
    out = raw.get_parameters(Names=[f"{base}/{i}" for i in range(10)])
    assert len(out["InvalidParameters"]) == 10


# --- GetParameterHistory -------------------------------------------------------------------

def test_history_entries_oldest_first_with_all_fields(ssm, name):
    ssm.put_parameter(Name=name, Value="v1", Type="String", Description="first")
    ssm.put_parameter(Name=name, Value="v2", Type="String", Overwrite=True, Description="second")
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["old"])
    entries = history(ssm, name)
    assert [(h["Version"], h["Value"], h["Description"]) for h in entries] == [(1, "v1", "first"), (2, "v2", "second")]
    first = entries[0]
    assert first["Name"] == name
    assert first["Type"] == "String"
    assert first["LastModifiedUser"] == ROOT_ARN
    assert first["Labels"] == ["old"]
    assert entries[1]["Labels"] == []
    assert first["Tier"] == "Standard"
    assert first["DataType"] == "text"
    assert "KeyId" not in first
    assert "LastModifiedDate" in first


def test_history_paging(ssm, name):
    for i in range(5):
        ssm.put_parameter(Name=name, Value=f"v{i}", Type="String", Overwrite=True)
    first = ssm.get_parameter_history(Name=name, MaxResults=2)
    assert [h["Version"] for h in first["Parameters"]] == [1, 2]
    assert first.get("NextToken")
    assert [h["Version"] for h in history(ssm, name, MaxResults=2)] == [1, 2, 3, 4, 5]


def test_history_max_results_limit(raw, name):
    raw.put_parameter(Name=name, Value="v", Type="String")
    expect_error(lambda: raw.get_parameter_history(Name=name, MaxResults=51), "ValidationException")
    assert len(raw.get_parameter_history(Name=name, MaxResults=50)["Parameters"]) == 1


def test_history_of_unknown_parameter(ssm, name):
    expect_error(lambda: ssm.get_parameter_history(Name=name), "ParameterNotFound")


def test_history_by_arn(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    assert [h["Value"] for h in history(ssm, parameter_arn(name))] == ["v"]


def test_history_invalid_next_token(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    expect_error(lambda: ssm.get_parameter_history(Name=name, NextToken="not-a-token"), "InvalidNextToken")


# --- 100 versions --------------------------------------------------------------------------

def test_hundred_versions_kept_and_labelled_oldest_blocks(ssm, name):
    ssm.put_parameter(Name=name, Value="v1", Type="String")
    for i in range(2, 102):
        ssm.put_parameter(Name=name, Value=f"v{i}", Overwrite=True)
    versions = [h["Version"] for h in history(ssm, name)]
    assert versions == list(range(2, 102))  # version 1 dropped
    expect_error(lambda: ssm.get_parameter(Name=f"{name}:1"), "ParameterVersionNotFound")

    ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=["pinned"])
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v102", Overwrite=True),
                 "ParameterMaxVersionLimitExceeded",
                 f"You attempted to create a new version of {name} by calling the PutParameter API with the "
                 "overwrite flag. Version 2, the oldest version, can't be deleted because it has a label "
                 "associated with it. Move the label to another version of the parameter, and try again.")
    assert ssm.get_parameter(Name=name)["Parameter"]["Version"] == 101

    ssm.label_parameter_version(Name=name, ParameterVersion=101, Labels=["pinned"])  # moves the label
    assert ssm.put_parameter(Name=name, Value="v102", Overwrite=True)["Version"] == 102
    versions = [h["Version"] for h in history(ssm, name)]
    assert versions == list(range(3, 103))


# --- deletion ------------------------------------------------------------------------------

def test_delete_parameter(ssm, name):
    ssm.put_parameter(Name=name, Value="v1", Type="String")
    ssm.put_parameter(Name=name, Value="v2", Type="String", Overwrite=True)
    assert "ResponseMetadata" in ssm.delete_parameter(Name=name)
    expect_error(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")
    expect_error(lambda: ssm.get_parameter_history(Name=name), "ParameterNotFound")
    expect_error(lambda: ssm.delete_parameter(Name=name), "ParameterNotFound")
    # a new parameter of the same name starts again at version 1
    assert ssm.put_parameter(Name=name, Value="again", Type="String")["Version"] == 1
    assert [h["Value"] for h in history(ssm, name)] == ["again"]


def test_delete_unknown_parameter(ssm, name):
    expect_error(lambda: ssm.delete_parameter(Name=name), "ParameterNotFound")


def test_delete_parameters(ssm, base):
    names = [f"{base}/{i}" for i in range(3)]
    for n in names:
        ssm.put_parameter(Name=n, Value="v", Type="String")
    missing = f"{base}/missing"
    out = ssm.delete_parameters(Names=names + [missing])
    assert sorted(out["DeletedParameters"]) == sorted(names)
    assert out["InvalidParameters"] == [missing]
    assert ssm.get_parameters(Names=names)["Parameters"] == []


def test_delete_parameters_at_most_ten(raw, base):
    expect_error(lambda: raw.delete_parameters(Names=[f"{base}/{i}" for i in range(11)]), "ValidationException")


# --- ARNs are accepted only where AWS accepts them (REF §5.2) ----------------------------------

@pytest.mark.parametrize("operation", ["put", "delete", "label"])
def test_arn_not_accepted_as_name(ssm, name, operation):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    arn = parameter_arn(name)
    calls = {
        "put": lambda: ssm.put_parameter(Name=arn, Value="v2", Type="String", Overwrite=True),
        "delete": lambda: ssm.delete_parameter(Name=arn),
        "label": lambda: ssm.label_parameter_version(Name=arn, Labels=["x"]),
    }
    with pytest.raises(ClientError):
        calls[operation]()
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert (p["Version"], p["Value"]) == (1, "v")
    assert history(ssm, name)[0]["Labels"] == []


def test_data_type_only_for_string_parameters(ssm, name):
    # REF §5.3: DataType applies to String parameters only
    expect_error(lambda: ssm.put_parameter(Name=name, Value="ami-0123456789abcdef0", Type="SecureString",
                                           DataType="aws:ec2:image"), "ValidationException")


def test_intelligent_tiering_never_downgrades(ssm, name):
    ssm.put_parameter(Name=name, Value="x" * 5000, Type="String", Tier="Advanced")
    out = ssm.put_parameter(Name=name, Value="small", Overwrite=True, Tier="Intelligent-Tiering")
    assert out["Tier"] == "Advanced"


# --- wire shapes -----------------------------------------------------------------------------

def raw_response(client, call):
    """(status, headers, JSON body) of the HTTP response behind a failing call."""
    import json as _json
    seen: dict = {}

    def grab(http_response, **_):
        seen["http"] = http_response
    client.meta.events.register("after-call.ssm.*", grab)
    try:
        with pytest.raises(ClientError):
            call()
    finally:
        client.meta.events.unregister("after-call.ssm.*", grab)
    http = seen["http"]
    return http.status_code, http.headers, _json.loads(http.content)


def test_error_body_shape(ssm, name):
    status, headers, body = raw_response(ssm, lambda: ssm.get_parameter_history(Name=name))
    assert status == 400
    assert headers["Content-Type"].startswith("application/x-amz-json-1.1")
    assert headers.get("x-amzn-RequestId")
    assert body["__type"].split("#")[-1] == "ParameterNotFound"
    assert set(body) <= {"__type", "message"}


def test_invalid_next_token_uses_capital_message_field(ssm, name):
    # REF §1: SSM shapes InvalidNextToken / InvalidFilterValue / TooManyUpdates carry `Message`
    ssm.put_parameter(Name=name, Value="v", Type="String")
    _, _, body = raw_response(ssm, lambda: ssm.get_parameter_history(Name=name, NextToken="garbage"))
    assert body["__type"].split("#")[-1] == "InvalidNextToken"
    assert "Message" in body and "message" not in body, body


def test_get_parameters_reports_unknown_versions_and_labels_as_invalid(ssm, name):
    ssm.put_parameter(Name=name, Value="v1", Type="String")
    ssm.label_parameter_version(Name=name, Labels=["live"])
    out = ssm.get_parameters(Names=[name, f"{name}:9", f"{name}:nolabel", f"{name}:live"])
    assert sorted(out["InvalidParameters"]) == sorted([f"{name}:9", f"{name}:nolabel"])
    assert [(p["Name"], p.get("Selector")) for p in out["Parameters"]] in (
        [(name, None), (name, ":live")], [(name, ":live"), (name, None)])
