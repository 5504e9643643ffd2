"""No secret reaches the disk: not in the database file, not in its WAL, not in the log.

A dedicated server (its own data directory and log file) sees a known random plaintext go
through Encrypt/Decrypt and a data key come out of GenerateDataKey; afterwards the raw
bytes of every file in the data directory, every row of every table, and the log are
searched for the plaintext, the data key, the admin secret access key, the key material
and the root key, in raw, hex and base64 forms.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kms_core.crypto.root import load_root_key
from kms_core.storage.tables import access_key_row_identity, material_row_identity
from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY, start_server, PostgresDatabase, database_for

CLIENT_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "httpx", "httpcore")


def forms(secret: bytes) -> dict[str, bytes]:
    """The encodings a leaked secret would most likely be stored or logged in."""
    b64 = base64.b64encode(secret)
    return {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "base64": b64,
        "base64-unpadded": b64.rstrip(b"="),
        "urlsafe-base64": base64.urlsafe_b64encode(secret).rstrip(b"="),
        "repr": repr(secret).encode(),
    }


def find_leaks(haystack: bytes, secrets: dict[str, bytes]) -> list[str]:
    found = []
    for name, secret in secrets.items():
        for form, needle in forms(secret).items():
            if needle and needle in haystack:
                found.append(f"{name} ({form})")
    return found


@pytest.fixture
def quiet_client_logs() -> Iterator[None]:
    """The server runs in this process and its log handler sits on the root logger, so
    botocore's DEBUG dumps of request/response bodies (made by the *client*) would land in
    the server log.  Silence the client-side loggers; server loggers stay at DEBUG."""
    saved = {name: logging.getLogger(name).level for name in CLIENT_LOGGERS}
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dedicated(request, tmp_path, quiet_client_logs):
    backend = request.param
    with database_for(backend) as (database_url, pg):
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        log_file = tmp_path / "server.log"
        live, stop = start_server(data_dir, database_url, backend, log_file=log_file)
        state = {"stopped": False}

        def stop_once() -> None:
            if not state["stopped"]:
                state["stopped"] = True
                stop()

        try:
            yield live, stop_once, log_file, pg
        finally:
            stop_once()


def exercise(live) -> dict[str, bytes]:
    """Push secrets through the server; return them by name."""
    kms = live.client("kms")
    key_id = kms.create_key(Description="at-rest")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/at-rest", TargetKeyId=key_id)
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "env", "TagValue": "test"}])

    plaintext = os.urandom(48)
    plaintext_hex = plaintext.hex().encode()
    context = {"purpose": "at-rest-test"}
    blobs = []
    for value in (plaintext, plaintext_hex):
        blob = kms.encrypt(KeyId=key_id, Plaintext=value, EncryptionContext=context)["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == value
        blobs.append(blob)
    reencrypted = kms.re_encrypt(CiphertextBlob=blobs[0], SourceEncryptionContext=context,
                                 DestinationKeyId="alias/at-rest")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=reencrypted)["Plaintext"] == plaintext

    data_key = kms.generate_data_key(KeyId="alias/at-rest", KeySpec="AES_256", EncryptionContext=context)
    assert len(data_key["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"],
                       EncryptionContext=context)["Plaintext"] == data_key["Plaintext"]
    data_key_128 = kms.generate_data_key(KeyId=key_id, NumberOfBytes=16)["Plaintext"]
    random_bytes = kms.generate_random(NumberOfBytes=40)["Plaintext"]

    # Rotation makes a second key material; both must stay wrapped.
    kms.rotate_key_on_demand(KeyId=key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext

    # A failing request whose body carries the plaintext (wrong context) must not log it.
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blobs[0], EncryptionContext={"purpose": "wrong"})
    # A validation failure with a plaintext in the body (too long) must not log it either.
    with pytest.raises((ClientError, ParamValidationError)):  # refused by botocore or by us
        kms.encrypt(KeyId=key_id, Plaintext=plaintext * 100)

    # Odd requests carrying the plaintext, which may reach error paths that log (even a
    # traceback must not carry request data).
    for target, members in (
            ("TrentService.Encrypt", {"KeyId": "alias/\udfff", "Plaintext": b64(plaintext)}),
            ("TrentService.Encrypt", {"KeyId": key_id, "Plaintext": b64(plaintext),
                                      "EncryptionContext": {"k": "\ud800"}}),
            ("TrentService.Encrypt", {"KeyId": "alias/nul\u0000", "Plaintext": b64(plaintext)}),
            ("TrentService.Encrypt", {"KeyId": 5, "Plaintext": b64(plaintext)}),
            ("TrentService.Nope", {"Plaintext": b64(plaintext)})):
        raw_post(live.url, target, json.dumps(members).encode())

    return {
        "plaintext": plaintext,
        "plaintext-hex": plaintext_hex,
        "data-key": data_key["Plaintext"],
        "data-key-128": data_key_128,
        "random": random_bytes,
        "secret-access-key": SECRET_ACCESS_KEY.encode(),
    }


Row = tuple[str, dict]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def raw_post(url: str, target: str, body: bytes) -> int:
    request = AWSRequest(method="POST", url=url + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "kms", REGION).add_auth(request)
    return httpx.post(url + "/", content=body, headers=dict(request.headers.items()), timeout=15).status_code


def sqlite_rows(db_path: Path) -> list[Row]:
    """(table, {column: value}) for every row of every table."""
    out = []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            out.extend((table, dict(zip(columns, row))) for row in cursor)
    finally:
        conn.close()
    return out


def postgres_rows(pg: PostgresDatabase) -> list[Row]:
    import psycopg

    out = []
    with psycopg.connect(pg.url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d.name for d in cursor.description]
            out.extend((table, dict(zip(columns, row))) for row in cursor)
    return out


def as_bytes(value: object) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


def rows_of(live, pg) -> list[Row]:
    return postgres_rows(pg) if pg is not None else sqlite_rows(live.data_dir / "paramstore.db")


def cells(rows: list[Row]) -> Iterator[tuple[str, str, object]]:
    for table, row in rows:
        for column, value in row.items():
            yield table, column, value


def key_materials(live, rows: list[Row]) -> list[bytes]:
    """Unwrap every key material with the root key (the test may; the database must not
    hold them in the clear)."""
    root = load_root_key(live.data_dir, environ={})
    return [root.unwrap(as_bytes(row["material_wrapped"]),
                        material_row_identity(str(row["key_id"]), str(row["material_id"])))
            for table, row in rows if table == "kms_key_material"]


def file_bytes(data_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in sorted(data_dir.rglob("*"))
            if p.is_file() and p.name != "root.key"}


def test_store_after_crypto_traffic_holds_no_plaintext_secrets(dedicated):
    live, stop, log_file, pg = dedicated
    secrets = exercise(live)

    rows = rows_of(live, pg)
    materials = key_materials(live, rows)
    assert len(materials) >= 2, "expected the original and the rotated key material"
    for i, material in enumerate(materials):
        assert len(material) == 32
        secrets[f"key-material-{i}"] = material
    root_key_text = (live.data_dir / "root.key").read_bytes().strip()
    secrets["root-key"] = base64.b64decode(root_key_text)
    secrets["root-key-file-text"] = root_key_text

    # 1. every cell of every table
    leaks = []
    for table, column, value in cells(rows):
        for leak in find_leaks(as_bytes(value), secrets):
            leaks.append(f"{table}.{column}: {leak}")
    assert not leaks, leaks

    # 2. wrapped columns really are wrapped: not a bare 32-byte key, version-tagged, and
    #    longer than what they wrap (nonce + tag)
    wrapped = [(t, c, as_bytes(v)) for t, c, v in cells(rows) if c.endswith("_wrapped")]
    assert {t for t, _, _ in wrapped} >= {"kms_key_material", "ps_access_key"}, wrapped
    for table, column, value in wrapped:
        assert len(value) != 32, (table, column)
        assert len(value) >= 1 + 12 + 16 + 1, (table, column, len(value))
        assert value[:1] == b"\x01", (table, column)

    # 3. the raw files (SQLite db, -wal, -shm) while the server is still running
    if pg is None:
        files = file_bytes(live.data_dir)
        assert "paramstore.db" in files
        assert "paramstore.db-wal" in files, sorted(files)  # WAL mode: scan the live WAL too
        assert "paramstore-audit.db" in files and "paramstore-audit.db-wal" in files, sorted(files)  # the trail
        for name, data in files.items():
            assert not find_leaks(data, secrets), (name, find_leaks(data, secrets))

    # 4. the log, and again after shutdown (a checkpoint moves WAL pages into the db)
    stop()
    log_text = log_file.read_bytes()
    assert log_text, "the server log is empty: the log check would prove nothing"
    assert not find_leaks(log_text, secrets), find_leaks(log_text, secrets)
    assert SECRET_ACCESS_KEY.encode() not in log_text
    if pg is None:
        for name, data in file_bytes(live.data_dir).items():
            assert not find_leaks(data, secrets), (name, find_leaks(data, secrets))


def test_access_key_secret_stored_only_wrapped(dedicated):
    live, stop, log_file, pg = dedicated
    live.client("kms").list_keys()
    rows = rows_of(live, pg)
    access = [row for table, row in rows if table == "ps_access_key"]
    assert [row["access_key_id"] for row in access] == [ACCESS_KEY_ID]
    wrapped = [as_bytes(row["secret_wrapped"]) for row in access]
    assert len(wrapped) == 1
    assert SECRET_ACCESS_KEY.encode() not in wrapped[0]
    root = load_root_key(live.data_dir, environ={})
    # It is the secret, wrapped under the row's identity.
    assert root.unwrap(wrapped[0], access_key_row_identity(ACCESS_KEY_ID, ACCOUNT_ID)) \
        == SECRET_ACCESS_KEY.encode()
    for table, column, value in cells(rows):
        assert SECRET_ACCESS_KEY.encode() not in as_bytes(value), (table, column)
    if pg is None:
        for name, data in file_bytes(live.data_dir).items():
            assert not find_leaks(data, {"secret": SECRET_ACCESS_KEY.encode()}), name
    stop()
    assert SECRET_ACCESS_KEY.encode() not in log_file.read_bytes()


def test_find_leaks_detects_each_form():
    # The scanner itself must be able to fail: every form of a planted secret is found.
    secret = os.urandom(32)
    for form, needle in forms(secret).items():
        assert find_leaks(b"prefix" + needle + b"suffix", {"s": secret}), form
    assert not find_leaks(os.urandom(4096), {"s": secret})
