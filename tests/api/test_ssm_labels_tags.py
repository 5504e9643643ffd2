"""SSM labels (LabelParameterVersion / UnlabelParameterVersion) and tags (AddTagsToResource /
RemoveTagsFromResource / ListTagsForResource) through boto3.

REF = aws_api.md §5.1, §5.5, §5.6, §6.
"""

from __future__ import annotations


import pytest

from tests.helpers import expect_error


@pytest.fixture
def three(ssm, name) -> str:
    """A parameter with versions 1, 2 and 3 (values v1..v3)."""
    for value in ("v1", "v2", "v3"):
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    return name


def labels_by_version(ssm, name: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    token = None
    while True:
        page = ssm.get_parameter_history(Name=name, **({"NextToken": token} if token else {}))
        out.update({h["Version"]: sorted(h["Labels"]) for h in page["Parameters"]})
        token = page.get("NextToken")
        if not token:
            return out


def version_not_found(name: str, version) -> str:
    return f"Systems Manager could not find version {version} of {name}. Verify the version and try again."


def tags_of(ssm, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in
            ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]}


# --- LabelParameterVersion -------------------------------------------------------------------

def test_label_latest_by_default(ssm, three):
    out = ssm.label_parameter_version(Name=three, Labels=["prod", "blue"])
    assert out["ParameterVersion"] == 3
    assert out["InvalidLabels"] == []
    assert labels_by_version(ssm, three) == {1: [], 2: [], 3: ["blue", "prod"]}


def test_label_specific_version_and_read_by_label(ssm, three):
    out = ssm.label_parameter_version(Name=three, ParameterVersion=1, Labels=["old"])
    assert out["ParameterVersion"] == 1
    p = ssm.get_parameter(Name=f"{three}:old")["Parameter"]
    assert (p["Version"], p["Value"], p["Selector"]) == (1, "v1", ":old")


def test_label_moves_between_versions(ssm, three):
    ssm.label_parameter_version(Name=three, ParameterVersion=1, Labels=["live", "keep"])
    ssm.label_parameter_version(Name=three, ParameterVersion=2, Labels=["live"])
    assert labels_by_version(ssm, three) == {1: ["keep"], 2: ["live"], 3: []}
    assert ssm.get_parameter(Name=f"{three}:live")["Parameter"]["Value"] == "v2"


def test_label_same_version_twice_is_idempotent(ssm, three):
    ssm.label_parameter_version(Name=three, ParameterVersion=2, Labels=["x"])
    out = ssm.label_parameter_version(Name=three, ParameterVersion=2, Labels=["x"])
    assert out["InvalidLabels"] == []
    assert labels_by_version(ssm, three)[2] == ["x"]


@pytest.mark.parametrize("label", ["1starts-with-digit", "awslabel", "AWS-label", "ssmlabel", "SsM.x",
                                   "has space", "has/slash", "has:colon", "star*"])
def test_invalid_labels_are_returned_not_raised(ssm, three, label):
    out = ssm.label_parameter_version(Name=three, ParameterVersion=1, Labels=[label, "good-one"])
    assert out["InvalidLabels"] == [label]
    assert labels_by_version(ssm, three)[1] == ["good-one"]


def test_valid_label_characters(ssm, three):
    label = "Ab.c-d_9"
    assert ssm.label_parameter_version(Name=three, Labels=[label])["InvalidLabels"] == []
    assert ssm.get_parameter(Name=f"{three}:{label}")["Parameter"]["Version"] == 3
    # labels are case-sensitive
    expect_error_any(lambda: ssm.get_parameter(Name=f"{three}:{label.lower()}"),
                     ("ParameterNotFound", "ParameterVersionNotFound"))


def test_label_length_limit(raw, three):
    assert raw.label_parameter_version(Name=three, Labels=["a" * 100])["InvalidLabels"] == []
    expect_error(lambda: raw.label_parameter_version(Name=three, Labels=["b" * 101]), "ValidationException")


def test_ten_labels_per_version(ssm, three):
    ssm.label_parameter_version(Name=three, ParameterVersion=2, Labels=[f"l{i}" for i in range(10)])
    expect_error(lambda: ssm.label_parameter_version(Name=three, ParameterVersion=2, Labels=["eleventh"]),
                 "ParameterVersionLabelLimitExceeded")
    assert len(labels_by_version(ssm, three)[2]) == 10
    # re-applying a label already there does not count twice
    ssm.label_parameter_version(Name=three, ParameterVersion=2, Labels=["l0"])


def test_at_most_ten_labels_per_request(raw, three):
    expect_error(lambda: raw.label_parameter_version(Name=three, Labels=[f"l{i}" for i in range(11)]),
                 "ValidationException")


def test_label_unknown_version(ssm, three):
    expect_error(lambda: ssm.label_parameter_version(Name=three, ParameterVersion=9, Labels=["x"]),
                 "ParameterVersionNotFound", version_not_found(three, 9))


def test_label_unknown_parameter(ssm, name):
    expect_error(lambda: ssm.label_parameter_version(Name=name, Labels=["x"]), "ParameterNotFound")


def test_labels_go_with_the_parameter(ssm, three):
    ssm.label_parameter_version(Name=three, Labels=["prod"])
    ssm.delete_parameter(Name=three)
    ssm.put_parameter(Name=three, Value="new", Type="String")
    assert labels_by_version(ssm, three) == {1: []}
    expect_error_any(lambda: ssm.get_parameter(Name=f"{three}:prod"),
                     ("ParameterNotFound", "ParameterVersionNotFound"))


# --- UnlabelParameterVersion -----------------------------------------------------------------

def test_unlabel(ssm, three):
    ssm.label_parameter_version(Name=three, ParameterVersion=2, Labels=["a", "b"])
    ssm.label_parameter_version(Name=three, ParameterVersion=3, Labels=["c"])
    out = ssm.unlabel_parameter_version(Name=three, ParameterVersion=2, Labels=["a", "c", "never"])
    assert out["RemovedLabels"] == ["a"]
    assert sorted(out["InvalidLabels"]) == ["c", "never"]
    assert labels_by_version(ssm, three) == {1: [], 2: ["b"], 3: ["c"]}
    expect_error_any(lambda: ssm.get_parameter(Name=f"{three}:a"), ("ParameterNotFound", "ParameterVersionNotFound"))


def test_unlabel_unknown_version_and_parameter(ssm, three, name):
    expect_error(lambda: ssm.unlabel_parameter_version(Name=three, ParameterVersion=7, Labels=["x"]),
                 "ParameterVersionNotFound", version_not_found(three, 7))
    expect_error(lambda: ssm.unlabel_parameter_version(Name=name + "missing", ParameterVersion=1, Labels=["x"]),
                 "ParameterNotFound")


def test_unlabel_requires_a_version(raw, three):
    expect_error(lambda: raw.unlabel_parameter_version(Name=three, Labels=["x"]), "ValidationException")


# --- tags ------------------------------------------------------------------------------------

def test_tags_at_creation_and_listing(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String",
                      Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": ""}])
    assert tags_of(ssm, name) == {"env": "prod", "team": ""}


def test_add_tags_overwrites_and_remove_is_silent_for_missing(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String", Tags=[{"Key": "env", "Value": "dev"}])
    assert "ResponseMetadata" in ssm.add_tags_to_resource(
        ResourceType="Parameter", ResourceId=name,
        Tags=[{"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "me@example.com"}])
    assert tags_of(ssm, name) == {"env": "prod", "owner": "me@example.com"}
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["env", "not-there"])
    assert tags_of(ssm, name) == {"owner": "me@example.com"}


def test_tags_survive_overwrite(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String", Tags=[{"Key": "env", "Value": "dev"}])
    ssm.put_parameter(Name=name, Value="v2", Overwrite=True)
    assert tags_of(ssm, name) == {"env": "dev"}


def test_no_tags_is_an_empty_list(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"] == []


def test_tags_deleted_with_the_parameter(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String", Tags=[{"Key": "env", "Value": "dev"}])
    ssm.delete_parameter(Name=name)
    expect_error(lambda: ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name), "InvalidResourceId")
    ssm.put_parameter(Name=name, Value="v", Type="String")
    assert tags_of(ssm, name) == {}


@pytest.mark.parametrize("call", ["add", "remove", "list"])
def test_tags_of_unknown_parameter(ssm, name, call):
    calls = {
        "add": lambda: ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name,
                                                Tags=[{"Key": "k", "Value": "v"}]),
        "remove": lambda: ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["k"]),
        "list": lambda: ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name),
    }
    expect_error(calls[call], "InvalidResourceId")


def test_resource_type_outside_the_enum(raw, name):
    raw.put_parameter(Name=name, Value="v", Type="String")
    expect_error(lambda: raw.list_tags_for_resource(ResourceType="Bucket", ResourceId=name), "ValidationException")


def test_fifty_tags_per_parameter(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String")
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name,
                             Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    expect_error(lambda: ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name,
                                                  Tags=[{"Key": "k50", "Value": "v"}]), "TooManyTagsError")
    # overwriting an existing key is not a new tag
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=[{"Key": "k0", "Value": "new"}])
    tags = tags_of(ssm, name)
    assert len(tags) == 50 and tags["k0"] == "new"


def test_too_many_tags_at_creation(ssm, name):
    # REF §6: at most 50 tags per parameter.  PutParameter's model error list has no TooManyTagsError,
    # so the code is not pinned; the put must fail and create nothing.
    expect_error_any(lambda: ssm.put_parameter(Name=name, Value="v", Type="String",
                                               Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)]),
                     ("TooManyTagsError", "ValidationException"))
    expect_error(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")


@pytest.mark.parametrize("tag", [{"Key": "bad#key", "Value": "v"}, {"Key": "k", "Value": "bad*value"},
                                 {"Key": "k" * 129, "Value": "v"}, {"Key": "k", "Value": "v" * 257}])
def test_invalid_tags(raw, name, tag):
    raw.put_parameter(Name=name, Value="v", Type="String")
    expect_error(lambda: raw.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=[tag]),
                 "ValidationException")


def expect_error_any(call, codes: tuple[str, ...]):
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as info:
        call()
    assert info.value.response["Error"]["Code"] in codes, info.value.response["Error"]
