"""boto3 API tests of the symmetric cryptographic operations, happy paths and semantics:
Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom.

Error paths (validation, tampering, key states, regions) live in test_kms_crypto_errors.py.
AWS behaviour: aws_api.md sections 3a, 4.4, 4.5, 4.8, 8.
Blob layout: kms_core/engine/ciphertext.py.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import error_of

PLAINTEXT = b"attack at dawn"
CONTEXT = {"purpose": "test", "tenant": "acme"}


# --- helpers -----------------------------------------------------------------------------
def key_arn(key_id: str, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}"


def make_alias(kms, key_id: str) -> str:
    name = f"alias/crypto-{uuid.uuid4().hex[:12]}"
    kms.create_alias(AliasName=name, TargetKeyId=key_id)
    return name


def reference(kms, key_id: str, form: str) -> str:
    """The key named as: bare id, key ARN, alias name or alias ARN."""
    if form == "id":
        return key_id
    if form == "arn":
        return key_arn(key_id)
    alias = make_alias(kms, key_id)
    if form == "alias":
        return alias
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:{alias}"


def current_material(kms, key_id: str) -> str:
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]


@pytest.fixture
def other_key(kms) -> str:
    return kms.create_key(Description="other key")["KeyMetadata"]["KeyId"]


REFERENCE_FORMS = ["id", "arn", "alias", "alias_arn"]


# --- Encrypt / Decrypt -------------------------------------------------------------------
@pytest.mark.parametrize("form", REFERENCE_FORMS)
def test_encrypt_by_each_key_reference_round_trips(kms, key_id, form):
    ref = reference(kms, key_id, form)
    enc = kms.encrypt(KeyId=ref, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT)
    assert enc["KeyId"] == key_arn(key_id)
    assert enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext=CONTEXT)
    assert dec["Plaintext"] == PLAINTEXT
    assert dec["KeyId"] == key_arn(key_id)
    assert dec["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert dec["KeyMaterialId"] == current_material(kms, key_id)


def test_encrypt_key_arn_is_describe_key_arn(kms, key_id):
    # guards key_arn() above against drifting from what the server calls the key
    enc = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)
    assert enc["KeyId"] == kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]


@pytest.mark.parametrize("size", [1, 4096])
def test_encrypt_boundary_plaintext_size_round_trips(kms, key_id, size):
    plaintext = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert len(plaintext) == size
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext


def test_encrypt_blob_layout_matches_format_v1(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    kid = key_id.encode("ascii")
    assert blob[0] == 1
    assert blob[1] == len(kid)
    assert blob[2:2 + len(kid)] == kid
    assert blob[2 + len(kid):34 + len(kid)].hex() == current_material(kms, key_id)
    assert len(blob) == 78 + len(kid) + len(PLAINTEXT)


def test_encrypt_same_plaintext_twice_gives_different_blobs(kms, key_id):
    a = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    b = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    assert a != b
    assert PLAINTEXT not in a
    assert kms.decrypt(CiphertextBlob=a)["Plaintext"] == kms.decrypt(CiphertextBlob=b)["Plaintext"] == PLAINTEXT


@pytest.mark.parametrize("form", REFERENCE_FORMS)
def test_decrypt_with_matching_key_id_succeeds(kms, key_id, form):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    dec = kms.decrypt(CiphertextBlob=blob, KeyId=reference(kms, key_id, form))
    assert dec["Plaintext"] == PLAINTEXT
    assert dec["KeyId"] == key_arn(key_id)


def test_decrypt_without_key_id_succeeds(kms, key_id, other_key):
    # two keys in play: the blob alone must select the right one
    a = kms.encrypt(KeyId=key_id, Plaintext=b"a")["CiphertextBlob"]
    b = kms.encrypt(KeyId=other_key, Plaintext=b"b")["CiphertextBlob"]
    da, db = kms.decrypt(CiphertextBlob=a), kms.decrypt(CiphertextBlob=b)
    assert (da["Plaintext"], da["KeyId"]) == (b"a", key_arn(key_id))
    assert (db["Plaintext"], db["KeyId"]) == (b"b", key_arn(other_key))
    assert db["KeyMaterialId"] == current_material(kms, other_key) != da["KeyMaterialId"]


# --- encryption context ------------------------------------------------------------------
def test_decrypt_context_in_other_order_succeeds(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT,
                       EncryptionContext={"a": "1", "b": "2", "c": "3"})["CiphertextBlob"]
    dec = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"c": "3", "a": "1", "b": "2"})
    assert dec["Plaintext"] == PLAINTEXT


@pytest.mark.parametrize("encrypt_ctx,decrypt_ctx", [
    ({}, None),
    (None, {}),
    ({}, {}),
])
def test_decrypt_empty_context_equals_no_context_succeeds(kms, key_id, encrypt_ctx, decrypt_ctx):
    enc_kwargs = {} if encrypt_ctx is None else {"EncryptionContext": encrypt_ctx}
    dec_kwargs = {} if decrypt_ctx is None else {"EncryptionContext": decrypt_ctx}
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, **enc_kwargs)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, **dec_kwargs)["Plaintext"] == PLAINTEXT


def test_decrypt_unicode_context_round_trips(kms, key_id):
    context = {"cl\u00e9": "valeur \u2603", "日本語": "テスト", "emoji \U0001f511": "Ünïcödé"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=context)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(context.items()))))[
        "Plaintext"] == PLAINTEXT
    # the same key in NFD form is a different string, so a different context
    nfd = {("cle\u0301" if k == "cl\u00e9" else k): v for k, v in context.items()}
    code, _ = error_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext=nfd)
    assert code == "InvalidCiphertextException"


def test_decrypt_context_is_not_ambiguous_across_pair_boundaries(kms, key_id):
    # concatenation-based encodings confuse {"ab": "c"} with {"a": "bc"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext={"ab": "c"})["CiphertextBlob"]
    code, _ = error_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"a": "bc"})
    assert code == "InvalidCiphertextException"


# --- ReEncrypt ---------------------------------------------------------------------------
def test_re_encrypt_to_other_key_returns_all_fields(kms, key_id, other_key):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT)["CiphertextBlob"]
    dest_ctx = {"dest": "yes"}
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=CONTEXT,
                         DestinationKeyId=other_key, DestinationEncryptionContext=dest_ctx)
    assert out["SourceKeyId"] == key_arn(key_id)
    assert out["KeyId"] == key_arn(other_key)
    assert out["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert out["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert out["SourceKeyMaterialId"] == current_material(kms, key_id)
    assert out["DestinationKeyMaterialId"] == current_material(kms, other_key)
    assert out["CiphertextBlob"] != blob
    dec = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=dest_ctx)
    assert dec["Plaintext"] == PLAINTEXT
    assert dec["KeyId"] == key_arn(other_key)
    # the new blob is bound to the destination key, not the source
    code, _ = error_of(kms.decrypt, CiphertextBlob=out["CiphertextBlob"], KeyId=key_id,
                       EncryptionContext=dest_ctx)
    assert code == "IncorrectKeyException"


def test_re_encrypt_same_key_new_context_rebinds_context(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext={"v": "1"})["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"v": "1"},
                         DestinationKeyId=key_id, DestinationEncryptionContext={"v": "2"})
    assert out["SourceKeyId"] == out["KeyId"] == key_arn(key_id)
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"v": "2"})[
        "Plaintext"] == PLAINTEXT
    code, _ = error_of(kms.decrypt, CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"v": "1"})
    assert code == "InvalidCiphertextException"
    # the original blob is untouched
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"v": "1"})["Plaintext"] == PLAINTEXT


def test_re_encrypt_to_context_free_destination_decrypts_without_context(kms, key_id, other_key):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT)["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=CONTEXT, DestinationKeyId=other_key)
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == PLAINTEXT


@pytest.mark.parametrize("form", REFERENCE_FORMS)
def test_re_encrypt_key_references_resolve_to_arns(kms, key_id, other_key, form):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=reference(kms, key_id, form),
                         DestinationKeyId=reference(kms, other_key, form))
    assert out["SourceKeyId"] == key_arn(key_id)
    assert out["KeyId"] == key_arn(other_key)
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == PLAINTEXT


# --- GenerateDataKey / GenerateDataKeyWithoutPlaintext ------------------------------------
SIZES = [({"KeySpec": "AES_256"}, 32), ({"KeySpec": "AES_128"}, 16),
         ({"NumberOfBytes": 1}, 1), ({"NumberOfBytes": 1024}, 1024)]


@pytest.mark.parametrize("size_args,length", SIZES, ids=["AES_256", "AES_128", "bytes1", "bytes1024"])
def test_generate_data_key_size_decrypts_to_plaintext(kms, key_id, size_args, length):
    out = kms.generate_data_key(KeyId=key_id, EncryptionContext=CONTEXT, **size_args)
    assert len(out["Plaintext"]) == length
    assert out["KeyId"] == key_arn(key_id)
    assert out["KeyMaterialId"] == current_material(kms, key_id)
    dec = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=CONTEXT)
    assert dec["Plaintext"] == out["Plaintext"]
    assert dec["KeyMaterialId"] == out["KeyMaterialId"]
    code, _ = error_of(kms.decrypt, CiphertextBlob=out["CiphertextBlob"])
    assert code == "InvalidCiphertextException"


@pytest.mark.parametrize("size_args,length", SIZES, ids=["AES_256", "AES_128", "bytes1", "bytes1024"])
def test_generate_data_key_without_plaintext_size_decrypts_to_length(kms, key_id, size_args, length):
    out = kms.generate_data_key_without_plaintext(KeyId=key_id, EncryptionContext=CONTEXT, **size_args)
    assert "Plaintext" not in out
    assert out["KeyId"] == key_arn(key_id)
    assert out["KeyMaterialId"] == current_material(kms, key_id)
    dec = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=CONTEXT)
    assert len(dec["Plaintext"]) == length
    code, _ = error_of(kms.decrypt, CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"x": "y"})
    assert code == "InvalidCiphertextException"


def test_generate_data_key_without_plaintext_raw_response_has_no_plaintext(kms, key_id):
    # botocore drops members its output shape lacks, so look at the wire body
    bodies: list[dict] = []
    kms.meta.events.register("after-call.kms.GenerateDataKeyWithoutPlaintext",
                             lambda http_response, **_: bodies.append(json.loads(http_response.content)))
    kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256")
    assert len(bodies) == 1
    assert set(bodies[0]) == {"CiphertextBlob", "KeyId", "KeyMaterialId"}


@pytest.mark.parametrize("form", REFERENCE_FORMS)
def test_generate_data_key_by_each_key_reference_returns_arn(kms, key_id, form):
    ref = reference(kms, key_id, form)
    assert kms.generate_data_key(KeyId=ref, KeySpec="AES_256")["KeyId"] == key_arn(key_id)
    assert kms.generate_data_key_without_plaintext(KeyId=ref, KeySpec="AES_256")["KeyId"] == key_arn(key_id)


def test_generate_data_key_two_calls_differ(kms, key_id):
    a = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    b = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert a["Plaintext"] != b["Plaintext"]
    assert a["CiphertextBlob"] != b["CiphertextBlob"]


# --- GenerateRandom ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 32, 1023, 1024])
def test_generate_random_size_returns_that_many_bytes(kms, n):
    assert len(kms.generate_random(NumberOfBytes=n)["Plaintext"]) == n


def test_generate_random_two_calls_differ(kms):
    a = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    b = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    assert a != b
    assert a != bytes(32)


# --- rotation ----------------------------------------------------------------------------
def test_decrypt_after_three_rotations_every_material_still_decrypts(kms, key_id):
    blobs: list[tuple[bytes, bytes, str]] = []
    for i in range(4):
        material = current_material(kms, key_id)
        plaintext = f"generation {i}".encode()
        enc = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext={"gen": str(i)})
        assert enc["CiphertextBlob"][38:70].hex() == material
        blobs.append((enc["CiphertextBlob"], plaintext, material))
        if i < 3:
            assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == key_arn(key_id)
            assert current_material(kms, key_id) != material
    materials = [m for _, _, m in blobs]
    assert len(set(materials)) == 4
    for i, (blob, plaintext, material) in enumerate(blobs):
        dec = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"gen": str(i)})
        assert dec["Plaintext"] == plaintext
        assert dec["KeyMaterialId"] == material
        assert dec["KeyId"] == key_arn(key_id)


def test_encrypt_after_rotation_uses_new_material(kms, key_id):
    before = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key_id)
    new_material = current_material(kms, key_id)
    assert new_material != before["KeyMaterialId"]
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new_blob)["KeyMaterialId"] == new_material
    assert kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["KeyMaterialId"] == new_material
    assert kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=8)[
        "KeyMaterialId"] == new_material
    assert kms.decrypt(CiphertextBlob=old_blob)["KeyMaterialId"] == before["KeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=before["CiphertextBlob"])["Plaintext"] == before["Plaintext"]


def test_re_encrypt_after_rotation_moves_to_current_material(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    old_material = current_material(kms, key_id)
    kms.rotate_key_on_demand(KeyId=key_id)
    new_material = current_material(kms, key_id)
    out = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id)
    assert out["SourceKeyMaterialId"] == old_material
    assert out["DestinationKeyMaterialId"] == new_material
    dec = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    assert (dec["Plaintext"], dec["KeyMaterialId"]) == (PLAINTEXT, new_material)
