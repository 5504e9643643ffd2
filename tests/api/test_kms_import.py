"""Imported key material (BYOK) through real boto3 clients: GetParametersForImport,
ImportKeyMaterial, DeleteImportedKeyMaterial, on SQLite and PostgreSQL.

Material is wrapped the way AWS's documentation shows, with `openssl` (pkeyutl OAEP; enc
-id-aes256-wrap-pad for RSA_AES_KEY_WRAP_*), or with `cryptography` where a test is about
something else.  Reference: aws_api.md 3c, 4.3 (key-state table), 4.9.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import create_engine, func
from sqlmodel import Session, select

from tests.conftest import start_server
from tests.helpers import expect_error, key_arn, wrap_key_material

DAY = 86_400
OAEP_SHA256 = "RSAES_OAEP_SHA_256"
NO_EXPIRY = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}


# --- helpers -------------------------------------------------------------------------------
def external_key(kms, spec: str = "SYMMETRIC_DEFAULT", usage: str | None = None) -> str:
    kwargs = {"KeyUsage": usage} if usage else {}
    return kms.create_key(Origin="EXTERNAL", KeySpec=spec, **kwargs)["KeyMetadata"]["KeyId"]


def parameters(kms, key_id: str, algorithm: str = OAEP_SHA256,
               spec: str = "RSA_2048") -> dict:
    return kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)


def _md(algorithm: str) -> str:
    return "sha1" if algorithm.endswith("SHA_1") else "sha256"


def openssl_oaep(tmp: Path, public_der: bytes, data: bytes, md: str) -> bytes:
    """The AWS recipe: openssl pkeyutl -encrypt with OAEP, MGF1 on the same hash."""
    (tmp / "wrap.der").write_bytes(public_der)
    (tmp / "in.bin").write_bytes(data)
    subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", str(tmp / "wrap.der"),
                    "-in", str(tmp / "in.bin"), "-out", str(tmp / "out.bin"),
                    "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}",
                    "-pkeyopt", f"rsa_mgf1_md:{md}"], check=True, capture_output=True)
    return (tmp / "out.bin").read_bytes()


def openssl_wrap(tmp: Path, public_der: bytes, material: bytes, algorithm: str) -> bytes:
    """EncryptedKeyMaterial for `algorithm`, made by openssl: plain OAEP, or (RSA_AES_KEY_WRAP_*)
    OAEP of a fresh AES-256 key followed by RFC 5649 key wrap of the material."""
    if not algorithm.startswith("RSA_AES_KEY_WRAP"):
        return openssl_oaep(tmp, public_der, material, _md(algorithm))
    aes_key = os.urandom(32)
    (tmp / "material.bin").write_bytes(material)
    subprocess.run(["openssl", "enc", "-id-aes256-wrap-pad", "-K", aes_key.hex(), "-iv", "A65959A6",
                    "-in", str(tmp / "material.bin"), "-out", str(tmp / "wrapped.bin")], check=True,
                   capture_output=True)
    return openssl_oaep(tmp, public_der, aes_key, _md(algorithm)) + (tmp / "wrapped.bin").read_bytes()


#: the same, with `cryptography` (for tests about something other than the recipe)
local_wrap = wrap_key_material


def import_material(kms, key_id: str, material: bytes, algorithm: str = OAEP_SHA256,
                    **kwargs) -> dict:
    params = parameters(kms, key_id, algorithm)
    extra = kwargs or NO_EXPIRY
    return kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                   EncryptedKeyMaterial=local_wrap(params["PublicKey"], material, algorithm), **extra)


def pkcs8(private) -> bytes:
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def spki(private) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


def describe(kms, key_id: str) -> dict:
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]


def material_rows(server, key_id: str) -> int:
    from kms_core.storage.tables import KeyMaterialTable

    engine = create_engine(server.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(KeyMaterialTable)
                                .where(KeyMaterialTable.key_id == key_id)).one()
    finally:
        engine.dispose()


# --- GetParametersForImport ------------------------------------------------------------------
@pytest.mark.parametrize("wrapping_key_spec,bits", [("RSA_2048", 2048), ("RSA_3072", 3072), ("RSA_4096", 4096)])
def test_get_parameters_for_import_public_key_openssl_reads_and_24h_validity(kms, clock, tmp_path,
                                                                              wrapping_key_spec, bits):
    key_id = external_key(kms)
    out = parameters(kms, key_id, spec=wrapping_key_spec)
    assert out["KeyId"] == key_arn(key_id)
    assert abs(out["ParametersValidTo"].timestamp() - (clock.now + DAY)) < 5
    assert 0 < len(out["ImportToken"]) <= 6144
    (tmp_path / "wrap.der").write_bytes(out["PublicKey"])
    text = subprocess.run(["openssl", "pkey", "-pubin", "-inform", "DER", "-in", str(tmp_path / "wrap.der"),
                           "-noout", "-text"], check=True, capture_output=True, text=True).stdout
    assert f"Public-Key: ({bits} bit)" in text
    public = serialization.load_der_public_key(out["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == bits


def test_get_parameters_for_import_each_call_new_token(kms):
    key_id = external_key(kms)
    first, second = parameters(kms, key_id), parameters(kms, key_id)
    assert first["ImportToken"] != second["ImportToken"]


def test_get_parameters_for_import_aws_kms_key_unsupported_operation(kms, key_id):
    expect_error(lambda: parameters(kms, key_id), "UnsupportedOperationException",
                 f"{key_arn(key_id)} origin is AWS_KMS which is not valid for this operation.")


def test_get_parameters_for_import_pkcs1_v15_refused(kms):
    key_id = external_key(kms)
    expect_error(lambda: parameters(kms, key_id, algorithm="RSAES_PKCS1_V1_5"), "ValidationException",
                 contains="RSAES_PKCS1_V1_5 is no longer supported")


def test_get_parameters_for_import_sm2_china_only(kms):
    key_id = external_key(kms)
    expect_error(lambda: parameters(kms, key_id, spec="SM2"), "UnsupportedOperationException",
                 "WrappingKeySpec SM2 is not supported in this Region")
    expect_error(lambda: parameters(kms, key_id, algorithm="SM2PKE"), "UnsupportedOperationException",
                 "WrappingAlgorithm SM2PKE is not supported in this Region")


def test_get_parameters_for_import_alias_refused_not_found(kms):
    key_id = external_key(kms)
    alias = f"alias/import-{os.urandom(4).hex()}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    expect_error(lambda: parameters(kms, alias), "NotFoundException", f"Invalid keyId '{alias}'")


# --- ImportKeyMaterial: the openssl recipes ---------------------------------------------------
@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
                                       "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"])
def test_import_symmetric_material_openssl_wrapped_encrypt_decrypt(kms, tmp_path, algorithm):
    key_id = external_key(kms)
    params = parameters(kms, key_id, algorithm)
    material = os.urandom(32)
    out = kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                  EncryptedKeyMaterial=openssl_wrap(tmp_path, params["PublicKey"], material,
                                                                    algorithm), **NO_EXPIRY)
    assert out["KeyId"] == key_arn(key_id)
    meta = describe(kms, key_id)
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "ValidTo" not in meta
    assert meta["CurrentKeyMaterialId"] == out["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"imported", EncryptionContext={"a": "b"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"imported"


def test_import_same_material_into_two_keys_different_material_ids(kms):
    material = os.urandom(32)
    first, second = external_key(kms), external_key(kms)
    ids = {import_material(kms, k, material)["KeyMaterialId"] for k in (first, second)}
    assert len(ids) == 2
    blob = kms.encrypt(KeyId=first, Plaintext=b"x")["CiphertextBlob"]
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob, KeyId=second), "IncorrectKeyException")


@pytest.mark.parametrize("spec,length", [("HMAC_224", 28), ("HMAC_256", 64), ("HMAC_384", 48), ("HMAC_512", 128)])
def test_import_hmac_material_generate_mac_equals_local_hmac(kms, tmp_path, spec, length):
    key_id = external_key(kms, spec, "GENERATE_VERIFY_MAC")
    params = parameters(kms, key_id, "RSAES_OAEP_SHA_256")
    material = os.urandom(length)
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], **NO_EXPIRY,
                            EncryptedKeyMaterial=openssl_wrap(tmp_path, params["PublicKey"], material,
                                                              "RSAES_OAEP_SHA_256"))
    algorithm = "HMAC_SHA_" + spec.split("_")[1]
    message = b"message to authenticate"
    mac = kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm)["Mac"]
    assert mac == hmac.new(material, message, "sha" + spec.split("_")[1]).digest()
    assert kms.verify_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm, Mac=mac)["MacValid"] is True


@pytest.mark.parametrize("spec,length", [("HMAC_224", 27), ("HMAC_256", 31), ("HMAC_384", 129), ("HMAC_512", 63)])
def test_import_hmac_material_outside_lengths_incorrect_key_material(kms, spec, length):
    key_id = external_key(kms, spec, "GENERATE_VERIFY_MAC")
    expect_error(lambda: import_material(kms, key_id, os.urandom(length)), "IncorrectKeyMaterialException",
                 contains=spec)
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


@pytest.mark.parametrize("length", [16, 31, 33, 64])
def test_import_symmetric_material_not_32_bytes_incorrect_key_material(kms, length):
    key_id = external_key(kms)
    expect_error(lambda: import_material(kms, key_id, os.urandom(length)), "IncorrectKeyMaterialException",
                 "Key material for a SYMMETRIC_DEFAULT key must be 32 bytes.")


@pytest.mark.parametrize("algorithm", ["RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"])
def test_import_rsa_private_key_aes_key_wrap_sign_verify_and_public_key(kms, tmp_path, algorithm):
    key_id = external_key(kms, "RSA_2048", "SIGN_VERIFY")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    params = parameters(kms, key_id, algorithm, spec="RSA_3072")
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], **NO_EXPIRY,
                            EncryptedKeyMaterial=openssl_wrap(tmp_path, params["PublicKey"], pkcs8(private),
                                                              algorithm))
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == spki(private)
    message = b"signed by imported material"
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    private.public_key().verify(signature, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                                hashes.SHA256())
    assert kms.verify(KeyId=key_id, Message=message, Signature=signature,
                      SigningAlgorithm="RSASSA_PSS_SHA_256")["SignatureValid"] is True


def test_import_rsa_encryption_key_decrypts_locally_made_ciphertext(kms):
    key_id = external_key(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    import_material(kms, key_id, pkcs8(private), "RSA_AES_KEY_WRAP_SHA_256")
    blob = private.public_key().encrypt(b"for the imported key", padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    assert kms.decrypt(KeyId=key_id, CiphertextBlob=blob,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"for the imported key"


@pytest.mark.parametrize("spec,curve,algorithm,wrapping", [
    ("ECC_NIST_P256", ec.SECP256R1, "ECDSA_SHA_256", "RSAES_OAEP_SHA_256"),
    ("ECC_NIST_P384", ec.SECP384R1, "ECDSA_SHA_384", "RSA_AES_KEY_WRAP_SHA_256"),
    ("ECC_SECG_P256K1", ec.SECP256K1, "ECDSA_SHA_256", "RSAES_OAEP_SHA_1"),
])
def test_import_ec_private_key_sign_verify_and_public_key(kms, spec, curve, algorithm, wrapping):
    key_id = external_key(kms, spec, "SIGN_VERIFY")
    private = ec.generate_private_key(curve())
    import_material(kms, key_id, pkcs8(private), wrapping)
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == spki(private)
    message = b"ec message"
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=algorithm)["Signature"]
    private.public_key().verify(signature, message, ec.ECDSA({"ECDSA_SHA_256": hashes.SHA256(),
                                                              "ECDSA_SHA_384": hashes.SHA384()}[algorithm]))
    assert kms.verify(KeyId=key_id, Message=message, Signature=signature,
                      SigningAlgorithm=algorithm)["SignatureValid"] is True


def test_import_private_key_of_other_spec_incorrect_key_material(kms):
    key_id = external_key(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    expect_error(lambda: import_material(kms, key_id, pkcs8(ec.generate_private_key(ec.SECP384R1())),
                                         "RSA_AES_KEY_WRAP_SHA_256"),
                 "IncorrectKeyMaterialException", contains="ECC_NIST_P384")
    rsa_key = external_key(kms, "RSA_3072", "SIGN_VERIFY")
    expect_error(lambda: import_material(kms, rsa_key, pkcs8(rsa.generate_private_key(65537, 2048)),
                                         "RSA_AES_KEY_WRAP_SHA_256"),
                 "IncorrectKeyMaterialException", contains="RSA_2048")
    expect_error(lambda: import_material(kms, key_id, os.urandom(64)), "IncorrectKeyMaterialException",
                 contains="PKCS #8")
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


# --- re-import ---------------------------------------------------------------------------------
def test_symmetric_ciphertext_survives_delete_and_reimport_of_same_material(kms):
    key_id = external_key(kms)
    material = os.urandom(32)
    first = import_material(kms, key_id, material)["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]

    out = kms.delete_imported_key_material(KeyId=key_id)
    assert out["KeyId"] == key_arn(key_id) and out["KeyMaterialId"] == first
    meta = describe(kms, key_id)
    assert meta["KeyState"] == "PendingImport" and meta["Enabled"] is False
    assert "ExpirationModel" not in meta
    expect_error(lambda: kms.decrypt(CiphertextBlob=blob), "KMSInvalidStateException",
                 f"{key_arn(key_id)} is pending import.")
    expect_error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), "KMSInvalidStateException",
                 f"{key_arn(key_id)} is pending import.")

    again = import_material(kms, key_id, material, "RSA_AES_KEY_WRAP_SHA_1")["KeyMaterialId"]
    assert again == first
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_reimport_different_material_incorrect_key_material(kms):
    key_id = external_key(kms)
    import_material(kms, key_id, os.urandom(32))
    expected = (f"The key material is not the key material previously imported into {key_arn(key_id)}. "
                "Only the same key material can be imported again.")
    expect_error(lambda: import_material(kms, key_id, os.urandom(32)), "IncorrectKeyMaterialException", expected)
    kms.delete_imported_key_material(KeyId=key_id)
    expect_error(lambda: import_material(kms, key_id, os.urandom(32)), "IncorrectKeyMaterialException", expected)
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


def test_reimport_different_private_key_incorrect_key_material(kms):
    key_id = external_key(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    private = ec.generate_private_key(ec.SECP256R1())
    import_material(kms, key_id, pkcs8(private))
    kms.delete_imported_key_material(KeyId=key_id)
    expect_error(lambda: import_material(kms, key_id, pkcs8(ec.generate_private_key(ec.SECP256R1()))),
                 "IncorrectKeyMaterialException")
    import_material(kms, key_id, pkcs8(private))
    assert kms.get_public_key(KeyId=key_id)["PublicKey"] == spki(private)


def test_reimport_same_material_while_present_changes_expiration(kms, clock):
    key_id = external_key(kms)
    material = os.urandom(32)
    import_material(kms, key_id, material)
    valid_to = clock.now + 10 * DAY
    import_material(kms, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    meta = describe(kms, key_id)
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs(meta["ValidTo"].timestamp() - valid_to) < 1


def test_import_key_material_id_must_match_material(kms):
    key_id = external_key(kms)
    material = os.urandom(32)
    material_id = import_material(kms, key_id, material)["KeyMaterialId"]
    params = parameters(kms, key_id)
    wrapped = local_wrap(params["PublicKey"], material, OAEP_SHA256)
    wrong = "0" * 64
    expect_error(lambda: kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                                 EncryptedKeyMaterial=wrapped, KeyMaterialId=wrong, **NO_EXPIRY),
                 "IncorrectKeyMaterialException", f"The key material is not the key material {wrong}.")
    out = kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                  KeyMaterialId=material_id, ImportType="EXISTING_KEY_MATERIAL", **NO_EXPIRY)
    assert out["KeyMaterialId"] == material_id


def test_import_new_key_material_into_key_with_material_unsupported(kms):
    key_id = external_key(kms)
    material = os.urandom(32)
    import_material(kms, key_id, material, ImportType="NEW_KEY_MATERIAL", **NO_EXPIRY)
    expect_error(lambda: import_material(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL", **NO_EXPIRY),
                 "UnsupportedOperationException", contains="on-demand rotation")


# --- tokens --------------------------------------------------------------------------------
def test_import_token_of_other_key_invalid_import_token(kms):
    key_id, other = external_key(kms), external_key(kms)
    params = parameters(kms, other)
    expect_error(lambda: kms.import_key_material(
        KeyId=key_id, ImportToken=params["ImportToken"], **NO_EXPIRY,
        EncryptedKeyMaterial=local_wrap(params["PublicKey"], os.urandom(32), OAEP_SHA256)),
        "InvalidImportTokenException", "The import token is invalid or was not issued for this KMS key.")
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


def test_material_wrapped_for_one_key_does_not_import_into_another(kms):
    """Wrapping keys are never shared between KMS keys: material wrapped for A, presented
    with B's own valid token, must not become B's material (B's users could then sign or
    MAC as A)."""
    key_a, key_b = external_key(kms, "HMAC_256", "GENERATE_VERIFY_MAC"), external_key(kms, "HMAC_256",
                                                                                    "GENERATE_VERIFY_MAC")
    params_a, params_b = parameters(kms, key_a), parameters(kms, key_b)
    assert params_a["PublicKey"] != params_b["PublicKey"]
    wrapped_for_a = local_wrap(params_a["PublicKey"], os.urandom(32), OAEP_SHA256)
    expect_error(lambda: kms.import_key_material(KeyId=key_b, ImportToken=params_b["ImportToken"],
                                                 EncryptedKeyMaterial=wrapped_for_a, **NO_EXPIRY),
                 "InvalidCiphertextException")
    assert describe(kms, key_b)["KeyState"] == "PendingImport"


@pytest.mark.parametrize("garble", ["flip-first", "flip-middle", "flip-last", "truncate", "random", "one-byte"])
def test_import_garbled_token_invalid_import_token(kms, garble):
    key_id = external_key(kms)
    params = parameters(kms, key_id)
    token = bytearray(params["ImportToken"])
    if garble == "flip-first":
        token[0] ^= 1
    elif garble == "flip-middle":
        token[len(token) // 2] ^= 0x80
    elif garble == "flip-last":
        token[-1] ^= 1
    elif garble == "truncate":
        token = token[:-17]
    elif garble == "random":
        token = bytearray(os.urandom(len(token)))
    else:
        token = bytearray(b"\x01")
    expect_error(lambda: kms.import_key_material(
        KeyId=key_id, ImportToken=bytes(token), **NO_EXPIRY,
        EncryptedKeyMaterial=local_wrap(params["PublicKey"], os.urandom(32), OAEP_SHA256)),
        "InvalidImportTokenException")


def test_import_token_after_24_hours_expired(kms, clock):
    key_id = external_key(kms)
    early, late = parameters(kms, key_id), parameters(kms, key_id)
    material = os.urandom(32)
    clock.advance(seconds=DAY - 60)  # still valid
    kms.import_key_material(KeyId=key_id, ImportToken=early["ImportToken"], **NO_EXPIRY,
                            EncryptedKeyMaterial=local_wrap(early["PublicKey"], material, OAEP_SHA256))
    clock.advance(seconds=120)  # now past ParametersValidTo
    assert clock.now > late["ParametersValidTo"].timestamp()
    expect_error(lambda: kms.import_key_material(
        KeyId=key_id, ImportToken=late["ImportToken"], **NO_EXPIRY,
        EncryptedKeyMaterial=local_wrap(late["PublicKey"], material, OAEP_SHA256)),
        "ExpiredImportTokenException", "The import token has expired. Call GetParametersForImport for a new one.")


def test_import_token_bound_to_its_wrapping_algorithm(kms):
    key_id = external_key(kms)
    params = parameters(kms, key_id, "RSAES_OAEP_SHA_1")
    for algorithm in ("RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1"):
        expect_error(lambda: kms.import_key_material(
            KeyId=key_id, ImportToken=params["ImportToken"], **NO_EXPIRY,
            EncryptedKeyMaterial=local_wrap(params["PublicKey"], os.urandom(32), algorithm)),
            "InvalidCiphertextException")
    expect_error(lambda: kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                                 EncryptedKeyMaterial=os.urandom(256), **NO_EXPIRY),
                 "InvalidCiphertextException")
    # the public key of another GetParametersForImport call for another spec
    other = parameters(kms, key_id, "RSAES_OAEP_SHA_1", spec="RSA_3072")
    expect_error(lambda: kms.import_key_material(
        KeyId=key_id, ImportToken=params["ImportToken"], **NO_EXPIRY,
        EncryptedKeyMaterial=local_wrap(other["PublicKey"], os.urandom(32), "RSAES_OAEP_SHA_1")),
        "InvalidCiphertextException")
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


def test_import_token_accepted_by_another_server_on_same_database(server, kms):
    key_id = external_key(kms)
    params = parameters(kms, key_id)
    material = os.urandom(32)
    other, stop = start_server(server.data_dir, None if server.backend == "sqlite" else server.database_url,
                               server.backend)
    try:
        other_kms = other.client("kms")
        other_kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], **NO_EXPIRY,
                                      EncryptedKeyMaterial=local_wrap(params["PublicKey"], material, OAEP_SHA256))
        blob = other_kms.encrypt(KeyId=key_id, Plaintext=b"across processes")["CiphertextBlob"]
    finally:
        stop()
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across processes"


# --- ExpirationModel and ValidTo ---------------------------------------------------------------
def test_import_expiring_without_valid_to_validation_error(kms):
    key_id = external_key(kms)
    expect_error(lambda: import_material(kms, key_id, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES"),
                 "ValidationException",
                 "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
    params = parameters(kms, key_id)
    expect_error(lambda: kms.import_key_material(  # the default model is KEY_MATERIAL_EXPIRES
        KeyId=key_id, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=local_wrap(params["PublicKey"], os.urandom(32), OAEP_SHA256)),
        "ValidationException", "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")


def test_import_not_expiring_with_valid_to_validation_error(kms, clock):
    key_id = external_key(kms)
    expect_error(lambda: import_material(kms, key_id, os.urandom(32), ValidTo=clock.now + DAY,
                                         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
                 "ValidationException", "The parameter ValidTo cannot be specified for a key with an expiration "
                 "model of KEY_MATERIAL_DOES_NOT_EXPIRE")


def test_import_valid_to_in_past_or_beyond_365_days_validation_error(kms, clock):
    key_id = external_key(kms)
    expect_error(lambda: import_material(kms, key_id, os.urandom(32), ValidTo=clock.now - 60),
                 "ValidationException", "ValidTo must be in the future.")
    expect_error(lambda: import_material(kms, key_id, os.urandom(32), ValidTo=clock.now + 366 * DAY),
                 "ValidationException", "ValidTo must be no more than 365 days from the request date.")
    import_material(kms, key_id, os.urandom(32), ValidTo=clock.now + 364 * DAY)
    assert describe(kms, key_id)["KeyState"] == "Enabled"


def test_material_expiry_returns_key_to_pending_import(server, kms, clock):
    key_id = external_key(kms, "HMAC_256", "GENERATE_VERIFY_MAC")
    material = os.urandom(32)
    valid_to = clock.now + 3600
    import_material(kms, key_id, material, ValidTo=valid_to)  # ExpirationModel defaults to EXPIRES
    meta = describe(kms, key_id)
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs(meta["ValidTo"].timestamp() - valid_to) < 1
    kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert material_rows(server, key_id) == 1

    clock.advance(seconds=3601)
    expect_error(lambda: kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256"),
                 "KMSInvalidStateException", f"{key_arn(key_id)} is pending import.")
    meta = describe(kms, key_id)
    assert meta["KeyState"] == "PendingImport" and meta["Enabled"] is False
    assert "ValidTo" not in meta and "ExpirationModel" not in meta
    deadline = time.time() + 3
    while material_rows(server, key_id) and time.time() < deadline:
        time.sleep(0.05)
    assert material_rows(server, key_id) == 0  # deleted, not only hidden

    import_material(kms, key_id, material)
    assert kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"] == \
        hmac.new(material, b"m", hashlib.sha256).digest()


def test_material_not_yet_expired_still_usable(kms, clock):
    key_id = external_key(kms)
    import_material(kms, key_id, os.urandom(32), ValidTo=clock.now + 7200)
    clock.advance(seconds=3600)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"still")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"still"


def test_material_expiry_keeps_pending_deletion(kms, clock):
    key_id = external_key(kms)
    import_material(kms, key_id, os.urandom(32), ValidTo=clock.now + 3600)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    clock.advance(seconds=3601)
    meta = describe(kms, key_id)
    assert meta["KeyState"] == "PendingDeletion"
    assert "ValidTo" not in meta
    kms.cancel_key_deletion(KeyId=key_id)
    expect_error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), "KMSInvalidStateException")


# --- origin and key states ------------------------------------------------------------------------
def test_import_and_delete_on_aws_kms_key_unsupported_operation(kms, key_id):
    message = f"{key_arn(key_id)} origin is AWS_KMS which is not valid for this operation."
    token = parameters(kms, external_key(kms))["ImportToken"]
    expect_error(lambda: kms.import_key_material(KeyId=key_id, ImportToken=token,
                                                 EncryptedKeyMaterial=b"x" * 256, **NO_EXPIRY),
                 "UnsupportedOperationException", message)
    expect_error(lambda: kms.delete_imported_key_material(KeyId=key_id), "UnsupportedOperationException", message)


def _external_key_in_state(kms, state: str) -> tuple[str, bytes, dict]:
    """An EXTERNAL key in `state`, its material (imported unless PendingImport) and fresh
    import parameters made before the state change."""
    key_id = external_key(kms)
    material = os.urandom(32)
    if state != "PendingImport":
        import_material(kms, key_id, material)
    params = parameters(kms, key_id)
    if state == "Disabled":
        kms.disable_key(KeyId=key_id)
    if state == "PendingDeletion":
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert describe(kms, key_id)["KeyState"] == state
    return key_id, material, params


@pytest.mark.parametrize("state", ["PendingImport", "Enabled", "Disabled", "PendingDeletion"])
def test_key_state_get_parameters_for_import(kms, state):
    key_id, _, _ = _external_key_in_state(kms, state)
    if state == "PendingDeletion":
        expect_error(lambda: parameters(kms, key_id), "KMSInvalidStateException",
                     f"{key_arn(key_id)} is pending deletion.")
    else:
        assert parameters(kms, key_id)["KeyId"] == key_arn(key_id)


@pytest.mark.parametrize("state,after", [("PendingImport", "Enabled"), ("Enabled", "Enabled"),
                                         ("Disabled", "Disabled"), ("PendingDeletion", None)])
def test_key_state_import_key_material(kms, state, after):
    key_id, material, params = _external_key_in_state(kms, state)

    def call():
        return kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], **NO_EXPIRY,
                                       EncryptedKeyMaterial=local_wrap(params["PublicKey"], material, OAEP_SHA256))
    if after is None:
        expect_error(call, "KMSInvalidStateException", f"{key_arn(key_id)} is pending deletion.")
        return
    call()
    assert describe(kms, key_id)["KeyState"] == after
    if after == "Disabled":
        expect_error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), "DisabledException")
        kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"y")["CiphertextBlob"])["Plaintext"] == b"y"


@pytest.mark.parametrize("state,after", [("PendingImport", "PendingImport"), ("Enabled", "PendingImport"),
                                         ("Disabled", "PendingImport"), ("PendingDeletion", "PendingDeletion")])
def test_key_state_delete_imported_key_material(server, kms, state, after):
    key_id, _, _ = _external_key_in_state(kms, state)
    out = kms.delete_imported_key_material(KeyId=key_id)
    assert out["KeyId"] == key_arn(key_id)
    assert ("KeyMaterialId" in out) == (state != "PendingImport")
    assert describe(kms, key_id)["KeyState"] == after
    assert material_rows(server, key_id) == 0


def test_delete_imported_key_material_by_material_id(kms):
    key_id = external_key(kms)
    material_id = import_material(kms, key_id, os.urandom(32))["KeyMaterialId"]
    wrong = "f" * 64
    expect_error(lambda: kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=wrong), "NotFoundException",
                 f"Key material {wrong} does not exist for key {key_arn(key_id)}.")
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    out = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=material_id)
    assert out["KeyMaterialId"] == material_id
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


def test_cancelled_deletion_after_material_deleted_key_stays_unusable(kms):
    key_id, material, _ = _external_key_in_state(kms, "PendingDeletion")
    kms.delete_imported_key_material(KeyId=key_id)
    kms.cancel_key_deletion(KeyId=key_id)
    assert describe(kms, key_id)["KeyState"] == "PendingImport"
    expect_error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), "KMSInvalidStateException",
                 f"{key_arn(key_id)} is pending import.")
    import_material(kms, key_id, material)
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"z")["CiphertextBlob"])["Plaintext"] == b"z"


# --- at rest -------------------------------------------------------------------------------------
def _forms(secret: bytes) -> list[bytes]:
    b64 = base64.b64encode(secret)
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), b64, b64.rstrip(b"="),
            base64.urlsafe_b64encode(secret).rstrip(b"=")]


def _stored_bytes(server) -> bytes:
    """Every byte the database holds: the SQLite file and its WAL, or every PostgreSQL row."""
    if server.backend == "sqlite":
        files = [p for p in server.data_dir.glob("paramstore.db*") if p.is_file()]
        assert any(p.name.endswith("-wal") for p in files), files
        return b"".join(p.read_bytes() for p in files)
    import psycopg

    out = []
    with psycopg.connect(server.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    out.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    return b"\x00".join(out)


def test_imported_material_never_stored_in_clear(server, kms):
    symmetric, hmac_key, ec_key = (external_key(kms), external_key(kms, "HMAC_512", "GENERATE_VERIFY_MAC"),
                                   external_key(kms, "ECC_NIST_P256", "SIGN_VERIFY"))
    secrets = {"symmetric": os.urandom(32), "hmac": os.urandom(100)}
    private = ec.generate_private_key(ec.SECP256R1())
    secrets["ec-pkcs8"] = pkcs8(private)
    secrets["ec-scalar"] = private.private_numbers().private_value.to_bytes(32, "big")
    import_material(kms, symmetric, secrets["symmetric"], "RSA_AES_KEY_WRAP_SHA_256")
    import_material(kms, hmac_key, secrets["hmac"])
    import_material(kms, ec_key, secrets["ec-pkcs8"], "RSA_AES_KEY_WRAP_SHA_1")
    kms.encrypt(KeyId=symmetric, Plaintext=b"use it")
    assert material_rows(server, symmetric) == 1  # stored, so the scan below can fail

    stored = _stored_bytes(server)
    leaks = [name for name, secret in secrets.items() for form in _forms(secret) if form in stored]
    assert not leaks, leaks
