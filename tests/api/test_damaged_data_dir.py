"""A store never starts over silently, and a start that can't go ahead says why in one line.

Each refused start exits 2 with one `paramstore: cannot start: ...` line (no traceback) and
leaves every file in the data dir byte-for-byte as it was.  SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import pytest

from tests.process_helpers import ServerProcess, free_port



def snapshot(data_dir: Path) -> dict[str, str]:
    """Every file under the data dir with its SHA-256 (the test's own logs live elsewhere)."""
    return {str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(data_dir).rglob("*")) if p.is_file()}


def refused_start(data_dir: Path, database_url: Optional[str] = None, root_key_b64: Optional[str] = None,
                  extra: tuple[str, ...] = ()) -> str:
    """Start a server that must refuse: exit 2, one reason line, no traceback, data dir unchanged."""
    before = snapshot(data_dir) if Path(data_dir).exists() else None
    env = dict(os.environ, PARAMSTORE_ADMIN_ACCESS_KEY_ID="AKIAEXAMPLEDAMAGED01",
               PARAMSTORE_ADMIN_SECRET_ACCESS_KEY="damaged-dir-secret-access-key")
    env.pop("PARAMSTORE_ROOT_KEY", None)
    if root_key_b64:
        env["PARAMSTORE_ROOT_KEY"] = root_key_b64
    args = [sys.executable, "-m", "paramstore", "serve", "--port", str(free_port()), "--data-dir", str(data_dir)]
    if database_url:
        args += ["--database-url", database_url]
    done = subprocess.run(args + list(extra), capture_output=True, text=True, timeout=60, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    reasons = [line for line in output.splitlines() if line.startswith("paramstore: cannot start: ")]
    assert len(reasons) == 1, output
    if before is not None:
        assert snapshot(data_dir) == before, "a refused start changed the data dir"
    else:
        assert not Path(data_dir).exists()
    return reasons[0]


def make_store(data_dir: Path, database_url: Optional[str] = None, root_key_b64: Optional[str] = None) -> str:
    """A store with a SecureString in it; returns its id (from the marker)."""
    Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    server = ServerProcess(data_dir, database_url, root_key_b64).wait_ready()
    try:
        server.client("ssm").put_parameter(Name="/db/password", Value="hunter2", Type="SecureString")
    finally:
        server.stop()
    for log in Path(data_dir).glob("server-*.log"):  # the helper's log: not part of the store
        log.unlink()
    return json.loads((Path(data_dir) / "store.json").read_text())["store_id"]


# --- Build 4: a store never starts over -----------------------------------------------------
def test_new_store_gets_a_marker_and_a_recorded_id(tmp_path, fresh_database):
    _, url = fresh_database
    data_dir = tmp_path / "data"
    store_id = make_store(data_dir, url)
    marker = json.loads((data_dir / "store.json").read_text())
    assert marker.get("creating") is None
    assert (data_dir / "store.json").stat().st_mode & 0o777 == 0o600
    server = ServerProcess(data_dir, url).wait_ready()  # and a normal restart is untouched
    try:
        assert server.client("ssm").get_parameter(Name="/db/password", WithDecryption=True)["Parameter"]["Value"] \
            == "hunter2"
    finally:
        server.stop()
    assert json.loads((data_dir / "store.json").read_text())["store_id"] == store_id


def test_missing_root_key_is_refused_not_replaced(tmp_path, fresh_database):
    _, url = fresh_database
    data_dir = tmp_path / "data"
    store_id = make_store(data_dir, url)
    (data_dir / "root.key").unlink()
    reason = refused_start(data_dir, url)
    assert "root key file" in reason and str(data_dir / "root.key") in reason and "missing" in reason
    assert store_id in reason and "created 20" in reason
    assert "PARAMSTORE_ROOT_KEY" in reason and "backup" in reason
    assert not (data_dir / "root.key").exists()


def test_missing_root_key_with_the_key_in_the_environment_starts(tmp_path, fresh_database):
    _, url = fresh_database
    data_dir = tmp_path / "data"
    make_store(data_dir, url)
    key = (data_dir / "root.key").read_text().strip()
    (data_dir / "root.key").unlink()
    server = ServerProcess(data_dir, url, root_key_b64=key).wait_ready()
    try:
        assert server.client("ssm").get_parameter(Name="/db/password", WithDecryption=True)["Parameter"]["Value"] \
            == "hunter2"
    finally:
        server.stop()
    assert not (data_dir / "root.key").exists()


def test_truncated_sqlite_database_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    store_id = make_store(data_dir)
    (data_dir / "paramstore.db").write_bytes(b"")
    reason = refused_start(data_dir)
    assert "empty" in reason and store_id in reason and "backup" in reason and "--data-dir" in reason


def test_deleted_sqlite_database_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    (data_dir / "paramstore.db").unlink()
    reason = refused_start(data_dir)
    assert "empty" in reason and "backup" in reason


def test_postgres_database_without_schema_is_refused(tmp_path, fresh_postgres_url):
    import psycopg

    from kms_core.storage.connect import psycopg_dsn

    data_dir = tmp_path / "data"
    store_id = make_store(data_dir, fresh_postgres_url)
    with psycopg.connect(psycopg_dsn(fresh_postgres_url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    reason = refused_start(data_dir, fresh_postgres_url)
    assert "empty" in reason and store_id in reason and "backup" in reason


def test_store_made_before_markers_with_a_truncated_database_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    (data_dir / "store.json").unlink()  # as an older version left it
    (data_dir / "paramstore.db").write_bytes(b"")
    reason = refused_start(data_dir)
    assert "empty" in reason and "root.key" in reason and "backup" in reason


def test_store_made_before_markers_gets_one_on_its_next_start(tmp_path, fresh_database):
    _, url = fresh_database
    data_dir = tmp_path / "data"
    store_id = make_store(data_dir, url)
    (data_dir / "store.json").unlink()
    ServerProcess(data_dir, url).wait_ready().stop()
    assert json.loads((data_dir / "store.json").read_text())["store_id"] == store_id  # the database's id


def test_marker_of_another_store_is_refused(tmp_path, fresh_postgres_url):
    data_dir = tmp_path / "data"
    make_store(data_dir, fresh_postgres_url)
    marker = json.loads((data_dir / "store.json").read_text())
    marker["store_id"] = "00000000-0000-4000-8000-000000000000"
    (data_dir / "store.json").write_text(json.dumps(marker))
    reason = refused_start(data_dir, fresh_postgres_url)
    assert "00000000-0000-4000-8000-000000000000" in reason and "same store" in reason


def test_damaged_marker_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    (data_dir / "store.json").write_text("{not json")
    reason = refused_start(data_dir)
    assert "store.json" in reason and "damaged" in reason


def test_a_first_start_that_stopped_part_way_carries_on(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    (data_dir / "store.json").write_text(json.dumps({"store_id": "11111111-2222-4333-8444-555555555555",
                                                     "created_at": "2026-12-01T00:00:00Z", "creating": True}))
    server = ServerProcess(data_dir).wait_ready()
    server.stop()
    marker = json.loads((data_dir / "store.json").read_text())
    assert marker["store_id"] == "11111111-2222-4333-8444-555555555555" and "creating" not in marker


# --- Build 5: one-line reasons -------------------------------------------------------------
@pytest.mark.parametrize("url, words", [
    ("sqlite://", "in-memory"),
    ("sqlite:///:memory:", "in-memory"),
    ("mysql://root@127.0.0.1/test", "not supported"),
    ("not a url at all", "not a valid URL"),
])
def test_unsupported_database_url(tmp_path, url, words):
    reason = refused_start(tmp_path / "data", url)
    assert words in reason


def test_unreachable_postgres_names_the_url_and_masks_the_password(tmp_path):
    url = "postgresql://paramstore:s3cret-pw@127.0.0.1:1/paramstore"
    reason = refused_start(tmp_path / "data", url)
    assert "can't connect" in reason and "127.0.0.1:1/paramstore" in reason
    assert "s3cret-pw" not in reason and "***" in reason
    assert "refused" in reason.lower()


def test_missing_postgres_database(tmp_path, fresh_postgres_url):
    from sqlalchemy.engine import make_url

    url = make_url(fresh_postgres_url).set(database="paramstore_no_such_db").render_as_string(hide_password=False)
    reason = refused_start(tmp_path / "data", url)
    assert "paramstore_no_such_db" in reason and "does not exist" in reason


def test_postgres_refuses_authentication(tmp_path, fresh_postgres_url):
    from sqlalchemy.engine import make_url

    url = make_url(fresh_postgres_url).set(username="no_such_role_here").render_as_string(hide_password=False)
    reason = refused_start(tmp_path / "data", url)
    assert "no_such_role_here" in reason and "can't connect" in reason


@contextmanager
def small_filesystem(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of its own (root only; else the test skips)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a file system of its own")
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("mount is not permitted here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_read_only_data_dir(tmp_path):
    with small_filesystem(tmp_path / "mnt") as mnt:
        data_dir = mnt / "data"
        make_store(data_dir)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        reason = refused_start(data_dir)
        assert str(data_dir) in reason and "read-only" in reason


def test_unwritable_data_dir(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere; the read-only mount case covers it")
    data_dir.chmod(0o500)
    try:
        reason = refused_start(data_dir)
    finally:
        data_dir.chmod(0o700)
    assert str(data_dir) in reason and "not writable" in reason


def test_full_disk_at_start(tmp_path):
    with small_filesystem(tmp_path / "mnt", size="4m") as mnt:
        data_dir = mnt / "data"
        make_store(data_dir)
        filler = mnt / "filler"
        with open(filler, "wb") as fh:  # fill every free block
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        reason = refused_start(data_dir)
        assert "no space left" in reason


def test_sqlite_database_locked_by_another_program(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    # Another process holds the write lock (in this one, reading the -shm file for the
    # snapshot would drop it: POSIX locks go with any close of the file).
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()"),
        str(data_dir / "paramstore.db")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        reason = refused_start(data_dir, extra=("--db-timeout", "1"))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert "locked by another program" in reason and str(data_dir / "paramstore.db") in reason


def test_garbage_sqlite_database(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    (data_dir / "paramstore.db").write_bytes(os.urandom(8192))
    reason = refused_start(data_dir)
    assert "damaged" in reason and "backup" in reason


def test_debug_shows_the_traceback(tmp_path):
    env = dict(os.environ)
    env.pop("PARAMSTORE_ROOT_KEY", None)
    done = subprocess.run([sys.executable, "-m", "paramstore", "serve", "--data-dir", str(tmp_path / "d"),
                           "--database-url", "postgresql://u:pw-hidden@127.0.0.1:1/x", "--debug"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "paramstore: cannot start: " in done.stderr


def test_wrong_root_key_in_environment_is_still_refused(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    (data_dir / "root.key").unlink()
    reason = refused_start(data_dir, root_key_b64=base64.b64encode(os.urandom(32)).decode())
    assert "not the key this store was created with" in reason
