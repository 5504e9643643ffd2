"""Real, unmodified Secrets Manager clients against the server, with only an endpoint set:
AWS's caching client for Python (aws-secretsmanager-caching), AWS Lambda Powertools'
secrets utility, the AWS CLI (v1) and the AWS SDK for JavaScript v3 (tests/js/).

Every test works under its own uuid names: the server is shared by the whole session."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY

AWS_CLI = Path(sys.executable).parent / "aws"
JS_DIR = Path(__file__).resolve().parent.parent / "js"
ARN_PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:"


@pytest.fixture
def sm(server):
    return server.client("secretsmanager")


@pytest.fixture
def name() -> str:
    return f"rc/{uuid.uuid4().hex[:12]}"


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """The test credentials and nothing else of AWS: no profile, no config file, no retries."""
    (tmp_path / "aws-empty").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PARAMSTORE_"))}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
               AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, AWS_CONFIG_FILE=str(tmp_path / "aws-empty"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-empty"), AWS_MAX_ATTEMPTS="1",
               AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="")
    return env


@pytest.fixture
def aws_environment(monkeypatch, tmp_path):
    """This process's environment as _clean_env's; the test then adds the endpoint variable."""
    for variable in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(variable)
    for variable, value in _clean_env(tmp_path).items():
        if variable.startswith("AWS_"):
            monkeypatch.setenv(variable, value)
    return monkeypatch


def _record_requests(client) -> list[str]:
    """The operations this client puts on the wire, in order (botocore's before-send event fires
    once per HTTP request, after any client-side caching has had its say)."""
    sent: list[str] = []
    client.meta.events.register("before-send.secrets-manager",
                                lambda request, event_name, **_: sent.append(event_name.rsplit(".", 1)[1]))
    return sent


# --- aws-secretsmanager-caching ---------------------------------------------------------------

caching = pytest.importorskip("aws_secretsmanager_caching")
from aws_secretsmanager_caching import (  # noqa: E402
    InjectKeywordedSecretString,
    InjectSecretString,
    SecretCache,
    SecretCacheConfig,
)

# The cache refreshes a secret's metadata (DescribeSecret) after randint(round(n / 2), n) seconds
# (cache/items.py, SecretCacheItem._execute_refresh); with n = 1 that can be 0, so 2 is the smallest
# interval under which "not before the interval" is testable: no refresh for at least 1 s.
REFRESH = 2


def _sleep_past_refresh(since: float) -> None:
    time.sleep(max(0.0, since + REFRESH + 0.05 - time.monotonic()))


def test_secret_cache_serves_repeat_reads_and_sees_a_new_current_value_after_refresh(server, sm, name):
    writer = server.client("secretsmanager")
    first = writer.create_secret(Name=name, SecretString='{"user": "app", "password": "one"}')
    reader = server.client("secretsmanager")
    sent = _record_requests(reader)
    cache = SecretCache(config=SecretCacheConfig(secret_refresh_interval=REFRESH), client=reader)

    assert cache.get_secret_string(name) == '{"user": "app", "password": "one"}'
    read_at = time.monotonic()
    assert sent == ["DescribeSecret", "GetSecretValue"]

    second = writer.put_secret_value(SecretId=name, SecretString='{"user": "app", "password": "two"}')
    assert second["VersionStages"] == ["AWSCURRENT"]
    for _ in range(25):
        assert cache.get_secret_string(name) == '{"user": "app", "password": "one"}'
    # the cached metadata (DescribeSecret) knows no AWSPREVIOUS yet
    assert cache.get_secret_string(name, "AWSPREVIOUS") is None

    @InjectKeywordedSecretString(secret_id=name, cache=cache, user="user", password="password")
    def connect(user: str, password: str) -> tuple[str, str]:
        return user, password

    @InjectSecretString(name, cache)
    def raw(secret: str) -> str:
        return secret

    assert connect() == ("app", "one")
    assert json.loads(raw())["password"] == "one"
    assert time.monotonic() - read_at < REFRESH / 2, "too slow to show the cache held the value"
    assert sent == ["DescribeSecret", "GetSecretValue"], "repeat reads reached the server"

    _sleep_past_refresh(read_at)
    assert cache.get_secret_string(name) == '{"user": "app", "password": "two"}'
    assert connect() == ("app", "two")
    assert sent == ["DescribeSecret", "GetSecretValue", "DescribeSecret", "GetSecretValue"]
    # the earlier version is now AWSPREVIOUS, and already cached under its version id
    assert cache.get_secret_string(name, "AWSPREVIOUS") == '{"user": "app", "password": "one"}'
    assert len(sent) == 4
    assert {first["VersionId"], second["VersionId"]} == set(
        sm.describe_secret(SecretId=name)["VersionIdsToStages"])


def test_secret_cache_follows_a_rotation_by_version_stages(server, sm, name):
    """What a rotation function does, step by step: createSecret puts the new value as AWSPENDING,
    finishSecret moves AWSCURRENT to it.  A cache sees the new value only after the move, and then
    reads no value again: it already holds the pending version under its id."""
    old = sm.create_secret(Name=name, SecretString="old-password")["VersionId"]
    reader = server.client("secretsmanager")
    sent = _record_requests(reader)
    cache = SecretCache(config=SecretCacheConfig(secret_refresh_interval=REFRESH), client=reader)
    assert cache.get_secret_string(name) == "old-password"
    first_read_at = time.monotonic()

    token = str(uuid.uuid4())
    pending = sm.put_secret_value(SecretId=name, ClientRequestToken=token, SecretString="new-password",
                                  VersionStages=["AWSPENDING"])
    assert pending["VersionId"] == token and pending["VersionStages"] == ["AWSPENDING"]
    assert cache.get_secret_string(name) == "old-password"
    assert cache.get_secret_string(name, "AWSPENDING") is None  # its metadata predates the new version
    assert sent == ["DescribeSecret", "GetSecretValue"]

    # the rotation's testSecret step reads the pending value, through a cache of its own here
    tester = server.client("secretsmanager")
    sent2 = _record_requests(tester)
    cache2 = SecretCache(config=SecretCacheConfig(secret_refresh_interval=REFRESH), client=tester)
    assert cache2.get_secret_string(name, "AWSPENDING") == "new-password"
    assert cache2.get_secret_string(name) == "old-password"
    read_at = time.monotonic()
    assert sent2 == ["DescribeSecret", "GetSecretValue", "GetSecretValue"]

    # finishSecret (refresh_secret_now would sleep 2.5-5 s of jitter first: the interval is used instead)
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                   RemoveFromVersionId=old)
    assert cache.get_secret_string(name) == "old-password"
    assert cache2.get_secret_string(name) == "old-password"
    assert len(sent) == 2 and len(sent2) == 3
    assert time.monotonic() - first_read_at < REFRESH / 2, "too slow to show the caches held the value"
    _sleep_past_refresh(read_at)
    assert cache.get_secret_string(name) == "new-password"
    assert sent[2:] == ["DescribeSecret", "GetSecretValue"]
    assert cache2.get_secret_string(name) == "new-password"
    assert cache2.get_secret_string(name, "AWSPREVIOUS") == "old-password"
    assert sent2[3:] == ["DescribeSecret"], "a version the cache held was read again"
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[token] and stages[old] == ["AWSPREVIOUS"]


def test_secret_cache_sees_a_server_run_rotation_after_refresh(server, sm, name):
    """RotateSecret with the built-in generator (the server runs the four steps); the
    cache keeps the old password until its refresh interval, then has the rotated one."""
    from tests.conftest import ACCOUNT_ID, REGION

    sm.create_secret(Name=name, SecretString='{"user": "app", "password": "before-rotation"}')
    cache = SecretCache(config=SecretCacheConfig(secret_refresh_interval=REFRESH),
                        client=server.client("secretsmanager"))
    assert json.loads(cache.get_secret_string(name))["password"] == "before-rotation"
    read_at = time.monotonic()
    sm.rotate_secret(SecretId=name,
                     RotationLambdaARN=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:paramstore-rotate-json-password")
    assert server.app.state.store.secrets.rotations.wait_idle(20)
    rotated = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["password"]
    assert rotated != "before-rotation"
    if time.monotonic() - read_at < REFRESH / 2:
        assert json.loads(cache.get_secret_string(name))["password"] == "before-rotation"
    _sleep_past_refresh(read_at)
    assert json.loads(cache.get_secret_string(name))["password"] == rotated


def test_secret_cache_binary_and_missing_secrets(server, sm, name):
    blob = bytes(range(256)) + b"\x00tail"
    sm.create_secret(Name=name, SecretBinary=blob)
    reader = server.client("secretsmanager")
    sent = _record_requests(reader)
    cache = SecretCache(config=SecretCacheConfig(secret_refresh_interval=REFRESH), client=reader)
    assert cache.get_secret_binary(name) == blob
    assert cache.get_secret_string(name) is None
    assert cache.get_secret_binary(name) == blob
    assert sent == ["DescribeSecret", "GetSecretValue"]

    missing = f"{name}-missing"
    with pytest.raises(ClientError) as raised:
        cache.get_secret_string(missing)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert sent[2:] == ["DescribeSecret"]


def test_secret_cache_finds_the_server_by_environment(server, sm, name, aws_environment):
    """SecretCache() with no client builds its own botocore client: only the endpoint variable is set."""
    sm.create_secret(Name=name, SecretString="from the environment")
    aws_environment.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", server.url)
    cache = SecretCache(config=SecretCacheConfig(secret_refresh_interval=REFRESH))
    assert cache.get_secret_string(name) == "from the environment"
    assert cache.get_secret_string(sm.describe_secret(SecretId=name)["ARN"]) == "from the environment"


# --- AWS Lambda Powertools --------------------------------------------------------------------

parameters = pytest.importorskip("aws_lambda_powertools.utilities.parameters")


@pytest.fixture
def fresh_default_providers():
    """The module-level functions keep one provider (and its client) per process: start and end without."""
    parameters.clear_caches()
    yield
    parameters.clear_caches()


def test_powertools_provider_with_boto3_client(server, sm, name):
    first = sm.create_secret(Name=name, SecretString='{"host": "db.internal", "port": 5432}')
    sm.create_secret(Name=f"{name}-bin", SecretBinary=b"\x00\x01binary\xff")
    sm.create_secret(Name=f"{name}-b64", SecretString=base64.b64encode(b"\xde\xad\xbe\xef").decode())
    reader = server.client("secretsmanager")
    sent = _record_requests(reader)
    provider = parameters.SecretsProvider(boto3_client=reader)

    assert provider.get(name) == '{"host": "db.internal", "port": 5432}'
    assert provider.get(name, transform="json") == {"host": "db.internal", "port": 5432}
    assert provider.get(f"{name}-bin") == b"\x00\x01binary\xff"
    assert provider.get(f"{name}-b64", transform="binary") == b"\xde\xad\xbe\xef"
    assert len(sent) == 4

    # cached for 5 s by default; force_fetch goes to the server, max_age=0 is not cached at all
    sm.put_secret_value(SecretId=name, SecretString='{"host": "db2.internal", "port": 5433}')
    assert provider.get(name, transform="json") == {"host": "db.internal", "port": 5432}
    assert len(sent) == 4
    assert provider.get(name, transform="json", force_fetch=True) == {"host": "db2.internal", "port": 5433}
    sm.put_secret_value(SecretId=name, SecretString='{"host": "db3.internal", "port": 5434}')
    assert provider.get(name, transform="json") == {"host": "db2.internal", "port": 5433}
    uncached = parameters.SecretsProvider(boto3_client=reader)
    assert uncached.get(name, max_age=0) == '{"host": "db3.internal", "port": 5434}'
    assert uncached.get(name, max_age=0) == '{"host": "db3.internal", "port": 5434}'
    assert len(sent) == 7
    assert provider.get(name, VersionId=first["VersionId"], force_fetch=True) == (
        '{"host": "db.internal", "port": 5432}')
    assert provider.get(name, VersionStage="AWSPREVIOUS", force_fetch=True) == (
        '{"host": "db2.internal", "port": 5433}')
    assert sent == ["GetSecretValue"] * 9

    # several at once: BatchGetSecretValue with a name filter (a prefix match, as on AWS)
    assert provider.get_multiple([f"{name}-bin", f"{name}-b64"]) == {
        f"{name}-bin": b"\x00\x01binary\xff", f"{name}-b64": base64.b64encode(b"\xde\xad\xbe\xef").decode()}
    assert provider.get_multiple([name], force_fetch=True) == {
        name: '{"host": "db3.internal", "port": 5434}', f"{name}-bin": b"\x00\x01binary\xff",
        f"{name}-b64": base64.b64encode(b"\xde\xad\xbe\xef").decode()}
    with pytest.raises(parameters.exceptions.GetSecretError):
        provider.get_multiple([f"{name}-none-"])

    with pytest.raises(parameters.GetParameterError, match="ResourceNotFoundException"):
        provider.get(f"{name}-missing")


def test_powertools_set_secret_puts_or_creates(server, sm, name):
    """set() tries PutSecretValue and creates the secret on ResourceNotFoundException."""
    provider = parameters.SecretsProvider(boto3_client=server.client("secretsmanager"))
    created = provider.set(name, {"api_key": "k1", "n": 1})
    assert created["Name"] == name and created["ARN"].startswith(ARN_PREFIX + name + "-")
    assert json.loads(sm.get_secret_value(SecretId=name)["SecretString"]) == {"api_key": "k1", "n": 1}

    token = str(uuid.uuid4())
    put = provider.set(name, "plain second value", client_request_token=token)
    assert put["VersionId"] == token and put["VersionStages"] == ["AWSCURRENT"]
    assert provider.set(name, "plain second value", client_request_token=token)["VersionId"] == token
    provider.set(f"{name}-bytes", b"\x00\xffbytes")
    assert sm.get_secret_value(SecretId=f"{name}-bytes")["SecretBinary"] == b"\x00\xffbytes"

    versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert {v["VersionId"]: v["VersionStages"] for v in versions} == {
        created["VersionId"]: ["AWSPREVIOUS"], token: ["AWSCURRENT"]}

    # a client token reused with another value is the server's error, passed through
    with pytest.raises(parameters.exceptions.SetSecretError, match="ResourceExistsException"):
        provider.set(name, "a different value", client_request_token=token)


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"])
def test_powertools_module_functions_find_the_server_by_environment(server, sm, name, variable, aws_environment,
                                                                     fresh_default_providers):
    """The documented one-liners, with only an endpoint variable pointing at the server."""
    sm.create_secret(Name=name, SecretString='{"user": "svc", "password": "p\u00e4ss \\"w\\""}')
    sm.create_secret(Name=f"{name}-other", SecretString="other")
    aws_environment.setenv(variable, server.url)

    assert parameters.get_secret(name) == '{"user": "svc", "password": "p\u00e4ss \\"w\\""}'
    assert parameters.get_secret(name, transform="json") == {"user": "svc", "password": 'p\u00e4ss "w"'}
    assert parameters.get_secrets_by_name([f"{name}-other"]) == {f"{name}-other": "other"}

    sm.put_secret_value(SecretId=name, SecretString='{"user": "svc", "password": "rotated"}')
    assert parameters.get_secret(name, transform="json")["password"] == 'p\u00e4ss "w"'  # cached (5 s)
    assert parameters.get_secret(name, transform="json", force_fetch=True)["password"] == "rotated"
    assert parameters.get_secret(name, transform="json", max_age=0, force_fetch=True)["password"] == "rotated"

    parameters.set_secret(f"{name}-set", "written by powertools")
    assert sm.get_secret_value(SecretId=f"{name}-set")["SecretString"] == "written by powertools"
    parameters.set_secret(f"{name}-set", "written again")
    assert parameters.get_secret(f"{name}-set", force_fetch=True) == "written again"

    with pytest.raises(parameters.GetParameterError, match="ResourceNotFoundException"):
        parameters.get_secret(f"{name}-missing")


def test_powertools_provider_from_boto_config(server, sm, name, aws_environment):
    """SecretsProvider(boto_config=...) builds its own client: the endpoint comes from the environment."""
    sm.create_secret(Name=name, SecretString='{"a": [1, 2, 3]}')
    aws_environment.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", server.url)
    provider = parameters.SecretsProvider(boto_config=Config(region_name=REGION, retries={"total_max_attempts": 1}))
    assert provider.get(name, transform="json") == {"a": [1, 2, 3]}
    assert provider.client.meta.endpoint_url == server.url
    provider.set(name, {"a": [4]})
    assert provider.get(name, transform="json", force_fetch=True) == {"a": [4]}


# --- AWS CLI ----------------------------------------------------------------------------------

@pytest.fixture
def aws(server, tmp_path):
    """Run `aws secretsmanager ...` against the server with a clean, explicit environment."""
    env = _clean_env(tmp_path)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        output = [] if "--output" in args else ["--output", "json"]
        cmd = [str(AWS_CLI), "secretsmanager", *args, "--endpoint-url", server.url, *output]
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        if check:
            assert proc.returncode == 0, (cmd, proc.returncode, proc.stdout, proc.stderr)
        return proc

    return run


def test_aws_cli_secret_lifecycle(aws, sm, name, tmp_path):
    value = '{"username": "admin", "password": "p\u00e4ss w\\"rd"}'
    created = json.loads(aws("create-secret", "--name", name, "--description", "from the aws cli",
                             "--secret-string", value, "--tags", "Key=env,Value=test").stdout)
    assert created["Name"] == name and created["ARN"].startswith(ARN_PREFIX + name + "-")
    first_version = created["VersionId"]
    assert sm.describe_secret(SecretId=name)["ARN"] == created["ARN"]  # really on the server

    got = json.loads(aws("get-secret-value", "--secret-id", name).stdout)
    assert got["SecretString"] == value and got["VersionId"] == first_version
    assert got["VersionStages"] == ["AWSCURRENT"] and got["ARN"] == created["ARN"]
    text = aws("get-secret-value", "--secret-id", created["ARN"], "--query", "SecretString",
               "--output", "text").stdout
    assert text == value + "\n"

    (tmp_path / "second.txt").write_text("second\nvalue \u00e9\n", encoding="utf-8")
    put = json.loads(aws("put-secret-value", "--secret-id", name, "--secret-string", "file://second.txt").stdout)
    assert put["VersionStages"] == ["AWSCURRENT"] and put["VersionId"] != first_version
    assert aws("get-secret-value", "--secret-id", name, "--query", "SecretString",
               "--output", "text").stdout == "second\nvalue \u00e9\n\n"
    assert json.loads(aws("get-secret-value", "--secret-id", name, "--version-stage", "AWSPREVIOUS")
                      .stdout)["SecretString"] == value

    versions = json.loads(aws("list-secret-version-ids", "--secret-id", name).stdout)
    assert versions["ARN"] == created["ARN"] and versions["Name"] == name
    assert {v["VersionId"]: v["VersionStages"] for v in versions["Versions"]} == {
        first_version: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}

    described = json.loads(aws("describe-secret", "--secret-id", name).stdout)
    assert described["Name"] == name and described["Description"] == "from the aws cli"
    assert described["Tags"] == [{"Key": "env", "Value": "test"}]
    assert described["VersionIdsToStages"] == {first_version: ["AWSPREVIOUS"], put["VersionId"]: ["AWSCURRENT"]}
    assert "DeletedDate" not in described

    deleted = json.loads(aws("delete-secret", "--secret-id", name, "--force-delete-without-recovery").stdout)
    assert deleted["Name"] == name and deleted["ARN"] == created["ARN"] and "DeletionDate" in deleted
    gone = aws("get-secret-value", "--secret-id", name, check=False)
    assert gone.returncode != 0 and "ResourceNotFoundException" in gone.stderr, gone.stderr
    with pytest.raises(ClientError) as raised:
        sm.describe_secret(SecretId=name)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_aws_cli_binary_secret_recovery_window_and_errors(aws, sm, name, tmp_path):
    blob = os.urandom(64) + b"\x00\xff"
    (tmp_path / "blob.bin").write_bytes(blob)
    aws("create-secret", "--name", name, "--secret-binary", "fileb://blob.bin")
    b64 = aws("get-secret-value", "--secret-id", name, "--query", "SecretBinary", "--output", "text").stdout
    assert base64.b64decode(b64.strip(), validate=True) == blob

    again = aws("create-secret", "--name", name, "--secret-string", "x", check=False)
    assert again.returncode != 0 and "ResourceExistsException" in again.stderr, again.stderr

    scheduled = json.loads(aws("delete-secret", "--secret-id", name, "--recovery-window-in-days", "7").stdout)
    assert scheduled["Name"] == name
    refused = aws("get-secret-value", "--secret-id", name, check=False)
    assert refused.returncode != 0 and "InvalidRequestException" in refused.stderr, refused.stderr
    assert "DeletedDate" in json.loads(aws("describe-secret", "--secret-id", name).stdout)
    aws("restore-secret", "--secret-id", name)
    assert sm.get_secret_value(SecretId=name)["SecretBinary"] == blob
    aws("delete-secret", "--secret-id", name, "--force-delete-without-recovery")


# --- AWS SDK for JavaScript v3 ----------------------------------------------------------------

def _installed_matches_lock() -> bool:
    """npm's own record of what node_modules holds (its hidden lockfile) equals package-lock.json."""
    try:
        lock = json.loads((JS_DIR / "package-lock.json").read_text())["packages"]
        installed = json.loads((JS_DIR / "node_modules" / ".package-lock.json").read_text())["packages"]
    except (OSError, ValueError, KeyError):
        return False
    return {k: v for k, v in lock.items() if k} == installed


@pytest.fixture(scope="session")
def node_sdk() -> str:
    """tests/js/node_modules installed from package-lock.json (`npm ci`), once per session; the
    path of `node`.  Skips only when node or npm is not installed: an install that fails is an error."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are not installed")
    # one installer at a time across concurrent test sessions of this checkout
    lock_path = Path(tempfile.gettempdir()) / f"paramstore-npm-{hashlib.sha256(str(JS_DIR).encode()).hexdigest()[:12]}"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed_matches_lock():
            proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR,
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, ("npm ci failed", proc.stdout, proc.stderr)
            assert _installed_matches_lock()
    return node


def test_javascript_sdk_v3_client(server, sm, name, node_sdk, tmp_path):
    env = _clean_env(tmp_path) | {"AWS_ENDPOINT_URL_SECRETS_MANAGER": server.url, "SECRET_NAME": name}
    proc = subprocess.run([node_sdk, str(JS_DIR / "secrets_client.mjs")], env=env, cwd=JS_DIR,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    out = json.loads(proc.stdout)
    assert out["hosts"] == [server.url]

    arn = sm.describe_secret(SecretId=name)["ARN"]  # the script's secret is on this server
    first_version = out["created"]["VersionId"]
    token = "js-token-" + "0" * 24
    assert out["created"] == {"ARN": arn, "Name": name, "VersionId": first_version}
    user = {"user": "app", "password": 'p\u00e4ss "w" 1'}
    assert json.loads(out["first"]["SecretString"]) == user
    assert out["first"] | {"SecretString": None} == {"SecretString": None, "VersionId": first_version,
                                                      "VersionStages": ["AWSCURRENT"], "CreatedDateIsDate": True}
    assert out["put"] == {"VersionId": token, "VersionStages": ["AWSCURRENT"]}
    assert out["putAgain"] == {"VersionId": token}
    assert out["current"] == {"SecretString": "second value", "VersionId": token}
    assert json.loads(out["previous"]["SecretString"]) == user and out["previous"]["VersionId"] == first_version
    assert sorted(out["versions"], key=lambda v: v["VersionId"]) == sorted([
        {"VersionId": token, "VersionStages": ["AWSCURRENT"], "CreatedDateIsDate": True},
        {"VersionId": first_version, "VersionStages": ["AWSPREVIOUS", "blue"], "CreatedDateIsDate": True}],
        key=lambda v: v["VersionId"])

    described = out["described"]
    assert described["ARN"] == arn and described["Name"] == name
    assert described["Description"] == "from the JavaScript SDK v3"
    assert described["Tags"] == [{"Key": "team", "Value": "js"}]
    assert {k: sorted(v) for k, v in described["VersionIdsToStages"].items()} == {
        token: ["AWSCURRENT"], first_version: ["AWSPREVIOUS", "blue"]}
    assert described["CreatedDate"].endswith("Z") and described["LastChangedDate"] >= described["CreatedDate"]

    assert out["binary"] == {"SecretBinary": [0, 1, 2, 253, 254, 255, 10, 13], "SecretStringAbsent": True,
                             "isUint8Array": True}
    assert out["listed"] == [name, f"{name}-bin"]
    assert out["paged"] == [[name], [f"{name}-bin"]]
    assert out["batch"] == {"values": {name: "second value", f"{name}-bin": [0, 1, 2, 253, 254, 255, 10, 13]},
                            "errors": [{"SecretId": f"{name}-missing", "ErrorCode": "ResourceNotFoundException"}]}
    assert len(out["randomPassword"]) == 24 and out["randomPassword"].isalnum()

    assert out["errors"]["missing"]["name"] == "ResourceNotFoundException"
    assert out["errors"]["missing"]["status"] == 400
    assert out["errors"]["duplicate"] == {"name": "ResourceExistsException", "status": 400}
    assert out["deleted"] == {"Name": f"{name}-bin", "DeletionDateIsDate": True}
    assert out["errors"]["afterDelete"] == {"name": "ResourceNotFoundException"}
    assert sm.get_secret_value(SecretId=name, VersionStage="blue")["VersionId"] == first_version
