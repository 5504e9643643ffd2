"""`paramstore serve --seed FILE` and `paramstore admin ...` against real server processes,
on SQLite and PostgreSQL."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import textwrap

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY
from tests.process_helpers import ServerProcess

KEY_ID = "5eed0000-12ab-34cd-56ef-1234567890ab"
APP_KEY_ID = "AKIASEEDEDAPPUSER001"
APP_SECRET = "seeded-app-secret-0123456789abcdefghij"

SEED = textwrap.dedent(f"""\
    accounts:
      - id: "{ACCOUNT_ID}"
        users:
          - name: app
            policies:
              kms-use:
                Version: "2012-10-17"
                Statement:
                  - Effect: Allow
                    Action: [kms:Encrypt, kms:Decrypt, kms:DescribeKey]
                    Resource: "*"
            access_keys:
              - id: {APP_KEY_ID}
                secret: {APP_SECRET}
        keys:
          - id: {KEY_ID}
            description: seeded fixture
            tags: {{env: test}}
            aliases: [alias/seeded-app]
""")


@pytest.fixture
def store_location(fresh_database, tmp_path):
    """(data_dir, database_url or None) for a fresh store on each backend."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return data_dir, fresh_database[1]


def _client(server: ServerProcess, access_key_id: str, secret: str):
    return boto3.client("kms", endpoint_url=server.url, region_name=REGION, aws_access_key_id=access_key_id,
                        aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PARAMSTORE_ADMIN_ACCESS_KEY_ID=ACCESS_KEY_ID,
               PARAMSTORE_ADMIN_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)
    for name in ("PARAMSTORE_ROOT_KEY", "PARAMSTORE_SEED_FILE", "PARAMSTORE_DATABASE_URL"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "paramstore", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def _location_args(data_dir, url) -> list[str]:
    return ["--data-dir", str(data_dir)] + (["--database-url", url] if url else [])


def test_serve_with_seed_file(store_location, tmp_path):
    data_dir, url = store_location
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    server = ServerProcess(data_dir, url, extra_args=("--seed", str(seed))).wait_ready()
    try:
        app = _client(server, APP_KEY_ID, APP_SECRET)
        meta = app.describe_key(KeyId=KEY_ID)["KeyMetadata"]
        assert meta["KeyId"] == KEY_ID and meta["Description"] == "seeded fixture"
        assert meta["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{KEY_ID}"
        blob = app.encrypt(KeyId="alias/seeded-app", Plaintext=b"fixture")["CiphertextBlob"]
        assert app.decrypt(CiphertextBlob=blob)["KeyId"].endswith(KEY_ID)
        with pytest.raises(ClientError) as err:
            app.disable_key(KeyId=KEY_ID)
        assert err.value.response["Error"]["Code"] == "AccessDeniedException"
        root = server.client()
        assert root.list_resource_tags(KeyId=KEY_ID)["Tags"] == [{"TagKey": "env", "TagValue": "test"}]
        root.update_key_description(KeyId=KEY_ID, Description="changed at runtime")
    finally:
        server.stop()

    # restart with the same seed file: same key, same material, the declared description back
    server = ServerProcess(data_dir, url, extra_args=("--seed", str(seed))).wait_ready()
    try:
        app = _client(server, APP_KEY_ID, APP_SECRET)
        assert app.decrypt(CiphertextBlob=blob)["Plaintext"] == b"fixture"
        assert app.describe_key(KeyId="alias/seeded-app")["KeyMetadata"]["Description"] == "seeded fixture"
        assert [k["KeyId"] for k in server.client().list_keys()["Keys"]] == [KEY_ID]
    finally:
        server.stop()


def test_seed_file_from_the_environment(store_location, tmp_path, monkeypatch):
    data_dir, url = store_location
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    monkeypatch.setenv("PARAMSTORE_SEED_FILE", str(seed))
    server = ServerProcess(data_dir, url).wait_ready()
    try:
        assert server.client().describe_key(KeyId="alias/seeded-app")["KeyMetadata"]["KeyId"] == KEY_ID
    finally:
        server.stop()


def test_a_malformed_seed_file_stops_the_server(store_location, tmp_path):
    data_dir, url = store_location
    seed = tmp_path / "bad.yaml"
    seed.write_text(SEED.replace(KEY_ID, "not-a-key-id"))
    server = ServerProcess(data_dir, url, extra_args=("--seed", str(seed)))
    try:
        assert server.wait_exit() == 2
        log = server.log()
        assert f"seed file {seed}: accounts[0].keys[0].id: not a valid key id" in log, log
    finally:
        server.stop()


def test_admin_create_account_prints_working_credentials(store_location):
    data_dir, url = store_location
    server = ServerProcess(data_dir, url).wait_ready()
    try:
        created = _cli("admin", "create-account", "444455556666", *_location_args(data_dir, url))
        assert created.returncode == 0, created.stderr
        assert created.stdout.startswith("[444455556666]\n")
        creds = configparser.ConfigParser()
        creds.read_string(created.stdout)
        profile = creds["444455556666"]
        client = _client(server, profile["aws_access_key_id"], profile["aws_secret_access_key"])
        assert client.list_keys()["Keys"] == []  # the running server sees the new account at once
        key = client.create_key()["KeyMetadata"]
        assert key["AWSAccountId"] == "444455556666"
        assert key["KeyId"] not in [k["KeyId"] for k in server.client().list_keys()["Keys"]]

        again = _cli("admin", "create-account", "444455556666", *_location_args(data_dir, url))
        assert again.returncode == 1 and "account 444455556666 already exists" in again.stderr
        bad = _cli("admin", "create-account", "12345", *_location_args(data_dir, url))
        assert bad.returncode == 1 and "12 digits" in bad.stderr
    finally:
        server.stop()


def test_admin_seed_applies_offline_and_is_idempotent(store_location, tmp_path):
    data_dir, url = store_location
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    first = _cli("admin", "seed", str(seed), *_location_args(data_dir, url))
    assert first.returncode == 0, first.stderr
    assert f"created key {KEY_ID}" in first.stdout and "0 updated" in first.stdout
    second = _cli("admin", "seed", str(seed), *_location_args(data_dir, url))
    assert second.returncode == 0 and "applied: 0 created, 0 updated" in second.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - id: '111122223333'\n    colour: red\n")
    failed = _cli("admin", "seed", str(bad), *_location_args(data_dir, url))
    assert failed.returncode == 1 and "accounts[0].colour: unknown field" in failed.stderr

    server = ServerProcess(data_dir, url).wait_ready()
    try:
        app = _client(server, APP_KEY_ID, APP_SECRET)
        assert app.describe_key(KeyId=KEY_ID)["KeyMetadata"]["KeyId"] == KEY_ID
    finally:
        server.stop()
