"""The SQLite snapshot an ephemeral store is made from (kms_core/storage/sqlite_snapshot.py)
is exactly what the migrations make: same tables, columns, indexes, triggers, first rows and
alembic stamp."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from kms_core.storage import migrate, sqlite_snapshot
from kms_core.storage.session import Database
from paramstore.ephemeral import EphemeralStore
from paramstore.bootstrap import open_store
from paramstore.settings import Settings

REGENERATE = "the migrations changed: run `python -m kms_core.storage.sqlite_snapshot` and commit the file"


def schema_of(path: Path) -> dict:
    """Everything SQLite knows of a database's structure, in a comparable form."""
    conn = sqlite3.connect(path)
    try:
        master = sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(),
                        key=lambda row: (row[0], row[1]))
        tables = [name for kind, name, _, _ in master if kind == "table"]
        detail = {}
        for table in tables:
            indexes = conn.execute(f'PRAGMA index_list("{table}")').fetchall()
            detail[table] = {
                "columns": conn.execute(f'PRAGMA table_xinfo("{table}")').fetchall(),
                "foreign_keys": conn.execute(f'PRAGMA foreign_key_list("{table}")').fetchall(),
                "indexes": sorted((row[1:], conn.execute(f'PRAGMA index_xinfo("{row[1]}")').fetchall())
                                  for row in indexes),
            }
        pragmas = {name: conn.execute(f"PRAGMA {name}").fetchone()[0]
                   for name in ("user_version", "application_id", "auto_vacuum", "encoding", "page_size")}
        return {"master": master, "tables": detail, "pragmas": pragmas}
    finally:
        conn.close()


def rows_of(path: Path) -> dict:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}
    finally:
        conn.close()


def test_the_snapshot_file_is_what_the_migrations_make():
    assert sqlite_snapshot.dump() == sqlite_snapshot.SNAPSHOT_FILE.read_text(), REGENERATE


def test_a_database_made_from_the_snapshot_equals_a_migrated_one(tmp_path):
    migrated, snapshot = tmp_path / "migrated.db", tmp_path / "snapshot.db"
    db = Database(f"sqlite:///{migrated}")
    migrate.upgrade(db)
    db.dispose()
    db = Database(f"sqlite:///{snapshot}")
    try:
        sqlite_snapshot.create(db)
        assert migrate.current_revision(db) == migrate.head_revision(db)
        command.check(migrate.alembic_config(db))  # and the models see no drift either
    finally:
        db.dispose()

    assert schema_of(snapshot) == schema_of(migrated), REGENERATE
    assert rows_of(snapshot) == rows_of(migrated), REGENERATE
    assert rows_of(snapshot)["ps_epoch"] and rows_of(snapshot)["audit_head"]  # the rows migrations insert


def test_an_ephemeral_store_has_the_schema_of_a_migrated_store(tmp_path, monkeypatch):
    """The whole start (bootstrap, the audit trail's file) on both paths."""
    monkeypatch.delenv("PARAMSTORE_ROOT_KEY", raising=False)
    normal = open_store(Settings(data_dir=tmp_path / "normal", database_url=None, admin_access_key_id="AKIANORMAL000001",
                                 admin_secret_access_key="normal-secret"))
    normal.close()
    ephemeral = EphemeralStore(Settings(admin_access_key_id=None, admin_secret_access_key=None))
    try:
        for name in ("paramstore.db", "paramstore-audit.db"):
            assert schema_of(ephemeral.directory / name) == schema_of(tmp_path / "normal" / name), name
    finally:
        ephemeral.close()
    assert not ephemeral.directory.exists()
