"""No parameter value at rest, of any type: not in any row of any table, not in the SQLite
file or its WAL, not in a PostgreSQL `pg_dump`, not in the log.  And tampering with what
is stored (the sealed value, the sealed data key, the KeyId, or moving a row to another
parameter or version) makes the read fail instead of returning a wrong value."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest
from botocore.exceptions import ClientError

from tests.api.test_no_secrets_at_rest import (  # noqa: F401  (fixtures)
    as_bytes,
    cells,
    dedicated,
    file_bytes,
    find_leaks,
    quiet_client_logs,
    rows_of,
)


def _values() -> dict[str, tuple[str, str, dict]]:
    """name -> (type, value, extra put arguments); every value random and unique."""
    token = lambda: secrets.token_urlsafe(24)  # noqa: E731
    return {
        "/rest/app/string": ("String", "str-" + token(), {}),
        "/rest/app/list": ("StringList", f"a-{token()},b-{token()}", {}),
        "/rest/app/secure": ("SecureString", "sec-" + token(), {}),
        "/rest/app/secure-advanced": ("SecureString", "adv-" + token() + "x" * 5000, {"Tier": "Advanced"}),
        "toplevel": ("SecureString", "top-" + token(), {}),
    }


def _put_all(ssm, kms) -> dict[str, bytes]:
    key_id = kms.create_key(Description="ssm at rest")["KeyMetadata"]["KeyId"]
    leaks: dict[str, bytes] = {}
    for name, (param_type, value, extra) in _values().items():
        ssm.put_parameter(Name=name, Value=value, Type=param_type, **extra)
        newer = value + "-v2"
        args = {"KeyId": key_id} if param_type == "SecureString" else {}
        ssm.put_parameter(Name=name, Value=newer, Type=param_type, Overwrite=True, **args)
        assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == newer
        assert ssm.get_parameter(Name=f"{name}:1", WithDecryption=True)["Parameter"]["Value"] == value
        ssm.get_parameters_by_path(Path="/rest", Recursive=True, WithDecryption=True)
        ssm.get_parameter_history(Name=name, WithDecryption=True)
        leaks[name] = value[:40].encode()  # a prefix is enough and catches the long one too
        leaks[name + ":v2"] = newer[-40:].encode()
        for i, part in enumerate(value.split(",")):
            leaks[f"{name}#{i}"] = part[:40].encode()
    return leaks


def test_no_parameter_value_at_rest_in_rows_files_dump_or_log(dedicated, tmp_path):
    live, stop, log_file, pg = dedicated
    values = _put_all(live.client("ssm"), live.client("kms"))

    rows = rows_of(live, pg)
    stored = [(t, c) for t, c, _ in cells(rows) if t.startswith("ssm_")]
    assert ("ssm_parameter_version", "value_sealed") in stored
    leaks = [f"{t}.{c}: {leak}" for t, c, v in cells(rows) for leak in find_leaks(as_bytes(v), values)]
    assert not leaks, leaks

    if pg is None:
        files = file_bytes(live.data_dir)
        assert "paramstore.db-wal" in files  # the live WAL is scanned too
        for name, data in files.items():
            assert not find_leaks(data, values), (name, find_leaks(data, values))
    else:
        if shutil.which("pg_dump") is None:
            pytest.fail("pg_dump is needed to check a PostgreSQL dump")
        dump = subprocess.run(["pg_dump", "--data-only", pg.url.replace("postgresql+psycopg://", "postgresql://")],
                              capture_output=True, check=True).stdout
        assert b"ssm_parameter_version" in dump
        assert not find_leaks(dump, values), find_leaks(dump, values)

    stop()
    log_text = log_file.read_bytes()
    assert not find_leaks(log_text, values), find_leaks(log_text, values)
    if pg is None:
        for name, data in file_bytes(live.data_dir).items():
            assert not find_leaks(data, values), (name, find_leaks(data, values))


# --- tampering ---------------------------------------------------------------------------
def _execute(live, pg, statements: list[tuple[str, dict]]) -> None:
    """Change the store behind the server's back, then tell its caches (as any commit
    through another process would)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(pg.url if pg is not None else f"sqlite:///{live.data_dir / 'paramstore.db'}")
    try:
        with engine.begin() as conn:
            for sql, params in statements:
                conn.execute(text(sql), params)
            conn.execute(text("UPDATE ps_epoch SET value = value + 1"))
    finally:
        engine.dispose()


def _ids(live, pg, name: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(pg.url if pg is not None else f"sqlite:///{live.data_dir / 'paramstore.db'}")
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT id FROM ssm_parameter WHERE canonical = :c"),
                                {"c": name.lstrip("/")}).scalar_one()
    finally:
        engine.dispose()


def _read_fails(ssm, name: str, wrong_values: tuple[str, ...]) -> None:
    with pytest.raises(ClientError) as info:
        value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        assert value not in wrong_values
    assert info.value.response["Error"]["Code"] in ("InternalServerError", "InvalidKeyId", "AccessDeniedException")


FLIP = "UPDATE ssm_parameter_version SET {column} = {expr} WHERE parameter_id = :pid"


@pytest.mark.parametrize("param_type", ["SecureString", "String"])
@pytest.mark.parametrize("attack", ["value", "data_key", "key_id", "other_parameter", "other_version"])
def test_tampered_or_moved_rows_do_not_decrypt(dedicated, param_type, attack):
    live, _stop, _log, pg = dedicated
    ssm, kms = live.client("ssm"), live.client("kms")
    uid = os.urandom(4).hex()
    victim, donor = f"/tamper/{uid}/victim", f"/tamper/{uid}/donor"
    ssm.put_parameter(Name=victim, Value="victim-v1", Type=param_type)
    ssm.put_parameter(Name=victim, Value="victim-v2", Type=param_type, Overwrite=True)
    ssm.put_parameter(Name=donor, Value="donor-v1", Type=param_type)
    assert ssm.get_parameter(Name=victim, WithDecryption=True)["Parameter"]["Value"] == "victim-v2"
    pid, donor_id = _ids(live, pg, victim), _ids(live, pg, donor)
    # flip the last byte (the GCM tag) of a stored blob, portably on both databases
    if pg is None:
        flip = "substr({c}, 1, length({c}) - 1) || CAST(x'00' AS BLOB)"
        xor_tail = "CASE WHEN substr({c}, -1) = x'00' THEN substr({c}, 1, length({c}) - 1) || x'01' ELSE " + flip + " END"
    else:
        xor_tail = "set_byte({c}, length({c}) - 1, get_byte({c}, length({c}) - 1) # 1)"
    if attack == "value":
        statements = [(FLIP.format(column="value_sealed", expr=xor_tail.format(c="value_sealed")) + " AND version = 2",
                       {"pid": pid})]
    elif attack == "data_key":
        statements = [(FLIP.format(column="data_key_sealed", expr=xor_tail.format(c="data_key_sealed"))
                       + " AND version = 2", {"pid": pid})]
    elif attack == "key_id":
        new_key = kms.create_key()["KeyMetadata"]["KeyId"]
        statements = [("UPDATE ssm_parameter_version SET key_id = :k WHERE parameter_id = :pid AND version = 2",
                       {"k": new_key, "pid": pid}),
                      ("UPDATE ssm_parameter SET key_id = :k WHERE id = :pid", {"k": new_key, "pid": pid})]
    elif attack == "other_parameter":  # the donor's sealed value and data key onto the victim
        statements = [(
            "UPDATE ssm_parameter_version SET value_sealed = (SELECT value_sealed FROM ssm_parameter_version "
            "WHERE parameter_id = :donor AND version = 1), data_key_sealed = (SELECT data_key_sealed FROM "
            "ssm_parameter_version WHERE parameter_id = :donor AND version = 1) "
            "WHERE parameter_id = :pid AND version = 2", {"pid": pid, "donor": donor_id})]
    else:  # version 1's sealed value and data key onto version 2 of the same parameter
        statements = [(
            "UPDATE ssm_parameter_version SET value_sealed = (SELECT value_sealed FROM ssm_parameter_version "
            "WHERE parameter_id = :pid AND version = 1), data_key_sealed = (SELECT data_key_sealed FROM "
            "ssm_parameter_version WHERE parameter_id = :pid AND version = 1) "
            "WHERE parameter_id = :pid AND version = 2", {"pid": pid})]
    if attack == "key_id" and param_type != "SecureString":
        statements = [("UPDATE ssm_parameter_version SET key_id = 'alias/aws/ssm' WHERE parameter_id = :pid "
                       "AND version = 2", {"pid": pid})]
    _execute(live, pg, statements)
    _read_fails(ssm, victim, ("victim-v1", "donor-v1", "victim-v2"))
    # the untouched version and parameter still read fine
    assert ssm.get_parameter(Name=f"{victim}:1", WithDecryption=True)["Parameter"]["Value"] == "victim-v1"
    assert ssm.get_parameter(Name=donor, WithDecryption=True)["Parameter"]["Value"] == "donor-v1"
