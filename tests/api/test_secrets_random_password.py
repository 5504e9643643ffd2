"""Secrets Manager on the shared endpoint, first operation: GetRandomPassword, through a
real boto3 `secretsmanager` client (SigV4 service `secretsmanager`), authorized by IAM
(secretsmanager:GetRandomPassword on "*") and audited like every other call."""

from __future__ import annotations

import string

import boto3
import pytest
from botocore.config import Config

from tests.api.test_kms_grants import make_user
from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from tests.helpers import expect_error

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


def test_the_default_is_32_characters_with_every_type(sm):
    password = sm.get_random_password()["RandomPassword"]
    assert len(password) == 32
    for kind in (string.ascii_lowercase, string.ascii_uppercase, string.digits, PUNCTUATION):
        assert any(c in kind for c in password), kind
    assert " " not in password
    assert sm.get_random_password()["RandomPassword"] != password


def test_exclusions_and_space(sm):
    password = sm.get_random_password(PasswordLength=200, ExcludePunctuation=True, ExcludeUppercase=True,
                                      ExcludeCharacters="abc123", IncludeSpace=True)["RandomPassword"]
    assert len(password) == 200
    assert set(password) <= set(string.ascii_lowercase + string.digits + " ") - set("abc123")
    assert " " in password and any(c.isdigit() for c in password)


def test_lengths_at_the_model_limits(sm):
    assert len(sm.get_random_password(PasswordLength=4096)["RandomPassword"]) == 4096
    assert len(sm.get_random_password(PasswordLength=1, RequireEachIncludedType=False)["RandomPassword"]) == 1


def test_too_short_for_every_required_type(sm):
    expect_error(lambda: sm.get_random_password(PasswordLength=3), "InvalidParameterException",
                 "Password length is too short based on the required types.")


def test_nothing_left_to_choose_from(sm):
    expect_error(lambda: sm.get_random_password(ExcludeNumbers=True, ExcludePunctuation=True,
                                                ExcludeUppercase=True, ExcludeLowercase=True),
                 "InvalidParameterException", contains="no characters to choose from")


def test_out_of_range_length_is_a_validation_error(server):
    raw = boto3.client("secretsmanager", endpoint_url=server.url, region_name=REGION,
                       aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                       config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))
    expect_error(lambda: raw.get_random_password(PasswordLength=4097), "ValidationException",
                 contains="Member must have value less than or equal to 4096")


def test_a_user_needs_secretsmanager_get_random_password(server):
    denied = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
    client = server.client("secretsmanager", access_key_id=denied.access_key_id, secret=denied.secret)
    expect_error(lambda: client.get_random_password(), "AccessDeniedException",
                 contains="secretsmanager:GetRandomPassword")
    allowed = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetRandomPassword", "Resource": "*"}]})
    client = server.client("secretsmanager", access_key_id=allowed.access_key_id, secret=allowed.secret)
    assert len(client.get_random_password(PasswordLength=12)["RandomPassword"]) == 12


def test_an_explicit_deny_wins_over_a_wildcard_allow(server):
    user = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "secretsmanager:GetRandomPassword", "Resource": "*"}]})
    client = server.client("secretsmanager", access_key_id=user.access_key_id, secret=user.secret)
    expect_error(lambda: client.get_random_password(), "AccessDeniedException",
                 contains="explicit deny")


def test_an_unknown_operation_is_refused_as_unsupported(server):
    raw = server.client("secretsmanager")
    expect_error(lambda: raw.replicate_secret_to_regions(SecretId="x", AddReplicaRegions=[{"Region": "eu-west-1"}]), "UnknownOperationException", contains="ReplicateSecretToRegions")
