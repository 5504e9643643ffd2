"""SQLite keeps the audit trail in a file of its own (kms_core/storage/audit_file.py).

The store and its trail belong together: a store whose trail file is missing, emptied,
damaged or another store's is refused at start (exit 2, one line, data dir untouched); a
store of an earlier version, whose trail is still in its own file, has it moved over on its
next start with every event and the head intact; and a start that died half-way through
that move does it again."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from kms_core.audit import verify
from kms_core.crypto.root import load_root_key
from kms_core.storage.audit_file import AUDIT_FILE_META, audit_file_path
from kms_core.storage.session import Database
from kms_core.storage.connect import sqlite_url
from tests.api.test_damaged_data_dir import make_store, refused_start
from tests.process_helpers import ServerProcess

EVENT_COLUMNS = ("seq, event_time, request_id, event_source, event_name, region, account_id, principal_arn, "
                 "access_key_id, source_ip, user_agent, resources, encryption_context, error_code, detail, "
                 "prev_mac, mac")


def trail_path(data_dir: Path) -> Path:
    return audit_file_path(data_dir / "paramstore.db")


def rows(path: Path, statement: str) -> list:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(statement).fetchall()
    finally:
        conn.close()


def verified(data_dir: Path) -> int:
    """The trail verifies; returns how many events it holds."""
    db = Database(sqlite_url(data_dir))
    try:
        result = verify(db, load_root_key(data_dir, environ={}))
        assert result.ok, result
        return result.count
    finally:
        db.dispose()


def test_a_new_store_keeps_its_trail_in_its_own_file(tmp_path):
    data_dir = tmp_path / "data"
    store_id = make_store(data_dir)
    trail = trail_path(data_dir)
    assert trail.stat().st_mode & 0o777 == 0o600
    assert rows(trail, "SELECT value FROM audit_meta WHERE name = 'store_id'") == [(store_id,)]
    assert rows(data_dir / "paramstore.db", "SELECT count(*) FROM audit_event") == [(0,)]
    assert rows(data_dir / "paramstore.db", f"SELECT value FROM ps_meta WHERE name = '{AUDIT_FILE_META}'") \
        == [(trail.name,)]
    names = [r[0] for r in rows(trail, "SELECT event_name FROM audit_event ORDER BY seq")]
    assert "PutParameter" in names
    assert verified(data_dir) == len(names)


def test_missing_trail_file_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    store_id = make_store(data_dir)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{trail_path(data_dir)}{suffix}").unlink(missing_ok=True)
    reason = refused_start(data_dir)
    assert str(trail_path(data_dir)) in reason and "missing" in reason and store_id in reason, reason


def test_emptied_trail_file_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    trail_path(data_dir).write_bytes(b"")
    reason = refused_start(data_dir)
    assert "missing or empty" in reason, reason


def test_damaged_trail_file_is_refused(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    for suffix in ("-wal", "-shm"):
        Path(f"{trail_path(data_dir)}{suffix}").unlink(missing_ok=True)
    trail_path(data_dir).write_bytes(b"this is not a database" * 512)
    reason = refused_start(data_dir)
    assert "damaged" in reason and str(trail_path(data_dir)) in reason, reason


def test_another_stores_trail_file_is_refused(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours_id = make_store(ours)
    theirs_id = make_store(theirs)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{trail_path(ours)}{suffix}").unlink(missing_ok=True)
        if Path(f"{trail_path(theirs)}{suffix}").exists():
            shutil.copy(f"{trail_path(theirs)}{suffix}", f"{trail_path(ours)}{suffix}")
    reason = refused_start(ours)
    assert theirs_id in reason and ours_id in reason, reason


def as_earlier_version(data_dir: Path) -> int:
    """Turn a store back into what an earlier version left: the trail in the store's own
    `audit_event`, no trail file.  Returns how many events it holds."""
    store = sqlite3.connect(data_dir / "paramstore.db", isolation_level=None)
    try:
        store.execute("ATTACH DATABASE ? AS trail", (str(trail_path(data_dir)),))
        store.execute("BEGIN IMMEDIATE")
        store.execute(f"INSERT INTO main.audit_event ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM trail.audit_event")
        store.execute("UPDATE main.audit_head SET (last_seq, last_mac, head_mac) = "
                      "(SELECT last_seq, last_mac, head_mac FROM trail.audit_head WHERE id = 1)")
        store.execute(f"DELETE FROM main.ps_meta WHERE name = '{AUDIT_FILE_META}'")
        store.execute("COMMIT")
        store.execute("DETACH DATABASE trail")
        count = store.execute("SELECT count(*) FROM audit_event").fetchone()[0]
    finally:
        store.close()
    return count


def start_and_stop(data_dir: Path) -> None:
    server = ServerProcess(data_dir).wait_ready()
    try:
        assert server.client("ssm").get_parameter(Name="/db/password", WithDecryption=True)["Parameter"]["Value"] \
            == "hunter2"
    finally:
        server.stop()


def test_a_store_of_an_earlier_version_has_its_trail_moved_over(tmp_path):
    data_dir = tmp_path / "data"
    make_store(data_dir)
    count = as_earlier_version(data_dir)
    head_before = rows(data_dir / "paramstore.db", "SELECT last_seq, last_mac, head_mac FROM audit_head")[0]
    macs_before = rows(data_dir / "paramstore.db", "SELECT seq, mac FROM audit_event ORDER BY seq")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{trail_path(data_dir)}{suffix}").unlink(missing_ok=True)
    start_and_stop(data_dir)
    trail = trail_path(data_dir)
    assert rows(trail, "SELECT seq, mac FROM audit_event ORDER BY seq")[:count] == macs_before
    assert rows(data_dir / "paramstore.db", "SELECT count(*) FROM audit_event") == [(0,)]
    assert head_before[0] == count
    assert verified(data_dir) > count  # the old events, and the new start's GetParameter after them


def test_a_move_that_died_half_way_is_done_again(tmp_path):
    """The trail file was written but the store never recorded it (the process died between
    the two commits): the next start writes it again from the store's rows, once."""
    data_dir = tmp_path / "data"
    make_store(data_dir)
    count = as_earlier_version(data_dir)  # the trail file is still there, a copy of the store's rows
    start_and_stop(data_dir)
    seqs = [r[0] for r in rows(trail_path(data_dir), "SELECT seq FROM audit_event ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > count
    verified(data_dir)


def test_a_trail_file_longer_than_the_store_remembers_is_never_overwritten(tmp_path):
    """Someone removed the store's note of its trail file: the file, with more events than
    the store holds, is left alone and start is refused."""
    data_dir = tmp_path / "data"
    make_store(data_dir)
    store = sqlite3.connect(data_dir / "paramstore.db", isolation_level=None)
    store.execute(f"DELETE FROM ps_meta WHERE name = '{AUDIT_FILE_META}'")
    store.close()
    before = trail_path(data_dir).read_bytes()
    server = ServerProcess(data_dir)
    try:
        assert server.proc.wait(timeout=60) == 2
        assert "refusing to overwrite" in server.log()
    finally:
        server.stop()
    assert trail_path(data_dir).read_bytes() == before
