"""Regenerate tests/vectors/ciphertext_v1.json and tests/vectors/encryption_context.json.

    .venv/bin/python tests/vectors/generate_ciphertext_vectors.py

Every input is fixed (key material, material id, nonce, IV), so running this twice gives
the same files byte for byte.  The outputs are checked in: test_ciphertext_vectors.py
opens them with kms_core AND with independent_decoder.py (written from the format
docstring alone), and checks that `build_*()` still reproduces the checked-in JSON, so a
change to the wire format shows up as a failing test instead of unreadable old blobs.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1]) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(HERE.parents[1]))

from kms_core.engine import ciphertext  # noqa: E402
from kms_core.engine.encryption_context import encode  # noqa: E402

CIPHERTEXT_FILE = HERE / "ciphertext_v1.json"
CONTEXT_FILE = HERE / "encryption_context.json"


def _fixed(label: str, n: int) -> bytes:
    """Deterministic bytes: the first n bytes of SHA-256 chains over the label."""
    out = b""
    block = label.encode()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return out[:n]


KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
MATERIAL = _fixed("paramstore test vector material", 32)
MATERIAL_ID = _fixed("paramstore test vector material id", 32)
OTHER_MATERIAL = _fixed("paramstore test vector other material", 32)
UNICODE_CONTEXT = {
    "purpose": "test vectors",
    "Département": "Île-de-France",
    "名前": "値",
    "emoji 🔑": "🔐 locked",
    "aws:region": "us-east-1",
}


def _case(name: str, plaintext: bytes, context: dict, key_id: str = KEY_ID, n: int = 0) -> dict:
    nonce = _fixed(f"nonce {name}", ciphertext.NONCE_BYTES)
    iv = _fixed(f"iv {name}", 12)
    blob = ciphertext.seal(key_id, MATERIAL_ID, MATERIAL, plaintext, encode(context), nonce=nonce, iv=iv)
    return {
        "name": name,
        "key_id": key_id,
        "material_id": MATERIAL_ID.hex(),
        "material": MATERIAL.hex(),
        "nonce": nonce.hex(),
        "iv": iv.hex(),
        "plaintext": plaintext.hex(),
        "encryption_context": context,
        "blob": blob.hex(),
    }


def build_valid() -> list[dict]:
    return [
        _case("empty context", b"Hello, paramstore!", {}),
        _case("multi-pair unicode context", "unicode plaintext: ✓ 🔑".encode(), UNICODE_CONTEXT),
        _case("1-byte plaintext", b"\x00", {"k": "v"}),
        _case("4096-byte plaintext", _fixed("4096-byte plaintext", 4096), {"size": "4096"}),
        _case("empty plaintext", b"", {}),
        _case("1-char key id", b"short key id", {}, key_id="k"),
        _case("64-char key id", b"longest key id", {"a": ""}, key_id="k" * 64),
        _case("alias-like key id", b"x" * 32, {"aws:ebs:id": "vol-0123456789abcdef0"},
              key_id="mrk-1234abcd12ab34cd56ef1234567890ab"),
    ]


def _flip(blob: bytes, index: int, mask: int = 0x01) -> bytes:
    b = bytearray(blob)
    b[index] ^= mask
    return bytes(b)


def build_invalid(valid: list[dict]) -> list[dict]:
    base = valid[1]  # the unicode-context vector
    blob = bytes.fromhex(base["blob"])
    context = base["encryption_context"]
    kid_len = len(base["key_id"])
    header_len = 62 + kid_len

    def bad(reason: str, data: bytes, ctx: dict = context, material: bytes = MATERIAL) -> dict:
        return {"reason": reason, "blob": data.hex(), "encryption_context": ctx, "material": material.hex()}

    other_ctx = dict(context)
    other_ctx["purpose"] = "test vectorz"
    return [
        bad("flipped tag byte (last byte)", _flip(blob, len(blob) - 1)),
        bad("flipped first tag byte", _flip(blob, len(blob) - 16, 0x80)),
        bad("flipped ciphertext byte", _flip(blob, header_len)),
        bad("flipped header byte (key id)", _flip(blob, 2, 0x01)),  # '1' -> '0': still ASCII
        bad("flipped header byte (material id)", _flip(blob, 2 + kid_len)),
        bad("flipped header byte (nonce)", _flip(blob, 34 + kid_len)),
        bad("flipped header byte (iv)", _flip(blob, 50 + kid_len)),
        bad("key id length byte changed", _flip(blob, 1, 0x02)),
        bad("key id length 0", blob[:1] + b"\x00" + blob[2:]),
        bad("key id length 65", blob[:1] + b"\x41" + blob[2:]),
        bad("non-ASCII key id", _flip(blob, 2, 0x80)),
        bad("truncated by one byte", blob[:-1]),
        bad("truncated to header + 15 bytes", blob[:header_len + 15]),
        bad("truncated to the header", blob[:header_len]),
        bad("truncated to 1 byte", blob[:1]),
        bad("empty blob", b""),
        bad("wrong context (one value changed)", blob, other_ctx),
        bad("wrong context (empty)", blob, {}),
        bad("wrong context (extra pair)", blob, {**context, "extra": "pair"}),
        bad("wrong context (pair missing)", blob, {k: v for k, v in context.items() if k != "purpose"}),
        bad("trailing byte", blob + b"\x00"),
        bad("wrong version 0x02", b"\x02" + blob[1:]),
        bad("wrong version 0x00", b"\x00" + blob[1:]),
        bad("wrong key material", blob, context, OTHER_MATERIAL),
        bad("empty context vector opened with a context", bytes.fromhex(valid[0]["blob"]), {"k": "v"}),
    ]


def build_ciphertext_vectors() -> dict:
    valid = build_valid()
    return {
        "description": "paramstore symmetric CiphertextBlob format v1 (kms_core/engine/ciphertext.py). "
                       "All byte strings are lowercase hex; generated by generate_ciphertext_vectors.py.",
        "valid": valid,
        "invalid": build_invalid(valid),
    }


CONTEXTS = [
    {},
    {"a": "b"},
    {"": ""},
    {"b": "2", "a": "1"},
    {"B": "upper", "a": "lower"},           # byte order: 'B' (0x42) < 'a' (0x61)
    {"ab": "x", "a": "y"},                  # a prefix sorts first
    {"\uff61": "bmp", "\U0001F600": "astral"},  # UTF-8 order != UTF-16 order
    {"é": "e-acute", "z": "zed"},           # 'z' (0x7a) < 'é' (0xc3 0xa9)
    {"k": "v" * 300},                        # a length past one byte
    UNICODE_CONTEXT,
]

NON_CANONICAL = [
    ("zero count", "0000"),
    ("truncated count", "00"),
    ("unsorted keys", "0002" + "0001" + "62" + "0000" + "0001" + "61" + "0000"),
    ("duplicate keys", "0002" + "0001" + "61" + "0001" + "31" + "0001" + "61" + "0001" + "32"),
    ("trailing byte", "0001" + "0001" + "61" + "0001" + "62" + "00"),
    ("truncated value", "0001" + "0001" + "61" + "0002" + "62"),
    ("count larger than pairs", "0002" + "0001" + "61" + "0001" + "62"),
    ("key not UTF-8", "0001" + "0001" + "ff" + "0000"),
    ("value not UTF-8", "0001" + "0001" + "61" + "0001" + "c3"),
]


def build_context_vectors() -> dict:
    return {
        "description": "Canonical encryption-context bytes (kms_core/engine/encryption_context.py): "
                       "count:u16 || (key_len:u16 || key || value_len:u16 || value)*, keys sorted by "
                       "UTF-8 bytes, empty context = zero bytes.",
        "valid": [{"encryption_context": c, "canonical": encode(c).hex()} for c in CONTEXTS],
        "invalid": [{"reason": r, "canonical": h} for r, h in NON_CANONICAL],
    }


def render(data: dict) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    CIPHERTEXT_FILE.write_text(render(build_ciphertext_vectors()), encoding="utf-8")
    CONTEXT_FILE.write_text(render(build_context_vectors()), encoding="utf-8")
    print(f"wrote {CIPHERTEXT_FILE} and {CONTEXT_FILE}")


if __name__ == "__main__":
    main()
