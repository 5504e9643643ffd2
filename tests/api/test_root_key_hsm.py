"""A root key held in a PKCS#11 token (SoftHSM2): made by `admin init-hsm`, never
extractable, used by a live server across restarts; a wrong PIN or a missing token is a
clear start-up error (exit 2), and a token that goes away while serving fails requests
that need it (KMSInternalException, readiness 503) until it is back, with no restart."""

from __future__ import annotations

import shutil
import subprocess
import sys

import httpx
import pytest

from tests.hsm.softhsm import USER_PIN, make_softhsm
from tests.process_helpers import ServerProcess


@pytest.fixture
def hsm(tmp_path):
    return make_softhsm(tmp_path / "hsm")


def paramstore(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    import os

    run = subprocess.run([sys.executable, "-m", "paramstore", *args], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=120)
    if check:
        assert run.returncode == 0, run.stdout + run.stderr
    return run


def init_key(hsm, label: str = "paramstore-root-1") -> str:
    uri = hsm.uri(label)
    out = paramstore("admin", "init-hsm", uri, env=hsm.env())
    assert "extractable=False" in out.stdout and "sensitive=True" in out.stdout
    return uri


def test_keys_made_under_a_token_root_survive_a_restart_and_decrypt(hsm, tmp_path):
    uri = init_key(hsm)
    data = tmp_path / "data"
    env = {**hsm.env(), "PARAMSTORE_ROOT_KEY_URI": uri}
    first = ServerProcess(data, env=env).wait_ready()
    try:
        kms, ssm = first.client(), first.client("ssm")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"held by the token")["CiphertextBlob"]
        ssm.put_parameter(Name="/hsm/db-password", Value="s3cret-under-hsm", Type="SecureString")
    finally:
        first.stop()
    assert not (data / "root.key").exists()  # the root is in the token, not on disk
    second = ServerProcess(data, env=env).wait_ready()
    try:
        assert second.client().decrypt(CiphertextBlob=blob)["Plaintext"] == b"held by the token"
        value = second.client("ssm").get_parameter(Name="/hsm/db-password", WithDecryption=True)
        assert value["Parameter"]["Value"] == "s3cret-under-hsm"
    finally:
        second.stop()
    status = paramstore("admin", "root-key", "status", "--data-dir", str(data), env=env)
    header, *rows, _progress = status.stdout.splitlines()
    assert header.split()[:2] == ["VERSION", "CURRENT"]
    current = [row for row in rows if row.split()[1] == "true"]
    assert len(current) == 1 and "pkcs11" in current[0]


def test_the_root_key_object_is_not_extractable(hsm):
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    init_key(hsm, "not-extractable")
    with hsm.session() as session:
        key = session.get_key(object_class=ObjectClass.SECRET_KEY, label="not-extractable")
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]


def test_init_hsm_refuses_an_existing_label_and_a_pin_in_the_uri(hsm):
    uri = init_key(hsm, "taken")
    again = paramstore("admin", "init-hsm", uri, env=hsm.env(), check=False)
    assert again.returncode == 2 and "already holds" in again.stderr
    with_pin = paramstore("admin", "init-hsm", uri + "?pin-value=1234", env=hsm.env(), check=False)
    assert with_pin.returncode == 2 and "PIN in the pkcs11: URI is refused" in with_pin.stderr


def test_a_wrong_pin_is_a_clear_start_error(hsm, tmp_path):
    uri = init_key(hsm)
    ServerProcess(tmp_path / "data", env={**hsm.env(), "PARAMSTORE_ROOT_KEY_URI": uri}).wait_ready().stop()
    wrong = ServerProcess(tmp_path / "data", env={**hsm.env(pin="wrong-pin-999"), "PARAMSTORE_ROOT_KEY_URI": uri})
    code, log = wrong.wait_exit(), wrong.log()
    wrong.stop()
    assert code == 2
    assert "PIN" in log and "wrong" in log
    assert "wrong-pin-999" not in log and USER_PIN not in log


def test_a_missing_token_is_a_clear_start_error(hsm, tmp_path):
    uri = init_key(hsm)
    data = tmp_path / "data"
    ServerProcess(data, env={**hsm.env(), "PARAMSTORE_ROOT_KEY_URI": uri}).wait_ready().stop()
    shutil.rmtree(hsm.directory / "tokens")
    (hsm.directory / "tokens").mkdir()
    missing = ServerProcess(data, env={**hsm.env(), "PARAMSTORE_ROOT_KEY_URI": uri})
    code, log = missing.wait_exit(), missing.log()
    missing.stop()
    assert code == 2
    assert f"no PKCS#11 token {hsm.token!r}" in log


def test_a_new_store_on_a_token_without_the_key_is_refused(hsm, tmp_path):
    server = ServerProcess(tmp_path / "data", env={**hsm.env(), "PARAMSTORE_ROOT_KEY_URI": hsm.uri("never-made")})
    code, log = server.wait_exit(), server.log()
    server.stop()
    assert code == 2 and "paramstore admin init-hsm" in log


def test_a_token_that_goes_away_while_serving_fails_requests_until_it_is_back(hsm, tmp_path):
    from botocore.exceptions import ClientError

    uri = init_key(hsm)
    server = ServerProcess(tmp_path / "data", env={**hsm.env(), "PARAMSTORE_ROOT_KEY_URI": uri}).wait_ready()
    try:
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"cached")["CiphertextBlob"]
        tokens = hsm.directory / "tokens"
        tokens.rename(hsm.directory / "away")
        with pytest.raises(ClientError) as failed:
            kms.create_key()  # a new key's material must be sealed by the token
        assert failed.value.response["Error"]["Code"] == "KMSInternalException"
        assert "root key is unavailable" in failed.value.response["Error"]["Message"]
        ready = httpx.get(server.url + "/health/ready", timeout=5)
        assert ready.status_code == 503 and "unavailable" in ready.text
        (hsm.directory / "away").rename(tokens)
        assert kms.create_key()["KeyMetadata"]["KeyState"] == "Enabled"  # no restart needed
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"cached"
        assert httpx.get(server.url + "/health/ready", timeout=5).status_code == 200
    finally:
        server.stop()


def test_rotation_from_one_token_key_to_another_while_serving(hsm, tmp_path):
    """PKCS#11 -> a new token key: the server picks the new version up by itself; once the
    old version is retired its key object can be destroyed and a restart needs only the new."""
    from pkcs11 import ObjectClass

    first, second = init_key(hsm, "root-a"), init_key(hsm, "root-b")
    data = tmp_path / "data"
    env = {**hsm.env(), "PARAMSTORE_ROOT_KEY_URI": first}
    server = ServerProcess(data, env=env).wait_ready()
    try:
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"across token keys")["CiphertextBlob"]
        rotated = paramstore("admin", "rotate-root-key", "--to", second, "--data-dir", str(data), env=env)
        assert "retired root key version(s) 1" in rotated.stdout
        new_key = kms.create_key()["KeyMetadata"]["KeyId"]  # sealed under version 2 by this server
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across token keys"
    finally:
        server.stop()
    with hsm.session(rw=True) as session:
        session.get_key(object_class=ObjectClass.SECRET_KEY, label="root-a").destroy()
    again = ServerProcess(data, env=hsm.env()).wait_ready()
    try:
        kms = again.client()
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across token keys"
        assert kms.describe_key(KeyId=new_key)["KeyMetadata"]["Enabled"]
    finally:
        again.stop()


def test_a_token_rooted_store_backs_up_and_restores_with_the_token(hsm, tmp_path):
    """The backup holds no key (the token's can't leave it); a restore elsewhere opens
    every value through the same token, and --include-root-key says why it can't."""
    uri = init_key(hsm)
    data, restored = tmp_path / "data", tmp_path / "restored"
    env = {**hsm.env(), "PARAMSTORE_ROOT_KEY_URI": uri}
    server = ServerProcess(data, env=env).wait_ready()
    try:
        blob = server.client().encrypt(KeyId=server.client().create_key()["KeyMetadata"]["KeyId"],
                                       Plaintext=b"token backup")["CiphertextBlob"]
    finally:
        server.stop()
    backup = tmp_path / "token.psbak"
    paramstore("admin", "backup", str(backup), "--data-dir", str(data), env=env)
    refused = paramstore("admin", "backup", str(tmp_path / "with-key.psbak"), "--data-dir", str(data),
                         "--include-root-key", env={**env, "PARAMSTORE_BACKUP_PASSPHRASE": "p"}, check=False)
    assert refused.returncode == 1 and "HSM" in refused.stderr
    done = paramstore("admin", "restore", str(backup), "--data-dir", str(restored), env=hsm.env())
    assert "verified" in done.stdout
    again = ServerProcess(restored, env=hsm.env()).wait_ready()
    try:
        assert again.client().decrypt(CiphertextBlob=blob)["Plaintext"] == b"token backup"
    finally:
        again.stop()


def test_the_database_cannot_choose_the_library_the_server_loads(hsm, tmp_path):
    """A module path (or PIN file) written into the store's records is ignored: whoever
    can write the database must not make the server load a library of their choosing."""
    import json
    import sqlite3

    uri = init_key(hsm)
    data = tmp_path / "data"
    ServerProcess(data, env={**hsm.env(), "PARAMSTORE_ROOT_KEY_URI": uri}).wait_ready().stop()
    evil = tmp_path / "evil.so"
    evil.write_bytes(b"not a library")
    with sqlite3.connect(data / "paramstore.db") as conn:
        (value,) = conn.execute("SELECT value FROM ps_meta WHERE name = 'root_key.v1'").fetchone()
        record = json.loads(value)
        record["uri"] += f"?module-path={evil}&pin-source=file:/etc/passwd"
        conn.execute("UPDATE ps_meta SET value = ? WHERE name = 'root_key.v1'", (json.dumps(record),))
    server = ServerProcess(data, env=hsm.env()).wait_ready()  # the configured module, the configured PIN
    server.stop()
    env = {k: v for k, v in hsm.env().items() if k != "PARAMSTORE_PKCS11_MODULE"}
    unconfigured = ServerProcess(data, env=env)
    code, log = unconfigured.wait_exit(), unconfigured.log()
    unconfigured.stop()
    assert code == 2 and "no PKCS#11 module" in log and str(evil) not in log
