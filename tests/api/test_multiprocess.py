"""Several stateless server processes on one database see each other's changes at once."""

from __future__ import annotations

import base64
import os

import pytest
from botocore.exceptions import ClientError

from tests.process_helpers import ServerProcess


@pytest.fixture
def two_servers(fresh_database, tmp_path):
    root_key = base64.b64encode(os.urandom(32)).decode()
    url = fresh_database[1]
    first = ServerProcess(tmp_path, url, root_key).wait_ready()
    second = ServerProcess(tmp_path, url, root_key).wait_ready()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_disable_through_one_process_refused_by_the_other_on_next_request(two_servers):
    a, b = (s.client() for s in two_servers)
    key_id = a.create_key()["KeyMetadata"]["KeyId"]
    blob = b.encrypt(KeyId=key_id, Plaintext=b"shared")["CiphertextBlob"]  # b caches the key
    assert a.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"

    a.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as err:
        b.encrypt(KeyId=key_id, Plaintext=b"x")
    assert err.value.response["Error"]["Code"] == "DisabledException"
    with pytest.raises(ClientError) as err:
        b.decrypt(CiphertextBlob=blob)
    assert err.value.response["Error"]["Code"] == "DisabledException"

    b.enable_key(KeyId=key_id)
    assert a.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"


def test_parameter_listings_cached_by_one_process_follow_the_others_writes(two_servers):
    """DescribeParameters and GetParametersByPath pages are cached per process; a put, a
    tag or a delete through the other process is seen on the next request."""
    a, b = (s.client("ssm") for s in two_servers)
    a.put_parameter(Name="/shared/listing/one", Value="1", Type="String")

    def described(client, **filters):
        return [p["Name"] for p in client.describe_parameters(ParameterFilters=[
            {"Key": "Path", "Option": "Recursive", "Values": ["/shared"]}, *filters.get("extra", [])])["Parameters"]]

    assert described(b) == ["/shared/listing/one"]  # b caches the page
    assert [p["Name"] for p in b.get_parameters_by_path(Path="/shared", Recursive=True)["Parameters"]] == [
        "/shared/listing/one"]
    a.put_parameter(Name="/shared/listing/two", Value="2", Type="String")
    assert described(b) == ["/shared/listing/one", "/shared/listing/two"]
    assert len(b.get_parameters_by_path(Path="/shared", Recursive=True)["Parameters"]) == 2
    tagged = [{"Key": "tag:team", "Values": ["blue"]}]
    assert described(b, extra=tagged) == []
    a.add_tags_to_resource(ResourceType="Parameter", ResourceId="/shared/listing/two",
                           Tags=[{"Key": "team", "Value": "blue"}])
    assert described(b, extra=tagged) == ["/shared/listing/two"]
    a.delete_parameter(Name="/shared/listing/one")
    assert described(b) == ["/shared/listing/two"]


def test_rotation_and_deletion_schedule_seen_across_processes(two_servers):
    a, b = (s.client() for s in two_servers)
    key_id = a.create_key()["KeyMetadata"]["KeyId"]
    old_blob = b.encrypt(KeyId=key_id, Plaintext=b"v1")["CiphertextBlob"]
    a.rotate_key_on_demand(KeyId=key_id)
    new_material = a.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert b.generate_data_key(KeyId=key_id, KeySpec="AES_256")["KeyMaterialId"] == new_material
    assert b.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"v1"

    a.create_alias(AliasName="alias/shared-" + key_id[:8], TargetKeyId=key_id)
    assert b.describe_key(KeyId="alias/shared-" + key_id[:8])["KeyMetadata"]["KeyId"] == key_id
    a.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    with pytest.raises(ClientError) as err:
        b.decrypt(CiphertextBlob=old_blob)
    assert err.value.response["Error"]["Code"] == "KMSInvalidStateException"


def test_two_processes_extend_one_intact_audit_chain(two_servers):
    import subprocess
    import sys

    a, b = two_servers
    clients = [a.client(), b.client()]
    key_id = clients[0].create_key()["KeyMetadata"]["KeyId"]
    for i in range(40):  # interleave appends from both processes
        clients[i % 2].encrypt(KeyId=key_id, Plaintext=b"x")
    data_dir = a.log_path.parent
    args = [sys.executable, "-m", "paramstore", "audit", "verify", "--data-dir", str(data_dir)]
    if a.database_url:
        args += ["--database-url", a.database_url]
    env = {k: v for k, v in __import__("os").environ.items()}
    env["PARAMSTORE_ROOT_KEY"] = a.root_key_b64
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact" in result.stdout


@pytest.mark.postgres
def test_servers_starting_together_on_an_empty_database_all_come_up(tmp_path, fresh_postgres_url):
    root_key = base64.b64encode(os.urandom(32)).decode()
    servers = [ServerProcess(tmp_path, fresh_postgres_url, root_key) for _ in range(3)]
    try:
        for server in servers:
            server.wait_ready()
        key_id = servers[0].client().create_key()["KeyMetadata"]["KeyId"]
        assert servers[2].client().describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"]
    finally:
        for server in servers:
            server.stop()
