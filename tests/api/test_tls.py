"""HTTPS: `serve --tls-cert/--tls-key` (and --tls-client-ca for mutual TLS) with the
certificates `admin dev-cert` makes.  boto3 with the CA bundle, the AWS CLI and the
paramstore CLI work over it; aws:SecureTransport is true there and false over plain HTTP;
plain HTTP to the TLS port fails cleanly and the server keeps serving."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, SSLError

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY
from tests.process_helpers import ServerProcess


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("certs")
    done = subprocess.run([sys.executable, "-m", "paramstore", "admin", "dev-cert", str(directory)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"AWS_CA_BUNDLE={directory / 'ca.pem'}" in done.stdout
    assert oct((directory / "server-key.pem").stat().st_mode & 0o777) == "0o600"
    return directory


def tls_args(certs) -> tuple[str, ...]:
    return ("--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server-key.pem"))


@pytest.fixture(scope="module")
def https_server(certs, tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("tls-data"), extra_args=tls_args(certs),
                           tls_ca=certs / "ca.pem").wait_ready()
    yield server
    server.stop()


def _deny_without_tls(account: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def test_boto3_over_https_and_secure_transport_is_true(https_server):
    kms = https_server.client()
    key_id = kms.create_key(Policy=_deny_without_tls(ACCOUNT_ID))["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"over tls")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over tls"


def test_secure_transport_is_false_over_plain_http(tmp_path):
    server = ServerProcess(tmp_path).wait_ready()
    try:
        kms = server.client()
        key_id = kms.create_key(Policy=_deny_without_tls(ACCOUNT_ID))["KeyMetadata"]["KeyId"]
        with pytest.raises(ClientError) as denied:
            kms.encrypt(KeyId=key_id, Plaintext=b"in the clear")
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"

        def claim_https(request, **_):  # type: ignore[no-untyped-def]  # botocore's event handler signature
            request.headers["X-Forwarded-Proto"] = "https"
            request.headers["X-Forwarded-Ssl"] = "on"

        kms.meta.events.register("before-sign.kms.Encrypt", claim_https)
        with pytest.raises(ClientError) as still_denied:  # a header anyone can send proves nothing
            kms.encrypt(KeyId=key_id, Plaintext=b"in the clear")
        assert still_denied.value.response["Error"]["Code"] == "AccessDeniedException"
    finally:
        server.stop()


def test_a_client_that_does_not_trust_the_ca_is_refused(https_server):
    kms = boto3.client("kms", endpoint_url=https_server.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                       aws_secret_access_key=SECRET_ACCESS_KEY, config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(SSLError):
        kms.list_keys()


def test_the_aws_cli_and_the_paramstore_cli_with_the_ca_bundle(https_server, certs):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
           "AWS_DEFAULT_REGION": REGION, "AWS_CA_BUNDLE": str(certs / "ca.pem"), "AWS_ENDPOINT_URL": https_server.url}
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    listed = subprocess.run([aws, "kms", "list-keys", "--output", "json"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "Keys" in json.loads(listed.stdout)
    put = subprocess.run([sys.executable, "-m", "paramstore", "params", "put", "/tls/db-password", "--type", "SecureString"],
                         input="s3cret over tls\n", capture_output=True, text=True, env=env, timeout=120)
    assert put.returncode == 0, put.stdout + put.stderr
    got = subprocess.run([sys.executable, "-m", "paramstore", "params", "get", "/tls/db-password", "--decrypt"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert got.returncode == 0 and "s3cret over tls" in got.stdout, got.stdout + got.stderr


def test_plain_http_to_the_tls_port_fails_cleanly_and_the_server_keeps_serving(https_server):
    with pytest.raises(httpx.HTTPError):
        httpx.get(https_server.url.replace("https://", "http://") + "/health", timeout=5)
    with socket.create_connection(("127.0.0.1", https_server.port), timeout=5) as raw:
        raw.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        raw.settimeout(5)
        try:
            answer = raw.recv(4096)
        except (ConnectionResetError, socket.timeout):
            answer = b""
        assert b"HTTP/1.1 200" not in answer
    assert https_server.client().list_keys()["Keys"] is not None


def test_mutual_tls_requires_a_client_certificate(certs, tmp_path):
    client_cert = (str(certs / "client.pem"), str(certs / "client-key.pem"))
    server = ServerProcess(tmp_path, extra_args=tls_args(certs) + ("--tls-client-ca", str(certs / "ca.pem")),
                           tls_ca=certs / "ca.pem")
    try:
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        context.load_cert_chain(*client_cert)
        for _ in range(100):  # ready: /health asks for a client certificate too
            try:
                httpx.get(server.url + "/health", timeout=1, verify=context)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with_cert = boto3.client("kms", endpoint_url=server.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                                 aws_secret_access_key=SECRET_ACCESS_KEY, verify=str(certs / "ca.pem"),
                                 config=Config(retries={"total_max_attempts": 1}, client_cert=client_cert))
        assert "Keys" in with_cert.list_keys()
        with pytest.raises((SSLError, ConnectionClosedError, EndpointConnectionError)):
            server.client().list_keys()  # trusts the CA, presents no certificate: refused in the handshake
    finally:
        server.stop()


def test_bad_tls_files_stop_the_start_with_one_clear_line(certs, tmp_path):
    wrong_key = ServerProcess(tmp_path / "a", extra_args=("--tls-cert", str(certs / "server.pem"),
                                                          "--tls-key", str(certs / "client-key.pem")))
    code, log = wrong_key.wait_exit(), wrong_key.log()
    wrong_key.stop()
    assert code == 2 and "cannot use the TLS certificate" in log
    half = ServerProcess(tmp_path / "b", extra_args=("--tls-cert", str(certs / "server.pem")))
    code, log = half.wait_exit(), half.log()
    half.stop()
    assert code == 2 and "needs both --tls-cert and --tls-key" in log
