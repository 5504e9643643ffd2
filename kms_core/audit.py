"""The audit trail: one structured event per request, in an append-only, hash-chained table.

Every row carries `mac = HMAC-SHA256(K, prev_mac || canonical(row))` where `K` is derived
from the root key (`root.derive(b"audit-chain-v1")`) and `prev_mac` is the previous row's
mac (the genesis value is 64 zeros).  Someone with write access to the database but not
the root key can neither edit, delete nor reorder rows without `verify()` noticing, and
can't forge new macs.  `audit_head` (one row) holds the last seq and mac; every append
locks it in the same transaction that inserts, so several server processes sharing one
database extend a single chain.  On SQLite (where BEGIN IMMEDIATE already serialises
writers) the head is a checkpoint moved every CHECKPOINT_EVERY events, to save a page
write per commit; `verify()` treats it as a lower bound: every event up to it must be
there, unchanged.  Deleting events after the last checkpoint together with rolling the
head back can only be caught by comparing with an earlier copy of the head (as with any
hash chain that is not anchored outside the database).

Writes go on a dedicated connection (not `db.write()`: that would bump `ps_epoch` and drop
every cache on every request).  On SQLite each event is one autocommit INSERT written
inline (chained onto the tail this process last wrote; a seq taken by another process
means re-read and retry).  On PostgreSQL writes are group-committed: `append()` queues the
event and one flush per event-loop turn writes everything queued in ONE statement on a
writer thread.

* SQLite: the Database's change-monitor connection (its own commits don't move the
  `PRAGMA data_version` it watches, so audit writes don't invalidate the caches), with
  `PRAGMA synchronous=NORMAL` (WAL mode).
  A committed audit event survives a crash of the server process; after a power loss or OS
  crash the last few audit commits (those not yet followed by a checkpoint or by a
  `synchronous=FULL` commit of the key store, which syncs the whole WAL) may be lost.  This
  keeps the fsync (~0.35 ms here) off every request; the chain stays consistent either way.
* PostgreSQL: a dedicated psycopg connection, one round trip and one durable autocommit
  statement per batch (a conditional UPDATE of the head, which locks it, feeding the
  INSERT; see `_write_postgres`).

Only the `AuditEvent` fields are ever stored: callers must never put a plaintext, a value,
a data key or key material in them (the encryption context is logged in the clear, as in
AWS).  Strings are cut to their column sizes so hostile input can't make the insert fail.
"""

from __future__ import annotations

import asyncio
import hmac
import sqlite3
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

log = logging.getLogger("paramstore.audit")

GENESIS_MAC = "0" * 64
CHAIN_LABEL = b"audit-chain-v1"
MAX_USER_AGENT = 512
#: SQLite: events between head checkpoints (PostgreSQL moves the head with every batch)
CHECKPOINT_EVERY = 64

#: column order for inserts, the canonical form and query results
COLUMNS = ("seq", "event_time", "request_id", "event_source", "event_name", "region", "account_id",
           "principal_arn", "access_key_id", "source_ip", "user_agent", "resources", "encryption_context",
           "error_code", "detail", "prev_mac", "mac")

_INSERT_SQLITE = ("INSERT INTO audit_event (" + ", ".join(COLUMNS) + ") VALUES ("
                  + ", ".join("?" * len(COLUMNS)) + ")")
_INSERT_PG = ("INSERT INTO audit_event (" + ", ".join(COLUMNS) + ") VALUES ("
              + ", ".join(["%s"] * len(COLUMNS)) + ")")

_PG_CASTS = ("bigint", "float8") + ("text",) * 15
_PG_ROW = "(" + ", ".join(f"%s::{t}" for t in _PG_CASTS) + ")"
_pg_sql_cache: dict[int, str] = {}


def _pg_append_sql(n: int) -> str:
    sql = _pg_sql_cache.get(n)
    if sql is None:
        sql = ("WITH h AS (UPDATE audit_head SET last_seq = %s, last_mac = %s "
               "WHERE id = 1 AND last_seq = %s AND last_mac = %s RETURNING id) "
               "INSERT INTO audit_event (" + ", ".join(COLUMNS) + ") "
               "SELECT v.* FROM (VALUES " + ", ".join([_PG_ROW] * n) + ") AS v(" + ", ".join(COLUMNS) + ") "
               "WHERE EXISTS (SELECT 1 FROM h)")
        if n <= 64:
            _pg_sql_cache[n] = sql
    return sql


_json = json.JSONEncoder(ensure_ascii=True, sort_keys=True, separators=(",", ":"), default=str).encode


class AuditUnavailable(Exception):
    """The event could not be written and the log is configured to fail closed."""


@dataclass
class AuditEvent:
    event_time: float
    request_id: str
    event_source: str
    event_name: str
    region: Optional[str] = None
    account_id: Optional[str] = None
    principal_arn: Optional[str] = None
    access_key_id: Optional[str] = None
    source_ip: Optional[str] = None
    user_agent: Optional[str] = None
    resources: list = field(default_factory=list)
    encryption_context: Optional[dict] = None
    error_code: Optional[str] = None
    detail: Optional[dict] = None


# --- canonical form and mac ------------------------------------------------------------
def _clean(value: Optional[str], limit: int) -> Optional[str]:
    if value is None:
        return None
    if type(value) is not str:
        value = str(value)
    if len(value) > limit:
        value = value[:limit]
    if value.isascii():
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if "\x00" in value:  # PostgreSQL text can't hold NUL
        value = value.replace("\x00", "\ufffd")
    return value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates


def _fields(e: AuditEvent) -> list:
    """The 14 stored fields event_time..detail (COLUMNS[1:15]) of an event.

    Fields a client controls (target, region, access key id, user agent) are cleaned; the
    request id, event source, account, principal ARN, source IP and error code are the
    server's own values."""
    return [
        float(e.event_time), e.request_id, e.event_source, _clean(e.event_name, 128),
        _clean(e.region, 32), e.account_id, e.principal_arn,
        _clean(e.access_key_id, 128), e.source_ip, _clean(e.user_agent, MAX_USER_AGENT),
        _json(list(e.resources)) if e.resources else None,
        _json(e.encryption_context) if e.encryption_context is not None else None,
        e.error_code,
        _json(e.detail) if e.detail is not None else None,
    ]


def _canonical(seq: int, values: Any) -> bytes:
    """`values`: the 14 stored fields event_time..detail, each self-delimiting: `~` for
    NULL, `f<repr>` for the float, `s<length>:<text>` for text; joined by `|`.  Injective,
    and the same after a round trip through either database (floats keep their repr)."""
    parts = [str(seq)]
    for v in values:
        if v is None:
            parts.append("~")
        elif type(v) is float:
            parts.append("f" + repr(v))
        else:
            parts.append(f"s{len(v)}:{v}")
    return "|".join(parts).encode("utf-8", "surrogatepass")


def compute_mac(key: bytes, prev_mac: str, seq: int, values: Any) -> str:
    return hmac.digest(key, prev_mac.encode("ascii") + b"|" + _canonical(seq, values), "sha256").hex()


# --- the writer ------------------------------------------------------------------------
class AuditLog:
    """`await append(event)` returns once the event is committed (or, failing open, logged as lost)."""

    def __init__(self, db, root, clock, fail_closed: bool = True,  # type: ignore[no-untyped-def]
                 checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.db, self.root, self.clock, self.fail_closed = db, root, clock, fail_closed
        self._checkpoint_every = checkpoint_every
        self._key = root.derive(CHAIN_LABEL)
        self._pending: list[tuple[list, Optional[asyncio.Future]]] = []
        self._scheduled = False
        self._conn: Any = None
        self._head: Optional[tuple[int, str]] = None  # PostgreSQL: the head as last written/seen
        self._inflight = False  # PostgreSQL: a batch is being written on the writer thread
        self._executor: Any = None
        self._checkpoint_seq = -checkpoint_every  # SQLite: the first batch writes a checkpoint
        self._last: Optional[tuple[int, str]] = None  # SQLite: the chain's tail as last written

    async def append(self, event: AuditEvent) -> None:
        values = _fields(event)
        if self.db.is_sqlite:
            # SQLite: write now, inline.  Batching across requests measured ~1.3 events per
            # commit even at 4 concurrent clients (handlers run to completion one at a time),
            # which doesn't pay for a future and an extra event-loop turn per request.
            try:
                self.write_batch([values])
            except Exception as exc:
                self._settle([(values, None)], exc)
                if self.fail_closed:
                    raise AuditUnavailable("audit trail write failed") from None
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((values, future))
        if not self._scheduled and not self._inflight:
            self._scheduled = True
            loop.call_soon(self._flush)
        await future

    def _flush(self) -> None:
        self._scheduled = False
        if self._inflight:
            return  # the running write reschedules when it ends
        batch, self._pending = self._pending, []
        if not batch:
            return
        values = [v for v, _ in batch]
        if self.db.is_sqlite:
            # Inline: a WAL append of a few pages, cheaper than a thread hand-off.
            try:
                self.write_batch(values)
            except Exception as exc:
                self._settle(batch, exc)
            else:
                self._settle(batch, None)
            return
        # PostgreSQL: the round trip and the commit's WAL flush run on a writer thread, so the
        # loop keeps answering; whatever queues meanwhile is the next batch (group commit).
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        self._inflight = True
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self._executor, self.write_batch, values)
        done.add_done_callback(lambda f: self._written(loop, batch, f))

    def _written(self, loop: asyncio.AbstractEventLoop, batch: list, done: asyncio.Future) -> None:
        self._inflight = False
        self._settle(batch, RuntimeError("audit write cancelled") if done.cancelled() else done.exception())
        if self._pending and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)

    def _settle(self, batch: list, exc: Optional[BaseException]) -> None:
        if exc is not None:
            self._close()
            # Never the exception text: a driver message can quote the row (the user agent,
            # the encryption context...).  The class and SQLSTATE are enough to diagnose.
            state = getattr(exc, "sqlstate", None)
            where = f"{type(exc).__name__}" + (f", SQLSTATE {state}" if state else "")
            if self.fail_closed:
                log.error("audit trail write failed (%s); refusing %d request(s)", where, len(batch))
                for _, future in batch:
                    if future is not None and not future.done():
                        future.set_exception(AuditUnavailable("audit trail write failed"))
                return
            log.error("audit trail write failed (%s); %d event(s) NOT recorded (failing open)", where, len(batch))
        for _, future in batch:
            if future is not None and not future.done():
                future.set_result(None)

    def write_batch(self, batch: list[list]) -> None:
        """Write prepared events (from `_fields`) in one transaction (synchronous)."""
        if self.db.is_sqlite:
            self._write_sqlite(batch)
        else:
            self._write_postgres(batch)

    def _chain(self, last_seq: int, last_mac: str, batch: list[list]) -> tuple[list[tuple], int, str]:
        rows = []
        key = self._key
        for values in batch:
            last_seq += 1
            mac = compute_mac(key, last_mac, last_seq, values)
            rows.append((last_seq, *values, last_mac, mac))
            last_mac = mac
        return rows, last_seq, last_mac

    def _write_sqlite(self, batch: list[list]) -> None:
        # The connection that watches `PRAGMA data_version` for the caches: its own commits
        # don't change the value it reads, so an audit write doesn't drop every cache (any
        # other connection's commit would, on every request).
        conn = self.db._monitor_conn
        if conn is None:
            self.db.change_token()
            conn = self.db._monitor_conn
        if conn is not self._conn:
            conn.execute("PRAGMA synchronous=NORMAL")  # see the module docstring
            conn.execute("PRAGMA busy_timeout=30000")
            self._conn = conn
        for _ in range(50):
            if self._last is None:
                last = conn.execute("SELECT seq, mac FROM audit_event ORDER BY seq DESC LIMIT 1").fetchone()
                self._last = (int(last[0]), last[1]) if last else (0, GENESIS_MAC)
            rows, last_seq, last_mac = self._chain(self._last[0], self._last[1], batch)
            checkpoint = last_seq >= self._checkpoint_seq + self._checkpoint_every
            try:
                if len(rows) == 1 and not checkpoint:
                    # One statement, its own transaction: the cheapest durable append.
                    conn.execute(_INSERT_SQLITE, rows[0])
                else:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        conn.executemany(_INSERT_SQLITE, rows)
                        if checkpoint:
                            # The head is a checkpoint, not updated per event: one B-tree page
                            # less per commit.  verify() requires every event up to it.
                            conn.execute("UPDATE audit_head SET last_seq = ?, last_mac = ? WHERE id = 1",
                                         (last_seq, last_mac))
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
            except sqlite3.IntegrityError:
                # Another process extended the chain since we last looked (its seq is taken):
                # re-read the tail and chain onto it.
                self._last = None
                continue
            except BaseException:
                self._last = None
                raise
            self._last = (last_seq, last_mac)
            if checkpoint:
                self._checkpoint_seq = last_seq
            return
        raise RuntimeError("audit chain kept moving; gave up")

    def _write_postgres(self, batch: list[list]) -> None:
        """One autocommit statement per batch: a conditional UPDATE of the head (which takes
        its row lock, like SELECT ... FOR UPDATE) feeding the INSERT.  The macs are computed
        from the head as last seen; if another process moved it, the UPDATE matches no row
        (PostgreSQL re-checks the condition after waiting for the lock), nothing is inserted,
        and we re-read the head and try again."""
        conn = self._conn
        if conn is None:
            import psycopg

            from kms_core.storage.session import _psycopg_dsn

            conn = psycopg.connect(_psycopg_dsn(self.db.url), autocommit=True)
            self._conn = conn
            self._head = None
        sql = _pg_append_sql(len(batch))
        with conn.cursor() as cur:
            for _ in range(50):
                if self._head is None:
                    cur.execute("SELECT last_seq, last_mac FROM audit_head WHERE id = 1")
                    head = cur.fetchone()
                    if head is None:
                        raise RuntimeError("audit_head row is missing")
                    self._head = (int(head[0]), head[1])
                seq, mac = self._head
                rows, last_seq, last_mac = self._chain(seq, mac, batch)
                params: list = [last_seq, last_mac, seq, mac]
                for row in rows:
                    params.extend(row)
                cur.execute(sql, params, prepare=True)
                if cur.rowcount == len(batch):
                    self._head = (last_seq, last_mac)
                    return
                self._head = None  # another writer extended the chain: re-read and retry
        raise RuntimeError("audit head kept moving; gave up")

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not self.db.is_sqlite:  # SQLite: the Database owns it
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._close()


# --- verification ------------------------------------------------------------------------
@dataclass
class VerifyResult:
    ok: bool
    count: int
    first_broken_seq: Optional[int] = None
    reason: Optional[str] = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.count} events"
        return f"audit trail BROKEN at seq {self.first_broken_seq}: {self.reason}"


def _raw_connection(db):  # type: ignore[no-untyped-def]
    return db.read_engine.connect()


def _iter_rows(db, upto: int, page: int = 5000) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    after = -(1 << 62)
    sql = text("SELECT " + ", ".join(COLUMNS) + " FROM audit_event WHERE seq > :after AND seq <= :upto "
               "ORDER BY seq LIMIT :page")
    with _raw_connection(db) as conn:
        while True:
            rows = conn.execute(sql, {"after": after, "upto": upto, "page": page}).all()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]


def verify(db, root) -> VerifyResult:  # type: ignore[no-untyped-def]
    """Walk the chain by seq; name the first broken link and why."""
    from sqlalchemy import text

    key = root.derive(CHAIN_LABEL)
    with _raw_connection(db) as conn:
        head = conn.execute(text("SELECT last_seq, last_mac FROM audit_head WHERE id = 1")).first()
    if head is None:
        return VerifyResult(False, 0, 0, "the audit_head row is missing")
    head_seq, head_mac = int(head[0]), head[1]
    expected_seq, expected_prev, count = 1, GENESIS_MAC, 0
    for row in _iter_rows(db, 1 << 62):
        seq, values, prev_mac, mac = int(row[0]), list(row[1:15]), row[15], row[16]
        values[0] = float(values[0])
        if seq != expected_seq:
            missing = (f"seq {expected_seq}" if seq == expected_seq + 1
                       else f"seqs {expected_seq}..{seq - 1}")
            return VerifyResult(False, count, expected_seq,
                                f"{missing} missing (deleted); the next stored event is seq {seq}")
        if not hmac.compare_digest(compute_mac(key, prev_mac, seq, values), mac):
            return VerifyResult(False, count, seq, "the event's contents or seq were altered (mac mismatch)")
        if prev_mac != expected_prev:
            return VerifyResult(False, count, seq, f"prev_mac does not match the mac of seq {seq - 1} "
                                "(an event was replaced, reordered or deleted)")
        if seq == head_seq and not hmac.compare_digest(mac, head_mac):
            return VerifyResult(False, count, seq, "the event at the head checkpoint is not the one the head "
                                "recorded (the chain was rewritten from here)")
        count += 1
        expected_seq, expected_prev = seq + 1, mac
    if count < head_seq:
        return VerifyResult(False, count, expected_seq,
                            f"the head checkpoint records {head_seq} events but the trail ends at seq "
                            f"{expected_seq - 1} (events deleted from the tail)")
    return VerifyResult(True, count)


# --- queries ---------------------------------------------------------------------------
def _decode(row: Any) -> dict:
    out = dict(zip(COLUMNS, row))
    for name in ("resources", "encryption_context", "detail"):
        if out[name] is not None:
            try:
                out[name] = json.loads(out[name])
            except ValueError:
                pass
    if out["resources"] is None:
        out["resources"] = []
    return out


def query(db, since: Optional[float] = None, until: Optional[float] = None,  # type: ignore[no-untyped-def]
          principal: Optional[str] = None, key: Optional[str] = None, event_name: Optional[str] = None,
          limit: Optional[int] = None) -> list[dict]:
    """Matching events, oldest first; with `limit`, the most recent `limit` of them.

    `key`: a key ARN (matched exactly among the resources) or a key id (any key ARN ending
    in `:key/<id>`)."""
    from sqlalchemy import and_, column, select, table

    t = table("audit_event", *[column(c) for c in COLUMNS])
    conds = []
    if since is not None:
        conds.append(t.c.event_time >= since)
    if until is not None:
        conds.append(t.c.event_time <= until)
    if principal:
        conds.append(t.c.principal_arn == principal)
    if event_name:
        conds.append(t.c.event_name == event_name)
    if key:
        needle = _json(key) if key.startswith("arn:") else _json(":key/" + key)[1:]
        conds.append(t.c.resources.contains(needle, autoescape=True))
    stmt = select(*[t.c[c] for c in COLUMNS])
    if conds:
        stmt = stmt.where(and_(*conds))
    if limit is not None:
        stmt = stmt.order_by(t.c.seq.desc()).limit(limit)
    else:
        stmt = stmt.order_by(t.c.seq)
    with _raw_connection(db) as conn:
        rows = conn.execute(stmt).all()
    if limit is not None:
        rows.reverse()
    return [_decode(r) for r in rows]
