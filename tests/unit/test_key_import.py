"""Imported key material, without a server: the import token format (round trip, expiry,
binding to the key, tampering anywhere), unwrapping, material checks, material ids, the
wrapping-key cache, and lapsed material served as PendingImport (kms_core/crypto/key_import.py,
KmsCore.key)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from kms_core.crypto import key_import
from kms_core.crypto.key_import import ExpiredToken, ImportToken, IncorrectMaterial, InvalidToken, UnwrapFailed
from kms_core.crypto.root import RootKey
from kms_core.domain.model import Key, KeyMaterial, KeyState, KeyWithMaterial
from kms_core.domain.specs import SPECS
from kms_core.service import KmsCore
from tests.fakes.clock import FakeClock

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_ID = "0000abcd-12ab-34cd-56ef-1234567890ab"
ARN = f"arn:aws:kms:us-east-1:111122223333:key/{KEY_ID}"
OTHER_ARN = f"arn:aws:kms:us-east-1:111122223333:key/{OTHER_ID}"
NOW = 1_900_000_000.0


@pytest.fixture(scope="module")
def wrapping() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def token_key() -> bytes:
    return RootKey(os.urandom(32), "test").derive(key_import.TOKEN_KEY_LABEL)


def seal(token_key: bytes, private, key_id: str = KEY_ID, arn: str = ARN,
         algorithm: str = "RSAES_OAEP_SHA_256", valid_to: float = NOW + 86_400) -> bytes:
    return key_import.seal_token(token_key, arn, ImportToken(key_id, algorithm, valid_to, private))


def _public_numbers(private) -> object:
    return private.public_key().public_numbers()


# --- import tokens -----------------------------------------------------------------------------
def test_token_round_trip_restores_key_algorithm_expiry_and_wrapping_key(token_key, wrapping):
    blob = seal(token_key, wrapping, algorithm="RSA_AES_KEY_WRAP_SHA_1", valid_to=NOW + 5)
    assert blob[:1] == key_import.TOKEN_VERSION
    token = key_import.open_token(token_key, ARN, KEY_ID, blob, NOW)
    assert (token.key_id, token.wrapping_algorithm, token.valid_to) == (KEY_ID, "RSA_AES_KEY_WRAP_SHA_1", NOW + 5)
    assert _public_numbers(token.private) == _public_numbers(wrapping)


def test_token_same_inputs_different_bytes(token_key, wrapping):
    assert seal(token_key, wrapping) != seal(token_key, wrapping)  # random IV


def test_token_expires_at_valid_to(token_key, wrapping):
    blob = seal(token_key, wrapping, valid_to=NOW + 86_400)
    key_import.open_token(token_key, ARN, KEY_ID, blob, NOW + 86_399.999)
    for now in (NOW + 86_400, NOW + 86_401, NOW + 10 * 86_400):
        with pytest.raises(ExpiredToken):
            key_import.open_token(token_key, ARN, KEY_ID, blob, now)


def test_token_for_other_key_invalid(token_key, wrapping):
    blob = seal(token_key, wrapping)
    with pytest.raises(InvalidToken):
        key_import.open_token(token_key, OTHER_ARN, OTHER_ID, blob, NOW)


def test_token_whose_body_names_other_key_invalid(token_key, wrapping):
    # authentic for ARN, but the id inside disagrees: the second check catches it
    blob = seal(token_key, wrapping, key_id=OTHER_ID, arn=ARN)
    with pytest.raises(InvalidToken):
        key_import.open_token(token_key, ARN, KEY_ID, blob, NOW)


def test_token_under_other_root_key_invalid(token_key, wrapping):
    blob = seal(token_key, wrapping)
    other = RootKey(os.urandom(32), "other").derive(key_import.TOKEN_KEY_LABEL)
    with pytest.raises(InvalidToken):
        key_import.open_token(other, ARN, KEY_ID, blob, NOW)


def test_token_subkey_separate_from_other_purposes():
    root = RootKey(os.urandom(32), "test")
    assert root.derive(key_import.TOKEN_KEY_LABEL) != root.derive(key_import.MATERIAL_ID_LABEL)


def test_token_any_flipped_byte_invalid(token_key, wrapping):
    # every region: version, IV, body (key id, algorithm, valid-to, private key) and tag
    blob = seal(token_key, wrapping)
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(InvalidToken):
            key_import.open_token(token_key, ARN, KEY_ID, bytes(tampered), NOW)


def test_token_truncated_or_extended_invalid(token_key, wrapping):
    blob = seal(token_key, wrapping)
    for bad in (b"", blob[:1], blob[:13], blob[:29], blob[:-1], blob + b"\x00", b"\x02" + blob[1:]):
        with pytest.raises(InvalidToken):
            key_import.open_token(token_key, ARN, KEY_ID, bad, NOW)


def test_token_with_rsa_4096_wrapping_key_fits_model_limit(token_key):
    private = key_import.WrappingKeyCache().private_key("111122223333", "RSA_4096")
    assert private.key_size == 4096
    blob = seal(token_key, private)
    assert len(blob) <= 6144  # ImportToken max length in the model


# --- unwrapping ------------------------------------------------------------------------------
def _oaep(hash_cls):
    return padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)


@pytest.mark.parametrize("algorithm,hash_cls", [("RSAES_OAEP_SHA_1", hashes.SHA1),
                                                ("RSAES_OAEP_SHA_256", hashes.SHA256)])
def test_unwrap_oaep_round_trip_and_wrong_hash_fails(wrapping, algorithm, hash_cls):
    material = os.urandom(32)
    encrypted = wrapping.public_key().encrypt(material, _oaep(hash_cls))
    assert key_import.unwrap(wrapping, algorithm, encrypted) == material
    other = "RSAES_OAEP_SHA_256" if algorithm == "RSAES_OAEP_SHA_1" else "RSAES_OAEP_SHA_1"
    with pytest.raises(UnwrapFailed):
        key_import.unwrap(wrapping, other, encrypted)


@pytest.mark.parametrize("algorithm,hash_cls", [("RSA_AES_KEY_WRAP_SHA_1", hashes.SHA1),
                                                ("RSA_AES_KEY_WRAP_SHA_256", hashes.SHA256)])
def test_unwrap_rsa_aes_key_wrap_round_trip(wrapping, algorithm, hash_cls):
    material = os.urandom(1217)  # an RSA-4096 PKCS#8 is about this long: no OAEP could carry it
    aes_key = os.urandom(32)
    encrypted = wrapping.public_key().encrypt(aes_key, _oaep(hash_cls)) + aes_key_wrap_with_padding(aes_key, material)
    assert key_import.unwrap(wrapping, algorithm, encrypted) == material
    tampered = bytearray(encrypted)
    tampered[-1] ^= 1
    with pytest.raises(UnwrapFailed):
        key_import.unwrap(wrapping, algorithm, bytes(tampered))


def test_unwrap_malformed_inputs_fail_opaquely(wrapping):
    k = wrapping.key_size // 8
    public = wrapping.public_key()
    short_aes = public.encrypt(os.urandom(16), _oaep(hashes.SHA256))
    bad = [
        ("RSAES_OAEP_SHA_256", b""),
        ("RSAES_OAEP_SHA_256", os.urandom(k)),
        ("RSAES_OAEP_SHA_256", public.encrypt(b"x", _oaep(hashes.SHA256)) + b"\x00"),  # wrong length
        ("RSA_AES_KEY_WRAP_SHA_256", public.encrypt(os.urandom(32), _oaep(hashes.SHA256))),  # nothing wrapped
        ("RSA_AES_KEY_WRAP_SHA_256", short_aes + aes_key_wrap_with_padding(os.urandom(16), os.urandom(32))),
        ("RSA_AES_KEY_WRAP_SHA_256", public.encrypt(os.urandom(32), _oaep(hashes.SHA256)) + os.urandom(40)),
        ("RSA_AES_KEY_WRAP_SHA_256", public.encrypt(os.urandom(32), _oaep(hashes.SHA256)) + os.urandom(7)),
    ]
    for algorithm, encrypted in bad:
        with pytest.raises(UnwrapFailed):
            key_import.unwrap(wrapping, algorithm, encrypted)


# --- material -----------------------------------------------------------------------------------
def _pkcs8(private) -> bytes:
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


@pytest.mark.parametrize("spec", ["SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"])
def test_check_material_secret_lengths_at_the_bounds(spec):
    low, high = SPECS[spec].import_lengths  # type: ignore[misc]  # Optional; set for these specs
    for n in (low, high):
        material = os.urandom(n)
        assert key_import.check_material(SPECS[spec], material) == material
    for n in (low - 1, high + 1, 0):
        with pytest.raises(IncorrectMaterial, match=spec):
            key_import.check_material(SPECS[spec], os.urandom(n))


def test_check_material_private_key_of_the_spec_canonical_pkcs8():
    private = ec.generate_private_key(ec.SECP256R1())
    canonical = _pkcs8(private)
    sec1 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())
    assert sec1 != canonical
    for encoded in (canonical, sec1):
        assert key_import.check_material(SPECS["ECC_NIST_P256"], encoded) == canonical
    edwards = ed25519.Ed25519PrivateKey.generate()
    assert key_import.check_material(SPECS["ECC_NIST_EDWARDS25519"], _pkcs8(edwards)) == _pkcs8(edwards)


def test_check_material_private_key_of_other_spec_or_garbage_refused():
    p384 = _pkcs8(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(IncorrectMaterial, match="ECC_NIST_P384.*ECC_NIST_P256"):
        key_import.check_material(SPECS["ECC_NIST_P256"], p384)
    with pytest.raises(IncorrectMaterial, match="RSA_2048.*RSA_3072"):
        key_import.check_material(SPECS["RSA_3072"], _pkcs8(rsa.generate_private_key(65537, 2048)))
    with pytest.raises(IncorrectMaterial, match="PKCS #8"):
        key_import.check_material(SPECS["RSA_2048"], os.urandom(32))
    with pytest.raises(IncorrectMaterial):
        key_import.check_material(SPECS["ECC_NIST_P256"], p384[:-3])


def test_material_id_deterministic_keyed_and_bound_to_key():
    id_key, material = os.urandom(32), os.urandom(32)
    first = key_import.material_id(id_key, KEY_ID, material)
    assert len(first) == 64 and int(first, 16) >= 0
    assert first == key_import.material_id(id_key, KEY_ID, material)
    assert first != key_import.material_id(id_key, OTHER_ID, material)
    assert first != key_import.material_id(id_key, KEY_ID, os.urandom(32))
    assert first != key_import.material_id(os.urandom(32), KEY_ID, material)
    assert material.hex() not in first
    assert key_import.same_material_id(first, first)
    assert not key_import.same_material_id(None, first)
    assert not key_import.same_material_id("0" * 64, first)


# --- wrapping key cache -------------------------------------------------------------------------
def test_wrapping_key_cache_reuses_then_replaces_after_max_age():
    clock = FakeClock()
    cache = key_import.WrappingKeyCache(max_age=600, clock=clock)
    first = cache.private_key("111122223333", "RSA_2048")
    assert first.key_size == 2048
    clock.now = 599
    assert cache.private_key("111122223333", "RSA_2048") is first
    clock.now = 600
    second = cache.private_key("111122223333", "RSA_2048")
    assert second is not first
    assert _public_numbers(second) != _public_numbers(first)


KEY_A, KEY_B = "1234abcd-12ab-34cd-56ef-1234567890ab", "0987dcba-09ba-43dc-65fe-0987654321ba"


def test_wrapping_key_cache_separate_per_kms_key_and_spec_and_bounded():
    clock = FakeClock()
    cache = key_import.WrappingKeyCache(max_entries=2, clock=clock)
    a = cache.private_key(KEY_A, "RSA_2048")
    clock.now = 1
    b = cache.private_key(KEY_B, "RSA_2048")
    assert a is not b
    assert cache.private_key(KEY_A, "RSA_2048") is a
    clock.now = 2
    c = cache.private_key(KEY_A, "RSA_3072")
    assert c.key_size == 3072
    assert cache.private_key(KEY_A, "RSA_3072") is c
    assert cache.private_key(KEY_B, "RSA_2048") is b
    assert cache.private_key(KEY_A, "RSA_2048") is not a  # the oldest went


# --- lapsed material is served as PendingImport ---------------------------------------------------
def _entry(state: str, origin: str = "EXTERNAL", valid_to: float | None = None,
           with_material: bool = True) -> KeyWithMaterial:
    material_id = "ab" * 32
    key = Key(key_id=KEY_ID, account_id="111122223333", region="us-east-1", arn=ARN, description="",
              key_usage="ENCRYPT_DECRYPT", key_spec="SYMMETRIC_DEFAULT", origin=origin, key_manager="CUSTOMER",
              state=state, creation_date=NOW, deletion_date=None, pending_window_days=None,
              rotation_enabled=False, rotation_period_days=None, next_rotation_date=None, on_demand_rotations=0,
              current_material_id=material_id, multi_region=False,
              expiration_model="KEY_MATERIAL_EXPIRES" if valid_to else "KEY_MATERIAL_DOES_NOT_EXPIRE",
              valid_to=valid_to)
    materials = {material_id: KeyMaterial(material_id, os.urandom(32), NOW, None, None)} if with_material else {}
    return KeyWithMaterial(key, materials, {bytes.fromhex(k): v for k, v in materials.items()})


def _core_serving(entry: KeyWithMaterial, now: float) -> KmsCore:
    core = KmsCore.__new__(KmsCore)  # only the cache and the clock: no database
    core._keys = {KEY_ID: entry}
    core.clock = lambda: now
    return core


@pytest.mark.parametrize("state,served", [("Enabled", "PendingImport"), ("Disabled", "PendingImport"),
                                          ("PendingDeletion", "PendingDeletion")])
def test_key_past_valid_to_served_without_material(state, served):
    entry = _entry(state, valid_to=NOW + 10)
    before = _core_serving(entry, NOW + 9.9).key(KEY_ID)
    assert before is entry
    after = _core_serving(entry, NOW + 10).key(KEY_ID)
    assert after is not None
    assert after.key.state == served
    assert after.materials == {} and after.materials_by_raw_id == {}
    assert after.key.valid_to is None and after.key.expiration_model is None
    assert after.key.current_material_id == entry.key.current_material_id  # what a re-import must match


def test_key_without_its_material_rows_served_as_pending_import():
    entry = _entry("Disabled", with_material=False)  # e.g. deletion cancelled after the material was deleted
    served = _core_serving(entry, NOW).key(KEY_ID)
    assert served is not None and served.key.state == KeyState.PENDING_IMPORT


def test_aws_kms_and_unexpiring_keys_served_unchanged():
    for entry in (_entry("Enabled", origin="AWS_KMS", valid_to=NOW - 1), _entry("Enabled", valid_to=None),
                  _entry("PendingImport", with_material=False)):
        assert _core_serving(entry, NOW).key(KEY_ID) is entry
