"""`GcmKey`: a data key's AES-256-GCM set up once, sealing and opening the `gcm_seal`
format (iv || ciphertext || tag) with IVs it chooses itself."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, strategies as st

from kms_core.crypto.aes_gcm import IV_BYTES, DecryptionFailed, GcmKey, gcm_open, gcm_seal


@given(plaintext=st.binary(max_size=512), aad=st.binary(max_size=64))
def test_gcm_key_and_the_functions_read_each_other(plaintext, aad):
    key = os.urandom(32)
    assert gcm_open(key, GcmKey(key).seal(plaintext, aad), aad) == plaintext
    assert GcmKey(key).open(gcm_seal(key, plaintext, aad), aad) == plaintext


def test_every_seal_takes_a_new_iv():
    key = GcmKey(os.urandom(32))
    ivs = {key.seal(b"same", b"aad")[:IV_BYTES] for _ in range(200)}
    assert len(ivs) == 200


def test_a_wrong_aad_or_a_changed_byte_does_not_open():
    key = GcmKey(os.urandom(32))
    sealed = key.seal(b"value", b"row-1")
    with pytest.raises(DecryptionFailed):
        key.open(sealed, b"row-2")
    for i in (0, IV_BYTES, len(sealed) - 1):
        with pytest.raises(DecryptionFailed):
            key.open(sealed[:i] + bytes([sealed[i] ^ 1]) + sealed[i + 1:], b"row-1")
    with pytest.raises(DecryptionFailed):
        key.open(sealed[:IV_BYTES + 15], b"row-1")
