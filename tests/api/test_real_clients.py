"""Real, unmodified AWS clients against the server: the AWS CLI (v1) and the AWS
Encryption SDK for Python (4.x)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.config import Config

from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY

AWS_CLI = Path(sys.executable).parent / "aws"


# --- AWS CLI ----------------------------------------------------------------------------------

@pytest.fixture
def cli(server, tmp_path):
    """Run `aws kms ...` against the server with a clean, explicit environment."""
    config = tmp_path / "aws-config"
    credentials = tmp_path / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
               AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials),
               AWS_DEFAULT_REGION=REGION, AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true",
               AWS_PAGER="")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(AWS_CLI), "kms", *args, "--endpoint-url", server.url, "--region", REGION]
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        if check:
            assert proc.returncode == 0, (cmd, proc.returncode, proc.stdout, proc.stderr)
        return proc

    return run


def test_aws_cli_create_encrypt_decrypt_round_trip_matches(cli, tmp_path, kms):
    created = json.loads(cli("create-key", "--description", "from the aws cli").stdout)
    meta = created["KeyMetadata"]
    assert meta["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{meta['KeyId']}"
    assert meta["Description"] == "from the aws cli"
    # The key really exists server-side.
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["Arn"] == meta["Arn"]

    plaintext = os.urandom(200) + b"\x00\xff binary tail"
    (tmp_path / "plain.bin").write_bytes(plaintext)
    blob_b64 = cli("encrypt", "--key-id", meta["KeyId"], "--plaintext", "fileb://plain.bin",
                   "--encryption-context", "purpose=cli-test",
                   "--output", "text", "--query", "CiphertextBlob").stdout.strip()
    blob = base64.b64decode(blob_b64, validate=True)
    assert plaintext not in blob
    (tmp_path / "cipher.bin").write_bytes(blob)

    out_b64 = cli("decrypt", "--ciphertext-blob", "fileb://cipher.bin",
                  "--encryption-context", "purpose=cli-test",
                  "--output", "text", "--query", "Plaintext").stdout.strip()
    assert base64.b64decode(out_b64, validate=True) == plaintext

    # The CLI's ciphertext is an ordinary ciphertext: boto3 decrypts it too.
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "cli-test"})["Plaintext"] == plaintext


def test_aws_cli_decrypt_wrong_context_fails_with_invalid_ciphertext(cli, tmp_path, key_id):
    blob_b64 = cli("encrypt", "--key-id", key_id, "--plaintext", "fileb://" + str(_write(tmp_path, b"abc")),
                   "--encryption-context", "a=1", "--output", "text", "--query", "CiphertextBlob").stdout
    (tmp_path / "c.bin").write_bytes(base64.b64decode(blob_b64.strip()))
    proc = cli("decrypt", "--ciphertext-blob", "fileb://c.bin", "--encryption-context", "a=2", check=False)
    assert proc.returncode != 0
    assert "InvalidCiphertextException" in proc.stderr, proc.stderr


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    return path


def test_aws_cli_list_keys_includes_created_key(cli):
    key_id = json.loads(cli("create-key").stdout)["KeyMetadata"]["KeyId"]
    listed = json.loads(cli("list-keys").stdout)
    ids = {k["KeyId"] for k in listed["Keys"]}
    assert key_id in ids
    arn = next(k["KeyArn"] for k in listed["Keys"] if k["KeyId"] == key_id)
    assert arn.endswith(":key/" + key_id)


def test_aws_cli_describe_unknown_key_reports_not_found(cli):
    proc = cli("describe-key", "--key-id", "1234abcd-12ab-34cd-56ef-1234567890ab", check=False)
    assert proc.returncode != 0
    assert "NotFoundException" in proc.stderr, proc.stderr


def test_aws_cli_wrong_secret_reports_invalid_signature(server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    (tmp_path / "empty").write_text("")
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY="not-the-secret",
               AWS_CONFIG_FILE=str(tmp_path / "empty"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "empty"),
               AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true")
    proc = subprocess.run([str(AWS_CLI), "kms", "list-keys", "--endpoint-url", server.url, "--region", REGION],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "InvalidSignatureException" in proc.stderr, proc.stderr


# --- AWS Encryption SDK -----------------------------------------------------------------------

esdk = pytest.importorskip("aws_encryption_sdk")
from aws_encryption_sdk import CommitmentPolicy, EncryptionSDKClient  # noqa: E402
from aws_encryption_sdk.key_providers.kms import (  # noqa: E402
    DiscoveryFilter,
    KMSMasterKey,
    KMSMasterKeyConfig,
    MRKAwareDiscoveryAwsKmsMasterKeyProvider,
    MRKAwareStrictAwsKmsMasterKeyProvider,
)

CONTEXT = {"tenant": "acme", "purpose": "esdk-test", "unicode": "h\u00e9llo \u2603"}


@pytest.fixture
def key_arn(kms) -> str:
    return kms.create_key(Description="esdk")["KeyMetadata"]["Arn"]


@pytest.fixture
def sdk() -> EncryptionSDKClient:
    return EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


@pytest.fixture
def botocore_session(server, monkeypatch):
    """A botocore session with the test credentials whose KMS endpoint is the server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", server.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    session = botocore.session.Session()
    session.set_credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    session.set_config_variable("region", REGION)
    return session


def _check_decrypted(header, context: dict) -> None:
    # The message carries the caller's context (the SDK may add its own reserved entries).
    for k, v in context.items():
        assert header.encryption_context.get(k) == v, header.encryption_context


def test_esdk_strict_provider_1_mib_round_trip_preserves_context(server, sdk, botocore_session, key_arn, kms):
    provider = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=botocore_session)
    message = os.urandom(1024 * 1024)
    ciphertext, enc_header = sdk.encrypt(source=message, key_provider=provider, encryption_context=CONTEXT)
    assert message[:4096] not in ciphertext
    assert len(enc_header.encrypted_data_keys) == 1
    edk = next(iter(enc_header.encrypted_data_keys))
    assert edk.key_provider.provider_id == "aws-kms"
    assert edk.key_provider.key_info.decode() == key_arn
    # The encrypted data key is a ciphertext of this server: boto3 can decrypt it.
    data_key = kms.decrypt(CiphertextBlob=edk.encrypted_data_key,
                           EncryptionContext=dict(enc_header.encryption_context))
    assert data_key["KeyId"] == key_arn

    decrypt_provider = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=botocore_session)
    plaintext, dec_header = sdk.decrypt(source=ciphertext, key_provider=decrypt_provider)
    assert plaintext == message
    _check_decrypted(dec_header, CONTEXT)
    assert dict(dec_header.encryption_context) == dict(enc_header.encryption_context)


def test_esdk_kms_master_key_with_boto3_client_round_trip(server, sdk, key_arn):
    client = boto3.client("kms", endpoint_url=server.url, region_name=REGION,
                          aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                          config=Config(retries={"total_max_attempts": 1}))
    master_key = KMSMasterKey(config=KMSMasterKeyConfig(key_id=key_arn, client=client))
    message = os.urandom(1024 * 1024)
    ciphertext, _ = sdk.encrypt(source=message, key_provider=master_key, encryption_context=CONTEXT)
    plaintext, header = sdk.decrypt(source=ciphertext, key_provider=master_key)
    assert plaintext == message
    _check_decrypted(header, CONTEXT)


def test_esdk_streaming_decrypt_round_trip(server, sdk, botocore_session, key_arn):
    import io

    provider = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=botocore_session)
    message = os.urandom(300_000)
    ciphertext, _ = sdk.encrypt(source=message, key_provider=provider, encryption_context=CONTEXT,
                                frame_length=4096)
    out = io.BytesIO()
    with sdk.stream(mode="d", source=io.BytesIO(ciphertext), key_provider=provider) as decryptor:
        for chunk in decryptor:
            out.write(chunk)
        header = decryptor.header
    assert out.getvalue() == message
    _check_decrypted(header, CONTEXT)


def test_esdk_two_keys_decrypts_with_second_after_first_disabled(server, sdk, botocore_session, key_arn, kms):
    second_arn = kms.create_key(Description="esdk second")["KeyMetadata"]["Arn"]
    both = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn, second_arn], botocore_session=botocore_session)
    message = os.urandom(4096)
    ciphertext, header = sdk.encrypt(source=message, key_provider=both, encryption_context=CONTEXT)
    infos = {edk.key_provider.key_info.decode() for edk in header.encrypted_data_keys}
    assert infos == {key_arn, second_arn}
    kms.disable_key(KeyId=key_arn)
    only_second = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[second_arn], botocore_session=botocore_session)
    plaintext, dec_header = sdk.decrypt(source=ciphertext, key_provider=only_second)
    assert plaintext == message
    _check_decrypted(dec_header, CONTEXT)


def test_esdk_decrypt_after_key_disabled_fails(server, sdk, botocore_session, key_arn, kms):
    provider = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=botocore_session)
    ciphertext, _ = sdk.encrypt(source=b"secret", key_provider=provider, encryption_context=CONTEXT)
    kms.disable_key(KeyId=key_arn)
    with pytest.raises(esdk.exceptions.AWSEncryptionSDKClientError):
        sdk.decrypt(source=ciphertext, key_provider=provider)


def test_esdk_mrk_aware_providers_decrypt_in_the_replica_region(server, sdk, botocore_session, kms):
    """The AWS Encryption SDK's multi-Region-key support, unchanged: a message encrypted
    under the primary in one Region is decrypted in another by the MRK-aware strict
    provider naming the replica, and by MRK-aware discovery in the replica's Region."""
    replica_region = "eu-central-1"
    primary_arn = kms.create_key(MultiRegion=True, Description="esdk mrk")["KeyMetadata"]["Arn"]
    key_id = primary_arn.rsplit("/", 1)[1]
    replica_arn = kms.replicate_key(KeyId=key_id, ReplicaRegion=replica_region)["ReplicaKeyMetadata"]["Arn"]
    encryptor = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[primary_arn], botocore_session=botocore_session)
    message = os.urandom(64 * 1024)
    ciphertext, _ = sdk.encrypt(source=message, key_provider=encryptor, encryption_context=CONTEXT)

    strict = MRKAwareStrictAwsKmsMasterKeyProvider(key_ids=[replica_arn], botocore_session=botocore_session)
    plaintext, header = sdk.decrypt(source=ciphertext, key_provider=strict)
    assert plaintext == message
    _check_decrypted(header, CONTEXT)

    discovery = MRKAwareDiscoveryAwsKmsMasterKeyProvider(
        discovery_region=replica_region, botocore_session=botocore_session,
        discovery_filter=DiscoveryFilter(account_ids=[ACCOUNT_ID], partition="aws"))
    plaintext, _ = sdk.decrypt(source=ciphertext, key_provider=discovery)
    assert plaintext == message
    # the replica alone did it: with the primary disabled, decryption still works there
    kms.disable_key(KeyId=key_id)
    assert sdk.decrypt(source=ciphertext, key_provider=strict)[0] == message
