"""Authorization of the asymmetric, HMAC and key-agreement operations through boto3, with
IAM users other than the account root: key policies and identity policies with the
algorithm condition keys (kms:SigningAlgorithm, kms:MessageType, kms:MacAlgorithm,
kms:KeyAgreementAlgorithm, kms:EncryptionAlgorithm, kms:DataKeyPairSpec, kms:KeySpec,
kms:KeyUsage), explicit denies, and grants for every operation a grant may name on
such keys.

AWS behaviour: aws_api.md sections 4.10, 4.13.
"""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.api.test_kms_asymmetric import shared_key
from tests.api.test_kms_grants import ROOT_ARN, User, make_user
from tests.helpers import error_of, key_arn


@pytest.fixture
def keys(server):
    return lambda spec, usage: shared_key(server, spec, usage)


@pytest.fixture
def alice(server) -> User:
    return make_user(server)


def key_with_policy(kms, spec: str, usage: str, *statements: dict) -> str:
    """A key whose policy lets the root administer it (delegating to IAM) plus `statements`."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
        *statements]}
    return kms.create_key(KeySpec=spec, KeyUsage=usage, Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]


def allow(principal: str, actions, condition: dict | None = None,
          effect: str = "Allow") -> dict:
    statement = {"Effect": effect, "Principal": {"AWS": principal}, "Action": actions, "Resource": "*"}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def denied(call, action: str, user: User | None = None, **kwargs) -> str:
    code, message = error_of(call, **kwargs)
    assert code == "AccessDeniedException", (code, message)
    assert f"is not authorized to perform: {action} on resource: " in message, message
    if user is not None:
        assert message.startswith(f"User: {user.arn} ")
    return message


def peer_public() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# === key policy conditions ===========================================================================
def test_key_policy_signing_algorithm_condition(kms, alice):
    key_id = key_with_policy(kms, "RSA_2048", "SIGN_VERIFY", allow(
        alice.arn, ["kms:Sign", "kms:Verify"], {"StringEquals": {"kms:SigningAlgorithm": "RSASSA_PSS_SHA_256"}}))
    signature = alice.kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    assert alice.kms.verify(KeyId=key_id, Message=b"m", Signature=signature,
                            SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"] is True
    message = denied(alice.kms.sign, "kms:Sign", alice, KeyId=key_id, Message=b"m",
                     SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
    assert key_arn(key_id) in message
    denied(alice.kms.sign, "kms:Sign", alice, KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_512")
    other = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    denied(alice.kms.verify, "kms:Verify", alice, KeyId=key_id, Message=b"m", Signature=other,
           SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")


def test_key_policy_message_type_condition(kms, alice):
    key_id = key_with_policy(kms, "ECC_NIST_P256", "SIGN_VERIFY", allow(
        alice.arn, "kms:Sign", {"StringEquals": {"kms:MessageType": "DIGEST"}}))
    assert alice.kms.sign(KeyId=key_id, Message=os.urandom(32), MessageType="DIGEST",
                          SigningAlgorithm="ECDSA_SHA_256")["KeyId"] == key_arn(key_id)
    denied(alice.kms.sign, "kms:Sign", alice, KeyId=key_id, Message=b"m", MessageType="RAW",
           SigningAlgorithm="ECDSA_SHA_256")
    # MessageType omitted is RAW
    denied(alice.kms.sign, "kms:Sign", alice, KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")


def test_key_policy_mac_algorithm_condition(kms, alice):
    key_id = key_with_policy(kms, "HMAC_256", "GENERATE_VERIFY_MAC", allow(
        alice.arn, ["kms:GenerateMac", "kms:VerifyMac"], {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}))
    mac = alice.kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert alice.kms.verify_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=mac)["MacValid"]
    # the policy decides before the algorithm is checked against the key spec
    denied(alice.kms.generate_mac, "kms:GenerateMac", alice, KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_512")
    denied(alice.kms.verify_mac, "kms:VerifyMac", alice, KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_384",
           Mac=mac)


def test_key_policy_mac_algorithm_condition_other_value_denies(kms, alice):
    key_id = key_with_policy(kms, "HMAC_384", "GENERATE_VERIFY_MAC", allow(
        alice.arn, "kms:GenerateMac", {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}))
    denied(alice.kms.generate_mac, "kms:GenerateMac", alice, KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_384")


def test_key_policy_key_agreement_algorithm_condition(kms, alice, server):
    allowed = key_with_policy(kms, "ECC_NIST_P256", "KEY_AGREEMENT", allow(
        alice.arn, "kms:DeriveSharedSecret", {"StringEquals": {"kms:KeyAgreementAlgorithm": "ECDH"}}))
    other = key_with_policy(kms, "ECC_NIST_P256", "KEY_AGREEMENT", allow(
        alice.arn, "kms:DeriveSharedSecret", {"StringEquals": {"kms:KeyAgreementAlgorithm": "SM2"}}))
    assert alice.kms.derive_shared_secret(KeyId=allowed, KeyAgreementAlgorithm="ECDH",
                                          PublicKey=peer_public())["SharedSecret"]
    denied(alice.kms.derive_shared_secret, "kms:DeriveSharedSecret", alice, KeyId=other,
           KeyAgreementAlgorithm="ECDH", PublicKey=peer_public())


def test_key_policy_encryption_algorithm_condition_on_rsa_key(kms, alice):
    key_id = key_with_policy(kms, "RSA_2048", "ENCRYPT_DECRYPT", allow(
        alice.arn, ["kms:Encrypt", "kms:Decrypt"],
        {"StringEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}))
    blob = alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert alice.kms.decrypt(CiphertextBlob=blob, KeyId=key_id,
                             EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"x"
    denied(alice.kms.encrypt, "kms:Encrypt", alice, KeyId=key_id, Plaintext=b"x",
           EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    sha1_blob = kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_1")["CiphertextBlob"]
    denied(alice.kms.decrypt, "kms:Decrypt", alice, CiphertextBlob=sha1_blob, KeyId=key_id,
           EncryptionAlgorithm="RSAES_OAEP_SHA_1")


def test_key_policy_data_key_pair_spec_condition(kms, alice):
    key_id = key_with_policy(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", allow(
        alice.arn, ["kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext"],
        {"StringEquals": {"kms:DataKeyPairSpec": "ECC_NIST_P256"}}))
    assert alice.kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")["KeyPairSpec"] == "ECC_NIST_P256"
    assert alice.kms.generate_data_key_pair_without_plaintext(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")["PublicKey"]
    denied(alice.kms.generate_data_key_pair, "kms:GenerateDataKeyPair", alice, KeyId=key_id,
           KeyPairSpec="RSA_2048")
    denied(alice.kms.generate_data_key_pair_without_plaintext, "kms:GenerateDataKeyPairWithoutPlaintext", alice,
           KeyId=key_id, KeyPairSpec="ECC_NIST_P384")


def test_explicit_deny_on_signing_algorithm_beats_root_allow(kms):
    key_id = key_with_policy(kms, "RSA_2048", "SIGN_VERIFY", allow(
        "*", "kms:Sign", {"StringLike": {"kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_*"}}, effect="Deny"))
    assert kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_384")["Signature"]
    message = denied(kms.sign, "kms:Sign", KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_384")
    assert message.endswith("with an explicit deny in a resource-based policy")


def test_user_without_any_permission_denied_everywhere(keys, alice):
    peer = peer_public()
    calls = [
        ("kms:Sign", alice.kms.sign, {"KeyId": keys("ECC_NIST_P256", "SIGN_VERIFY"), "Message": b"m",
                                      "SigningAlgorithm": "ECDSA_SHA_256"}),
        ("kms:Verify", alice.kms.verify, {"KeyId": keys("ECC_NIST_P256", "SIGN_VERIFY"), "Message": b"m",
                                          "Signature": b"\x30\x00", "SigningAlgorithm": "ECDSA_SHA_256"}),
        ("kms:GetPublicKey", alice.kms.get_public_key, {"KeyId": keys("ECC_NIST_P256", "SIGN_VERIFY")}),
        ("kms:GenerateMac", alice.kms.generate_mac, {"KeyId": keys("HMAC_256", "GENERATE_VERIFY_MAC"),
                                                     "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"}),
        ("kms:VerifyMac", alice.kms.verify_mac, {"KeyId": keys("HMAC_256", "GENERATE_VERIFY_MAC"), "Message": b"m",
                                                 "MacAlgorithm": "HMAC_SHA_256", "Mac": b"\x00" * 32}),
        ("kms:DeriveSharedSecret", alice.kms.derive_shared_secret, {
            "KeyId": keys("ECC_NIST_P256", "KEY_AGREEMENT"), "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer}),
        ("kms:GenerateDataKeyPair", alice.kms.generate_data_key_pair, {
            "KeyId": keys("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), "KeyPairSpec": "ECC_NIST_P256"}),
    ]
    for action, call, kwargs in calls:
        message = denied(call, action, alice, **kwargs)
        assert message.endswith(f"because no identity-based policy allows the {action} action"), message


# === identity (IAM) policies, delegated to by the key policy's root statement ========================
def test_identity_policy_key_spec_and_signing_algorithm_conditions(server, kms, keys):
    user = make_user(server, {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["kms:Sign", "kms:GetPublicKey"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:KeySpec": "ECC_NIST_P256", "kms:KeyUsage": "SIGN_VERIFY"}}}, {
        "Effect": "Allow", "Action": "kms:Verify", "Resource": "*",
        "Condition": {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_384"}}}]})
    p256, p384 = keys("ECC_NIST_P256", "SIGN_VERIFY"), keys("ECC_NIST_P384", "SIGN_VERIFY")
    assert user.kms.sign(KeyId=p256, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["KeyId"] == key_arn(p256)
    assert user.kms.get_public_key(KeyId=p256)["KeySpec"] == "ECC_NIST_P256"
    denied(user.kms.sign, "kms:Sign", user, KeyId=p384, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    denied(user.kms.get_public_key, "kms:GetPublicKey", user, KeyId=keys("ECC_NIST_P256", "KEY_AGREEMENT"))
    signature = kms.sign(KeyId=p384, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")["Signature"]
    assert user.kms.verify(KeyId=p384, Message=b"m", Signature=signature,
                           SigningAlgorithm="ECDSA_SHA_384")["SignatureValid"] is True
    denied(user.kms.verify, "kms:Verify", user, KeyId=p256, Message=b"m", Signature=signature,
           SigningAlgorithm="ECDSA_SHA_256")


def test_identity_policy_alone_does_not_open_a_key_whose_policy_does_not_delegate(server, kms, alice):
    user = make_user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
    # the key policy names alice only: no statement for the account root, so IAM can't grant
    policy = {"Version": "2012-10-17", "Statement": [allow(alice.arn, "kms:*")]}
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Policy=json.dumps(policy),
                            BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
    assert alice.kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    denied(user.kms.sign, "kms:Sign", user, KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    denied(user.kms.get_public_key, "kms:GetPublicKey", user, KeyId=key_id)


# === grants ============================================================================================
def grant(kms, key_id: str, grantee: str, ops: list, **kw) -> dict:
    return kms.create_grant(KeyId=key_id, GranteePrincipal=grantee, Operations=ops, **kw)


def test_grant_sign_verify_get_public_key(kms, alice):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    denied(alice.kms.sign, "kms:Sign", alice, KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    made = grant(kms, key_id, alice.arn, ["Sign", "Verify", "GetPublicKey"])
    signature = alice.kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert alice.kms.verify(KeyId=key_id, Message=b"m", Signature=signature,
                            SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
    public = alice.kms.get_public_key(KeyId=key_id)["PublicKey"]
    assert public == kms.get_public_key(KeyId=key_id)["PublicKey"]
    # only what the grant lists
    denied(alice.kms.describe_key, "kms:DescribeKey", alice, KeyId=key_id)
    # a grant token works at once; retiring the grant ends it
    assert alice.kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256",
                          GrantTokens=[made["GrantToken"]])["Signature"]
    kms.retire_grant(KeyId=key_arn(key_id), GrantId=made["GrantId"])
    denied(alice.kms.sign, "kms:Sign", alice, KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")


def test_grant_verify_only_does_not_allow_sign(kms, alice):
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    grant(kms, key_id, alice.arn, ["Verify"])
    signature = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    assert alice.kms.verify(KeyId=key_id, Message=b"m", Signature=signature,
                            SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"] is True
    denied(alice.kms.sign, "kms:Sign", alice, KeyId=key_id, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    denied(alice.kms.get_public_key, "kms:GetPublicKey", alice, KeyId=key_id)


def test_grant_generate_mac_verify_mac(kms, alice):
    key_id = kms.create_key(KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    grant(kms, key_id, alice.arn, ["GenerateMac"])
    mac = alice.kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_512")["Mac"]
    assert mac == kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_512")["Mac"]
    denied(alice.kms.verify_mac, "kms:VerifyMac", alice, KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_512",
           Mac=mac)
    grant(kms, key_id, alice.arn, ["VerifyMac"])
    assert alice.kms.verify_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_512", Mac=mac)["MacValid"]


def test_grant_derive_shared_secret(kms, alice):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    grant(kms, key_id, alice.arn, ["DeriveSharedSecret", "GetPublicKey"])
    peer = ec.generate_private_key(ec.SECP256R1())
    secret = alice.kms.derive_shared_secret(
        KeyId=key_id, KeyAgreementAlgorithm="ECDH",
        PublicKey=peer.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo))["SharedSecret"]
    kms_public = serialization.load_der_public_key(alice.kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert secret == peer.exchange(ec.ECDH(), kms_public)


def test_grant_generate_data_key_pair_with_context_constraint(kms, key_id, alice):
    grant(kms, key_id, alice.arn, ["GenerateDataKeyPair"],
          Constraints={"EncryptionContextSubset": {"tenant": "acme"}})
    out = alice.kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256",
                                           EncryptionContext={"tenant": "acme", "extra": "1"})
    assert kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"],
                       EncryptionContext={"tenant": "acme", "extra": "1"})["Plaintext"] == out["PrivateKeyPlaintext"]
    denied(alice.kms.generate_data_key_pair, "kms:GenerateDataKeyPair", alice, KeyId=key_id,
           KeyPairSpec="ECC_NIST_P256", EncryptionContext={"tenant": "other"})
    denied(alice.kms.generate_data_key_pair, "kms:GenerateDataKeyPair", alice, KeyId=key_id,
           KeyPairSpec="ECC_NIST_P256")
    # the grant names one operation: not the WithoutPlaintext variant, nor Decrypt
    denied(alice.kms.generate_data_key_pair_without_plaintext, "kms:GenerateDataKeyPairWithoutPlaintext", alice,
           KeyId=key_id, KeyPairSpec="ECC_NIST_P256", EncryptionContext={"tenant": "acme"})
    denied(alice.kms.decrypt, "kms:Decrypt", alice, CiphertextBlob=out["PrivateKeyCiphertextBlob"],
           EncryptionContext={"tenant": "acme", "extra": "1"})


def test_grant_rsa_encryption_key_operations(kms, alice):
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    grant(kms, key_id, alice.arn, ["Encrypt", "Decrypt", "GetPublicKey"])
    blob = alice.kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_1")["CiphertextBlob"]
    assert alice.kms.decrypt(CiphertextBlob=blob, KeyId=key_id, EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"] \
        == b"x"
    assert alice.kms.get_public_key(KeyId=key_id)["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]


# --- CreateGrant refuses operations the key's usage can't do (aws_api.md §4.10) ------------------
INVALID_GRANTS = [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["Sign"]),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["GetPublicKey"]),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["GenerateMac"]),
    ("ECC_NIST_P256", "SIGN_VERIFY", ["GenerateMac"]),
    ("ECC_NIST_P256", "SIGN_VERIFY", ["Encrypt"]),
    ("ECC_NIST_P256", "SIGN_VERIFY", ["DeriveSharedSecret"]),
    ("ECC_NIST_P256", "SIGN_VERIFY", ["GenerateDataKeyPair"]),
    ("RSA_2048", "SIGN_VERIFY", ["Sign", "Decrypt"]),
    ("RSA_2048", "ENCRYPT_DECRYPT", ["GenerateDataKey"]),
    ("RSA_2048", "ENCRYPT_DECRYPT", ["GenerateDataKeyPair"]),
    ("RSA_2048", "ENCRYPT_DECRYPT", ["Sign"]),
    ("HMAC_256", "GENERATE_VERIFY_MAC", ["GetPublicKey"]),
    ("HMAC_256", "GENERATE_VERIFY_MAC", ["Verify"]),
    ("ECC_NIST_P256", "KEY_AGREEMENT", ["Sign"]),
    ("ECC_NIST_P256", "KEY_AGREEMENT", ["Decrypt"]),
]


@pytest.mark.parametrize("spec,usage,ops", INVALID_GRANTS, ids=[f"{s}-{u}-{'+'.join(o)}" for s, u, o in INVALID_GRANTS])
def test_create_grant_operation_invalid_for_key_usage(kms, keys, alice, spec, usage, ops):
    key_id = keys(spec, usage)
    before = kms.list_grants(KeyId=key_id)["Grants"]
    code, message = error_of(kms.create_grant, KeyId=key_id, GranteePrincipal=alice.arn, Operations=ops)
    assert code == "ValidationException"
    assert usage in message and spec in message
    assert kms.list_grants(KeyId=key_id)["Grants"] == before


VALID_GRANTS = [
    ("ECC_NIST_P256", "SIGN_VERIFY", ["Sign", "Verify", "GetPublicKey", "DescribeKey", "CreateGrant", "RetireGrant"]),
    ("RSA_2048", "ENCRYPT_DECRYPT", ["Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"]),
    ("HMAC_256", "GENERATE_VERIFY_MAC", ["GenerateMac", "VerifyMac", "DescribeKey"]),
    ("ECC_NIST_P384", "KEY_AGREEMENT", ["DeriveSharedSecret", "GetPublicKey"]),
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"]),
]


@pytest.mark.parametrize("spec,usage,ops", VALID_GRANTS, ids=[f"{s}-{u}" for s, u, _ in VALID_GRANTS])
def test_create_grant_operations_valid_for_key_usage(kms, keys, alice, spec, usage, ops):
    key_id = keys(spec, usage)
    made = grant(kms, key_id, alice.arn, ops)
    listed = [g for g in kms.list_grants(KeyId=key_id)["Grants"] if g["GrantId"] == made["GrantId"]]
    assert len(listed) == 1 and sorted(listed[0]["Operations"]) == sorted(ops)
    kms.revoke_grant(KeyId=key_id, GrantId=made["GrantId"])


@pytest.mark.parametrize("spec,usage,ops", [("ECC_NIST_P256", "SIGN_VERIFY", ["Sign"]),
                                            ("HMAC_256", "GENERATE_VERIFY_MAC", ["GenerateMac"]),
                                            ("RSA_2048", "ENCRYPT_DECRYPT", ["Decrypt"])])
def test_create_grant_context_constraint_refused_on_non_symmetric_keys(kms, keys, alice, spec, usage, ops):
    code, message = error_of(kms.create_grant, KeyId=keys(spec, usage), GranteePrincipal=alice.arn, Operations=ops,
                             Constraints={"EncryptionContextEquals": {"a": "b"}})
    assert code == "ValidationException"
    assert "symmetric" in message
