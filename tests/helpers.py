"""Assertion helpers shared by the API tests."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, REGION


def key_arn(key_id: str, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}"


def expect_error(call, code: str, message: str | None = None, *, contains: str | None = None):  # type: ignore[no-untyped-def]
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


def error_of(call, **kwargs) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Call, expect a KMS client error (HTTP 400); return (code, message)."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400, response
    return response["Error"]["Code"], response["Error"].get("Message", "")


def pages(call, **kwargs) -> list[dict]:  # type: ignore[no-untyped-def]
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
