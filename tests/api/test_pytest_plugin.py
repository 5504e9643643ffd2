"""The pytest plugin (paramstore/pytest_plugin.py), as a project testing its application
would use it: sample test files run by a separate pytest process, which finds the plugin
through the package's `pytest11` entry point."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

pytest_plugins = ["pytester"]

APP = Path(__file__).resolve().parent.parent / "apps" / "startup_app.py"


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    plugins = {e.name: e.value for e in importlib.metadata.entry_points(group="pytest11")}
    assert plugins.get("paramstore") == "paramstore.pytest_plugin"


def test_each_test_gets_an_account_of_its_own(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the session's ephemeral store goes
    pytester.makepyfile(test_isolation="""
        import boto3
        import pytest

        accounts = []

        def test_first(paramstore_ssm, paramstore_account):
            accounts.append(paramstore_account.account_id)
            paramstore_ssm.put_parameter(Name="/isolation/secret", Value="first", Type="SecureString")
            assert paramstore_ssm.get_parameter(Name="/isolation/secret", WithDecryption=True)["Parameter"]["Value"] == "first"

        def test_second(paramstore_ssm, paramstore_kms, paramstore_account):
            assert accounts and paramstore_account.account_id != accounts[0]
            with pytest.raises(paramstore_ssm.exceptions.ParameterNotFound):
                paramstore_ssm.get_parameter(Name="/isolation/secret")
            assert paramstore_ssm.describe_parameters()["Parameters"] == []
            assert [k for k in paramstore_kms.list_aliases()["Aliases"] if "TargetKeyId" in k] == []

        def test_the_key_signs_as_the_accounts_admin(paramstore_account):
            sts = paramstore_account.client("sts")
            assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{paramstore_account.account_id}:user/admin"
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert list(tmp_path.glob("paramstore-ephemeral-*")) == []  # the store went with the session


def test_the_environment_points_the_app_at_the_server_and_is_restored(pytester):
    pytester.makepyfile(test_env=f"""
        import json
        import os
        import subprocess
        import sys

        import boto3

        os.environ["AWS_ENDPOINT_URL_SSM"] = "http://outer.example"
        os.environ["AWS_SESSION_TOKEN"] = "a token that would break signing"

        def test_variables(paramstore_env):
            assert os.environ["AWS_ENDPOINT_URL_SSM"] == os.environ["AWS_ENDPOINT_URL_KMS"] == paramstore_env.endpoint_url
            assert os.environ["AWS_ACCESS_KEY_ID"] == paramstore_env.access_key_id
            assert os.environ["AWS_SECRET_ACCESS_KEY"] == paramstore_env.secret_access_key
            assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
            assert "AWS_SESSION_TOKEN" not in os.environ

        def test_an_app_in_this_process(paramstore_ssm):
            paramstore_ssm.put_parameter(Name="/myapp/prod/db-password", Value="in-process", Type="SecureString")
            ssm = boto3.client("ssm")  # what the app does: nothing but the environment
            assert ssm.get_parameter(Name="/myapp/prod/db-password", WithDecryption=True)["Parameter"]["Value"] == "in-process"

        def test_a_secrets_manager_app(paramstore_secretsmanager):
            paramstore_secretsmanager.create_secret(Name="myapp/prod/db", SecretString='{{"password": "sm"}}')
            secrets = boto3.client("secretsmanager")  # the environment alone
            assert json.loads(secrets.get_secret_value(SecretId="myapp/prod/db")["SecretString"]) == {{"password": "sm"}}

        def test_an_app_in_its_own_process(paramstore_ssm):
            paramstore_ssm.put_parameter(Name="/myapp/prod/db-password", Value="s3cret", Type="SecureString")
            out = subprocess.run([sys.executable, {str(APP)!r}], capture_output=True, text=True, check=True).stdout
            assert json.loads(out) == {{"/myapp/prod/db-password": "s3cret"}}

        def test_restored_afterwards():
            assert os.environ["AWS_ENDPOINT_URL_SSM"] == "http://outer.example"
            assert os.environ["AWS_SESSION_TOKEN"] == "a token that would break signing"
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_a_session_that_uses_no_fixture_starts_nothing(pytester, monkeypatch, tmp_path):
    """Loaded into every pytest run: it defines fixtures, and nothing else happens."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    pytester.makepyfile(test_idle="""
        import sys
        import threading

        def test_nothing_was_started_or_imported(request):
            assert request.config.pluginmanager.get_plugin("paramstore") is not None
            heavy = {"boto3", "uvicorn", "fastapi", "sqlalchemy", "paramstore.server", "paramstore.ephemeral"}
            assert heavy.isdisjoint(sys.modules)
            assert [t.name for t in threading.enumerate() if t.name.startswith("paramstore")] == []
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert list(tmp_path.iterdir()) == []


def test_the_plugin_can_be_turned_off(pytester):
    pytester.makepyfile(test_off="""
        def test_no_fixture(request):
            assert request.config.pluginmanager.get_plugin("paramstore") is None
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:paramstore")
    result.assert_outcomes(passed=1)
