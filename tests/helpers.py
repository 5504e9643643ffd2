"""Assertion helpers shared by the API tests."""

from __future__ import annotations

import os
import re
import socket
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from tests.conftest import ACCOUNT_ID, REGION


def key_arn(key_id: str, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}"


def expect_error(call, code: str, message: str | None = None, *, contains: str | None = None):
    """Run call(); it must fail with `code` (and the exact `message` / a substring)."""
    with pytest.raises(ClientError) as excinfo:
        call()
    err = excinfo.value.response["Error"]
    assert err["Code"] == code, err
    if message is not None:
        assert err["Message"] == message
    if contains is not None:
        assert contains in err["Message"], err["Message"]
    return err


def error_of(call, **kwargs) -> tuple[str, str]:
    """Call, expect a KMS client error (HTTP 400); return (code, message)."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400, response
    return response["Error"]["Code"], response["Error"].get("Message", "")


def pages(call, **kwargs) -> list[dict]:
    """Every page of a KMS Limit/Marker listing; the last one must carry no NextMarker."""
    out: list[dict] = []
    marker = None
    while True:
        page = call(**kwargs, **({"Marker": marker} if marker else {}))
        out.append(page)
        if not page["Truncated"]:
            assert "NextMarker" not in page
            return out
        marker = page["NextMarker"]


def stored_data_key(value_b64: str) -> bytes:
    """The KMS ciphertext of a SecureString's data key, from the Value a read without
    WithDecryption shows (length-prefixed sealed data key, then the sealed value)."""
    import base64
    import struct

    blob = base64.b64decode(value_b64)
    (length,) = struct.unpack(">H", blob[:2])
    return blob[2:2 + length]


def wrap_key_material(public_der: bytes, material: bytes, algorithm: str) -> bytes:
    """EncryptedKeyMaterial for ImportKeyMaterial, made with `cryptography`: RSAES-OAEP
    (MGF1 on the same hash), or for RSA_AES_KEY_WRAP_* OAEP of a fresh AES-256 key followed
    by the RFC 5649 key wrap of the material."""
    public = serialization.load_der_public_key(public_der)
    hash_cls = hashes.SHA1 if algorithm.endswith("SHA_1") else hashes.SHA256
    oaep = padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)
    if not algorithm.startswith("RSA_AES_KEY_WRAP"):
        return public.encrypt(material, oaep)  # type: ignore[union-attr]  # wrapping keys are RSA
    aes_key = os.urandom(32)
    return public.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)  # type: ignore[union-attr]  # wrapping keys are RSA


def raw_request(url: str, head_lines: list[str], body: bytes = b"", target: str = "/") -> bytes:
    """Send a hand-made HTTP/1.1 request; return what the server answers before closing."""
    host = urlsplit(url)
    request = ("\r\n".join([f"POST {target} HTTP/1.1", f"Host: {host.netloc}", *head_lines])
               + "\r\n\r\n").encode() + body
    with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    return data


def second_account_key(server, account_id: str) -> tuple[str, str]:
    """A root access key of another account, made by the operator path (the account is
    created on first use)."""
    import time

    store = server.app.state.store
    with store.db.write() as session:
        identities = store.kms.identities
        if not identities.account_exists(session, account_id):
            identities.create_account(session, account_id, time.time())
            session.flush()
        akid, secret = identities.add_access_key(session, account_id, time.time())
    store.kms.changed()
    return akid, secret


def printed_table(out: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a table the CLI printed: columns are two or more spaces apart
    (a header such as USER ID holds one)."""
    header, *rows = out.rstrip("\n").splitlines()
    return re.split(r" {2,}", header), [re.split(r" {2,}", row) for row in rows]


def printed_record(out: str) -> dict[str, str]:
    """A single record as the CLI prints it by default: one `HEADER  value` line per field."""
    return dict(re.split(r" {2,}", line, maxsplit=1) for line in out.strip().splitlines())
