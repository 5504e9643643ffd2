"""The statements on the Parameter Store's hot path, on raw DBAPI connections.

GetParameter cache misses, the policy due-time check and the whole PutParameter
transaction run here as plain SQL on one long-lived connection per role (reader, writer),
not through ORM sessions: an ORM round trip costs about ten times the SQL it sends, and a
put is several statements.  Everything else (labels, tags, listings, deletes) stays on the
ORM, where readability matters more than microseconds.

SQLite statements use `?` placeholders; for PostgreSQL they are rewritten to `%s` once.
Rows come back as `ParamRow` / `VersionRow` named tuples with the ORM tables' field names,
so code reading them can't tell the difference.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Iterator, NamedTuple, Optional

import psycopg
from sqlalchemy.exc import IntegrityError

from kms_core.audit import record_in_transaction
from kms_core.storage.session import PARAMS_EPOCH, Database
from kms_core.storage.connect import is_timeout

#: a concurrent insert of the same row, from either driver (or through the ORM)
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError, IntegrityError)

class ParamRow(NamedTuple):
    id: int
    account_id: str
    region: str
    canonical: str
    name: str
    parent: str
    version: int
    type: str
    tier: str
    data_type: str
    key_id: Optional[str]
    description: Optional[str]
    allowed_pattern: Optional[str]
    policies: Optional[str]
    last_modified_date: float
    last_modified_user: str
    expires_at: Optional[float]
    expiration_notice_at: Optional[float]
    no_change_notice_at: Optional[float]


class VersionRow(NamedTuple):
    parameter_id: int
    version: int
    type: str
    tier: str
    data_type: str
    key_id: Optional[str]
    description: Optional[str]
    allowed_pattern: Optional[str]
    policies: Optional[str]
    value_sealed: bytes
    data_key_sealed: bytes
    last_modified_date: float
    last_modified_user: str


#: the tables' columns in row-tuple order (the SQL below is written from these)
PARAM_COLUMNS = ParamRow._fields
VERSION_COLUMNS = VersionRow._fields


def as_param_row(row: Any) -> ParamRow:
    """An ORM row as a plain tuple (attribute reads on ORM instances are instrumented)."""
    return ParamRow(*(getattr(row, c) for c in PARAM_COLUMNS))


def as_version_row(row: Any) -> VersionRow:
    return VersionRow(*(getattr(row, c) for c in VERSION_COLUMNS))


_SELECT_PARAM = (f"SELECT {', '.join(PARAM_COLUMNS)} FROM ssm_parameter "
                 "WHERE account_id = ? AND region = ? AND canonical = ?")
_SELECT_VERSION = (f"SELECT {', '.join(VERSION_COLUMNS)} FROM ssm_parameter_version "
                   "WHERE parameter_id = ? AND version = ?")
#: each minimum from its own index (one OR'ed WHERE would scan the table)
_NEXT_DUE = ("SELECT (SELECT min(expires_at) FROM ssm_parameter), (SELECT min(expiration_notice_at) FROM "
             "ssm_parameter), (SELECT min(no_change_notice_at) FROM ssm_parameter)")
_INSERT_PARAM = (f"INSERT INTO ssm_parameter ({', '.join(PARAM_COLUMNS[1:])}) "
                 f"VALUES ({', '.join('?' for _ in PARAM_COLUMNS[1:])})")
_UPDATE_PARAM = ("UPDATE ssm_parameter SET " + ", ".join(f"{c} = ?" for c in PARAM_COLUMNS[6:]) + " WHERE id = ?")
INSERT_VERSION = (f"INSERT INTO ssm_parameter_version ({', '.join(VERSION_COLUMNS)}) "
                   f"VALUES ({', '.join('?' for _ in VERSION_COLUMNS)})")
_LABELLED = "SELECT label FROM ssm_parameter_label WHERE parameter_id = ? AND version = ? LIMIT 1"
_DROP_VERSIONS_UPTO = "DELETE FROM ssm_parameter_version WHERE parameter_id = ? AND version <= ?"
#: how many parameters of a tier the account holds (kept by triggers: migration a8c0ffee0008)
_COUNT_TIER = "SELECT count FROM ps_resource_count WHERE account_id = ? AND region = ? AND resource = ?"
INSERT_TAG = "INSERT INTO ssm_parameter_tag (parameter_id, tag_key, tag_value) VALUES (?, ?, ?)"
#: a parameter and everything hanging off it (versions, labels, tags): the one cascade,
#: run by the hot path's puts and by the repository's deletes alike
DELETE_PARAMETER = ("DELETE FROM ssm_parameter_label WHERE parameter_id = ?",
                    "DELETE FROM ssm_parameter_tag WHERE parameter_id = ?",
                    "DELETE FROM ssm_parameter_version WHERE parameter_id = ?",
                    "DELETE FROM ssm_parameter WHERE id = ?")
BUMP_EPOCH = f"UPDATE ps_epoch SET value = value + 1 WHERE id = {PARAMS_EPOCH}"
_READ_EPOCH = f"SELECT value FROM ps_epoch WHERE id = {PARAMS_EPOCH}"
#: one statement instead of two where the database has RETURNING (SQLite 3.35+, PostgreSQL)
_RETURNING = sqlite3.sqlite_version_info >= (3, 35)
_DROP_UNLABELLED_UPTO = ("DELETE FROM ssm_parameter_version WHERE parameter_id = ? AND version <= ? AND NOT EXISTS "
                         "(SELECT 1 FROM ssm_parameter_label WHERE parameter_id = ? AND version = ?)")


class HotSql:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.pg = not db.is_sqlite
        self._reader: Any = None
        self._writer: Any = None
        self._lock = threading.Lock()  # a thread-safety net: database work runs on one worker thread

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.pg else statement

    # --- connections --------------------------------------------------------------------
    def _connect(self, engine: Any) -> Any:
        raw = engine.raw_connection()
        if self.pg:
            raw.driver_connection.autocommit = True
        return raw

    def _read(self, statement: str, params: tuple) -> list:
        self.db.off_loop()
        for attempt in (0, 1):
            if self._reader is None:
                self._reader = self._connect(self.db.read_engine)
            self.db.adjust_busy_timeout(self._reader)
            try:
                cursor = self._reader.cursor()
                try:
                    cursor.execute(self._sql(statement), params)
                    return cursor.fetchall()
                finally:
                    cursor.close()
            except Exception as exc:
                if is_timeout(exc):  # the connection is fine; waiting again would double the wait
                    raise
                self._close("_reader")
                if attempt:
                    raise
        return []

    def _close(self, attr: str) -> None:
        conn = getattr(self, attr)
        setattr(self, attr, None)
        if conn is not None:
            try:
                conn.invalidate() if hasattr(conn, "invalidate") else conn.close()
            except Exception:
                pass

    def dispose(self) -> None:
        for attr in ("_reader", "_writer"):
            conn = getattr(self, attr)
            setattr(self, attr, None)
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass

    # --- reads ----------------------------------------------------------------------------
    def parameter(self, account_id: str, region: str, canonical: str) -> Optional[ParamRow]:
        rows = self._read(_SELECT_PARAM, (account_id, region, canonical))
        return ParamRow(*rows[0]) if rows else None

    def version(self, parameter_id: int, version: int) -> Optional[VersionRow]:
        rows = self._read(_SELECT_VERSION, (parameter_id, version))
        if not rows:
            return None
        row = list(rows[0])
        row[9], row[10] = bytes(row[9]), bytes(row[10])
        return VersionRow(*row)

    def next_due(self) -> float:
        rows = self._read(_NEXT_DUE, ())
        found = [t for t in (rows[0] if rows else ()) if t is not None]
        return min(found) if found else float("inf")

    # --- the put transaction ----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator["PutTransaction"]:
        """One write transaction; yields a PutTransaction, commits on success.  The new
        parameters epoch is in `tx.epoch` afterwards."""
        self.db.off_loop()
        with self._lock:
            if self._writer is None:
                self._writer = self._connect(self.db.engine)
            conn = self._writer
            self.db.adjust_busy_timeout(conn)
            cursor = conn.cursor()
            tx = PutTransaction(self, cursor)
            try:
                if self.pg:
                    cursor.execute("BEGIN")
                else:
                    cursor.execute("BEGIN IMMEDIATE")
                yield tx
                if self.pg or _RETURNING:
                    cursor.execute(BUMP_EPOCH + " RETURNING value")
                else:
                    cursor.execute(BUMP_EPOCH)
                    cursor.execute(_READ_EPOCH)
                tx.epoch = cursor.fetchone()[0]
                moved = record_in_transaction(lambda sql, params: _executed(cursor, sql, params), self.pg)
                cursor.execute("COMMIT")
                self.db.committed(moved)
            except BaseException as error:
                try:
                    cursor.execute("ROLLBACK")
                except Exception:
                    self._close("_writer")
                if _is_connection_error(error):
                    self._close("_writer")
                raise
            finally:
                try:
                    cursor.close()
                except Exception:
                    pass


def _executed(cursor: Any, sql: str, params: tuple) -> Any:
    cursor.execute(sql, params)
    return cursor


def _is_connection_error(error: BaseException) -> bool:
    name = type(error).__name__
    return name in ("OperationalError", "InterfaceError")


class PutTransaction:
    """The statements of one PutParameter, inside `HotSql.transaction()`."""

    def __init__(self, sql: HotSql, cursor: Any) -> None:
        self._sql = sql
        self._cursor = cursor
        self.epoch: Optional[int] = None

    def _run(self, statement: str, params: tuple) -> Any:
        self._cursor.execute(self._sql._sql(statement), params)
        return self._cursor

    def locked_parameter(self, account_id: str, region: str, canonical: str) -> Optional[ParamRow]:
        statement = _SELECT_PARAM + (" FOR UPDATE" if self._sql.pg else "")
        row = self._run(statement, (account_id, region, canonical)).fetchone()
        return ParamRow(*row) if row else None

    def delete_parameter(self, parameter_id: int) -> None:
        for statement in DELETE_PARAMETER:
            self._run(statement, (parameter_id,))

    def count_tier(self, account_id: str, region: str, tier: str) -> int:
        """How many `tier` parameters the account holds, this transaction's writes included
        (a primary-key read of the trigger-kept counter; on PostgreSQL the row is locked
        by the write that changed it, so concurrent creators count one after another)."""
        row = self._run(_COUNT_TIER, (account_id, region, "ssm:" + tier)).fetchone()
        return row[0] if row else 0

    def insert_parameter(self, row: ParamRow) -> int:
        """Insert and return the new id (a concurrent create raises IntegrityError)."""
        if self._sql.pg:
            return self._run(_INSERT_PARAM + " RETURNING id", tuple(row[1:])).fetchone()[0]
        return self._run(_INSERT_PARAM, tuple(row[1:])).lastrowid

    def update_parameter(self, row: ParamRow) -> None:
        self._run(_UPDATE_PARAM, (*row[6:], row.id))

    def insert_tag(self, parameter_id: int, key: str, value: str) -> None:
        self._run(INSERT_TAG, (parameter_id, key, value))

    def insert_version(self, row: VersionRow) -> None:
        self._run(INSERT_VERSION, tuple(row))

    def drop_versions_upto(self, parameter_id: int, version: int) -> Optional[str]:
        """Delete versions up to `version` unless that one is labelled; returns the label
        that kept it (one statement in the usual, unlabelled case)."""
        if self._run(_DROP_UNLABELLED_UPTO, (parameter_id, version, parameter_id, version)).rowcount:
            return None
        found = self._run(_LABELLED, (parameter_id, version)).fetchone()
        if found is None:
            self._run(_DROP_VERSIONS_UPTO, (parameter_id, version))  # nothing at `version` itself
            return None
        return found[0]
