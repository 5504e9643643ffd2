"""Keys survive restarts; the server refuses a wrong root key and an outdated schema."""

from __future__ import annotations

import base64
import os
import stat


from tests.process_helpers import ServerProcess


def test_restart_keeps_keys_and_old_ciphertexts_decrypt(tmp_path):
    first = ServerProcess(tmp_path).wait_ready()
    try:
        kms = first.client()
        key_id = kms.create_key(Description="durable")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/durable", TargetKeyId=key_id)
        blob = kms.encrypt(KeyId="alias/durable", Plaintext=b"survives", EncryptionContext={"k": "v"})["CiphertextBlob"]
    finally:
        first.stop()
    second = ServerProcess(tmp_path).wait_ready()
    try:
        kms = second.client()
        assert kms.describe_key(KeyId="alias/durable")["KeyMetadata"]["Description"] == "durable"
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == b"survives"
    finally:
        second.stop()


def test_root_key_file_is_created_private(tmp_path):
    server = ServerProcess(tmp_path).wait_ready()
    server.stop()
    mode = stat.S_IMODE((tmp_path / "root.key").stat().st_mode)
    assert mode == 0o600


def test_start_with_wrong_root_key_is_refused(tmp_path):
    good = base64.b64encode(os.urandom(32)).decode()
    ServerProcess(tmp_path, root_key_b64=good).wait_ready().stop()
    bad = ServerProcess(tmp_path, root_key_b64=base64.b64encode(os.urandom(32)).decode())
    code = bad.wait_exit()
    log = bad.log()
    bad.stop()
    assert code != 0
    assert "not the key this store was created with" in log
    assert good not in log


def test_no_migrate_on_empty_database_refuses_outdated_schema(tmp_path):
    server = ServerProcess(tmp_path, extra_args=("--no-migrate",))
    code = server.wait_exit()
    log = server.log()
    server.stop()
    assert code != 0
    assert "paramstore db upgrade" in log


def test_generated_credentials_file_when_no_admin_key_given(tmp_path, monkeypatch):
    import subprocess
    import sys

    import boto3
    import httpx

    from tests.conftest import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAMSTORE_")}
    proc = subprocess.Popen([sys.executable, "-m", "paramstore", "serve", "--port", str(port),
                             "--data-dir", str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import time

        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        creds = tmp_path / "credentials"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        text = creds.read_text()
        assert text.startswith("[default]\n")
        fields = dict(line.split(" = ", 1) for line in text.splitlines()[1:])
        kms = boto3.client("kms", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id=fields["aws_access_key_id"],
                           aws_secret_access_key=fields["aws_secret_access_key"])
        assert kms.list_keys()["Keys"] == []
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode()
    assert str(tmp_path / "credentials") in out
    assert fields["aws_secret_access_key"] not in out
