"""Backups of a whole store in one portable, authenticated file, and restores from them.

Why a logical dump, not a copy of the database files: the file must restore into either
database (a SQLite store into PostgreSQL and back), and on SQLite the store and its audit
trail files must be caught at one moment while servers keep writing.

The snapshot.  SQLite: one connection to the store with every trail file ATTACHed, and one
read transaction over all of them (WAL: each file's snapshot is fixed when the transaction
first reads it, and holds until it ends).  The store is read first, then the chains other
than 0, then chain 0, the order that keeps the trail whole: a change's record is in the
store's outbox or in the trail (never in neither) at any later moment, and a chain's start
is recorded in chain 0 before its first event.  PostgreSQL: one REPEATABLE READ, READ ONLY
transaction reads every table.

The file::

    paramstore-backup v1\\n
    <header: one line of JSON>\\n           store id, source dialect, schema revision, creation
                                           time, tables with their columns and row counts, the
                                           body's length, the sealed root key (if included)
    <body: zlib of JSON lines>             ["table", [value, ...]] per row, in insert order
                                           (foreign keys first); bytes as {"b64": "..."}
    \\n<trailer: one line of JSON>\\n        {"sha256": ..., "hmac": ...} over everything above

The HMAC-SHA256 is keyed by `root.derive(b"paramstore-backup-v1")`: a file changed by
anyone without the root key is refused; the plain SHA-256 names damage even without it.
The root key is in the file only if asked for, sealed with AES-256-GCM under a key from
scrypt of a passphrase.

Restore goes only into an empty place (no marker, no rows, no trail files), makes the
schema with the project's migrations, inserts every row, lays the trail out as the target
keeps it (SQLite: a file per chain, named in `ps_meta`; PostgreSQL: the store's own
tables), writes the marker with the same store id, and then verifies the result: the root
key's check value, the audit chains, and every root-sealed value.
"""

from __future__ import annotations

from paramstore.backup.common import BackupError
from paramstore.backup.file_format import read_backup, store_keyring, write_backup
from paramstore.backup.restore import root_for_restore, verify_restored, write_marker
from paramstore.backup.sealing import HSM_MESSAGE, export_root_key, read_passphrase, write_root_key_file
from paramstore.backup.targets import non_empty_tables, refuse_non_empty_target, restore_rows

__all__ = [
    "HSM_MESSAGE", "BackupError", "export_root_key", "non_empty_tables", "read_backup", "read_passphrase",
    "refuse_non_empty_target", "restore_rows", "root_for_restore", "store_keyring", "verify_restored",
    "write_backup", "write_marker", "write_root_key_file",
]
