"""pytest fixtures for testing applications against a real paramstore (docs/testing-apps.md).

Installed with the package and loaded by pytest through the `pytest11` entry point, so
this module runs in every pytest session of every project that has paramstore installed:
it only defines fixtures.  Nothing starts, and nothing beyond pytest is imported, until a
test asks for one of them (`-p no:paramstore` turns the plugin off).

- `paramstore_server` (session): the server, in this process, on a thread, on a free port
  of 127.0.0.1, over an ephemeral store (paramstore/ephemeral.py) removed at the end.
- `paramstore_account`: a new account for each test, with an `admin` IAM user allowed
  everything and an access key for it, made in-process in one write transaction: tests
  don't see each other's keys, parameters or identities.
- `paramstore_env`: the account's credentials and the server's endpoint in the variables the
  AWS SDKs and CLI read (AWS_ENDPOINT_URL_KMS / _SSM / _SECRETS_MANAGER / _STS / _IAM, AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), for the application under test; restored after.
- `paramstore_kms`, `paramstore_ssm`, `paramstore_secretsmanager`: boto3 clients signed as the account's admin (they set
  the environment too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from paramstore.ephemeral import Credentials, EphemeralServer

REGION = "us-east-1"
#: what paramstore_env sets besides the credentials: every service the server speaks
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                      "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_IAM")
#: variables that would change whom a client signs as, or where it sends: removed
_CLEARED = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
            "AWS_REGION")


@dataclass(frozen=True)
class ParamstoreAccount:
    """One test's account: where the server is and whom to sign as."""

    endpoint_url: str
    account_id: str
    access_key_id: str
    secret_access_key: str
    principal_arn: str
    region: str = REGION

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for `service` on the server, signed as this account's admin."""
        options: dict[str, Any] = dict(endpoint_url=self.endpoint_url, region_name=self.region,
                                       aws_access_key_id=self.access_key_id,
                                       aws_secret_access_key=self.secret_access_key)
        options.update(kwargs)
        return boto3_session().client(service, **options)

    @property
    def env(self) -> dict[str, str]:
        """The environment paramstore_env sets (for a subprocess: `env={**os.environ, **account.env}`)."""
        values = dict.fromkeys(ENDPOINT_VARIABLES, self.endpoint_url)
        values.update(AWS_ACCESS_KEY_ID=self.access_key_id, AWS_SECRET_ACCESS_KEY=self.secret_access_key,
                      AWS_DEFAULT_REGION=self.region)
        return values


_model_loader: Any = None


def boto3_session() -> Any:
    """A new boto3 session (it reads credentials from the environment as it is now), sharing
    one loader of the services' models with the others: a new session would load and parse
    them again, about 30 ms a client."""
    import boto3
    import botocore.session

    global _model_loader
    session = botocore.session.get_session()
    if _model_loader is None:
        _model_loader = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _model_loader)
    return boto3.session.Session(botocore_session=session)


@pytest.fixture(scope="session")
def paramstore_server() -> Iterator[EphemeralServer]:
    """The server for the whole session: real KMS, Parameter Store, IAM and STS on an
    ephemeral store, served from a thread of the test process."""
    from paramstore.ephemeral import EphemeralServer
    from paramstore.settings import Settings

    # the first account gets an access key of its own, whatever PARAMSTORE_ADMIN_* say
    settings = Settings(host="127.0.0.1", port=0, admin_access_key_id=None, admin_secret_access_key=None)
    server = EphemeralServer(settings, uvicorn_options=dict(loop="asyncio", log_config=None, log_level="warning"))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def paramstore_account(paramstore_server: EphemeralServer) -> ParamstoreAccount:
    """A new account for this test (an admin user with an access key)."""
    made: Credentials = paramstore_server.create_account()
    return ParamstoreAccount(paramstore_server.url, made.account_id, made.access_key_id, made.secret_access_key,
                             made.principal_arn)


@pytest.fixture
def paramstore_env(paramstore_account: ParamstoreAccount, monkeypatch: pytest.MonkeyPatch) -> ParamstoreAccount:
    """Point the AWS SDKs of this process (and of the processes it starts) at the server,
    as this test's account."""
    import boto3

    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in paramstore_account.env.items():
        monkeypatch.setenv(name, value)
    # boto3's default session keeps the first credentials it found: without a new one,
    # `boto3.client(...)` in this test would sign as an earlier test's account
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3_session())
    return paramstore_account


@pytest.fixture
def paramstore_kms(paramstore_env: ParamstoreAccount) -> Any:
    """A boto3 KMS client for this test's account."""
    return paramstore_env.client("kms")


@pytest.fixture
def paramstore_ssm(paramstore_env: ParamstoreAccount) -> Any:
    """A boto3 SSM client for this test's account."""
    return paramstore_env.client("ssm")


@pytest.fixture
def paramstore_secretsmanager(paramstore_env: ParamstoreAccount) -> Any:
    """A boto3 Secrets Manager client for this test's account."""
    return paramstore_env.client("secretsmanager")
