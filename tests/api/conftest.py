"""Fixtures shared by the Parameter Store tests (the live servers are in tests/conftest.py)."""

from __future__ import annotations

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
