"""Request quotas (kms_core/protocol/throttling.py) through real boto3 clients against a live server
started with low quotas: the SDK's standard retry mode gets through, a client with retries
off sees ThrottlingException "Rate exceeded", and other accounts are not slowed."""

from __future__ import annotations

import textwrap
import time

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from tests.process_helpers import ServerProcess

OTHER_ACCOUNT = "444455556666"
OTHER_KEY_ID, OTHER_SECRET = "AKIAOTHERACCOUNT0001", "other-account-secret-0123456789abcdefgh"

SEED = textwrap.dedent(f"""\
    accounts:
      - id: "{OTHER_ACCOUNT}"
        access_keys:
          - id: {OTHER_KEY_ID}
            secret: {OTHER_SECRET}
""")

NO_RETRIES = Config(retries={"total_max_attempts": 1})
STANDARD_RETRIES = Config(retries={"mode": "standard", "max_attempts": 10})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("throttled")
    seed = data_dir / "seed.yaml"
    seed.write_text(SEED)
    proc = ServerProcess(data_dir, extra_args=(
        "--seed", str(seed), "--quota", "ssm:reads=2", "--quota", "kms:crypto-rsa=1",
        "--quota", "kms:CreateKey=2", "--quota", "ssm:GetParameter=50", "--quota", "ssm:PutParameter=1000",
        "--quota", "secretsmanager:writes=2", "--quota", "secretsmanager:CreateSecret=1000"))
    yield proc.wait_ready()
    proc.stop()


def _client(server, service, config=NO_RETRIES, key_id=ACCESS_KEY_ID, secret=SECRET_ACCESS_KEY):
    return boto3.client(service, endpoint_url=server.url, region_name=REGION, config=config,
                        aws_access_key_id=key_id, aws_secret_access_key=secret)


def _burst(call, n):
    """n calls back to back: (successes, throttling errors)."""
    ok, throttled = 0, []
    for _ in range(n):
        try:
            call()
            ok += 1
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "ThrottlingException", exc.response
            throttled.append(exc)
    return ok, throttled


def test_without_retries_the_client_sees_throttling_exception_rate_exceeded(server):
    ssm = _client(server, "ssm")
    ssm.put_parameter(Name="/throttle/a", Value="v", Type="String")
    started = time.monotonic()
    ok, throttled = _burst(lambda: ssm.get_parameter(Name="/throttle/a"), 12)
    elapsed = time.monotonic() - started
    assert throttled, "12 reads back to back at 2 per second were all answered"
    error = throttled[0].response
    assert error["Error"]["Message"] == "Rate exceeded"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ok <= 2 + 2 * elapsed + 1, (ok, elapsed)  # the bucket held two, plus what refilled meanwhile


def test_the_standard_retry_mode_gets_through(server):
    ssm = _client(server, "ssm", STANDARD_RETRIES)
    ssm.put_parameter(Name="/throttle/b", Value="v", Type="String", Overwrite=True)
    for _ in range(8):  # four seconds' worth of the quota
        assert ssm.get_parameter(Name="/throttle/b")["Parameter"]["Value"] == "v"


def test_reads_share_one_quota_at_standard_throughput(server):
    ssm = _client(server, "ssm")
    ssm.put_parameter(Name="/throttle/c", Value="v", Type="String", Overwrite=True)
    _burst(lambda: ssm.get_parameters(Names=["/throttle/c"]), 6)  # drains ssm:reads
    with pytest.raises(botocore.exceptions.ClientError, match="ThrottlingException"):
        ssm.get_parameter(Name="/throttle/c")
    with pytest.raises(botocore.exceptions.ClientError, match="ThrottlingException"):
        ssm.get_parameters_by_path(Path="/throttle")


def test_another_account_is_not_slowed_by_a_throttled_one(server):
    ssm = _client(server, "ssm")
    ssm.put_parameter(Name="/throttle/d", Value="v", Type="String", Overwrite=True)
    _, throttled = _burst(lambda: ssm.get_parameter(Name="/throttle/d"), 10)
    assert throttled
    other = _client(server, "ssm", key_id=OTHER_KEY_ID, secret=OTHER_SECRET)
    other.put_parameter(Name="/mine", Value="x", Type="String", Overwrite=True)
    assert other.get_parameter(Name="/mine")["Parameter"]["Value"] == "x"
    assert other.get_parameter(Name="/mine")["Parameter"]["Value"] == "x"


def test_high_throughput_gives_each_read_its_own_larger_quota(server):
    other = _client(server, "ssm", key_id=OTHER_KEY_ID, secret=OTHER_SECRET)
    other.put_parameter(Name="/ht", Value="x", Type="String", Overwrite=True)
    setting = "/ssm/parameter-store/high-throughput-enabled"
    other.update_service_setting(SettingId=setting, SettingValue="true")
    try:
        ok, throttled = _burst(lambda: other.get_parameter(Name="/ht"), 20)
        assert not throttled and ok == 20  # ssm:GetParameter is 50 per second here
    finally:
        other.reset_service_setting(SettingId=setting)


def test_key_types_have_separate_cryptographic_quotas(server):
    kms = _client(server, "kms", STANDARD_RETRIES)
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    aes = kms.create_key()["KeyMetadata"]["KeyId"]
    no_retry = _client(server, "kms")

    def rsa_encrypt():
        no_retry.encrypt(KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")

    _, throttled = _burst(rsa_encrypt, 5)
    assert throttled, "5 RSA encryptions back to back at 1 per second were all answered"
    ok, throttled = _burst(lambda: no_retry.encrypt(KeyId=aes, Plaintext=b"x"), 20)
    assert not throttled and ok == 20  # the symmetric quota is AWS's default, thousands per second


def test_a_management_operation_has_its_own_quota(server):
    kms = _client(server, "kms")
    _, throttled = _burst(lambda: kms.create_key(), 6)
    assert throttled and throttled[0].response["Error"]["Message"] == "Rate exceeded"
    assert kms.list_keys()["Keys"]  # ListKeys is not CreateKey's quota


def test_secrets_manager_writes_share_one_quota(server):
    sm = _client(server, "secretsmanager")
    name = f"throttled-{time.time_ns()}"
    sm.create_secret(Name=name, SecretString="v0")
    calls = [lambda: sm.put_secret_value(SecretId=name, SecretString="v1"),
             lambda: sm.update_secret(SecretId=name, Description="d"),
             lambda: sm.put_secret_value(SecretId=name, SecretString="v2"),
             lambda: sm.update_secret(SecretId=name, Description="e")] * 2
    outcomes = [_burst(call, 1) for call in calls]
    assert any(throttled for _, throttled in outcomes)
    assert sm.get_secret_value(SecretId=name)["Name"] == name  # GetSecretValue has its own quota


def test_throttled_requests_are_counted_in_the_metrics(server):
    ssm = _client(server, "ssm")
    ssm.put_parameter(Name="/throttle/m", Value="v", Type="String", Overwrite=True)
    _burst(lambda: ssm.get_parameter(Name="/throttle/m"), 10)
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(server.url + "/metrics").text)}
    throttled = {(s.labels["service"], s.labels["quota"]): s.value
                 for s in families["paramstore_throttled_requests"].samples if s.name.endswith("_total")}
    assert throttled[("ssm", "ssm:reads")] >= 1
    requests = {(s.labels["service"], s.labels["operation"], s.labels["outcome"]): s.value
                for s in families["paramstore_requests"].samples if s.name.endswith("_total")}
    assert requests[("ssm", "GetParameter", "ThrottlingException")] >= 1


def test_throttling_is_off_by_default(tmp_path):
    proc = ServerProcess(tmp_path).wait_ready()
    try:
        kms = proc.client("kms")
        ok, throttled = _burst(lambda: kms.create_key(), 12)  # AWS's CreateKey quota is 5 per second
        assert ok == 12 and not throttled
    finally:
        proc.stop()


def test_a_bad_quota_stops_the_start_with_one_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "paramstore", "serve", "--data-dir", str(tmp_path),
                             "--quota", "kms:NoSuchThing=3"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "bad quota 'kms:NoSuchThing=3'" in result.stderr and "Traceback" not in result.stderr


def test_workers_share_the_quota(tmp_path):
    """Two workers each hold half of a 4-per-second quota: together the server keeps to 4."""
    proc = ServerProcess(tmp_path, extra_args=("--workers", "2", "--quota", "ssm:reads=4")).wait_ready()
    try:
        ssm = proc.client("ssm")
        ssm.put_parameter(Name="/w", Value="v", Type="String")
        answered = 0
        started = time.monotonic()
        for _ in range(40):
            fresh = proc.client("ssm")  # a new connection each time: the kernel picks the worker
            try:
                fresh.get_parameter(Name="/w")
                answered += 1
            except botocore.exceptions.ClientError as exc:
                assert exc.response["Error"]["Code"] == "ThrottlingException"
        elapsed = time.monotonic() - started
        # at most the two buckets' contents (2 + 2) plus what 4 per second refills meanwhile
        assert answered <= 4 + 4 * elapsed + 1, (answered, elapsed)
        assert answered >= 2
    finally:
        proc.stop()
