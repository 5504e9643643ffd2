"""Tests of startup_app.py, an application that reads its database password from a
SecureString at startup: the example of docs/testing-apps.md.

They run against paramstore through its pytest plugin (paramstore_env), or, with
APP_TEST_BACKEND=moto (and moto installed), against moto's `mock_aws`: the same tests, for
the comparison in docs/testing-apps.md.  The tests marked `moto_differs` are where moto was
seen to answer differently from AWS; under moto they are strict xfails, so the list in the
document fails loudly once it is out of date.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from startup_app import load_config

BACKEND = os.environ.get("APP_TEST_BACKEND", "paramstore")
APP = Path(__file__).with_name("startup_app.py")


def moto_differs(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(BACKEND == "moto", reason=f"moto: {reason}", strict=True)


@dataclass
class Aws:
    ssm: Any
    kms: Any
    iam: Any

    def user_with_policy(self, name: str, actions: list[str]) -> dict[str, str]:
        """An IAM user allowed `actions` on everything, and its credentials as boto3 takes them."""
        self.iam.create_user(UserName=name)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        self.iam.put_user_policy(UserName=name, PolicyName="app", PolicyDocument=json.dumps(policy))
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


@pytest.fixture
def aws(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """The environment the app runs in, and clients for the test to set the stage with."""
    if BACKEND == "moto":
        from moto import mock_aws

        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_IAM",
                     "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            monkeypatch.setenv(name, value)
        with mock_aws():
            yield Aws(boto3.client("ssm"), boto3.client("kms"), boto3.client("iam"))
    else:
        request.getfixturevalue("paramstore_env")  # endpoint, credentials and region in the environment
        yield Aws(boto3.client("ssm"), boto3.client("kms"), boto3.client("iam"))


def test_loads_its_database_password_at_startup(aws):
    aws.ssm.put_parameter(Name="/myapp/prod/db-host", Value="db.internal", Type="String")
    aws.ssm.put_parameter(Name="/myapp/prod/db-password", Value="s3cret", Type="SecureString")

    assert load_config("/myapp/prod") == {"/myapp/prod/db-host": "db.internal", "/myapp/prod/db-password": "s3cret"}


def test_a_password_under_a_customer_managed_key(aws):
    key_id = aws.kms.create_key(Description="myapp")["KeyMetadata"]["KeyId"]
    aws.ssm.put_parameter(Name="/myapp/prod/db-password", Value="s3cret", Type="SecureString", KeyId=key_id)

    assert load_config("/myapp/prod") == {"/myapp/prod/db-password": "s3cret"}


@moto_differs("the stored value is 'kms:<key>:<plaintext>'")
def test_the_stored_value_is_not_the_password(aws):
    aws.ssm.put_parameter(Name="/myapp/prod/db-password", Value="s3cret", Type="SecureString")

    stored = aws.ssm.get_parameter(Name="/myapp/prod/db-password")["Parameter"]["Value"]
    assert "s3cret" not in stored


@moto_differs("a SecureString is accepted under a KMS key that does not exist")
def test_a_key_that_does_not_exist_is_refused(aws):
    with pytest.raises(ClientError) as caught:
        aws.ssm.put_parameter(Name="/myapp/prod/db-password", Value="s3cret", Type="SecureString",
                              KeyId="alias/no-such-key")
    assert caught.value.response["Error"]["Code"] == "InvalidKeyId"


@moto_differs("IAM policies are not evaluated: a caller without kms:Decrypt reads the password")
def test_the_app_cannot_start_without_kms_decrypt(aws, monkeypatch):
    key_id = aws.kms.create_key()["KeyMetadata"]["KeyId"]
    aws.ssm.put_parameter(Name="/myapp/prod/db-password", Value="s3cret", Type="SecureString", KeyId=key_id)
    credentials = aws.user_with_policy("app", ["ssm:GetParametersByPath"])  # and no kms:Decrypt
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["aws_secret_access_key"])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it keeps the credentials it read first

    with pytest.raises(ClientError) as caught:
        load_config("/myapp/prod")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "kms:Decrypt" in caught.value.response["Error"]["Message"]


@moto_differs("a caller without kms:Encrypt stores a SecureString under a key it may not use")
def test_a_writer_without_kms_encrypt_is_refused(aws):
    key_id = aws.kms.create_key()["KeyMetadata"]["KeyId"]
    writer = boto3.client("ssm", **aws.user_with_policy("deployer", ["ssm:PutParameter"]))

    with pytest.raises(ClientError) as caught:
        writer.put_parameter(Name="/myapp/prod/db-password", Value="s3cret", Type="SecureString", KeyId=key_id)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


@moto_differs("a disabled key still decrypts")
def test_a_disabled_key_stops_the_app(aws):
    key_id = aws.kms.create_key()["KeyMetadata"]["KeyId"]
    aws.ssm.put_parameter(Name="/myapp/prod/db-password", Value="s3cret", Type="SecureString", KeyId=key_id)
    aws.kms.disable_key(KeyId=key_id)

    with pytest.raises(ClientError) as caught:
        load_config("/myapp/prod")
    assert caught.value.response["Error"]["Code"] == "InvalidKeyId"


@pytest.mark.skipif(BACKEND == "moto", reason="mock_aws patches this process only; the app's process reaches AWS")
def test_the_app_as_its_own_process(aws):
    aws.ssm.put_parameter(Name="/myapp/prod/db-password", Value="s3cret", Type="SecureString")

    out = subprocess.run([sys.executable, str(APP)], capture_output=True, text=True, timeout=60, check=True).stdout
    assert json.loads(out) == {"/myapp/prod/db-password": "s3cret"}
