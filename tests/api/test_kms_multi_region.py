"""Multi-Region KMS keys through real boto3 clients, one client per Region.

CreateKey(MultiRegion=True) makes a primary (`mrk-` + 32 hex digits); ReplicateKey, called
in the primary's Region, makes a related key with the same key ID and key material in
another Region.  Covered here: the MultiRegionConfiguration every related key reports,
the shared properties (key spec, usage, origin, material, automatic rotation) against the
independent ones (policy, description, tags, aliases, grants, enabled state, deletion),
cross-Region cryptography (symmetric, RSA, ECC, HMAC), rotation driven from the primary,
UpdatePrimaryRegion, deletion of replicas and of a primary with replicas
(PendingReplicaDeletion), imported material, the kms:ReplicaRegion / kms:MultiRegion /
kms:MultiRegionKeyType / kms:PrimaryRegion condition keys, and the audit record of
ReplicateKey.

The server is shared by the whole session: every test makes fresh keys.  Replication and
rotation may be asynchronous (a replica is `Creating` at first, the server's sweeper runs
every 0.5 s), so the tests poll for at most ~10 s wherever the effect may come later.
Where AWS's exact message is unknown only the error code is asserted.
Reference: aws_api.md section 4.15.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import text

from kms_core.storage.audit_file import trail_engine
from tests.api.test_audit import request_id_of
from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error, key_arn, pages, wrap_key_material

EU = "eu-west-1"
AP = "ap-southeast-2"
DAY = 86_400
MRK_RE = re.compile(r"^mrk-[0-9a-f]{32}$")
ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"
OAEP_SHA256 = "RSAES_OAEP_SHA_256"

#: the key kinds a multi-Region key can be (CreateKey arguments besides MultiRegion)
KINDS = {
    "symmetric": {},
    "rsa-sign": {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
    "rsa-encrypt": {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
    "ecc-sign": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
    "hmac": {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
    "external": {"Origin": "EXTERNAL"},
}
AWS_KMS_KINDS = [k for k in KINDS if k != "external"]
SHARED_FIELDS = ("KeyId", "KeySpec", "CustomerMasterKeySpec", "KeyUsage", "Origin", "MultiRegion",
                 "EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms")


# --- helpers ---------------------------------------------------------------------------

@pytest.fixture
def eu(server):
    return server.client("kms", region=EU)


@pytest.fixture
def ap(server):
    return server.client("kms", region=AP)


def wait_for(check, what: str, timeout: float = 10.0):
    """Poll check() until it returns something truthy (the sweeper runs every 0.5 s)."""
    deadline = time.time() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def wait_until(get, predicate, what: str, timeout: float = 10.0):
    """Poll get() until predicate(value) holds; return that value."""
    box: list = []

    def check() -> bool:
        box[:] = [get()]
        return bool(predicate(box[0]))

    wait_for(check, what, timeout)
    return box[0]


def describe(client, key_id: str) -> dict:
    return client.describe_key(KeyId=key_id)["KeyMetadata"]


def is_gone(client, key_id: str) -> bool:
    try:
        client.describe_key(KeyId=key_id)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NotFoundException", e.response["Error"]
        return True
    return False


def settled(client, key_id: str) -> dict:
    """The key's metadata once it has left the transient Creating / Updating states."""
    return wait_until(lambda: describe(client, key_id), lambda m: m["KeyState"] not in ("Creating", "Updating"),
                      f"{key_id} to leave Creating/Updating")


def primary(kms, **kwargs) -> dict:
    """A new multi-Region primary key in the client's Region; its KeyMetadata."""
    return kms.create_key(MultiRegion=True, **kwargs)["KeyMetadata"]


def replicate(kms, replica_client, key_id: str, region: str = EU, **kwargs) -> dict:
    """ReplicateKey from the primary's Region; waits until the replica is usable; returns
    the ReplicateKey response."""
    out = kms.replicate_key(KeyId=key_id, ReplicaRegion=region, **kwargs)
    settled(replica_client, key_id.rsplit("/", 1)[-1])  # a bare key id: key_id may be the primary's ARN
    return out


def ref(arn: str, region: str) -> dict:
    return {"Arn": arn, "Region": region}


def by_region(keys: list[dict]) -> list[dict]:
    return sorted(keys, key=lambda k: k["Region"])


def tags_of(client, key_id: str) -> dict[str, str]:
    return {t["TagKey"]: t["TagValue"] for t in client.list_resource_tags(KeyId=key_id)["Tags"]}


def material_id(client, key_id: str) -> str:
    return describe(client, key_id)["CurrentKeyMaterialId"]


def root_policy(sid: str = "Enable IAM User Permissions", extra_statements: tuple = ()) -> str:
    return json.dumps({"Version": "2012-10-17", "Id": f"test-{sid}", "Statement": [
        {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
        *extra_statements]})


def import_into(client, key_id: str, material: bytes) -> dict:
    params = client.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=OAEP_SHA256,
                                              WrappingKeySpec="RSA_2048")
    return client.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                      EncryptedKeyMaterial=wrap_key_material(params["PublicKey"], material,
                                                                             OAEP_SHA256),
                                      ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")


def iam_user(server, *statements: dict):
    """A new IAM user of the test account with an inline policy; returns a function
    region -> a KMS client for that user in the Region."""
    iam = server.client("iam")
    name = "mrk-user-" + uuid.uuid4().hex[:10]
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return lambda region=REGION: server.client("kms", region=region, access_key_id=key["AccessKeyId"],
                                               secret=key["SecretAccessKey"])


def allow(actions, **extra) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": "*", **extra}


# === 1. CreateKey(MultiRegion=True) ======================================================

@pytest.mark.parametrize("kind", list(KINDS))
def test_create_key_multi_region_primary_configuration(kms, kind):
    meta = primary(kms, **KINDS[kind])
    assert MRK_RE.match(meta["KeyId"]), meta["KeyId"]
    assert meta["Arn"] == key_arn(meta["KeyId"])
    assert meta["MultiRegion"] is True
    assert meta["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY", "PrimaryKey": ref(meta["Arn"], REGION), "ReplicaKeys": []}
    assert meta["KeyState"] == ("PendingImport" if kind == "external" else "Enabled")
    # DescribeKey says the same
    described = describe(kms, meta["KeyId"])
    assert described["MultiRegion"] is True
    assert described["MultiRegionConfiguration"] == meta["MultiRegionConfiguration"]


def test_create_key_multi_region_ids_distinct(kms):
    assert primary(kms)["KeyId"] != primary(kms)["KeyId"]


@pytest.mark.parametrize("kwargs", [{}, {"MultiRegion": False}], ids=["omitted", "false"])
def test_create_key_single_region_no_multi_region_configuration(kms, kwargs):
    meta = kms.create_key(**kwargs)["KeyMetadata"]
    assert not meta["KeyId"].startswith("mrk-")
    assert meta["MultiRegion"] is False
    assert "MultiRegionConfiguration" not in meta
    assert "MultiRegionConfiguration" not in describe(kms, meta["KeyId"])


def test_create_key_multi_region_encrypt_decrypt_in_own_region(kms):
    key_id = primary(kms)["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"home region")["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob)
    assert out["Plaintext"] == b"home region"
    assert out["KeyId"] == key_arn(key_id)


# === 2. Before replication ===============================================================

def test_describe_key_mrk_in_other_region_before_replication_not_found(kms, eu):
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: eu.describe_key(KeyId=key_id), "NotFoundException")
    expect_error(lambda: eu.describe_key(KeyId=key_arn(key_id, EU)), "NotFoundException")
    # the primary's own ARN, from another Region: still not found there
    expect_error(lambda: eu.describe_key(KeyId=key_arn(key_id)), "NotFoundException")


# === 3. ReplicateKey =====================================================================

@pytest.mark.parametrize("kind", AWS_KMS_KINDS)
def test_replicate_key_response_replica_metadata_and_shared_properties(kms, eu, kind):
    prim = primary(kms, **KINDS[kind])
    key_id = prim["KeyId"]
    replica_arn = key_arn(key_id, EU)

    out = kms.replicate_key(KeyId=key_id, ReplicaRegion=EU)
    replica = out["ReplicaKeyMetadata"]
    assert replica["Arn"] == replica_arn
    assert replica["KeyId"] == key_id
    assert replica["KeyState"] == "Creating"
    assert replica["Enabled"] is False
    assert replica["MultiRegion"] is True
    assert json.loads(out["ReplicaPolicy"])["Id"] == "key-default-1"
    assert out["ReplicaTags"] == []

    meta = settled(eu, key_id)
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["Arn"] == replica_arn
    assert meta["Description"] == ""
    config = meta["MultiRegionConfiguration"]
    assert config["MultiRegionKeyType"] == "REPLICA"
    assert config["PrimaryKey"] == ref(prim["Arn"], REGION)
    assert ref(replica_arn, EU) in config["ReplicaKeys"]

    prim_now = describe(kms, key_id)
    assert prim_now["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY", "PrimaryKey": ref(prim["Arn"], REGION),
        "ReplicaKeys": [ref(replica_arn, EU)]}
    for field in SHARED_FIELDS:
        assert meta.get(field) == prim_now.get(field), field
    assert meta["CurrentKeyMaterialId"] == prim_now["CurrentKeyMaterialId"]


def test_replicate_key_by_primary_arn_accepted(kms, eu):
    prim = primary(kms)
    out = replicate(kms, eu, prim["Arn"])
    assert out["ReplicaKeyMetadata"]["Arn"] == key_arn(prim["KeyId"], EU)
    assert describe(eu, prim["KeyId"])["KeyState"] == "Enabled"


def test_replicate_key_independent_properties_not_copied_from_primary(kms, eu):
    prim = primary(kms, Description="primary's description", Tags=[{"TagKey": "team", "TagValue": "blue"}],
                   Policy=root_policy("primary-only"))
    out = replicate(kms, eu, prim["KeyId"])
    policy = json.loads(out["ReplicaPolicy"])
    assert policy["Id"] == "key-default-1"
    assert out["ReplicaTags"] == []
    meta = describe(eu, prim["KeyId"])
    assert meta["Description"] == ""
    assert tags_of(eu, prim["KeyId"]) == {}
    assert json.loads(eu.get_key_policy(KeyId=prim["KeyId"], PolicyName="default")["Policy"]) == policy
    # and the primary kept its own
    assert describe(kms, prim["KeyId"])["Description"] == "primary's description"
    assert tags_of(kms, prim["KeyId"]) == {"team": "blue"}


def test_replicate_key_given_policy_description_tags_applied_to_replica_only(kms, eu):
    prim = primary(kms, Description="p")
    policy = root_policy("replica-policy-marker")
    tags = [{"TagKey": "region", "TagValue": "eu"}, {"TagKey": "empty", "TagValue": ""}]
    out = replicate(kms, eu, prim["KeyId"], Policy=policy, Description="replica's description", Tags=tags)
    assert out["ReplicaPolicy"] == policy
    assert sorted(out["ReplicaTags"], key=lambda t: t["TagKey"]) == sorted(tags, key=lambda t: t["TagKey"])
    assert eu.get_key_policy(KeyId=prim["KeyId"], PolicyName="default")["Policy"] == policy
    assert describe(eu, prim["KeyId"])["Description"] == "replica's description"
    assert tags_of(eu, prim["KeyId"]) == {"region": "eu", "empty": ""}
    assert describe(kms, prim["KeyId"])["Description"] == "p"
    assert tags_of(kms, prim["KeyId"]) == {}
    assert json.loads(kms.get_key_policy(KeyId=prim["KeyId"], PolicyName="default")["Policy"])["Id"] == \
        "key-default-1"


def test_replicate_key_external_origin_replica_pending_import(kms, eu):
    prim = primary(kms, Origin="EXTERNAL")
    import_into(kms, prim["KeyId"], os.urandom(32))
    out = kms.replicate_key(KeyId=prim["KeyId"], ReplicaRegion=EU)
    assert out["ReplicaKeyMetadata"]["KeyState"] == "Creating"
    meta = settled(eu, prim["KeyId"])
    assert meta["KeyState"] == "PendingImport"
    assert meta["Enabled"] is False
    assert meta["Origin"] == "EXTERNAL"
    assert meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    prim_now = describe(kms, prim["KeyId"])
    for field in SHARED_FIELDS:
        assert meta.get(field) == prim_now.get(field), field


def test_replicate_key_to_two_regions_both_listed(kms, eu, ap):
    prim = primary(kms)
    replicate(kms, eu, prim["KeyId"], EU)
    replicate(kms, ap, prim["KeyId"], AP)
    expected = [ref(key_arn(prim["KeyId"], AP), AP), ref(key_arn(prim["KeyId"], EU), EU)]
    assert by_region(describe(kms, prim["KeyId"])["MultiRegionConfiguration"]["ReplicaKeys"]) == expected
    for client in (eu, ap):
        config = describe(client, prim["KeyId"])["MultiRegionConfiguration"]
        assert config["MultiRegionKeyType"] == "REPLICA"
        assert config["PrimaryKey"] == ref(prim["Arn"], REGION)


# === 4. ReplicateKey errors ==============================================================

def test_replicate_key_same_region_twice_already_exists(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=EU), "AlreadyExistsException")
    assert len(describe(kms, key_id)["MultiRegionConfiguration"]["ReplicaKeys"]) == 1


def test_replicate_key_replica_pending_deletion_already_exists(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=EU), "AlreadyExistsException")
    assert describe(eu, key_id)["KeyState"] == "PendingDeletion"


def test_replicate_key_on_replica_unsupported_operation(kms, eu, ap):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    expect_error(lambda: eu.replicate_key(KeyId=key_id, ReplicaRegion=AP), "UnsupportedOperationException",
                 contains="is not a multi-region primary key")
    assert is_gone(ap, key_id)


def test_replicate_key_single_region_key_unsupported_operation(kms, eu, key_id):
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=EU), "UnsupportedOperationException")
    assert is_gone(eu, key_id)


def test_replicate_key_own_region_validation_exception(kms):
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=REGION), "ValidationException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == []


def test_replicate_key_malformed_region_validation_exception(kms):
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion="Not_A_Region"), "ValidationException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == []


def test_replicate_key_disabled_primary_disabled_exception(kms, eu):
    key_id = primary(kms)["KeyId"]
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=EU), "DisabledException")
    assert is_gone(eu, key_id)


def test_replicate_key_primary_pending_deletion_invalid_state(kms, eu):
    key_id = primary(kms)["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=EU), "KMSInvalidStateException")
    assert is_gone(eu, key_id)


def test_replicate_key_primary_pending_import_invalid_state(kms, eu):
    """An imported-material primary needs its material before it can be replicated
    (aws_api.md 4.15: PendingImport -> "...is pending import.")."""
    key_id = primary(kms, Origin="EXTERNAL")["KeyId"]
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=EU), "KMSInvalidStateException")
    assert is_gone(eu, key_id)


def test_replicate_key_alias_identifier_not_found(kms, eu):
    key_id = primary(kms)["KeyId"]
    alias = f"alias/mrk-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    expect_error(lambda: kms.replicate_key(KeyId=alias, ReplicaRegion=EU), "NotFoundException")
    assert is_gone(eu, key_id)


def test_replicate_key_unknown_mrk_not_found(kms):
    missing = "mrk-" + uuid.uuid4().hex
    expect_error(lambda: kms.replicate_key(KeyId=missing, ReplicaRegion=EU), "NotFoundException")


def test_replicate_key_malformed_policy_nothing_created(kms, eu):
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=EU, Policy="{not json"),
                 "MalformedPolicyDocumentException")
    assert is_gone(eu, key_id)
    assert describe(kms, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == []
    # and a later, valid ReplicateKey still works
    replicate(kms, eu, key_id)
    assert describe(eu, key_id)["KeyState"] == "Enabled"


# === 5. Cross-Region cryptography ========================================================

def test_decrypt_in_replica_region_without_key_id_replica_arn(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    context = {"tenant": "acme"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"from us", EncryptionContext=context)["CiphertextBlob"]
    out = eu.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert out["Plaintext"] == b"from us"
    assert out["KeyId"] == key_arn(key_id, EU)
    # the encryption context is still bound
    expect_error(lambda: eu.decrypt(CiphertextBlob=blob), "InvalidCiphertextException")


def test_decrypt_in_replica_region_with_replica_arn(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"by arn")["CiphertextBlob"]
    out = eu.decrypt(CiphertextBlob=blob, KeyId=key_arn(key_id, EU))
    assert out["Plaintext"] == b"by arn"
    assert out["KeyId"] == key_arn(key_id, EU)
    assert eu.decrypt(CiphertextBlob=blob, KeyId=key_id)["Plaintext"] == b"by arn"


def test_replica_ciphertext_decrypts_at_primary(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    enc = eu.encrypt(KeyId=key_id, Plaintext=b"from eu", EncryptionContext={"a": "b"})
    assert enc["KeyId"] == key_arn(key_id, EU)
    out = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"a": "b"})
    assert out["Plaintext"] == b"from eu"
    assert out["KeyId"] == key_arn(key_id)


def test_ciphertext_made_before_replica_existed_decrypts_in_replica(kms, eu):
    key_id = primary(kms)["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"older than the replica")["CiphertextBlob"]
    replicate(kms, eu, key_id)
    assert eu.decrypt(CiphertextBlob=blob)["Plaintext"] == b"older than the replica"


def test_generate_data_key_in_one_region_decrypt_in_other(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    at_primary = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert eu.decrypt(CiphertextBlob=at_primary["CiphertextBlob"])["Plaintext"] == at_primary["Plaintext"]
    at_replica = eu.generate_data_key(KeyId=key_id, NumberOfBytes=32)
    assert at_replica["KeyId"] == key_arn(key_id, EU)
    assert kms.decrypt(CiphertextBlob=at_replica["CiphertextBlob"])["Plaintext"] == at_replica["Plaintext"]


def test_re_encrypt_in_replica_region(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"re-encrypt me")["CiphertextBlob"]
    out = eu.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id)
    assert out["SourceKeyId"] == key_arn(key_id, EU)
    assert out["KeyId"] == key_arn(key_id, EU)
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == b"re-encrypt me"
    assert eu.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == b"re-encrypt me"


@pytest.mark.parametrize("kind", ["rsa-sign", "rsa-encrypt", "ecc-sign"])
def test_get_public_key_identical_in_both_regions(kms, eu, kind):
    key_id = primary(kms, **KINDS[kind])["KeyId"]
    replicate(kms, eu, key_id)
    at_primary, at_replica = kms.get_public_key(KeyId=key_id), eu.get_public_key(KeyId=key_id)
    assert at_primary["PublicKey"] == at_replica["PublicKey"]
    assert at_primary["KeyId"] == key_arn(key_id)
    assert at_replica["KeyId"] == key_arn(key_id, EU)
    for field in ("KeySpec", "KeyUsage", "SigningAlgorithms", "EncryptionAlgorithms"):
        assert at_primary.get(field) == at_replica.get(field), field


@pytest.mark.parametrize("kind,algorithm", [("rsa-sign", "RSASSA_PSS_SHA_256"),
                                            ("rsa-sign", "RSASSA_PKCS1_V1_5_SHA_256"),
                                            ("ecc-sign", "ECDSA_SHA_256")])
def test_sign_in_one_region_verify_in_other(kms, eu, kind, algorithm):
    key_id = primary(kms, **KINDS[kind])["KeyId"]
    replicate(kms, eu, key_id)
    message = b"signed in one Region"
    sig = kms.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm=algorithm)["Signature"]
    out = eu.verify(KeyId=key_id, Message=message, MessageType="RAW", Signature=sig, SigningAlgorithm=algorithm)
    assert out["SignatureValid"] is True
    assert out["KeyId"] == key_arn(key_id, EU)
    sig_eu = eu.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm=algorithm)["Signature"]
    assert kms.verify(KeyId=key_id, Message=message, MessageType="RAW", Signature=sig_eu,
                      SigningAlgorithm=algorithm)["SignatureValid"] is True
    # and outside the server: the replica's signature checks against the primary's public key
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    if algorithm.startswith("ECDSA"):
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(sig_eu, message, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        pad = (padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
               if algorithm.startswith("RSASSA_PSS") else padding.PKCS1v15())
        public.verify(sig_eu, message, pad, hashes.SHA256())


def test_rsa_encrypt_in_one_region_decrypt_in_other(kms, eu):
    key_id = primary(kms, **KINDS["rsa-encrypt"])["KeyId"]
    replicate(kms, eu, key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"rsa across", EncryptionAlgorithm=OAEP_SHA256)["CiphertextBlob"]
    out = eu.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm=OAEP_SHA256)
    assert out["Plaintext"] == b"rsa across"
    assert out["KeyId"] == key_arn(key_id, EU)
    # encrypted locally with the replica's public key, decrypted at the primary
    public = serialization.load_der_public_key(eu.get_public_key(KeyId=key_id)["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    local = public.encrypt(b"local", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                  label=None))
    assert kms.decrypt(KeyId=key_id, CiphertextBlob=local, EncryptionAlgorithm=OAEP_SHA256)["Plaintext"] == b"local"


def test_generate_mac_at_primary_verify_mac_at_replica(kms, eu):
    key_id = primary(kms, **KINDS["hmac"])["KeyId"]
    replicate(kms, eu, key_id)
    message = b"authenticated across Regions"
    mac = kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]
    out = eu.verify_mac(KeyId=key_id, Message=message, MacAlgorithm="HMAC_SHA_256", Mac=mac)
    assert out["MacValid"] is True
    assert out["KeyId"] == key_arn(key_id, EU)
    assert eu.generate_mac(KeyId=key_id, Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"] == mac


def test_single_region_key_ciphertext_not_decryptable_in_other_region(kms, eu, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"stays home")["CiphertextBlob"]
    with pytest.raises(ClientError) as info:
        eu.decrypt(CiphertextBlob=blob)
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] in ("NotFoundException", "InvalidCiphertextException"), response["Error"]


def test_unrelated_multi_region_keys_not_interoperable(kms, eu):
    """An unrelated primary in the other Region can't decrypt the first key's ciphertext."""
    key_id = primary(kms)["KeyId"]
    other = primary(eu)["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as info:
        eu.decrypt(CiphertextBlob=blob, KeyId=other)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# === 6. Rotation =========================================================================

def test_enable_disable_key_rotation_on_primary_followed_by_replica(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    status = wait_until(lambda: eu.get_key_rotation_status(KeyId=key_id), lambda s: s["KeyRotationEnabled"],
                        "the replica to show rotation enabled")
    assert status["RotationPeriodInDays"] == 180
    assert status["KeyId"] == key_arn(key_id, EU)
    kms.disable_key_rotation(KeyId=key_id)
    wait_for(lambda: eu.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False,
             "the replica to show rotation disabled")


def test_replica_created_after_rotation_enabled_shows_rotation(kms, eu):
    key_id = primary(kms)["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    replicate(kms, eu, key_id)
    status = wait_until(lambda: eu.get_key_rotation_status(KeyId=key_id), lambda s: s["KeyRotationEnabled"],
                        "the new replica to show rotation enabled")
    assert status["RotationPeriodInDays"] == 90


def test_rotate_key_on_demand_at_primary_material_reaches_replica(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    before = material_id(kms, key_id)
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"before rotation")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key_id)
    after = wait_until(lambda: material_id(kms, key_id), lambda m: m != before, "the primary's new material")
    wait_for(lambda: material_id(eu, key_id) == after, "the replica's material to follow the primary")

    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]
    out = eu.decrypt(CiphertextBlob=new_blob)
    assert out["Plaintext"] == b"after rotation"
    assert out["KeyMaterialId"] == after
    assert eu.decrypt(CiphertextBlob=old_blob)["KeyMaterialId"] == before
    rotations = eu.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [(r["RotationType"], r["KeyMaterialId"]) for r in rotations] == [("ON_DEMAND", after)]


@pytest.mark.parametrize("operation", ["enable_key_rotation", "disable_key_rotation", "rotate_key_on_demand"])
def test_rotation_operations_on_replica_unsupported_operation(kms, eu, operation):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    expect_error(lambda: getattr(eu, operation)(KeyId=key_id), "UnsupportedOperationException")
    assert eu.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert material_id(eu, key_id) == material_id(kms, key_id)


def test_automatic_rotation_of_primary_reaches_replica(kms, eu, clock):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    wait_for(lambda: eu.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"], "rotation on the replica")
    original = material_id(kms, key_id)
    blob = eu.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]

    clock.advance(days=91)
    rotated = wait_until(lambda: material_id(kms, key_id), lambda m: m != original,
                         "the primary's automatic rotation")
    wait_for(lambda: material_id(eu, key_id) == rotated, "the replica to get the rotated material")
    time.sleep(1.5)  # a few more sweeps: the replica must not rotate on its own
    assert material_id(eu, key_id) == material_id(kms, key_id) == rotated
    everything = {r["KeyMaterialId"] for r in kms.list_key_rotations(
        KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]}
    assert {r["KeyMaterialId"] for r in eu.list_key_rotations(
        KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]} == everything == {original, rotated}
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=eu.encrypt(KeyId=key_id, Plaintext=b"n")["CiphertextBlob"])[
        "KeyMaterialId"] == rotated


# === 7. Independent properties ===========================================================

def test_put_key_policy_on_replica_leaves_primary_policy(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    primary_policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    marker = root_policy("replica-only-" + uuid.uuid4().hex[:6])
    eu.put_key_policy(KeyId=key_id, PolicyName="default", Policy=marker)
    assert eu.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == marker
    assert kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == primary_policy


def test_disable_primary_replica_still_works(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"made while enabled")["CiphertextBlob"]
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), "DisabledException")
    time.sleep(1.0)  # a couple of sweeps: nothing may sync the state over
    meta = describe(eu, key_id)
    assert (meta["KeyState"], meta["Enabled"]) == ("Enabled", True)
    assert eu.decrypt(CiphertextBlob=blob)["Plaintext"] == b"made while enabled"
    fresh = eu.encrypt(KeyId=key_id, Plaintext=b"made at the replica")["CiphertextBlob"]
    assert eu.decrypt(CiphertextBlob=fresh)["Plaintext"] == b"made at the replica"


def test_disable_replica_primary_still_works(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    blob = eu.encrypt(KeyId=key_id, Plaintext=b"from the replica")["CiphertextBlob"]
    eu.disable_key(KeyId=key_id)
    expect_error(lambda: eu.encrypt(KeyId=key_id, Plaintext=b"x"), "DisabledException")
    expect_error(lambda: eu.decrypt(CiphertextBlob=blob), "DisabledException")
    time.sleep(1.0)
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from the replica"
    kms.encrypt(KeyId=key_id, Plaintext=b"still fine")


def test_update_key_description_independent(kms, eu):
    key_id = primary(kms, Description="at primary")["KeyId"]
    replicate(kms, eu, key_id, Description="at replica")
    eu.update_key_description(KeyId=key_id, Description="changed at replica")
    assert describe(kms, key_id)["Description"] == "at primary"
    kms.update_key_description(KeyId=key_id, Description="changed at primary")
    assert describe(eu, key_id)["Description"] == "changed at replica"
    assert describe(kms, key_id)["Description"] == "changed at primary"


def test_tag_resource_independent(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "where", "TagValue": "us"}])
    eu.tag_resource(KeyId=key_id, Tags=[{"TagKey": "where", "TagValue": "eu"}, {"TagKey": "only", "TagValue": "eu"}])
    assert tags_of(kms, key_id) == {"where": "us"}
    assert tags_of(eu, key_id) == {"where": "eu", "only": "eu"}
    eu.untag_resource(KeyId=key_id, TagKeys=["where"])
    assert tags_of(kms, key_id) == {"where": "us"}
    assert tags_of(eu, key_id) == {"only": "eu"}


def test_create_alias_same_name_in_both_regions_points_at_local_key(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    alias = f"alias/mrk-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    eu.create_alias(AliasName=alias, TargetKeyId=key_id)
    assert describe(kms, alias)["Arn"] == key_arn(key_id)
    assert describe(eu, alias)["Arn"] == key_arn(key_id, EU)
    listed = eu.list_aliases(KeyId=key_id)["Aliases"]
    assert [(a["AliasName"], a["AliasArn"], a["TargetKeyId"]) for a in listed] == [
        (alias, f"arn:aws:kms:{EU}:{ACCOUNT_ID}:{alias}", key_id)]
    everywhere = [a for page in pages(eu.list_aliases, Limit=100) for a in page["Aliases"]
                  if a["AliasName"] == alias]
    assert [a["TargetKeyId"] for a in everywhere] == [key_id]
    # encrypt through the alias in one Region, decrypt through the alias's key in the other
    blob = eu.encrypt(KeyId=alias, Plaintext=b"via alias")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId=alias)["Plaintext"] == b"via alias"
    eu.delete_alias(AliasName=alias)
    assert describe(kms, alias)["KeyId"] == key_id
    expect_error(lambda: eu.describe_key(KeyId=alias), "NotFoundException")


def test_create_grant_on_replica_not_listed_at_primary(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    grant_id = eu.create_grant(KeyId=key_id, GranteePrincipal=ROOT_ARN, Operations=["Encrypt", "Decrypt"])["GrantId"]
    grants = eu.list_grants(KeyId=key_id)["Grants"]
    assert [g["GrantId"] for g in grants] == [grant_id]
    assert grants[0]["KeyId"] == key_arn(key_id, EU)
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


def test_list_keys_each_region_lists_its_related_key(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    eu_keys = [k for page in pages(eu.list_keys, Limit=100) for k in page["Keys"]]
    us_keys = [k for page in pages(kms.list_keys, Limit=100) for k in page["Keys"]]
    assert [k for k in eu_keys if k["KeyId"] == key_id] == [{"KeyId": key_id, "KeyArn": key_arn(key_id, EU)}]
    assert [k for k in us_keys if k["KeyId"] == key_id] == [{"KeyId": key_id, "KeyArn": key_arn(key_id)}]


# === 8. UpdatePrimaryRegion ==============================================================

def test_update_primary_region_swaps_primary_and_replica(kms, eu):
    key_id = primary(kms, Description="was primary", Policy=root_policy("us-policy"))["KeyId"]
    replicate(kms, eu, key_id, Description="was replica", Policy=root_policy("eu-policy"))
    us_arn, eu_arn = key_arn(key_id), key_arn(key_id, EU)

    out = kms.update_primary_region(KeyId=key_id, PrimaryRegion=EU)
    assert set(out) == {"ResponseMetadata"}

    wait_for(lambda: describe(eu, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
             and describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA",
             "the designations to swap")
    new_primary, old_primary = settled(eu, key_id), settled(kms, key_id)
    assert new_primary["MultiRegionConfiguration"]["PrimaryKey"] == ref(eu_arn, EU)
    assert new_primary["MultiRegionConfiguration"]["ReplicaKeys"] == [ref(us_arn, REGION)]
    assert old_primary["MultiRegionConfiguration"]["PrimaryKey"] == ref(eu_arn, EU)
    assert ref(us_arn, REGION) in old_primary["MultiRegionConfiguration"]["ReplicaKeys"]
    assert (new_primary["KeyState"], old_primary["KeyState"]) == ("Enabled", "Enabled")
    assert (new_primary["Arn"], old_primary["Arn"]) == (eu_arn, us_arn)
    assert new_primary["Description"] == "was replica"
    assert old_primary["Description"] == "was primary"
    assert json.loads(eu.get_key_policy(KeyId=key_id)["Policy"])["Id"] == "test-eu-policy"
    assert json.loads(kms.get_key_policy(KeyId=key_id)["Policy"])["Id"] == "test-us-policy"
    assert new_primary["CurrentKeyMaterialId"] == old_primary["CurrentKeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"still related")["CiphertextBlob"]
    assert eu.decrypt(CiphertextBlob=blob)["Plaintext"] == b"still related"


def test_update_primary_region_by_arn_other_replicas_follow(kms, eu, ap):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id, EU)
    replicate(kms, ap, key_id, AP)
    kms.update_primary_region(KeyId=key_arn(key_id), PrimaryRegion=EU)
    wait_for(lambda: describe(ap, key_id)["MultiRegionConfiguration"]["PrimaryKey"] == ref(key_arn(key_id, EU), EU),
             "the other replica to follow the new primary")
    config = settled(eu, key_id)["MultiRegionConfiguration"]
    assert config["MultiRegionKeyType"] == "PRIMARY"
    assert by_region(config["ReplicaKeys"]) == [ref(key_arn(key_id, AP), AP), ref(key_arn(key_id), REGION)]
    assert describe(ap, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"


def test_update_primary_region_replicate_key_only_from_new_primary(kms, eu, ap):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    kms.update_primary_region(KeyId=key_id, PrimaryRegion=EU)
    settled(eu, key_id)
    settled(kms, key_id)
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=AP), "UnsupportedOperationException")
    assert is_gone(ap, key_id)
    out = replicate(eu, ap, key_id, AP)
    assert out["ReplicaKeyMetadata"]["Arn"] == key_arn(key_id, AP)
    config = describe(ap, key_id)["MultiRegionConfiguration"]
    assert config["MultiRegionKeyType"] == "REPLICA"
    assert config["PrimaryKey"] == ref(key_arn(key_id, EU), EU)


def test_update_primary_region_rotation_controlled_from_new_primary(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    kms.update_primary_region(KeyId=key_id, PrimaryRegion=EU)
    settled(eu, key_id)
    settled(kms, key_id)
    expect_error(lambda: kms.enable_key_rotation(KeyId=key_id), "UnsupportedOperationException")
    eu.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=120)
    status = wait_until(lambda: kms.get_key_rotation_status(KeyId=key_id), lambda s: s["KeyRotationEnabled"],
                        "the old primary to follow the rotation setting")
    assert status["RotationPeriodInDays"] == 120
    eu.rotate_key_on_demand(KeyId=key_id)
    wait_for(lambda: material_id(kms, key_id) == material_id(eu, key_id), "material to reach the new replica")


def test_update_primary_region_no_replica_there_not_found(kms, eu):
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: kms.update_primary_region(KeyId=key_id, PrimaryRegion=EU), "NotFoundException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert is_gone(eu, key_id)


def test_update_primary_region_on_replica_unsupported_operation(kms, eu, ap):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id, EU)
    replicate(kms, ap, key_id, AP)
    expect_error(lambda: eu.update_primary_region(KeyId=key_id, PrimaryRegion=AP), "UnsupportedOperationException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert describe(ap, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"


def test_update_primary_region_single_region_key_unsupported_operation(kms, key_id):
    expect_error(lambda: kms.update_primary_region(KeyId=key_id, PrimaryRegion=EU), "UnsupportedOperationException")


def test_update_primary_region_disabled_primary_disabled_exception(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    kms.disable_key(KeyId=key_id)
    expect_error(lambda: kms.update_primary_region(KeyId=key_id, PrimaryRegion=EU), "DisabledException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"


def test_update_primary_region_disabled_replica_disabled_exception(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    eu.disable_key(KeyId=key_id)
    expect_error(lambda: kms.update_primary_region(KeyId=key_id, PrimaryRegion=EU), "DisabledException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert describe(eu, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"


def test_update_primary_region_own_region_refused(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    with pytest.raises(ClientError) as info:
        kms.update_primary_region(KeyId=key_id, PrimaryRegion=REGION)
    assert info.value.response["Error"]["Code"] in ("ValidationException", "UnsupportedOperationException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"


# === 9. Deletion =========================================================================

def test_schedule_key_deletion_replica_pending_then_cancel_disabled(kms, eu, clock):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    out = eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyId"] == key_arn(key_id, EU)
    assert out["KeyState"] == "PendingDeletion"
    assert abs(out["DeletionDate"].timestamp() - (clock.now + 7 * DAY)) < 5
    meta = describe(eu, key_id)
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["DeletionDate"] == out["DeletionDate"]
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    eu.cancel_key_deletion(KeyId=key_id)
    meta = describe(eu, key_id)
    assert (meta["KeyState"], meta["Enabled"]) == ("Disabled", False)
    assert "DeletionDate" not in meta


def test_replica_deleted_after_window_primary_unaffected_and_replicate_again(kms, eu, clock):
    key_id = primary(kms)["KeyId"]
    early = kms.encrypt(KeyId=key_id, Plaintext=b"made by the primary")["CiphertextBlob"]
    replicate(kms, eu, key_id)
    from_replica = eu.encrypt(KeyId=key_id, Plaintext=b"made by the replica")["CiphertextBlob"]
    eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)

    clock.advance(days=8)
    wait_for(lambda: is_gone(eu, key_id), "the replica to be deleted")
    wait_for(lambda: describe(kms, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == [],
             "the primary to forget the replica")
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=early)["Plaintext"] == b"made by the primary"
    assert kms.decrypt(CiphertextBlob=from_replica)["Plaintext"] == b"made by the replica"

    out = replicate(kms, eu, key_id)
    assert out["ReplicaKeyMetadata"]["Arn"] == key_arn(key_id, EU)
    assert describe(eu, key_id)["KeyState"] == "Enabled"
    assert eu.decrypt(CiphertextBlob=early)["Plaintext"] == b"made by the primary"
    assert eu.decrypt(CiphertextBlob=from_replica)["Plaintext"] == b"made by the replica"


def test_schedule_key_deletion_primary_with_replica_pending_replica_deletion(kms, eu):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert {k: v for k, v in out.items() if k != "ResponseMetadata"} == {
        "KeyId": key_arn(key_id), "KeyState": "PendingReplicaDeletion", "PendingWindowInDays": 7}
    meta = describe(kms, key_id)
    assert meta["KeyState"] == "PendingReplicaDeletion"
    assert meta["Enabled"] is False
    assert meta["PendingDeletionWindowInDays"] == 7
    assert "DeletionDate" not in meta
    expect_error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), "KMSInvalidStateException")
    expect_error(lambda: kms.replicate_key(KeyId=key_id, ReplicaRegion=AP), "KMSInvalidStateException")
    # the replica is untouched
    assert describe(eu, key_id)["KeyState"] == "Enabled"
    assert eu.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    eu.encrypt(KeyId=key_id, Plaintext=b"y")

    kms.cancel_key_deletion(KeyId=key_id)
    meta = describe(kms, key_id)
    assert (meta["KeyState"], meta["Enabled"]) == ("Disabled", False)
    assert "PendingDeletionWindowInDays" not in meta and "DeletionDate" not in meta


def test_primary_pending_replica_deletion_deleted_after_last_replica(kms, eu, clock):
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)["KeyState"] == "PendingReplicaDeletion"
    replica_deletion = eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)["DeletionDate"]

    clock.advance(days=8)
    wait_for(lambda: is_gone(eu, key_id), "the replica to be deleted")
    meta = wait_until(lambda: describe(kms, key_id), lambda m: m["KeyState"] == "PendingDeletion",
                      "the primary to move to PendingDeletion")
    # the primary's own 7-day window starts when the replica is actually deleted: somewhere
    # between the replica's DeletionDate and now (the sweep that deleted it)
    deletion = meta["DeletionDate"].timestamp()
    assert replica_deletion.timestamp() + 7 * DAY - 5 <= deletion <= clock.now + 7 * DAY + 5
    assert "PendingDeletionWindowInDays" not in meta
    assert meta["MultiRegionConfiguration"]["ReplicaKeys"] == []

    clock.advance(days=8)
    wait_for(lambda: is_gone(kms, key_id), "the primary to be deleted")


def test_schedule_key_deletion_primary_without_replicas_plain_pending_deletion(kms, clock):
    key_id = primary(kms)["KeyId"]
    out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion"
    assert abs(out["DeletionDate"].timestamp() - (clock.now + 7 * DAY)) < 5
    meta = describe(kms, key_id)
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["DeletionDate"] == out["DeletionDate"]


# === 10. Imported key material ===========================================================

def test_imported_material_replica_needs_same_material(kms, eu):
    key_id = primary(kms, Origin="EXTERNAL")["KeyId"]
    material = os.urandom(32)
    import_into(kms, key_id, material)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"imported", EncryptionContext={"k": "v"})["CiphertextBlob"]
    replicate(kms, eu, key_id)
    assert describe(eu, key_id)["KeyState"] == "PendingImport"
    expect_error(lambda: eu.encrypt(KeyId=key_id, Plaintext=b"x"), "KMSInvalidStateException")

    expect_error(lambda: import_into(eu, key_id, os.urandom(32)), "IncorrectKeyMaterialException")
    assert describe(eu, key_id)["KeyState"] == "PendingImport"

    import_into(eu, key_id, material)
    meta = describe(eu, key_id)
    assert (meta["KeyState"], meta["Enabled"]) == ("Enabled", True)
    out = eu.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})
    assert out["Plaintext"] == b"imported"
    assert out["KeyId"] == key_arn(key_id, EU)
    back = eu.encrypt(KeyId=key_id, Plaintext=b"from eu")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=back)["Plaintext"] == b"from eu"


# === 11. Condition keys ==================================================================

def test_condition_replica_region_limits_replicate_key(server, kms, eu, ap):
    user = iam_user(server, allow(["kms:CreateKey", "kms:DescribeKey"]),
                    allow("kms:ReplicateKey", Condition={"StringEquals": {"kms:ReplicaRegion": EU}}))
    key_id = primary(kms)["KeyId"]
    out = user().replicate_key(KeyId=key_id, ReplicaRegion=EU)
    assert out["ReplicaKeyMetadata"]["Arn"] == key_arn(key_id, EU)
    settled(eu, key_id)
    expect_error(lambda: user().replicate_key(KeyId=key_id, ReplicaRegion=AP), "AccessDeniedException")
    assert is_gone(ap, key_id)


def test_condition_multi_region_denies_multi_region_create_key(server):
    user = iam_user(server, allow("kms:CreateKey"),
                    {"Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*",
                     "Condition": {"Bool": {"kms:MultiRegion": "true"}}})
    expect_error(lambda: user().create_key(MultiRegion=True), "AccessDeniedException")
    assert user().create_key()["KeyMetadata"]["MultiRegion"] is False
    assert user().create_key(MultiRegion=False)["KeyMetadata"]["MultiRegion"] is False


def test_condition_multi_region_key_type_replica_only(server, kms, eu):
    user = iam_user(server, allow("kms:Encrypt", Condition={"StringEquals": {"kms:MultiRegionKeyType": "REPLICA"}}))
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id)
    assert user(EU).encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"] == key_arn(key_id, EU)
    expect_error(lambda: user(REGION).encrypt(KeyId=key_id, Plaintext=b"x"), "AccessDeniedException")


def test_condition_primary_region_limits_update_primary_region(server, kms, eu, ap):
    user = iam_user(server, allow("kms:DescribeKey"),
                    allow("kms:UpdatePrimaryRegion", Condition={"StringEquals": {"kms:PrimaryRegion": EU}}))
    key_id = primary(kms)["KeyId"]
    replicate(kms, eu, key_id, EU)
    replicate(kms, ap, key_id, AP)
    expect_error(lambda: user().update_primary_region(KeyId=key_id, PrimaryRegion=AP), "AccessDeniedException")
    assert describe(kms, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert describe(ap, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    user().update_primary_region(KeyId=key_id, PrimaryRegion=EU)
    wait_for(lambda: describe(eu, key_id)["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY",
             "eu-west-1 to become the primary")


def test_replicate_key_without_create_key_permission_access_denied(server, kms, eu):
    user = iam_user(server, allow(["kms:ReplicateKey", "kms:DescribeKey"]))
    key_id = primary(kms)["KeyId"]
    expect_error(lambda: user().replicate_key(KeyId=key_id, ReplicaRegion=EU), "AccessDeniedException")
    assert is_gone(eu, key_id)
    assert describe(kms, key_id)["MultiRegionConfiguration"]["ReplicaKeys"] == []


# === 12. Audit ===========================================================================

def test_replicate_key_audit_event_names_both_arns(server, kms, eu):
    key_id = primary(kms)["KeyId"]
    out = replicate(kms, eu, key_id)
    with trail_engine(server.app.state.store.db).connect() as conn:
        rows = conn.execute(text("SELECT event_name, region, error_code, resources, detail FROM audit_event "
                                 "WHERE request_id = :r"), {"r": request_id_of(out)}).mappings().all()
    events = [dict(r) for r in rows if r["event_name"] == "ReplicateKey"]
    assert len(events) == 1, rows
    event = events[0]
    assert event["region"] == REGION
    assert event["error_code"] is None
    recorded = str(event["resources"] or "") + " " + str(event["detail"] or "")
    assert key_arn(key_id) in recorded
    assert key_arn(key_id, EU) in recorded
    # and, as AWS records it, a CreateKey in the replica's Region naming the replica
    created = [dict(r) for r in rows if r["event_name"] == "CreateKey"]
    assert len(created) == 1 and created[0]["region"] == EU and created[0]["error_code"] is None, rows
    assert key_arn(key_id, EU) in str(created[0]["resources"])
