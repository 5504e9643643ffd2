"""Root-key rotation while servers serve: file -> file, then file -> PKCS#11 (SoftHSM2),
under load from 4 clients, on SQLite and PostgreSQL with two server processes.  No
request fails; afterwards the old roots are removed and a restarted server with only the
token opens every key, parameter and access key; the audit trail verifies."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from typing import Callable

import boto3
import pytest
from botocore.config import Config

from tests.api.test_root_key_hsm import init_key, paramstore
from tests.conftest import REGION, database_for
from tests.hsm.softhsm import make_softhsm
from tests.process_helpers import ServerProcess

LOAD_SECONDS = 16  # both rotations (at 3 s and 11 s) happen under load, and load goes on after
CLIENTS = 4


class Load:
    """4 clients writing and reading; every acknowledged write is remembered."""

    def __init__(self, server: ServerProcess, key_ids: list[str]) -> None:
        self.server, self.key_ids = server, key_ids
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.parameters: dict[str, str] = {}
        self.ciphertexts: list[tuple[bytes, bytes]] = []
        self.created_keys: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()

    def client(self, i: int) -> None:
        kms, ssm = self.server.client(), self.server.client("ssm")
        n = 0
        while not self.stop.is_set():
            n += 1
            name, value = f"/load/c{i}/p{n}", f"secret-{uuid.uuid4()}"
            try:
                ssm.put_parameter(Name=name, Value=value, Type="SecureString")
                with self._lock:
                    self.parameters[name] = value
                got = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
                assert got == value, f"{name} read back {got!r}"
                plaintext = os.urandom(24)
                blob = kms.encrypt(KeyId=self.key_ids[n % len(self.key_ids)], Plaintext=plaintext)["CiphertextBlob"]
                assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
                with self._lock:
                    self.ciphertexts.append((blob, plaintext))
                if n % 5 == 0:  # a write that seals new key material under the current root
                    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
                    with self._lock:
                        self.created_keys.append(key_id)
                self.requests += 5
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                self.errors.append(f"client {i}: {type(exc).__name__}: {exc}")

    def run(self, during: Callable[[], None]) -> None:
        threads = [threading.Thread(target=self.client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        try:
            during()
        finally:
            self.stop.set()
            for t in threads:
                t.join(60)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rotation_under_load_then_only_the_new_root(backend, tmp_path):
    hsm = make_softhsm(tmp_path / "hsm")
    uri = init_key(hsm, "rotated-root")
    data = tmp_path / "data"
    env = hsm.env()
    with database_for(backend) as (database_url, _):
        where = ["--data-dir", str(data)] + (["--database-url", database_url] if database_url else [])
        server = ServerProcess(data, database_url, extra_args=("--workers", "2"), env=env).wait_ready()
        try:
            kms = server.client()
            key_ids = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
            profile = paramstore("admin", "create-account", "444455556666", *where, env=env).stdout
            second_akid = profile.split("aws_access_key_id = ")[1].split()[0]
            second_secret = profile.split("aws_secret_access_key = ")[1].split()[0]
            load = Load(server, key_ids)
            steps: list[str] = []

            def rotate_twice() -> None:
                started = time.monotonic()
                time.sleep(3)
                steps.append(paramstore("admin", "rotate-root-key", "--to", "file", *where, env=env).stdout)
                time.sleep(8)
                steps.append(paramstore("admin", "rotate-root-key", "--to", uri, *where, env=env).stdout)
                time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))

            load.run(rotate_twice)
            assert load.errors == [], load.errors[:5]
            assert load.requests > 200 and load.created_keys
            assert "version 2" in steps[0] and "version 3" in steps[1], steps
        finally:
            server.stop()
        status = json.loads(paramstore("admin", "root-key", "status", "--json", *where, env=env).stdout)
        assert status["current"] == 3 and status["rewrap_complete"]
        assert [v["state"] for v in status["versions"]] == ["retired", "retired", "active"]
        # Only the token from now on: the old roots go, and the store must not need them.
        (data / "root.key").unlink()
        (data / "root-v2.key").unlink()
        again = ServerProcess(data, database_url, env=env).wait_ready()
        try:
            kms, ssm = again.client(), again.client("ssm")
            for key_id in key_ids + load.created_keys:
                assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
            for blob, plaintext in load.ciphertexts:
                assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
            for name, value in load.parameters.items():
                assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value
            other = boto3.client("kms", endpoint_url=again.url, region_name=REGION, aws_access_key_id=second_akid,
                                 aws_secret_access_key=second_secret, config=Config(retries={"total_max_attempts": 1}))
            assert other.create_key()["KeyMetadata"]["AWSAccountId"] == "444455556666"
        finally:
            again.stop()
        verify = paramstore("audit", "verify", *where, env=env)
        assert "intact" in verify.stdout
        trail = paramstore("audit", "ls", *where, env=env).stdout
        for step in ("RotateRootKey", "RewrapRootKey", "RetireRootKey"):
            assert f"paramstore:{step}" in trail
