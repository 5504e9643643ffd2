"""No Secrets Manager value at rest: not in any row of any table (the audit trail
included), not in the SQLite file or its WAL, not in a PostgreSQL `pg_dump`, not in the
log; and a version row moved to another secret or edited fails to open instead of
returning a wrong value."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.api.test_no_secrets_at_rest import (  # noqa: F401  (fixtures)
    as_bytes,
    cells,
    dedicated,
    file_bytes,
    find_leaks,
    quiet_client_logs,
    rows_of,
)
from tests.conftest import ACCOUNT_ID, REGION
from tests.helpers import expect_error


def _exercise(live) -> dict[str, bytes]:
    """Secrets in every form (string, JSON, binary, customer key, rotated, re-keyed), read
    back every way; returns what must never be found."""
    sm, kms = live.client("secretsmanager"), live.client("kms")
    key_id = kms.create_key(Description="secrets at rest")["KeyMetadata"]["KeyId"]
    token = lambda: secrets.token_urlsafe(24)  # noqa: E731
    leaks: dict[str, bytes] = {}
    plain, password, binary = "str-" + token(), "pw-" + token(), b"bin-" + token().encode()
    sm.create_secret(Name="rest/plain", SecretString=plain)
    sm.create_secret(Name="rest/json", SecretString=json.dumps({"username": "app", "password": password}),
                     KmsKeyId=key_id)
    sm.create_secret(Name="rest/binary", SecretBinary=binary)
    newer = "v2-" + token()
    sm.put_secret_value(SecretId="rest/plain", SecretString=newer)
    sm.update_secret(SecretId="rest/plain", KmsKeyId=key_id)
    sm.rotate_secret(SecretId="rest/json",
                     RotationLambdaARN=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:paramstore-rotate-json-password")
    assert live.app.state.store.secrets.rotations.wait_idle(20)
    rotated = json.loads(sm.get_secret_value(SecretId="rest/json")["SecretString"])["password"]
    for secret_id in ("rest/plain", "rest/json", "rest/binary"):
        sm.get_secret_value(SecretId=secret_id)
    sm.get_secret_value(SecretId="rest/plain", VersionStage="AWSPREVIOUS")
    sm.batch_get_secret_value(SecretIdList=["rest/plain", "rest/json", "rest/binary"])
    random_password = sm.get_random_password()["RandomPassword"]
    for name, value in (("plain", plain), ("newer", newer), ("password", password), ("rotated", rotated),
                        ("random", random_password)):
        leaks[name] = value[:40].encode()
    leaks["binary"] = binary
    return leaks


def test_no_secret_value_at_rest_in_rows_files_dump_or_log(dedicated):
    live, stop, log_file, pg = dedicated
    values = _exercise(live)
    rows = rows_of(live, pg)
    assert ("secrets_version", "value_sealed") in [(t, c) for t, c, _ in cells(rows)]
    leaks = [f"{t}.{c}: {leak}" for t, c, v in cells(rows) for leak in find_leaks(as_bytes(v), values)]
    assert not leaks, leaks
    if pg is None:
        for name, data in file_bytes(live.data_dir).items():
            assert not find_leaks(data, values), (name, find_leaks(data, values))
    else:
        if shutil.which("pg_dump") is None:
            pytest.fail("pg_dump is needed to check a PostgreSQL dump")
        dump = subprocess.run(["pg_dump", "--data-only", pg.url.replace("postgresql+psycopg://", "postgresql://")],
                              capture_output=True, check=True).stdout
        assert b"secrets_version" in dump
        assert not find_leaks(dump, values), find_leaks(dump, values)
    stop()
    log_text = log_file.read_bytes()
    assert not find_leaks(log_text, values), find_leaks(log_text, values)


def _engine(live, pg):
    return create_engine(pg.url if pg is not None else f"sqlite:///{live.data_dir / 'paramstore.db'}")


def _execute(live, pg, sql: str, params: dict) -> None:
    """Change the store behind the server's back, then tell its caches (as another process's commit would)."""
    engine = _engine(live, pg)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
            conn.execute(text("UPDATE ps_epoch SET value = value + 1"))
    finally:
        engine.dispose()


def _secret_id(live, pg, name: str) -> int:
    engine = _engine(live, pg)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT id FROM secrets_secret WHERE name = :n"), {"n": name}).scalar_one()
    finally:
        engine.dispose()


def test_a_version_moved_to_another_secret_or_edited_does_not_open(dedicated):
    live, _stop, _log, pg = dedicated
    sm = live.client("secretsmanager")
    victim, attacker = "victim-" + uuid.uuid4().hex[:6], "attacker-" + uuid.uuid4().hex[:6]
    sm.create_secret(Name=victim, SecretString="the victim's password")
    sm.create_secret(Name=attacker, SecretString="mine")
    victim_id, attacker_id = _secret_id(live, pg, victim), _secret_id(live, pg, attacker)
    # the attacker's current version now carries the victim's sealed value and data key
    _execute(live, pg, "UPDATE secrets_version SET value_sealed = (SELECT value_sealed FROM secrets_version "
                       "WHERE secret_id = :v), data_key_sealed = (SELECT data_key_sealed FROM secrets_version "
                       "WHERE secret_id = :v) WHERE secret_id = :a", {"v": victim_id, "a": attacker_id})
    expect_error(lambda: sm.get_secret_value(SecretId=attacker), "DecryptionFailure")
    # a flipped bit in the victim's own sealed value
    engine = _engine(live, pg)
    with engine.connect() as conn:
        sealed = bytearray(conn.execute(text("SELECT value_sealed FROM secrets_version WHERE secret_id = :v"),
                                        {"v": victim_id}).scalar_one())
    engine.dispose()
    sealed[-1] ^= 1
    _execute(live, pg, "UPDATE secrets_version SET value_sealed = :s WHERE secret_id = :v",
             {"s": bytes(sealed), "v": victim_id})
    expect_error(lambda: sm.get_secret_value(SecretId=victim), "DecryptionFailure")
