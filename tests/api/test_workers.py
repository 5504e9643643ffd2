"""`paramstore serve --workers N`: one port, N processes, one store.  Migrations and the
bootstrap run once in the parent; every worker serves; caches stay coherent across
workers; a race of overwrites across workers loses no version; SIGTERM ends them all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.process_helpers import ServerProcess

WORKERS = 2


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _workers(server: ServerProcess) -> list[int]:
    """The worker processes (uvicorn's supervisor also starts a resource tracker: skip it)."""
    return [p for p in _children(server.proc.pid)
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
            and b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]


def _encrypt_concurrently(clients: list, key: str, each: int) -> None:
    """Every client encrypts `each` times, all at once (new connections spread over the workers)."""
    def load(client) -> None:
        for _ in range(each):
            client.encrypt(KeyId=key, Plaintext=b"x")

    threads = [threading.Thread(target=load, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.fixture
def workers(fresh_database, tmp_path):
    server = ServerProcess(tmp_path, fresh_database[1], extra_args=("--workers", str(WORKERS))).wait_ready()
    server.data_dir = tmp_path
    try:
        yield server
    finally:
        server.stop()


def test_every_worker_serves_and_migrations_ran_once(workers):
    pids = _workers(workers)
    assert len(pids) == WORKERS
    before = {p: _cpu_ticks(p) for p in pids}
    clients = [workers.client("kms") for _ in range(8)]
    key = clients[0].create_key()["KeyMetadata"]["KeyId"]
    _encrypt_concurrently(clients, key, 60)
    busy = [p for p in pids if _cpu_ticks(p) - before[p] >= 5]  # at least 50 ms of work each
    assert len(busy) == WORKERS, {p: _cpu_ticks(p) - before[p] for p in pids}
    log = workers.log()
    assert log.count("Running upgrade  -> a1c0ffee0001") == 1  # the parent migrated; workers only checked


def _audit(server: ServerProcess, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAMSTORE_")}
    db_args = ["--database-url", server.database_url] if server.database_url else []
    return subprocess.run([sys.executable, "-m", "paramstore", "audit", *args, "--data-dir", str(server.data_dir),
                           *db_args], env=env, capture_output=True, text=True, timeout=120)


def test_each_worker_audits_to_a_chain_of_its_own(workers):
    """Workers don't share one audit chain (they would take turns at its end): each claims
    its own, chain 0 records the other's start, and the whole trail verifies."""
    key = workers.client("kms").create_key()["KeyMetadata"]["KeyId"]
    _encrypt_concurrently([workers.client("kms") for _ in range(8)], key, 25)
    listed = _audit(workers, "ls", "--event", "kms:Encrypt", "--json")
    assert listed.returncode == 0, listed.stderr
    seqs = [json.loads(line)["seq"] for line in listed.stdout.splitlines()]
    assert len(seqs) == 200
    # Each worker claimed a chain at start (the second one's start is recorded in chain 0);
    # which of them served these requests is up to how the connections spread.
    opened = _audit(workers, "ls", "--event", "AuditChainOpened", "--json")
    assert [json.loads(line)["detail"] for line in opened.stdout.splitlines()] == [{"chain": 1}]
    assert {seq >> 40 for seq in seqs} <= {0, 1}
    verified = _audit(workers, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("audit trail intact: "), verified.stdout


def test_a_change_through_one_worker_is_seen_by_all(workers):
    kms = workers.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm = workers.client("ssm")
    ssm.put_parameter(Name="/app/db", Value="first", Type="SecureString")
    fresh = [workers.client("kms") for _ in range(6)]  # new connections, spread over the workers
    for client in fresh:
        client.encrypt(KeyId=key, Plaintext=b"warm the cache")
    readers = [workers.client("ssm") for _ in range(6)]
    for reader in readers:
        assert reader.get_parameter(Name="/app/db", WithDecryption=True)["Parameter"]["Value"] == "first"
    kms.disable_key(KeyId=key)
    ssm.put_parameter(Name="/app/db", Value="second", Overwrite=True)
    for client in fresh:
        with pytest.raises(ClientError) as exc:
            client.encrypt(KeyId=key, Plaintext=b"x")
        assert exc.value.response["Error"]["Code"] == "DisabledException"
    for reader in readers:
        assert reader.get_parameter(Name="/app/db", WithDecryption=True)["Parameter"]["Value"] == "second"


def test_overwrite_race_across_workers_loses_no_version(workers):
    name = "/race/one"
    workers.client("ssm").put_parameter(Name=name, Value="v0", Type="SecureString")
    acknowledged: dict[int, str] = {}
    errors: list[Exception] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        client = workers.client("ssm")
        for i in range(50):
            value = f"writer{n}-put{i}"
            try:
                version = client.put_parameter(Name=name, Value=value, Overwrite=True)["Version"]
            except Exception as exc:  # noqa: BLE001  (every failure is reported below)
                with lock:
                    errors.append(exc)
                continue
            with lock:
                assert version not in acknowledged
                acknowledged[version] = value

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(acknowledged) == list(range(2, 402))  # 400 distinct, consecutive versions after v1
    reader = workers.client("ssm")
    for version in range(302, 402):  # the 100-version history keeps the newest 100
        got = reader.get_parameter(Name=f"{name}:{version}", WithDecryption=True)["Parameter"]
        assert got["Value"] == acknowledged[version]


def test_sigterm_ends_every_worker(workers):
    pids = _workers(workers)
    workers.client("ssm").put_parameter(Name="/before/stop", Value="v", Type="String")
    workers.proc.terminate()
    assert workers.wait_exit(timeout=30) == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
