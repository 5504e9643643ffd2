"""Fixtures shared by the Parameter Store and CLI tests (the live servers are in tests/conftest.py)."""

from __future__ import annotations

import os
import uuid

import boto3
import pytest
from botocore.config import Config

from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY


@pytest.fixture
def ssm(server):
    return server.client("ssm")


@pytest.fixture
def raw(server):
    """An SSM client without botocore's client-side checks, so the server's own validation is reached."""
    return boto3.client("ssm", endpoint_url=server.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                        aws_secret_access_key=SECRET_ACCESS_KEY,
                        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False))


@pytest.fixture
def base() -> str:
    """A unique hierarchy for one test (the store is shared by the whole session)."""
    return f"/t/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def name(base) -> str:
    return f"{base}/p"


@pytest.fixture
def cli_environment(server, monkeypatch, tmp_path):
    """For the `paramstore` CLI in this process: the test credentials and server in the
    environment, and no stray AWS or paramstore settings."""
    for variable in [n for n in os.environ if n.startswith(("AWS_", "PARAMSTORE_"))]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("PARAMSTORE_ENDPOINT_URL", server.url)
    return server


@pytest.fixture
def paramstore(cli_environment):
    """`paramstore ARGS...` in this process; the command must succeed unless `ok=False`."""
    from typer.testing import CliRunner

    from paramstore.cli import app

    runner = CliRunner()

    def run(*args: str, ok: bool = True, input: str | None = None):
        result = runner.invoke(app, list(args), input=input)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    return run
