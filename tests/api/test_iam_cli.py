"""`paramstore iam ...` against the live server, with credentials from the environment."""

from __future__ import annotations

import functools
import json
import uuid

import pytest
from typer.testing import CliRunner

from paramstore.cli import app
from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, SECRET_ACCESS_KEY
from tests.helpers import printed_record

runner = CliRunner()


@pytest.fixture
def cli(paramstore):
    return functools.partial(paramstore, "iam")


def test_cli_whoami(cli):
    found = printed_record(cli("whoami").output)
    assert found["ARN"] == f"arn:aws:iam::{ACCOUNT_ID}:root" and found["ACCOUNT"] == ACCOUNT_ID


def test_cli_user_lifecycle_and_keys(cli, monkeypatch, tmp_path):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = json.loads(cli("create-user", name, "--tag", "team=ops", "--output", "json").output)
    assert created["UserName"] == name and created["Tags"] == [{"Key": "team", "Value": "ops"}]
    assert name in cli("list-users").output

    key = printed_record(cli("create-access-key", name).output)  # the secret is shown, this once
    akid, secret = key["ACCESS KEY ID"], key["SECRET ACCESS KEY"]
    assert akid.startswith("AKIA") and len(secret) == 40
    assert akid in cli("list-access-keys", name).output

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}))
    cli("put-user-policy", name, "list", str(policy))

    failed = cli("delete-user", name, ok=False)
    assert failed.exit_code == 1 and "DeleteConflict" in failed.output

    # the new user's key works for the CLI too
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", akid)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    assert printed_record(cli("whoami").output)["ARN"].endswith(f"user/{name}")
    assert name in cli("list-users").output
    denied = cli("list-roles", ok=False)
    assert denied.exit_code == 1 and "AccessDenied" in denied.output


def test_cli_roles_and_assume_role(cli, tmp_path, monkeypatch):
    role = f"cli-role-{uuid.uuid4().hex[:8]}"
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID},
                                                "Action": "sts:AssumeRole"}]}))
    created = json.loads(cli("create-role", role, "--trust-policy", str(trust), "--output", "json").output)
    arn = created["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"
    assert role in cli("list-roles").output

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}))
    cli("put-role-policy", role, "kms", str(policy))

    out = cli("assume-role", arn, "cli-session", "--duration-seconds", "900").output
    exports = dict(line[len("export "):].split("=", 1) for line in out.splitlines() if line.startswith("export "))
    assert set(exports) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
    for key, value in exports.items():
        monkeypatch.setenv(key, value)
    assert printed_record(cli("whoami").output)["ARN"].endswith(f"assumed-role/{role}/cli-session")

    for key in exports:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    named = cli("assume-role", "--role-arn", arn, "--role-session-name", "aws-cli-style").output  # the AWS CLI's names
    assert "export AWS_SESSION_TOKEN=" in named
    assert cli("assume-role", "--role-arn", arn, ok=False).exit_code == 2
    failed = cli("delete-role", role, ok=False)
    assert failed.exit_code == 1 and "DeleteConflict" in failed.output


def test_cli_errors(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = cli("create-role", f"r-{uuid.uuid4().hex[:6]}", "--trust-policy", str(bad), ok=False)
    assert result.exit_code == 1 and "MalformedPolicyDocument" in result.output
    missing = cli("create-role", "x", "--trust-policy", str(tmp_path / "nope.json"), ok=False)
    assert missing.exit_code == 2 and "cannot read" in missing.output
    gone = cli("delete-user", f"nobody-{uuid.uuid4().hex[:6]}", ok=False)
    assert gone.exit_code == 1 and "NoSuchEntity" in gone.output
    deleted = cli("delete-role", f"nobody-{uuid.uuid4().hex[:6]}", ok=False)
    assert deleted.exit_code == 1


def test_cli_without_credentials(cli, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = cli("whoami", ok=False)
    assert result.exit_code == 2 and "no AWS credentials" in result.output


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL"])
def test_cli_reads_the_aws_endpoint_variables_like_params_does(cli, server, monkeypatch, variable):
    monkeypatch.delenv("PARAMSTORE_ENDPOINT_URL")
    monkeypatch.setenv(variable, server.url)
    assert printed_record(cli("whoami").output)["ACCOUNT"] == ACCOUNT_ID


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("paramstore ")


def test_the_endpoint_option_works_before_or_after_the_subcommand(cli, server, monkeypatch):
    monkeypatch.delenv("PARAMSTORE_ENDPOINT_URL")
    assert printed_record(cli("whoami", "--endpoint-url", server.url).output)["ACCOUNT"] == ACCOUNT_ID
    assert printed_record(cli("--endpoint-url", server.url, "whoami", "--region", "us-east-1").output)["ACCOUNT"] == ACCOUNT_ID
