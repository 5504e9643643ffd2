"""Secrets Manager versions through boto3 against the live server: staging-label transitions,
GetSecretValue selection, ListSecretVersionIds, ClientRequestToken idempotency, value shapes
and sizes, BatchGetSecretValue.  Section numbers refer to shared/reference/secretsmanager.md."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import expect_error

NO_TOKEN = "You must provide a ClientRequestToken value. We recommend a UUID-type value."
MISMATCH = "You provided a VersionStage that is not associated to the provided VersionId."


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


def unique(prefix: str = "ver") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def token() -> str:
    return str(uuid.uuid4())


def stages(sm, name: str) -> dict[str, list[str]]:
    """VersionIdsToStages with every label list sorted (label order is not specified)."""
    described = sm.describe_secret(SecretId=name)
    return {v: sorted(labels) for v, labels in described.get("VersionIdsToStages", {}).items()}


def token_in_use(token_: str, arn: str) -> str:
    return f"You can't use ClientRequestToken {token_} because that value is already in use for a version of secret {arn}."


def signed_post(server, operation: str, body: dict) -> tuple[int, dict]:
    """A hand-built SigV4 awsJson1_1 request (no botocore idempotency auto-fill); returns
    (HTTP status, decoded JSON body)."""
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url=server.url + "/", data=data, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"secretsmanager.{operation}"})
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "secretsmanager", REGION).add_auth(request)
    prepared = urllib.request.Request(request.url, data=data, method="POST", headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(prepared, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


# --- transitions (§4) ----------------------------------------------------------------------------


def test_create_with_a_value_makes_the_current_version(sm):
    name = unique()
    version = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    assert stages(sm, name) == {version: ["AWSCURRENT"]}


def test_put_without_stages_moves_current_and_previous(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    put = sm.put_secret_value(SecretId=name, SecretString="v2")
    assert put["VersionStages"] == ["AWSCURRENT"]
    assert stages(sm, name) == {v1: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v2"


def test_third_put_deprecates_the_first_version(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString="v2")["VersionId"]
    v3 = sm.put_secret_value(SecretId=name, SecretString="v3")["VersionId"]
    assert stages(sm, name) == {v2: ["AWSPREVIOUS"], v3: ["AWSCURRENT"]}
    assert v1 not in stages(sm, name)


def test_put_with_custom_stages_does_not_move_current(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    put = sm.put_secret_value(SecretId=name, SecretString="v2", VersionStages=["custom"])
    assert put["VersionStages"] == ["custom"]
    assert stages(sm, name) == {v1: ["AWSCURRENT"], put["VersionId"]: ["custom"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v1"


def test_put_listing_awscurrent_moves_previous_too(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString="v2", VersionStages=["AWSCURRENT", "extra"])["VersionId"]
    assert stages(sm, name) == {v1: ["AWSPREVIOUS"], v2: ["AWSCURRENT", "extra"]}


def test_put_takes_a_custom_label_away_from_its_holder(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString="v2", VersionStages=["L", "M"])["VersionId"]
    v3 = sm.put_secret_value(SecretId=name, SecretString="v3", VersionStages=["L"])["VersionId"]
    assert stages(sm, name) == {v1: ["AWSCURRENT"], v2: ["M"], v3: ["L"]}


def test_put_of_a_superset_of_labels_deprecates_the_older_version(sm):
    """[one,two,three] then [one,two,three,four]: the first loses every label (LS-snap)."""
    name = unique()
    v0 = sm.create_secret(Name=name, SecretString="v0")["VersionId"]
    v1 = sm.put_secret_value(SecretId=name, SecretString="v1", VersionStages=["one", "two", "three"])["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString="v2",
                             VersionStages=["one", "two", "three", "four"])["VersionId"]
    assert stages(sm, name) == {v0: ["AWSCURRENT"], v2: ["four", "one", "three", "two"]}
    listed = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert v1 not in {entry["VersionId"] for entry in listed}


def test_put_of_overlapping_labels_leaves_the_rest(sm):
    """[one,two,three] then [one,two,four]: the first keeps [three] (LS-snap)."""
    name = unique()
    v0 = sm.create_secret(Name=name, SecretString="v0")["VersionId"]
    v1 = sm.put_secret_value(SecretId=name, SecretString="v1", VersionStages=["one", "two", "three"])["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString="v2", VersionStages=["one", "two", "four"])["VersionId"]
    assert stages(sm, name) == {v0: ["AWSCURRENT"], v1: ["three"], v2: ["four", "one", "two"]}


def test_put_of_pending_takes_it_from_the_current_version(sm):
    """Current holds [AWSCURRENT, AWSPENDING]; put [AWSPENDING, PUT2] (LS-snap)."""
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSPENDING", MoveToVersionId=v1)
    assert stages(sm, name) == {v1: ["AWSCURRENT", "AWSPENDING"]}
    v2 = sm.put_secret_value(SecretId=name, SecretString="v2", VersionStages=["AWSPENDING", "PUT2"])["VersionId"]
    assert stages(sm, name) == {v1: ["AWSCURRENT"], v2: ["AWSPENDING", "PUT2"]}


def test_first_version_of_an_empty_secret_gets_current_without_stages(sm):
    name = unique()
    sm.create_secret(Name=name)
    put = sm.put_secret_value(SecretId=name, SecretString="v1")
    assert stages(sm, name) == {put["VersionId"]: ["AWSCURRENT"]}


def test_first_version_of_an_empty_secret_gets_current_whatever_was_asked(sm):
    """"If this operation creates the first version ... AWSCURRENT" (§4, PutSecretValue doc)."""
    name = unique()
    sm.create_secret(Name=name)
    put = sm.put_secret_value(SecretId=name, SecretString="v1", VersionStages=["custom"])
    assert "AWSCURRENT" in stages(sm, name)[put["VersionId"]]
    assert "custom" in stages(sm, name)[put["VersionId"]]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v1"


def test_update_with_a_value_on_an_empty_secret_makes_it_current(sm):
    name = unique()
    sm.create_secret(Name=name)
    version = sm.update_secret(SecretId=name, SecretString="v1")["VersionId"]
    assert stages(sm, name) == {version: ["AWSCURRENT"]}


def test_twenty_labels_across_versions_is_the_limit(sm):
    """At most 20 labels across all versions, AWSCURRENT included (§4 invariant 2, §6)."""
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    labels = [f"L{i:02d}" for i in range(19)]
    v2 = sm.put_secret_value(SecretId=name, SecretString="v2", VersionStages=labels)["VersionId"]
    with pytest.raises(ClientError):
        sm.put_secret_value(SecretId=name, SecretString="v3", VersionStages=["one-too-many"])
    with pytest.raises(ClientError):
        sm.update_secret_version_stage(SecretId=name, VersionStage="one-too-many", MoveToVersionId=v1)
    assert stages(sm, name) == {v1: ["AWSCURRENT"], v2: sorted(labels)}


def test_a_put_with_21_labels_is_refused(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    with pytest.raises(ClientError):
        sm.put_secret_value(SecretId=name, SecretString="v2", VersionStages=[f"L{i}" for i in range(21)])
    assert stages(sm, name) == {v1: ["AWSCURRENT"]}


# --- UpdateSecretVersionStage (§4) ----------------------------------------------------------------


def test_move_current_with_remove_from_version_id(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString="b", VersionStages=["B1"])["VersionId"]
    response = sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                              MoveToVersionId=b, RemoveFromVersionId=a)
    assert set(response) == {"ARN", "Name", "ResponseMetadata"}
    assert response["Name"] == name
    assert stages(sm, name) == {a: ["AWSPREVIOUS"], b: ["AWSCURRENT", "B1"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "b"


def test_moving_current_takes_previous_from_its_old_holder(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString="b")["VersionId"]
    c = sm.put_secret_value(SecretId=name, SecretString="c", VersionStages=["C1"])["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=c, RemoveFromVersionId=b)
    assert stages(sm, name) == {b: ["AWSPREVIOUS"], c: ["AWSCURRENT", "C1"]}
    assert a not in stages(sm, name)


def test_moving_current_keeps_the_old_holders_custom_labels(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="PUT0", MoveToVersionId=a)
    b = sm.put_secret_value(SecretId=name, SecretString="b", VersionStages=["AWSPENDING"])["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=b, RemoveFromVersionId=a)
    assert stages(sm, name) == {a: ["AWSPREVIOUS", "PUT0"], b: ["AWSCURRENT", "AWSPENDING"]}


def test_moving_current_without_remove_from_version_id_is_refused(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString="b", VersionStages=["B1"])["VersionId"]
    expect_error(lambda: sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=b),
                 "InvalidParameterException",
                 "The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently "
                 f"attached to version {a}, so you must explicitly reference that version in RemoveFromVersionId.")
    assert stages(sm, name) == {a: ["AWSCURRENT"], b: ["B1"]}


def test_rolling_back_current_to_the_previous_version(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString="b")["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=a, RemoveFromVersionId=b)
    assert stages(sm, name) == {a: ["AWSCURRENT"], b: ["AWSPREVIOUS"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "a"


def test_awscurrent_cannot_be_removed_without_moving_it(sm):
    """"A secret always has an AWSCURRENT version" (§4 invariant 3); AWS answers
    InvalidParameterException "You can only move staging label AWSCURRENT to a different secret
    version. It can't be completely removed." (quoted in hashicorp/terraform-provider-aws
    internal/service/secretsmanager/secret_version.go)."""
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    expect_error(lambda: sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT",
                                                        RemoveFromVersionId=a),
                 "InvalidParameterException", contains="can only move staging label AWSCURRENT")
    assert stages(sm, name) == {a: ["AWSCURRENT"]}
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "a"


def test_move_a_custom_label(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString="b", VersionStages=["L"])["VersionId"]
    c = sm.put_secret_value(SecretId=name, SecretString="c", VersionStages=["M"])["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="L", MoveToVersionId=c, RemoveFromVersionId=b)
    assert stages(sm, name) == {a: ["AWSCURRENT"], c: ["L", "M"]}
    assert sm.get_secret_value(SecretId=name, VersionStage="L")["SecretString"] == "c"


def test_moving_an_attached_custom_label_needs_remove_from_version_id(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString="b", VersionStages=["L"])["VersionId"]
    expect_error(lambda: sm.update_secret_version_stage(SecretId=name, VersionStage="L", MoveToVersionId=a),
                 "InvalidParameterException")
    assert stages(sm, name) == {a: ["AWSCURRENT"], b: ["L"]}


def test_attach_a_new_label_with_only_move_to_version_id(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="fresh", MoveToVersionId=a)
    assert stages(sm, name) == {a: ["AWSCURRENT", "fresh"]}


def test_remove_a_label_with_only_remove_from_version_id(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString="b", VersionStages=["L", "M"])["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="L", RemoveFromVersionId=b)
    assert stages(sm, name) == {a: ["AWSCURRENT"], b: ["M"]}
    expect_error(lambda: sm.get_secret_value(SecretId=name, VersionStage="L"), "ResourceNotFoundException",
                 "Secrets Manager can't find the specified secret value for staging label: L")


def test_removing_the_last_label_deprecates_the_version(sm):
    name = unique()
    a = sm.create_secret(Name=name, SecretString="a")["VersionId"]
    b = sm.put_secret_value(SecretId=name, SecretString="b", VersionStages=["L"])["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="L", RemoveFromVersionId=b)
    assert stages(sm, name) == {a: ["AWSCURRENT"]}
    assert [v["VersionId"] for v in sm.list_secret_version_ids(SecretId=name)["Versions"]] == [a]


# --- GetSecretValue selection (§4, §9) ----------------------------------------------------------


def test_get_returns_the_documented_fields(sm):
    name = unique()
    created = sm.create_secret(Name=name, SecretString="v1")
    got = sm.get_secret_value(SecretId=name)
    assert got["ARN"] == created["ARN"] and got["Name"] == name
    assert got["VersionId"] == created["VersionId"]
    assert got["SecretString"] == "v1" and "SecretBinary" not in got
    assert got["VersionStages"] == ["AWSCURRENT"]
    assert "CreatedDate" in got


def test_get_by_version_id(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString="v2")
    got = sm.get_secret_value(SecretId=name, VersionId=v1)
    assert got["SecretString"] == "v1" and got["VersionId"] == v1
    assert got["VersionStages"] == ["AWSPREVIOUS"]


def test_get_by_version_stage(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v1")
    v2 = sm.put_secret_value(SecretId=name, SecretString="v2", VersionStages=["staged"])["VersionId"]
    got = sm.get_secret_value(SecretId=name, VersionStage="staged")
    assert got["SecretString"] == "v2" and got["VersionId"] == v2
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"] == "v1"


def test_get_by_agreeing_version_id_and_stage(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString="v2")
    assert sm.get_secret_value(SecretId=name, VersionId=v1, VersionStage="AWSPREVIOUS")["SecretString"] == "v1"


def test_get_by_mismatched_version_id_and_stage(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString="v2")
    expect_error(lambda: sm.get_secret_value(SecretId=name, VersionId=v1, VersionStage="AWSCURRENT"),
                 "InvalidRequestException", MISMATCH)


def test_get_by_an_unknown_stage(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v1")
    expect_error(lambda: sm.get_secret_value(SecretId=name, VersionStage="nope"), "ResourceNotFoundException",
                 "Secrets Manager can't find the specified secret value for staging label: nope")


def test_get_by_an_unknown_version_id(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v1")
    missing = token()
    expect_error(lambda: sm.get_secret_value(SecretId=name, VersionId=missing), "ResourceNotFoundException",
                 f"Secrets Manager can't find the specified secret value for VersionId: {missing}")


def test_get_of_a_secret_without_a_value(sm):
    name = unique()
    sm.create_secret(Name=name, Description="no value yet")
    expect_error(lambda: sm.get_secret_value(SecretId=name), "ResourceNotFoundException",
                 "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")


# --- ListSecretVersionIds (§4) ------------------------------------------------------------------


def test_list_version_ids_hides_deprecated_versions(sm):
    name = unique()
    created = sm.create_secret(Name=name, SecretString="v1")
    v2 = sm.put_secret_value(SecretId=name, SecretString="v2")["VersionId"]
    v3 = sm.put_secret_value(SecretId=name, SecretString="v3")["VersionId"]
    listed = sm.list_secret_version_ids(SecretId=name)
    assert listed["ARN"] == created["ARN"] and listed["Name"] == name
    assert {v["VersionId"]: sorted(v["VersionStages"]) for v in listed["Versions"]} == {
        v2: ["AWSPREVIOUS"], v3: ["AWSCURRENT"]}


def test_list_version_ids_with_deprecated(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString="v2")
    sm.put_secret_value(SecretId=name, SecretString="v3")
    versions = {v["VersionId"]: v for v in sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]}
    assert len(versions) == 3
    assert "VersionStages" not in versions[v1]
    assert "CreatedDate" in versions[v1]


def test_list_version_ids_reports_the_default_key(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v1")
    (entry,) = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert entry["KmsKeyIds"] == ["DefaultEncryptionKey"]


def test_list_version_ids_of_a_secret_without_a_value_is_empty(sm):
    name = unique()
    sm.create_secret(Name=name)
    assert sm.list_secret_version_ids(SecretId=name)["Versions"] == []


def test_list_version_ids_pages(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v0")
    for i in range(1, 5):
        sm.put_secret_value(SecretId=name, SecretString=f"v{i}", VersionStages=[f"L{i}"])
    seen, next_token, pages = [], None, 0
    while True:
        page = sm.list_secret_version_ids(SecretId=name, MaxResults=2,
                                          **({"NextToken": next_token} if next_token else {}))
        assert len(page["Versions"]) <= 2
        seen.extend(v["VersionId"] for v in page["Versions"])
        pages += 1
        next_token = page.get("NextToken")
        if not next_token:
            break
        assert pages < 20
    assert sorted(seen) == sorted(stages(sm, name)) and len(seen) == 5


def test_list_version_ids_with_a_bad_next_token(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v0")
    expect_error(lambda: sm.list_secret_version_ids(SecretId=name, NextToken="bogus-token"),
                 "InvalidNextTokenException")


def test_list_version_ids_under_a_customer_key_is_not_the_default(sm, key_id):
    name = unique()
    sm.create_secret(Name=name, SecretString="v1", KmsKeyId=key_id)
    (entry,) = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert entry["KmsKeyIds"] and entry["KmsKeyIds"] != ["DefaultEncryptionKey"]


# --- ClientRequestToken (§5.1, §1) --------------------------------------------------------------


def test_the_token_becomes_the_version_id(sm):
    name, t1, t2 = unique(), token(), token()
    assert sm.create_secret(Name=name, SecretString="v1", ClientRequestToken=t1)["VersionId"] == t1
    assert sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=t2)["VersionId"] == t2


def test_create_retry_with_the_same_token_and_value_is_a_no_op(sm):
    name, t = unique(), token()
    first = sm.create_secret(Name=name, SecretString="v1", ClientRequestToken=t)
    again = sm.create_secret(Name=name, SecretString="v1", ClientRequestToken=t)
    assert (again["ARN"], again["Name"], again["VersionId"]) == (first["ARN"], name, t)
    assert stages(sm, name) == {t: ["AWSCURRENT"]}


def test_create_with_the_same_token_and_another_value(sm):
    name, t = unique(), token()
    arn = sm.create_secret(Name=name, SecretString="v1", ClientRequestToken=t)["ARN"]
    expect_error(lambda: sm.create_secret(Name=name, SecretString="other", ClientRequestToken=t),
                 "ResourceExistsException", token_in_use(t, arn))
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v1"


def test_create_of_an_existing_name_with_a_new_token(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v1")
    expect_error(lambda: sm.create_secret(Name=name, SecretString="v1"), "ResourceExistsException",
                 f"The operation failed because the secret {name} already exists.")


def test_put_retry_with_the_same_token_and_value_is_a_no_op(sm):
    name, t = unique(), token()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=t)
    v3 = sm.put_secret_value(SecretId=name, SecretString="v3")["VersionId"]
    again = sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=t)
    assert again["VersionId"] == t
    assert again["VersionStages"] == ["AWSPREVIOUS"]
    assert stages(sm, name) == {t: ["AWSPREVIOUS"], v3: ["AWSCURRENT"]}
    assert v1 not in stages(sm, name)


def test_put_with_the_same_token_and_another_value(sm):
    name, t = unique(), token()
    arn = sm.create_secret(Name=name, SecretString="v1")["ARN"]
    sm.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=t)
    expect_error(lambda: sm.put_secret_value(SecretId=name, SecretString="v3", ClientRequestToken=t),
                 "ResourceExistsException", token_in_use(t, arn))
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v2"


def test_put_reusing_the_create_token_with_the_same_binary_value(sm):
    name, t = unique(), token()
    sm.create_secret(Name=name, SecretBinary=b"\x00\x01", ClientRequestToken=t)
    assert sm.put_secret_value(SecretId=name, SecretBinary=b"\x00\x01", ClientRequestToken=t)["VersionId"] == t
    assert stages(sm, name) == {t: ["AWSCURRENT"]}


def test_put_with_the_same_token_switching_string_to_binary(sm):
    name, t = unique(), token()
    arn = sm.create_secret(Name=name, SecretString="abc", ClientRequestToken=t)["ARN"]
    expect_error(lambda: sm.put_secret_value(SecretId=name, SecretBinary=b"abc", ClientRequestToken=t),
                 "ResourceExistsException", token_in_use(t, arn))


def test_update_retry_with_the_same_token_and_value_is_a_no_op(sm):
    name, t = unique(), token()
    sm.create_secret(Name=name, SecretString="v1")
    assert sm.update_secret(SecretId=name, SecretString="v2", ClientRequestToken=t)["VersionId"] == t
    v3 = sm.put_secret_value(SecretId=name, SecretString="v3")["VersionId"]
    assert sm.update_secret(SecretId=name, SecretString="v2", ClientRequestToken=t)["VersionId"] == t
    assert stages(sm, name) == {t: ["AWSPREVIOUS"], v3: ["AWSCURRENT"]}


def test_update_with_the_same_token_and_another_value(sm):
    name, t = unique(), token()
    arn = sm.create_secret(Name=name, SecretString="v1")["ARN"]
    sm.update_secret(SecretId=name, SecretString="v2", ClientRequestToken=t)
    expect_error(lambda: sm.update_secret(SecretId=name, SecretString="v3", ClientRequestToken=t),
                 "ResourceExistsException", token_in_use(t, arn))
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v2"


def test_a_token_is_scoped_to_its_secret(sm):
    """"Token not yet used by a version of this secret -> new version" (§5.1)."""
    t = token()
    a, b = unique(), unique()
    sm.create_secret(Name=a, SecretString="a", ClientRequestToken=t)
    assert sm.create_secret(Name=b, SecretString="b", ClientRequestToken=t)["VersionId"] == t
    assert sm.get_secret_value(SecretId=b)["SecretString"] == "b"


@pytest.mark.parametrize("operation", ["CreateSecret", "PutSecretValue", "UpdateSecret"])
def test_a_raw_request_without_a_token_is_refused(server, sm, operation):
    name = unique()
    if operation != "CreateSecret":
        sm.create_secret(Name=name, SecretString="v1")
    body = {"Name": name} if operation == "CreateSecret" else {"SecretId": name}
    status, answer = signed_post(server, operation, {**body, "SecretString": "v2"})
    assert status == 400
    assert answer["__type"].split("#")[-1] == "InvalidRequestException"
    assert answer["Message"] == NO_TOKEN
    if operation == "CreateSecret":
        expect_error(lambda: sm.describe_secret(SecretId=name), "ResourceNotFoundException")
    else:
        assert sm.get_secret_value(SecretId=name)["SecretString"] == "v1"


def test_a_raw_request_with_a_token_succeeds(server, sm):
    """Control for the test above: the hand-built request itself is acceptable."""
    name, t = unique(), token()
    status, answer = signed_post(server, "CreateSecret", {"Name": name, "SecretString": "v", "ClientRequestToken": t})
    assert status == 200, answer
    assert answer["VersionId"] == t and answer["Name"] == name


def test_a_raw_not_found_error_carries_capital_message(server):
    status, answer = signed_post(server, "DescribeSecret", {"SecretId": unique("missing")})
    assert status == 400
    assert answer["__type"].split("#")[-1] == "ResourceNotFoundException"
    assert answer["Message"] == "Secrets Manager can't find the specified secret."


# --- values (§3.2, §5.2) ------------------------------------------------------------------------


def test_secret_binary_round_trip(sm):
    name = unique()
    data = bytes(range(256))
    sm.create_secret(Name=name, SecretBinary=data)
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretBinary"] == data
    assert "SecretString" not in got


def test_secret_binary_is_base64_on_the_wire(server, sm):
    name = unique()
    sm.create_secret(Name=name, SecretBinary=b"\xff\x00raw")
    status, answer = signed_post(server, "GetSecretValue", {"SecretId": name})
    assert status == 200
    assert base64.b64decode(answer["SecretBinary"]) == b"\xff\x00raw"


def test_put_binary_after_string(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="text")
    sm.put_secret_value(SecretId=name, SecretBinary=b"\x01\x02")
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretBinary"] == b"\x01\x02" and "SecretString" not in got
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == "text"


def test_a_string_of_65536_characters_is_accepted(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="x" * 65536)
    assert len(sm.get_secret_value(SecretId=name)["SecretString"]) == 65536


def test_a_binary_of_65536_bytes_is_accepted(sm):
    name = unique()
    sm.create_secret(Name=name, SecretBinary=b"\x07" * 65536)
    assert len(sm.get_secret_value(SecretId=name)["SecretBinary"]) == 65536


def refused(call) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value.response["Error"]


def test_a_string_of_65537_characters_is_refused(sm):
    name = unique()
    refused(lambda: sm.create_secret(Name=name, SecretString="x" * 65537))
    expect_error(lambda: sm.describe_secret(SecretId=name), "ResourceNotFoundException")


def test_a_put_of_65537_characters_is_refused(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v1")
    refused(lambda: sm.put_secret_value(SecretId=name, SecretString="x" * 65537))
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v1"


def test_a_binary_of_65537_bytes_is_refused(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v1")
    refused(lambda: sm.put_secret_value(SecretId=name, SecretBinary=b"\x07" * 65537))
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v1"


def test_create_with_both_string_and_binary_is_refused(sm):
    name = unique()
    refused(lambda: sm.create_secret(Name=name, SecretString="s", SecretBinary=b"b"))
    expect_error(lambda: sm.describe_secret(SecretId=name), "ResourceNotFoundException")


def test_put_with_both_string_and_binary_is_refused(sm):
    name = unique()
    v1 = sm.create_secret(Name=name, SecretString="v1")["VersionId"]
    refused(lambda: sm.put_secret_value(SecretId=name, SecretString="s", SecretBinary=b"b"))
    assert stages(sm, name) == {v1: ["AWSCURRENT"]}


# --- BatchGetSecretValue (§3.2) -----------------------------------------------------------------


def test_batch_get_by_id_list_with_a_missing_id(sm):
    a, b, missing = unique(), unique(), unique("missing")
    arn_a = sm.create_secret(Name=a, SecretString="va")["ARN"]
    sm.create_secret(Name=b, SecretString="vb")
    sm.put_secret_value(SecretId=b, SecretString="vb2")
    result = sm.batch_get_secret_value(SecretIdList=[arn_a, b, missing])
    values = {entry["Name"]: entry for entry in result["SecretValues"]}
    assert set(values) == {a, b}
    assert values[a]["SecretString"] == "va" and values[a]["ARN"] == arn_a
    assert values[b]["SecretString"] == "vb2" and values[b]["VersionStages"] == ["AWSCURRENT"]
    assert values[b]["VersionId"] == sm.get_secret_value(SecretId=b)["VersionId"]
    assert "CreatedDate" in values[b]
    (error,) = result["Errors"]
    assert error["SecretId"] == missing
    assert error["ErrorCode"] == "ResourceNotFoundException"


def test_batch_get_by_filters_with_paging(sm):
    base = unique("batch")
    names = [f"{base}/{i}" for i in range(5)]
    for i, name in enumerate(names):
        sm.create_secret(Name=name, SecretString=f"value-{i}")
    seen, next_token, pages = {}, None, 0
    while True:
        page = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": [base]}], MaxResults=2,
                                         **({"NextToken": next_token} if next_token else {}))
        assert len(page["SecretValues"]) <= 2
        seen.update((entry["Name"], entry["SecretString"]) for entry in page["SecretValues"])
        pages += 1
        next_token = page.get("NextToken")
        if not next_token:
            break
        assert pages < 20
    assert seen == {name: f"value-{i}" for i, name in enumerate(names)}
    assert pages >= 3


def test_batch_get_with_both_ids_and_filters_is_refused(sm):
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    expect_error(lambda: sm.batch_get_secret_value(SecretIdList=[name], Filters=[{"Key": "name", "Values": [name]}]),
                 "InvalidParameterException")


def test_batch_get_with_neither_ids_nor_filters_is_refused(sm):
    expect_error(lambda: sm.batch_get_secret_value(), "InvalidParameterException")


def test_batch_get_of_more_than_20_ids_is_refused(sm):
    with pytest.raises(ClientError) as info:
        sm.batch_get_secret_value(SecretIdList=[unique() for _ in range(21)])
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_batch_get_max_results_needs_filters(sm):
    """MaxResults: "To use this parameter, you must also use the Filters parameter" (model doc)."""
    name = unique()
    sm.create_secret(Name=name, SecretString="v")
    with pytest.raises(ClientError) as info:
        sm.batch_get_secret_value(SecretIdList=[name], MaxResults=2)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_batch_get_with_a_bad_next_token(sm):
    expect_error(lambda: sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["x"]}],
                                                   NextToken="not-a-real-token"),
                 "InvalidNextTokenException")
