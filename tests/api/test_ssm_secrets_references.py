"""Secrets Manager secrets read through Parameter Store: GetParameter(s) of
`/aws/reference/secretsmanager/<secret-id>[:<version-id>|:<stage>]`, with AWS's response
shape, WithDecryption rule, errors and permissions (the caller's Secrets Manager rights
apply: Parameter Store is only a pass-through)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.api.test_kms_grants import make_user
from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error

PREFIX = "/aws/reference/secretsmanager/"


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


@pytest.fixture
def secret(sm):
    """A secret with two versions and a custom label on an unlabelled-otherwise third."""
    name = "ref/" + uuid.uuid4().hex[:10]
    first = sm.create_secret(Name=name, SecretString="first")
    second = sm.put_secret_value(SecretId=name, SecretString="second")
    custom = sm.put_secret_value(SecretId=name, SecretString="custom", VersionStages=["blue"])
    return {"name": name, "arn": first["ARN"], "first": first["VersionId"], "second": second["VersionId"],
            "custom": custom["VersionId"]}


def test_get_parameter_returns_the_current_value_in_aws_shape(ssm, secret):
    parameter = ssm.get_parameter(Name=PREFIX + secret["name"], WithDecryption=True)["Parameter"]
    assert parameter["Name"] == PREFIX + secret["name"]
    assert parameter["Type"] == "SecureString" and parameter["Value"] == "second"
    assert parameter["ARN"] == secret["arn"] and "Selector" not in parameter
    source = json.loads(parameter["SourceResult"])
    assert source["name"] == secret["name"] and source["ARN"] == secret["arn"]
    assert source["versionId"] == secret["second"] and source["versionStages"] == ["AWSCURRENT"]


def test_selectors_by_stage_and_version_id(ssm, secret):
    by_stage = ssm.get_parameter(Name=f"{PREFIX}{secret['name']}:AWSPREVIOUS", WithDecryption=True)["Parameter"]
    assert by_stage["Value"] == "first" and by_stage["Selector"] == ":AWSPREVIOUS"
    by_id = ssm.get_parameter(Name=f"{PREFIX}{secret['name']}:{secret['custom']}", WithDecryption=True)["Parameter"]
    assert by_id["Value"] == "custom" and by_id["Selector"] == ":" + secret["custom"]
    assert ssm.get_parameter(Name=f"{PREFIX}{secret['name']}:blue", WithDecryption=True)["Parameter"][
        "Value"] == "custom"


def test_the_secret_can_be_named_by_its_arn(ssm, secret):
    parameter = ssm.get_parameter(Name=f"{PREFIX}{secret['arn']}:AWSPREVIOUS", WithDecryption=True)["Parameter"]
    assert parameter["Value"] == "first" and parameter["ARN"] == secret["arn"]


@pytest.mark.parametrize("with_decryption", [None, False])
def test_with_decryption_is_required_even_for_a_missing_secret(ssm, secret, with_decryption):
    args = {} if with_decryption is None else {"WithDecryption": with_decryption}
    for name in (PREFIX + secret["name"], PREFIX + "no-such-secret"):
        expect_error(lambda: ssm.get_parameter(Name=name, **args), "ValidationException",
                     "WithDecryption flag must be True for retrieving a Secret Manager secret.")


def test_a_missing_secret_or_selector_is_parameter_not_found(ssm, secret):
    err = expect_error(lambda: ssm.get_parameter(Name=PREFIX + "inexistent", WithDecryption=True),
                       "ParameterNotFound")
    assert re.search(r"Secret .*aws/reference/secretsmanager/inexistent.* not found\.", err["Message"])
    for selector in ("NOSUCHSTAGE", "bad*stage"):
        expect_error(lambda: ssm.get_parameter(Name=f"{PREFIX}{secret['name']}:{selector}", WithDecryption=True),
                     "ParameterNotFound")


def test_get_parameters_mixes_parameters_and_secrets(ssm, secret):
    plain = "/ref-plain/" + uuid.uuid4().hex[:8]
    ssm.put_parameter(Name=plain, Value="p", Type="String")
    names = [plain, PREFIX + secret["name"], PREFIX + "inexistent"]
    out = ssm.get_parameters(Names=names, WithDecryption=True)
    assert {p["Name"]: p["Value"] for p in out["Parameters"]} == {plain: "p", PREFIX + secret["name"]: "second"}
    assert out["InvalidParameters"] == [PREFIX + "inexistent"]


def test_the_callers_secrets_manager_rights_apply(server, secret):
    parameter_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/aws/reference/secretsmanager/*"
    ssm_only = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter_arn}]})
    both = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter_arn},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret["arn"]}]})
    name = PREFIX + secret["name"]
    denied = server.client("ssm", access_key_id=ssm_only.access_key_id, secret=ssm_only.secret)
    expect_error(lambda: denied.get_parameter(Name=name, WithDecryption=True), "AccessDeniedException",
                 contains="secretsmanager:GetSecretValue")
    allowed = server.client("ssm", access_key_id=both.access_key_id, secret=both.secret)
    assert allowed.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "second"
    secrets_only = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
    no_ssm = server.client("ssm", access_key_id=secrets_only.access_key_id, secret=secrets_only.secret)
    expect_error(lambda: no_ssm.get_parameter(Name=name, WithDecryption=True), "AccessDeniedException",
                 contains="ssm:GetParameter")
