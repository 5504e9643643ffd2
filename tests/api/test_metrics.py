"""Prometheus metrics (paramstore/metrics.py): scraped from a live server with
prometheus-client's own parser, each family moves after the requests that should move it,
with one worker and with two (whose counts must add up whichever worker answers)."""

from __future__ import annotations

import time
import uuid

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families

from paramstore.metrics import FLUSH_SECONDS
from tests.api.test_database_stalls import hold_lock, release
from tests.conftest import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, free_port
from tests.process_helpers import ServerProcess


def scrape(url: str) -> dict[tuple, float]:
    """{(sample name, sorted label pairs): value} from one scrape."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: dict[tuple, float], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (sample, pairs), v in samples.items() if sample == name and wanted <= set(pairs))


def fresh_client(server: ServerProcess, service: str):
    """A client of its own (its own connection), so under workers requests spread out."""
    return boto3.client(service, endpoint_url=server.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                        aws_secret_access_key=SECRET_ACCESS_KEY, config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture(params=[1, 2], ids=["one-worker", "two-workers"])
def server(request, tmp_path):
    proc = ServerProcess(tmp_path, extra_args=("--workers", str(request.param), "--quota", "kms:ListAliases=1"))
    yield proc.wait_ready()
    proc.stop()


def test_each_family_moves_after_the_matching_requests(server):
    metrics_url = server.url + "/metrics"
    before = scrape(metrics_url)
    key_id = fresh_client(server, "kms").create_key()["KeyMetadata"]["KeyId"]
    for _ in range(3):
        fresh_client(server, "kms").encrypt(KeyId=key_id, Plaintext=b"counted")
    with pytest.raises(botocore.exceptions.ClientError):
        fresh_client(server, "kms").decrypt(CiphertextBlob=b"\x01" * 80)
    with pytest.raises(botocore.exceptions.ClientError):  # names no key: a cache miss
        fresh_client(server, "kms").encrypt(KeyId=str(uuid.uuid4()), Plaintext=b"x")
    ssm = fresh_client(server, "ssm")
    ssm.put_parameter(Name="/metrics/p", Value="s3cret-value", Type="SecureString")
    assert ssm.get_parameter(Name="/metrics/p", WithDecryption=True)["Parameter"]["Value"] == "s3cret-value"
    throttled = 0
    kms = fresh_client(server, "kms")
    for _ in range(6):
        try:
            kms.list_aliases()
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "ThrottlingException"
            throttled += 1
    assert throttled

    time.sleep(FLUSH_SECONDS + 0.5)  # under workers, each moves its counts to the shared files every second
    after = scrape(metrics_url)
    for _ in range(4):  # whichever worker answers, the sums are the same
        assert _ours(scrape(metrics_url)) == _ours(after)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("paramstore_requests_total", service="kms", operation="CreateKey", outcome="Success") == 1
    assert delta("paramstore_requests_total", service="kms", operation="Encrypt", outcome="Success") == 3
    assert delta("paramstore_requests_total", service="kms", operation="Decrypt",
                 outcome="InvalidCiphertextException") == 1
    assert delta("paramstore_requests_total", service="kms", operation="Encrypt", outcome="NotFoundException") == 1
    assert delta("paramstore_requests_total", service="ssm", operation="GetParameter", outcome="Success") == 1
    assert delta("paramstore_requests_total", service="kms", operation="ListAliases",
                 outcome="ThrottlingException") == throttled
    assert delta("paramstore_request_duration_seconds_count", service="kms", operation="Encrypt") == 4  # 3 + 1 failed
    assert delta("paramstore_request_duration_seconds_bucket", service="kms", operation="Encrypt", le="+Inf") == 4
    assert delta("paramstore_request_duration_seconds_sum", service="kms", operation="Encrypt") > 0
    assert delta("paramstore_key_cache_lookups_total", result="hit") >= 1
    assert delta("paramstore_key_cache_lookups_total", result="miss") >= 1
    assert delta("paramstore_audit_appends_total", result="ok") >= 8 + 6
    assert delta("paramstore_throttled_requests_total", service="kms", quota="kms:ListAliases") == throttled
    assert value(after, "paramstore_build_info") == 1
    assert "s3cret-value" not in httpx.get(metrics_url).text


def _ours(samples: dict) -> dict:
    """The paramstore_* samples (scrapes are GETs: they move none of them)."""
    return {k: v for k, v in samples.items() if k[0].startswith("paramstore_")}


def test_an_unknown_operation_is_counted_as_other(tmp_path):
    server = ServerProcess(tmp_path).wait_ready()
    try:
        for target in ("TrentService.NoSuchOperation123", "AmazonSSM.Another-Made-Up"):
            response = httpx.post(server.url + "/", headers={"X-Amz-Target": target,
                                                             "Content-Type": "application/x-amz-json-1.1"},
                                  content=b"{}")
            assert response.status_code == 400
        text = httpx.get(server.url + "/metrics").text
        assert "NoSuchOperation123" not in text and "Another-Made-Up" not in text
        samples = scrape(server.url + "/metrics")
        assert value(samples, "paramstore_requests_total", service="kms", operation="other") >= 1
        assert value(samples, "paramstore_requests_total", service="ssm", operation="other") >= 1
    finally:
        server.stop()


def test_database_timeouts_and_audit_failures_are_counted(tmp_path):
    server = ServerProcess(tmp_path, extra_args=("--db-timeout", "1")).wait_ready()
    try:
        kms = server.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.encrypt(KeyId=key_id, Plaintext=b"warm")
        before = scrape(server.url + "/metrics")
        holder = hold_lock(None, tmp_path, "")
        try:
            with pytest.raises(botocore.exceptions.ClientError):
                kms.create_key()  # a write: waits on the lock, then a retryable error
        finally:
            release(holder)
        holder = hold_lock(None, tmp_path, "", "paramstore-audit.db")
        try:
            with pytest.raises(botocore.exceptions.ClientError):
                kms.encrypt(KeyId=key_id, Plaintext=b"not answered unaudited")
        finally:
            release(holder)
        after = scrape(server.url + "/metrics")
        assert value(after, "paramstore_database_errors_total", kind="timeout") - value(
            before, "paramstore_database_errors_total", kind="timeout") >= 1
        assert value(after, "paramstore_audit_appends_total", result="failed") - value(
            before, "paramstore_audit_appends_total", result="failed") >= 1
    finally:
        server.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_on_their_own_port(tmp_path, workers):
    port = free_port()
    server = ServerProcess(tmp_path, extra_args=("--metrics-port", str(port), "--workers", str(workers)))
    server.wait_ready()
    try:
        assert httpx.get(server.url + "/metrics").status_code == 404
        for _ in range(4):
            fresh_client(server, "kms").list_keys()
        time.sleep(FLUSH_SECONDS + 0.5)  # this port's server reads what the workers moved in, every second
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        assert value(samples, "paramstore_requests_total", service="kms", operation="ListKeys") == 4
    finally:
        server.stop()


def test_metrics_can_be_turned_off(tmp_path):
    server = ServerProcess(tmp_path, extra_args=("--no-metrics",)).wait_ready()
    try:
        assert httpx.get(server.url + "/metrics").status_code == 404
        assert server.client("kms").list_keys()["Keys"] == []
    finally:
        server.stop()
