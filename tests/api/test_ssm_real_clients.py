"""Real, unmodified SSM clients against the server: AWS Lambda Powertools' parameters
utility, the AWS CLI (v1), and an application that only knows AWS_ENDPOINT_URL_SSM.

Every test works under its own uuid path: the server is shared by the whole session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from botocore.config import Config

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY

AWS_CLI = Path(sys.executable).parent / "aws"
APPS = Path(__file__).resolve().parent.parent / "apps"


@pytest.fixture
def base() -> str:
    return f"/rc-{uuid.uuid4().hex[:10]}"


def _clean_env(server, tmp_path: Path) -> dict[str, str]:
    """The test credentials and nothing else of AWS: no profile, no config file, no retries."""
    (tmp_path / "aws-empty").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARAMSTORE_"))}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(tmp_path / "aws-empty"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-empty"), AWS_MAX_ATTEMPTS="1",
               AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="")
    return env


# --- AWS Lambda Powertools --------------------------------------------------------------------

parameters = pytest.importorskip("aws_lambda_powertools.utilities.parameters")


@pytest.fixture
def fresh_default_providers():
    """The module-level functions keep one provider (and its client) per process: start and end without."""
    parameters.clear_caches()
    yield
    parameters.clear_caches()


@pytest.fixture
def powertools_params(ssm, base):
    """Two Strings, a SecureString and a JSON String under `base`, one of them a level deeper."""
    ssm.put_parameter(Name=f"{base}/db/host", Value="db.internal:5432", Type="String")
    ssm.put_parameter(Name=f"{base}/db/password", Value="p\u00e4ss=w\"rd\n2", Type="SecureString")
    ssm.put_parameter(Name=f"{base}/feature-flags", Value='{"beta": true, "limit": 5}', Type="String")
    ssm.put_parameter(Name=f"{base}/region", Value="eu-west-1", Type="String")
    return base


def test_powertools_provider_with_boto3_client(server, powertools_params):
    base = powertools_params
    provider = parameters.SSMProvider(boto3_client=server.client("ssm"))

    assert provider.get(f"{base}/db/password", decrypt=True) == "p\u00e4ss=w\"rd\n2"
    assert provider.get(f"{base}/db/password", decrypt=False, force_fetch=True) != "p\u00e4ss=w\"rd\n2"
    assert provider.get(f"{base}/feature-flags", transform="json") == {"beta": True, "limit": 5}

    assert provider.get_multiple(base, decrypt=True, recursive=True) == {
        "db/host": "db.internal:5432", "db/password": "p\u00e4ss=w\"rd\n2",
        "feature-flags": '{"beta": true, "limit": 5}', "region": "eu-west-1"}
    assert provider.get_multiple(base, recursive=False, force_fetch=True) == {
        "feature-flags": '{"beta": true, "limit": 5}', "region": "eu-west-1"}

    # a new provider: the one above cached the still-encrypted value under the same name
    by_name = parameters.SSMProvider(boto3_client=server.client("ssm")).get_parameters_by_name(
        {f"{base}/db/host": {}, f"{base}/db/password": {"decrypt": True},
         f"{base}/feature-flags": {"transform": "json"}})
    assert by_name == {f"{base}/db/host": "db.internal:5432", f"{base}/db/password": "p\u00e4ss=w\"rd\n2",
                       f"{base}/feature-flags": {"beta": True, "limit": 5}}


def test_powertools_module_functions_find_the_server_by_environment(server, powertools_params, monkeypatch,
                                                                     tmp_path, fresh_default_providers):
    """The documented one-liners, with only AWS_ENDPOINT_URL_SSM pointing at the server."""
    base = powertools_params
    for name, value in _clean_env(server, tmp_path).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", server.url)

    assert parameters.get_parameter(f"{base}/db/password", decrypt=True) == "p\u00e4ss=w\"rd\n2"
    assert parameters.get_parameters(base, decrypt=True) == {
        "db/host": "db.internal:5432", "db/password": "p\u00e4ss=w\"rd\n2",
        "feature-flags": '{"beta": true, "limit": 5}', "region": "eu-west-1"}
    all_decrypted = parameters.get_parameters_by_name(
        {f"{base}/db/host": {}, f"{base}/db/password": {}, f"{base}/region": {}}, decrypt=True)
    assert all_decrypted == {f"{base}/db/host": "db.internal:5432", f"{base}/db/password": "p\u00e4ss=w\"rd\n2",
                             f"{base}/region": "eu-west-1"}

    # a missing name: fail-fast by default, or gathered under "_errors"
    missing = f"{base}/not-there"
    with pytest.raises(parameters.GetParameterError):
        parameters.get_parameters_by_name({missing: {}, f"{base}/region": {}}, max_age=0)
    graceful = parameters.get_parameters_by_name({missing: {}, f"{base}/region": {}}, raise_on_error=False,
                                                 max_age=0)
    assert graceful == {"_errors": [missing], f"{base}/region": "eu-west-1"}
    with pytest.raises(parameters.GetParameterError):
        parameters.get_parameter(missing)


def test_powertools_provider_from_boto_config(server, powertools_params, monkeypatch, tmp_path):
    """SSMProvider(boto_config=...) builds its own client: the endpoint comes from the environment."""
    for name, value in _clean_env(server, tmp_path).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", server.url)
    provider = parameters.SSMProvider(boto_config=Config(region_name=REGION, retries={"total_max_attempts": 1}))
    assert provider.get(f"{powertools_params}/region") == "eu-west-1"
    provider.set(f"{powertools_params}/written", "by powertools", parameter_type="SecureString")
    assert provider.get(f"{powertools_params}/written", decrypt=True) == "by powertools"


# --- AWS CLI ----------------------------------------------------------------------------------

@pytest.fixture
def aws(server, tmp_path):
    """Run `aws ssm ...` against the server with a clean, explicit environment."""
    env = _clean_env(server, tmp_path)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        output = [] if "--output" in args else ["--output", "json"]
        cmd = [str(AWS_CLI), "ssm", *args, "--endpoint-url", server.url, *output]
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        if check:
            assert proc.returncode == 0, (cmd, proc.returncode, proc.stdout, proc.stderr)
        return proc

    return run


def test_aws_cli_put_get_history_and_labels(aws, base, tmp_path):
    name = f"{base}/api/token"
    put = json.loads(aws("put-parameter", "--name", name, "--value", "first-token", "--type", "SecureString").stdout)
    assert put == {"Version": 1, "Tier": "Standard"}
    (tmp_path / "token.txt").write_text("second\ntoken \u00e9\n", encoding="utf-8")
    assert json.loads(aws("put-parameter", "--name", name, "--value", "file://token.txt", "--type", "SecureString",
                          "--overwrite").stdout)["Version"] == 2

    got = json.loads(aws("get-parameter", "--name", name, "--with-decryption").stdout)["Parameter"]
    assert got["Value"] == "second\ntoken \u00e9\n" and got["Version"] == 2 and got["Type"] == "SecureString"
    assert got["ARN"] == f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter{name}"
    hidden = json.loads(aws("get-parameter", "--name", name).stdout)["Parameter"]
    assert hidden["Value"] != got["Value"]

    labelled = json.loads(aws("label-parameter-version", "--name", name, "--parameter-version", "1",
                              "--labels", "prod", "stable").stdout)
    assert labelled["InvalidLabels"] == [] and labelled["ParameterVersion"] == 1
    by_label = json.loads(aws("get-parameter", "--name", f"{name}:prod", "--with-decryption").stdout)["Parameter"]
    assert by_label["Value"] == "first-token" and by_label["Selector"] == ":prod"

    history = json.loads(aws("get-parameter-history", "--name", name, "--with-decryption").stdout)["Parameters"]
    assert [(h["Version"], h["Value"], sorted(h["Labels"])) for h in history] == [
        (1, "first-token", ["prod", "stable"]), (2, "second\ntoken \u00e9\n", [])]
    assert all(h["LastModifiedUser"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:") for h in history)

    text = aws("get-parameter", "--name", name, "--with-decryption", "--query", "Parameter.Value",
               "--output", "text").stdout
    assert text == "second\ntoken \u00e9\n\n"


def test_aws_cli_get_parameters_by_path_recursive_pages(aws, ssm, base):
    expected = {}
    for i in range(23):
        name = f"{base}/svc{i % 3}/key{i:02d}"
        kind = "SecureString" if i % 2 else "String"
        ssm.put_parameter(Name=name, Value=f"value-{i}", Type=kind)
        expected[name] = f"value-{i}"
    ssm.put_parameter(Name=f"{base}-sibling/not-under", Value="x", Type="String")

    # the CLI follows NextToken itself; --page-size makes it take several pages
    found = json.loads(aws("get-parameters-by-path", "--path", base, "--recursive", "--with-decryption",
                           "--page-size", "4").stdout)["Parameters"]
    assert {p["Name"]: p["Value"] for p in found} == expected
    one_level = json.loads(aws("get-parameters-by-path", "--path", base).stdout)["Parameters"]
    assert one_level == []
    svc0 = json.loads(aws("get-parameters-by-path", "--path", f"{base}/svc0", "--with-decryption").stdout)
    assert {p["Name"] for p in svc0["Parameters"]} == {n for n in expected if "/svc0/" in n}


def test_aws_cli_errors(aws, base):
    missing = aws("get-parameter", "--name", f"{base}/missing", check=False)
    assert missing.returncode != 0 and "ParameterNotFound" in missing.stderr, missing.stderr
    aws("put-parameter", "--name", f"{base}/once", "--value", "v", "--type", "String")
    again = aws("put-parameter", "--name", f"{base}/once", "--value", "v", "--type", "String", check=False)
    assert again.returncode != 0 and "ParameterAlreadyExists" in again.stderr, again.stderr
    deleted = json.loads(aws("delete-parameters", "--names", f"{base}/once", f"{base}/missing").stdout)
    assert deleted == {"DeletedParameters": [f"{base}/once"], "InvalidParameters": [f"{base}/missing"]}


# --- an application at startup ----------------------------------------------------------------

def test_app_reads_its_configuration_at_startup(server, ssm, base, tmp_path):
    path = f"{base}/myapp/prod"
    config = {f"{path}/db-password": "hunter2 \"quoted\" \u00e9\nsecond line",
              f"{path}/api.key": "k-" + uuid.uuid4().hex,
              f"{path}/log-level": "debug",
              f"{path}/allowed-hosts": "a.example,b.example"}
    types = ["SecureString", "SecureString", "String", "StringList"]
    for (name, value), kind in zip(config.items(), types):
        ssm.put_parameter(Name=name, Value=value, Type=kind)

    env = _clean_env(server, tmp_path) | {"AWS_ENDPOINT_URL_SSM": server.url, "APP_PARAM_PATH": path}
    proc = subprocess.run([sys.executable, str(APPS / "startup_app.py")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == config

    # the same values with no SSM code at all: `paramstore params exec` puts them in the environment
    env = _clean_env(server, tmp_path) | {"PARAMSTORE_ENDPOINT_URL": server.url, "LOG_LEVEL": "info"}
    proc = subprocess.run([sys.executable, "-m", "paramstore", "params", "exec", path, "--",
                           sys.executable, str(APPS / "print_env.py"),
                           "DB_PASSWORD", "API_KEY", "LOG_LEVEL", "ALLOWED_HOSTS"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {name.rsplit("/", 1)[1].upper().replace("-", "_").replace(".", "_"): value
                                       for name, value in config.items()}


def test_app_follows_the_endpoint_variable(server, ssm, base, tmp_path):
    """AWS_ENDPOINT_URL_SSM alone decides where the app goes: pointed elsewhere, it fails there."""
    path = f"{base}/myapp/prod"
    ssm.put_parameter(Name=f"{path}/x", Value="1", Type="String")
    env = _clean_env(server, tmp_path) | {"APP_PARAM_PATH": path, "AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:9"}
    proc = subprocess.run([sys.executable, str(APPS / "startup_app.py")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "127.0.0.1:9" in proc.stderr
