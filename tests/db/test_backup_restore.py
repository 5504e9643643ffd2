"""`paramstore admin backup` / `restore`: the restore drill, on SQLite and PostgreSQL and
across them.  A backup is taken by the CLI while writers keep writing through a live
server; every write acknowledged before the backup began must come back, decrypt, and
the restored store's audit trail must verify.  A changed file, a store in the way and a
wrong passphrase are refused with nothing written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
from typer.testing import CliRunner

from paramstore.cli.main import app
from tests.conftest import database_for, start_server

WRITERS = 3


def cli(*args: str, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """`python -m paramstore ...` as an operator runs it (no root key in the environment)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PARAMSTORE_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "paramstore", *args], capture_output=True, text=True,
                          env=environ, timeout=120)


def in_process(*args: str, env: Optional[dict] = None):
    """The same CLI in this process (fast, for the refusals)."""
    return CliRunner().invoke(app, list(args), env={"PARAMSTORE_ROOT_KEY": None, **(env or {})})


def place_args(data_dir: Path, database_url: Optional[str]) -> list[str]:
    return ["--data-dir", str(data_dir)] + (["--database-url", database_url] if database_url else [])


@dataclass
class Source:
    backend: str
    data_dir: Path
    database_url: Optional[str]
    backup: Path
    key_id: str
    ciphertext: bytes
    #: parameter name -> value, for every write acknowledged before the backup began
    acknowledged: dict[str, str] = field(default_factory=dict)
    backup_output: str = ""


def _write_until(stop: threading.Event, server, writer: int, acked: list) -> None:
    ssm = server.client("ssm")
    n = 0
    while not stop.is_set():
        name, value = f"/drill/w{writer}/p{n}", f"secret-{writer}-{n}"
        ssm.put_parameter(Name=name, Value=value, Type="SecureString")
        acked.append((time.monotonic(), name, value))
        n += 1


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def source(request, tmp_path_factory):
    """A store with keys and SecureStrings, backed up by the CLI while writers write."""
    backend = request.param
    data_dir = tmp_path_factory.mktemp(f"source-{backend}")
    with database_for(backend) as (database_url, _):
        server, stop_server = start_server(data_dir, database_url, backend)
        try:
            kms, ssm = server.client("kms"), server.client("ssm")
            key_id = kms.create_key(Description="drill")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName="alias/drill", TargetKeyId=key_id)
            ciphertext = kms.encrypt(KeyId=key_id, Plaintext=b"made before the backup")["CiphertextBlob"]
            ssm.put_parameter(Name="/drill/custom-key", Value="under the drill key", Type="SecureString",
                              KeyId="alias/drill")
            ssm.put_parameter(Name="/drill/plain", Value="a String", Type="String")
            acked: list = []
            stop = threading.Event()
            writers = [threading.Thread(target=_write_until, args=(stop, server, w, acked)) for w in range(WRITERS)]
            for thread in writers:
                thread.start()
            time.sleep(0.5)
            began = time.monotonic()
            backup = data_dir.parent / f"{backend}.psbak"
            done = cli("admin", "backup", str(backup), *place_args(data_dir, database_url))
            time.sleep(0.2)
            stop.set()
            for thread in writers:
                thread.join()
            assert done.returncode == 0, done.stderr
            found = Source(backend, data_dir, database_url, backup, key_id, ciphertext, backup_output=done.stdout)
            found.acknowledged = {"/drill/custom-key": "under the drill key", "/drill/plain": "a String"}
            found.acknowledged.update({name: value for at, name, value in acked if at < began})
            assert len(found.acknowledged) > 2 + WRITERS, "the writers wrote nothing before the backup"
            assert any(at > began for at, _, _ in acked), "no write ran while the backup was taken"
            yield found
        finally:
            stop_server()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path):
    """An empty place to restore into, with the store's root key supplied by the operator."""
    with database_for(request.param) as (database_url, _):
        yield request.param, tmp_path / "restored", database_url


def supply_root_key(source: Source, data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy(source.data_dir / "root.key", data_dir / "root.key")
    os.chmod(data_dir / "root.key", 0o600)


def test_the_backup_file_is_private_and_says_what_it_holds(source):
    assert source.backup.stat().st_mode & 0o777 == 0o600
    assert "backup of store" in source.backup_output
    from paramstore.backup import read_backup

    header = read_backup(source.backup).header
    assert header["source_dialect"] == ("sqlite" if source.backend == "sqlite" else "postgresql")
    assert header["root_key"] is None
    counts = {t["name"]: t["rows"] for t in header["tables"]}
    assert counts["ssm_parameter"] >= len(source.acknowledged) and counts["audit_event"] > 0
    assert header["store_id"] == __import__("json").loads((source.data_dir / "store.json").read_text())["store_id"]


def test_restore_drill(source, target):
    """Restore, start a server there: every acknowledged write is there and decrypts, a
    ciphertext made before the backup decrypts, and `audit verify` passes."""
    backend, data_dir, database_url = target
    supply_root_key(source, data_dir)
    done = cli("admin", "restore", str(source.backup), *place_args(data_dir, database_url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit trail intact" in done.stdout and "verified" in done.stdout
    marker = __import__("json").loads((data_dir / "store.json").read_text())
    assert marker["store_id"] == __import__("json").loads((source.data_dir / "store.json").read_text())["store_id"]
    if backend == "sqlite":
        assert (data_dir / "paramstore-audit.db").exists()

    server, stop = start_server(data_dir, database_url, backend)
    try:
        ssm, kms = server.client("ssm"), server.client("kms")
        names = sorted(source.acknowledged)
        for start in range(0, len(names), 10):
            got = ssm.get_parameters(Names=names[start:start + 10], WithDecryption=True)
            assert got["InvalidParameters"] == []
            assert {p["Name"]: p["Value"] for p in got["Parameters"]} == {
                n: source.acknowledged[n] for n in names[start:start + 10]}
        assert kms.decrypt(CiphertextBlob=source.ciphertext)["Plaintext"] == b"made before the backup"
        ssm.put_parameter(Name="/drill/after-restore", Value="new", Type="SecureString")  # the store takes writes
        assert ssm.get_parameter(Name="/drill/after-restore", WithDecryption=True)["Parameter"]["Value"] == "new"
    finally:
        stop()
    verified = cli("audit", "verify", *place_args(data_dir, database_url))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout


def _nothing_written(data_dir: Path, database_url: Optional[str]) -> None:
    assert not data_dir.exists() or {p.name for p in data_dir.iterdir()} <= {"root.key"}
    if database_url:
        from paramstore.backup import non_empty_tables

        assert non_empty_tables(database_url) == []


@pytest.mark.parametrize("where", ["magic", "header", "middle", "last-body-byte", "checksum"])
def test_a_flipped_byte_is_refused_and_nothing_is_written(source, tmp_path, where):
    data = bytearray(source.backup.read_bytes())
    header_end = data.index(b"\n", len(b"paramstore-backup v1\n"))
    trailer_start = data.rindex(b"\n", 0, len(data) - 1) + 1
    position = {"magic": 3, "header": header_end // 2, "middle": (header_end + trailer_start) // 2,
                "last-body-byte": trailer_start - 1, "checksum": trailer_start + 15}[where]
    data[position] ^= 0x01
    damaged = tmp_path / "damaged.psbak"
    damaged.write_bytes(bytes(data))
    data_dir = tmp_path / "restored"
    supply_root_key(source, data_dir)
    done = in_process("admin", "restore", str(damaged), "--data-dir", str(data_dir))
    assert done.exit_code == 1, done.output
    assert "restore refused" in done.output and "damaged" in done.output
    _nothing_written(data_dir, None)


def test_a_file_rewritten_without_the_root_key_is_refused(source, tmp_path):
    """A changed body with a recomputed SHA-256 still fails the HMAC."""
    import hashlib
    import json

    data = source.backup.read_bytes()
    trailer_start = data.rindex(b"\n", 0, len(data) - 1) + 1
    content = data[:trailer_start].replace(b'"format":1', b'"format":1 ', 1)
    trailer = json.dumps({"sha256": hashlib.sha256(content).hexdigest(), "hmac": "0" * 64}).encode() + b"\n"
    forged = tmp_path / "forged.psbak"
    forged.write_bytes(content + trailer)
    data_dir = tmp_path / "restored"
    supply_root_key(source, data_dir)
    done = in_process("admin", "restore", str(forged), "--data-dir", str(data_dir))
    assert done.exit_code == 1 and "HMAC" in done.output, done.output
    _nothing_written(data_dir, None)


def test_restore_over_an_existing_store_is_refused(source, tmp_path):
    done = in_process("admin", "restore", str(source.backup), *place_args(source.data_dir, source.database_url))
    assert done.exit_code == 1 and "restore refused" in done.output, done.output
    # the store's database alone (another data dir, no marker) is refused too
    other = tmp_path / "other"
    supply_root_key(source, other)
    if source.database_url:
        done = in_process("admin", "restore", str(source.backup), *place_args(other, source.database_url))
    else:
        shutil.copy(source.data_dir / "paramstore.db", other / "paramstore.db")
        done = in_process("admin", "restore", str(source.backup), "--data-dir", str(other))
    assert done.exit_code == 1 and "not empty" in done.output, done.output
    assert not (other / "store.json").exists()


def test_a_backup_without_the_key_needs_the_root_key(source, tmp_path):
    done = in_process("admin", "restore", str(source.backup), "--data-dir", str(tmp_path / "keyless"))
    assert done.exit_code == 1 and "no root key" in done.output, done.output
    assert not (tmp_path / "keyless").exists()


def test_the_root_key_round_trip_with_a_passphrase(source, tmp_path):
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    with_key = tmp_path / "with-key.psbak"
    done = in_process("admin", "backup", str(with_key), *place_args(source.data_dir, source.database_url),
                      "--include-root-key", "--passphrase-file", str(passphrase))
    assert done.exit_code == 0 and "root key included" in done.output, done.output
    assert source.data_dir.joinpath("root.key").read_bytes().strip() not in with_key.read_bytes()

    wrong = in_process("admin", "restore", str(with_key), "--data-dir", str(tmp_path / "wrong"),
                       env={"PARAMSTORE_BACKUP_PASSPHRASE": "not it"})
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output, wrong.output
    assert not (tmp_path / "wrong").exists()
    missing = in_process("admin", "restore", str(with_key), "--data-dir", str(tmp_path / "missing"))
    assert missing.exit_code == 1 and "passphrase" in missing.output, missing.output

    restored = tmp_path / "restored"
    done = in_process("admin", "restore", str(with_key), "--data-dir", str(restored),
                      env={"PARAMSTORE_BACKUP_PASSPHRASE": "correct horse battery staple"})
    assert done.exit_code == 0, done.output
    assert (restored / "root.key").read_bytes() == (source.data_dir / "root.key").read_bytes()
    assert (restored / "root.key").stat().st_mode & 0o777 == 0o600
    assert "intact" in done.output


def test_include_root_key_needs_a_passphrase(source, tmp_path):
    done = in_process("admin", "backup", str(tmp_path / "x.psbak"), *place_args(source.data_dir, source.database_url),
                      "--include-root-key")
    assert done.exit_code == 1 and "passphrase" in done.output, done.output
    assert not (tmp_path / "x.psbak").exists()


def test_a_root_key_that_cannot_be_exported_says_so():
    from paramstore.backup import HSM_MESSAGE, BackupError, export_root_key

    class HsmRoot:
        def export_for_backup(self) -> bytes:
            raise RuntimeError("non-extractable")

    with pytest.raises(BackupError, match="HSM"):
        export_root_key(HsmRoot())
    with pytest.raises(BackupError) as raised:
        export_root_key(object())
    assert str(raised.value) == HSM_MESSAGE


def test_a_record_still_in_the_outbox_reaches_the_restored_trail(tmp_path, target):
    """SQLite keeps a change's record in the store's outbox until it moves to the trail; a
    snapshot that caught one there restores it into the trail (either database), chained."""
    import sqlite3

    source_dir = tmp_path / "source"
    server, stop = start_server(source_dir, None, "sqlite")
    try:
        server.client("ssm").put_parameter(Name="/outbox/p", Value="v", Type="SecureString")
    finally:
        stop()
    conn = sqlite3.connect(source_dir / "paramstore.db")
    conn.execute("INSERT INTO audit_outbox (event_time, request_id, event_source, event_name) "
                 "VALUES (1234.5, 'caught-in-the-outbox', 'ssm.amazonaws.com', 'PutParameter')")
    conn.commit()
    conn.close()
    backup = tmp_path / "outbox.psbak"
    assert in_process("admin", "backup", str(backup), "--data-dir", str(source_dir)).exit_code == 0

    backend, data_dir, database_url = target
    supply_root_key(Source("sqlite", source_dir, None, backup, "", b""), data_dir)
    done = in_process("admin", "restore", str(backup), *place_args(data_dir, database_url))
    assert done.exit_code == 0 and "intact" in done.output, done.output
    listed = cli("audit", "ls", "--json", *place_args(data_dir, database_url))
    assert "caught-in-the-outbox" in listed.stdout


def test_a_store_with_a_rotated_root_restores_with_its_current_root(tmp_path, target):
    """After `rotate-root-key`, the backup needs the current version's key (root-v2.key),
    not the retired root.key; --include-root-key carries it to where the store looks."""
    source_dir = tmp_path / "rotated"
    server, stop = start_server(source_dir, None, "sqlite")
    try:
        kms = server.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"under v2")["CiphertextBlob"]
        server.client("ssm").put_parameter(Name="/rotated/p", Value="v2-secret", Type="SecureString")
    finally:
        stop()
    rotated = cli("admin", "rotate-root-key", "--to", "file", "--data-dir", str(source_dir))
    assert rotated.returncode == 0 and "retired root key version(s) 1" in rotated.stdout, rotated.stderr
    backup = tmp_path / "rotated.psbak"
    assert in_process("admin", "backup", str(backup), "--data-dir", str(source_dir)).exit_code == 0

    backend, data_dir, database_url = target
    stale = tmp_path / "stale"
    supply_root_key(Source("sqlite", source_dir, None, backup, "", b""), stale)  # only the retired root
    refused = in_process("admin", "restore", str(backup), "--data-dir", str(stale))
    assert refused.exit_code == 1 and "root-v2.key" in refused.output, refused.output

    passphrase = {"PARAMSTORE_BACKUP_PASSPHRASE": "rotated passphrase"}
    carried = tmp_path / "carried.psbak"
    done = in_process("admin", "backup", str(carried), "--data-dir", str(source_dir), "--include-root-key",
                      env=passphrase)
    assert done.exit_code == 0, done.output
    done = in_process("admin", "restore", str(carried), *place_args(data_dir, database_url), env=passphrase)
    assert done.exit_code == 0 and "verified" in done.output, done.output
    assert (data_dir / "root-v2.key").read_bytes() == (source_dir / "root-v2.key").read_bytes()
    assert not (data_dir / "root.key").exists()
    server, stop = start_server(data_dir, database_url, backend)
    try:
        assert server.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"under v2"
        value = server.client("ssm").get_parameter(Name="/rotated/p", WithDecryption=True)["Parameter"]["Value"]
        assert value == "v2-secret"
    finally:
        stop()
