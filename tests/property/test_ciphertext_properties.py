"""Hypothesis properties of the CiphertextBlob and the canonical encryption context."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kms_core.engine import ciphertext
from kms_core.engine.encryption_context import EncryptionContextError, decode, encode

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MATERIAL = bytes(range(32))
MATERIAL_ID = bytes(range(100, 132))

key_ids = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
plaintexts = st.binary(min_size=0, max_size=4096)
contexts = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8)
small_plaintexts = st.binary(min_size=0, max_size=64)


def _seal(key_id: str, plaintext: bytes, context: dict) -> bytes:
    return ciphertext.seal(key_id, MATERIAL_ID, MATERIAL, plaintext, encode(context))


def _open(blob: bytes, context: dict, material: bytes = MATERIAL) -> bytes:
    return ciphertext.open_blob(ciphertext.parse(blob), material, encode(context))


# -- ciphertext ----------------------------------------------------------------------------


@SETTINGS
@given(key_id=key_ids, plaintext=plaintexts, context=contexts)
def test_round_trip(key_id, plaintext, context):
    blob = _seal(key_id, plaintext, context)
    assert len(blob) == 78 + len(key_id) + len(plaintext)
    parsed = ciphertext.parse(blob)
    assert parsed.key_id == key_id
    assert parsed.material_id == MATERIAL_ID
    assert ciphertext.open_blob(parsed, MATERIAL, encode(context)) == plaintext
    # a dict with the same pairs in another order opens too (order never matters)
    assert _open(blob, dict(reversed(list(context.items())))) == plaintext


@SETTINGS
@given(plaintext=plaintexts)
def test_fresh_nonce_and_iv_per_seal(plaintext):
    a, b = _seal("k", plaintext, {}), _seal("k", plaintext, {})
    assert a != b
    assert ciphertext.parse(a).nonce != ciphertext.parse(b).nonce
    assert ciphertext.parse(a).iv != ciphertext.parse(b).iv


@SETTINGS
@given(key_id=key_ids, plaintext=small_plaintexts, context=contexts, data=st.data())
def test_any_flipped_bit_fails(key_id, plaintext, context, data):
    blob = bytearray(_seal(key_id, plaintext, context))
    index = data.draw(st.integers(0, len(blob) - 1), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    blob[index] ^= 1 << bit
    with pytest.raises(ciphertext.MalformedCiphertext):
        _open(bytes(blob), context)


@SETTINGS
@given(key_id=key_ids, plaintext=small_plaintexts, context=contexts, data=st.data())
def test_any_truncation_fails(key_id, plaintext, context, data):
    blob = _seal(key_id, plaintext, context)
    cut = data.draw(st.integers(0, len(blob) - 1), label="keep")
    with pytest.raises(ciphertext.MalformedCiphertext):
        _open(blob[:cut], context)


@SETTINGS
@given(plaintext=small_plaintexts, context=contexts, extra=st.binary(min_size=1, max_size=32))
def test_appended_bytes_fail(plaintext, context, extra):
    blob = _seal("1234abcd-12ab-34cd-56ef-1234567890ab", plaintext, context)
    with pytest.raises(ciphertext.MalformedCiphertext):
        _open(blob + extra, context)


@SETTINGS
@given(plaintext=small_plaintexts, context=contexts, other=contexts)
def test_different_context_fails(plaintext, context, other):
    assume(other != context)
    blob = _seal("k", plaintext, context)
    with pytest.raises(ciphertext.MalformedCiphertext):
        _open(blob, other)


@SETTINGS
@given(plaintext=small_plaintexts, material=st.binary(min_size=32, max_size=32))
def test_different_material_fails(plaintext, material):
    assume(material != MATERIAL)
    blob = _seal("k", plaintext, {})
    with pytest.raises(ciphertext.MalformedCiphertext):
        _open(blob, {}, material)


@SETTINGS
@given(garbage=st.binary(max_size=200))
def test_random_bytes_never_open(garbage):
    with pytest.raises(ciphertext.MalformedCiphertext):
        _open(garbage, {})


# -- encryption context --------------------------------------------------------------------


@SETTINGS
@given(context=contexts)
def test_context_decode_inverts_encode(context):
    assert decode(encode(context)) == context


@SETTINGS
@given(a=contexts, b=contexts)
def test_context_encoding_is_injective(a, b):
    if a != b:
        assert encode(a) != encode(b)
    else:
        assert encode(a) == encode(b)


@SETTINGS
@given(context=st.dictionaries(st.text(max_size=5), st.text(max_size=5), min_size=2, max_size=6))
def test_context_encoding_ignores_insertion_order(context):
    assert encode(context) == encode(dict(reversed(list(context.items()))))


def _pairs(items: list[tuple[bytes, bytes]]) -> bytes:
    out = struct.pack(">H", len(items))
    for k, v in items:
        out += struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
    return out


@SETTINGS
@given(context=st.dictionaries(st.text(max_size=10), st.text(max_size=10), min_size=2, max_size=6))
def test_context_decode_rejects_unsorted(context):
    items = sorted((k.encode(), v.encode()) for k, v in context.items())
    items.reverse()
    with pytest.raises(EncryptionContextError):
        decode(_pairs(items))


@SETTINGS
@given(context=st.dictionaries(st.text(max_size=10), st.text(max_size=10), min_size=1, max_size=6),
       data=st.data())
def test_context_decode_rejects_duplicate_keys(context, data):
    items = sorted((k.encode(), v.encode()) for k, v in context.items())
    i = data.draw(st.integers(0, len(items) - 1))
    other_value = data.draw(st.binary(max_size=5).filter(lambda b: b.isascii()))
    items.insert(i + 1, (items[i][0], other_value))
    with pytest.raises(EncryptionContextError):
        decode(_pairs(items))


@SETTINGS
@given(context=contexts, trailer=st.binary(min_size=1, max_size=8))
def test_context_decode_rejects_trailing_bytes(context, trailer):
    assume(context)  # b"" + trailer is not an encoded context at all; covered below
    with pytest.raises(EncryptionContextError):
        decode(encode(context) + trailer)


@SETTINGS
@given(trailer=st.binary(max_size=16))
def test_context_decode_rejects_zero_count(trailer):
    with pytest.raises(EncryptionContextError):
        decode(b"\x00\x00" + trailer)


@SETTINGS
@given(context=st.dictionaries(st.text(max_size=10), st.text(max_size=10), min_size=1, max_size=6),
       data=st.data())
def test_context_decode_rejects_truncation(context, data):
    encoded = encode(context)
    cut = data.draw(st.integers(1, len(encoded) - 1))
    with pytest.raises(EncryptionContextError):
        decode(encoded[:cut])


@SETTINGS
@given(data=st.binary(max_size=64))
def test_context_decode_is_canonical(data):
    """Whatever decode accepts, encode gives back byte for byte (one encoding per context)."""
    try:
        context = decode(data)
    except EncryptionContextError:
        return
    assert encode(context) == data


lone_surrogates = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)


@SETTINGS
@given(bad=lone_surrogates, as_key=st.booleans())
def test_context_with_lone_surrogate_is_a_context_error(bad, as_key):
    """JSON can carry "\\ud800"; that must be a clean EncryptionContextError, not UnicodeEncodeError."""
    context = {bad: "v"} if as_key else {"k": bad}
    with pytest.raises(EncryptionContextError):
        encode(context)


def test_context_field_too_long():
    with pytest.raises(EncryptionContextError):
        encode({"k": "x" * 0x10000})
    assert decode(encode({"k": "x" * 0xFFFF})) == {"k": "x" * 0xFFFF}
