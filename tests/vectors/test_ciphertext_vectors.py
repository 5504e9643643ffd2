"""The checked-in CiphertextBlob and encryption-context vectors, read two ways.

Every valid vector must open to its plaintext both with kms_core and with the independent
decoder (which never imports kms_core); every invalid vector must fail in both.  And
kms_core must still write the exact checked-in bytes, so the wire format can't drift.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from kms_core.engine import ciphertext
from kms_core.engine import encryption_context as ec
from tests.vectors import generate_ciphertext_vectors as gen
from tests.vectors import independent_decoder as ind

HERE = Path(__file__).resolve().parent
CT = json.loads((HERE / "ciphertext_v1.json").read_text(encoding="utf-8"))
CTX = json.loads((HERE / "encryption_context.json").read_text(encoding="utf-8"))

VALID = CT["valid"]
INVALID = CT["invalid"]


def _ids(cases, field):
    return [c[field] for c in cases]


def test_vector_files_are_not_empty_and_cover_the_brief():
    names = {c["name"] for c in VALID}
    assert {"empty context", "multi-pair unicode context", "1-byte plaintext", "4096-byte plaintext"} <= names
    assert any(len(bytes.fromhex(c["plaintext"])) == 1 for c in VALID)
    assert any(len(bytes.fromhex(c["plaintext"])) == 4096 for c in VALID)
    assert any(c["encryption_context"] == {} for c in VALID)
    assert any(len(c["encryption_context"]) > 1 and any(not k.isascii() for k in c["encryption_context"])
               for c in VALID)
    reasons = " ".join(c["reason"] for c in INVALID)
    for word in ("tag", "header", "truncated", "wrong context", "trailing", "wrong version"):
        assert word in reasons
    assert len(CTX["valid"]) >= 5 and len(CTX["invalid"]) >= 5


def test_checked_in_files_match_the_generator():
    """Regenerating must reproduce the files: edit the generator, rerun it, check both in."""
    assert gen.render(gen.build_ciphertext_vectors()) == (HERE / "ciphertext_v1.json").read_text(encoding="utf-8")
    assert gen.render(gen.build_context_vectors()) == (HERE / "encryption_context.json").read_text(encoding="utf-8")


def test_independent_decoder_does_not_import_kms_core():
    tree = ast.parse((HERE / "independent_decoder.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            continue
        for m in modules:
            assert not m.startswith(("kms_core", "paramstore", "tests")), m


# -- valid vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID, "name"))
def test_valid_vector_independent_decoder(case):
    blob = bytes.fromhex(case["blob"])
    out = ind.decode_blob(blob, bytes.fromhex(case["material"]), case["encryption_context"])
    assert out.plaintext == bytes.fromhex(case["plaintext"])
    assert out.key_id == case["key_id"]
    assert out.material_id == bytes.fromhex(case["material_id"])
    assert out.nonce == bytes.fromhex(case["nonce"])
    assert out.iv == bytes.fromhex(case["iv"])
    assert len(blob) == 78 + len(case["key_id"]) + len(out.plaintext)  # documented overhead


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID, "name"))
def test_valid_vector_kms_core(case):
    blob = bytes.fromhex(case["blob"])
    parsed = ciphertext.parse(blob)
    assert parsed.key_id == case["key_id"]
    assert parsed.material_id == bytes.fromhex(case["material_id"])
    assert parsed.nonce == bytes.fromhex(case["nonce"])
    assert parsed.iv == bytes.fromhex(case["iv"])
    context_bytes = ec.encode(case["encryption_context"])
    assert ciphertext.open_blob(parsed, bytes.fromhex(case["material"]), context_bytes) == \
        bytes.fromhex(case["plaintext"])


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID, "name"))
def test_kms_core_seal_reproduces_the_vector(case):
    blob = ciphertext.seal(case["key_id"], bytes.fromhex(case["material_id"]), bytes.fromhex(case["material"]),
                           bytes.fromhex(case["plaintext"]), ec.encode(case["encryption_context"]),
                           nonce=bytes.fromhex(case["nonce"]), iv=bytes.fromhex(case["iv"]))
    assert blob.hex() == case["blob"]


# -- invalid vectors -----------------------------------------------------------------------


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID, "reason"))
def test_invalid_vector_independent_decoder(case):
    with pytest.raises(ind.DecodeError):
        ind.decode_blob(bytes.fromhex(case["blob"]), bytes.fromhex(case["material"]), case["encryption_context"])


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID, "reason"))
def test_invalid_vector_kms_core(case):
    blob = bytes.fromhex(case["blob"])
    with pytest.raises(ciphertext.MalformedCiphertext):
        parsed = ciphertext.parse(blob)
        ciphertext.open_blob(parsed, bytes.fromhex(case["material"]), ec.encode(case["encryption_context"]))


# -- encryption context vectors ------------------------------------------------------------


@pytest.mark.parametrize("case", CTX["valid"], ids=lambda c: repr(c["encryption_context"])[:40])
def test_context_vector(case):
    context, canonical = case["encryption_context"], bytes.fromhex(case["canonical"])
    assert ind.encode_context(context) == canonical
    assert ec.encode(context) == canonical
    assert ec.decode(canonical) == context
    assert ind.decode_context(canonical) == context


@pytest.mark.parametrize("case", CTX["invalid"], ids=lambda c: c["reason"])
def test_non_canonical_context_vector(case):
    data = bytes.fromhex(case["canonical"])
    with pytest.raises(ec.EncryptionContextError):
        ec.decode(data)
    with pytest.raises(ind.DecodeError):
        ind.decode_context(data)


def test_context_vector_spot_check_by_hand():
    # {"b": "2", "a": "1"}: two pairs, sorted a before b, 1-byte keys and values.
    assert ind.encode_context({"b": "2", "a": "1"}).hex() == "0002" "0001" "61" "0001" "31" "0001" "62" "0001" "32"
    assert ec.encode({"b": "2", "a": "1"}).hex() == "0002" "0001" "61" "0001" "31" "0001" "62" "0001" "32"
    assert ec.encode(None) == ec.encode({}) == b""


STRUCTURAL = [c for c in INVALID
              if c["reason"].startswith(("wrong version", "key id length 0", "key id length 65", "non-ASCII",
                                         "truncated to the header", "truncated to 1", "empty blob",
                                         "truncated to header + 15"))]


@pytest.mark.parametrize("case", STRUCTURAL, ids=_ids(STRUCTURAL, "reason"))
def test_structurally_bad_blob_is_refused_by_parse(case):
    """These never reach a key lookup: parse() alone refuses them (no material needed)."""
    assert len(STRUCTURAL) == 9
    with pytest.raises(ciphertext.MalformedCiphertext):
        ciphertext.parse(bytes.fromhex(case["blob"]))
