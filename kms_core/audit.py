"""The audit trail: one structured event per request, in an append-only, hash-chained table.

Every row carries `mac = HMAC-SHA256(K, prev_mac || canonical(row))` where `K` is derived
from the root key (`root.derive(b"audit-chain-v2")`; rows written before the head was
authenticated used `b"audit-chain-v1"`, see below) and `prev_mac` is the previous row's mac
(the genesis value is 64 zeros).  Someone with write access to the database but not the
root key can neither edit, delete nor reorder rows without `verify()` noticing, and can't
forge new macs.

The authenticated head.  A chain alone can't show that its newest events are gone: the
rows left over are still a valid chain.  So `audit_head` (one row) holds the last event's
seq and mac plus `head_mac = HMAC-SHA256(K_head, "audit-head-v1|<seq>|<mac>")`, with `K_head
= root.derive(b"audit-head-v1")`.  Every append moves the head in the same transaction that
inserts the events (SQLite: a trigger of the writer's connection moves it within each event's
INSERT; PostgreSQL: one
statement whose conditional UPDATE of the head feeds the INSERT), and the head's row lock
(PostgreSQL) or the database write lock (SQLite) makes several server processes sharing one
database extend a single chain.  `verify()` reads the head and the highest stored seq in
one snapshot and requires the head's tag to be valid and the head to be exactly the last
event: deleting any suffix (the last event, the last N, everything) is reported, and so is
rewriting the head without the root key (it can't make a valid tag for the seq it would
need to point at) or nulling its tag once any event was written under `audit-chain-v2`.

What this does NOT defend against: someone with write access to the database who deletes
the newest events AND writes back an older copy of the whole head row (from a backup, a
replica or an earlier read; a rollback) leaves a trail that is indistinguishable from the
one that existed back then (chain 0 cut back below another chain's start is the exception:
that chain's events give it away, see Chains).  The same goes for rolling the whole database back, and for
wiping every event together with the head's tag (which looks like a fresh install, or, if
only `audit-chain-v1` rows remain, like a store never written by this version).  Only a
copy of the head kept outside the database (shipped to a log service, a WORM bucket, a
ticket) catches those: compare it with `SELECT last_seq, last_mac FROM audit_head`.
Anyone holding the root key can of course forge anything.

Chains.  One chain serializes its writers: each append extends the one tail.  So every
server process (each `--workers` worker, each process sharing a PostgreSQL database)
claims a chain of its own at start (`claim_chain`: the first chain no running process
holds, by an flock of `<trail file>.lock` on SQLite and a session advisory lock on
PostgreSQL; the OS or the server drops it when the process ends, and the next process
reuses the chain).  Chain c's events have seqs in (c << 40, (c + 1) << 40) and its head is
`audit_head.id = c + 1`; chain 0 is the one earlier versions wrote.  On SQLite each chain
has a trail file of its own (`paramstore-audit-<c>.db`, named in the store's `ps_meta`),
since one file has one write lock.  Each chain is a complete chain as described above
(its own macs, which bind its seqs, and its own authenticated head), and a chain shared by
two processes (a lock lost on reconnect, an earlier version) stays correct, as chain 0
always was.  A chain other than 0 is recorded in chain 0 (`AuditChainOpened`, detail
`{"chain": c}`) before its first event, so deleting a chain whole (its events and head,
or its file) is reported: chain 0 names it.  Reading the trail merges the chains by event
time.

Upgrading.  A head written by an earlier version has no tag (NULL): until this version
writes its first event (which seals the head), `verify()` checks such a trail the old way
(the head as a lower bound: every event up to it must be there, unchanged) and says that
the tail is not covered.  Events written under `audit-chain-v2` can't be passed off as
old ones (their macs only verify under the v2 key), so once any exists a NULL tag is a
failure.  Stop servers of the earlier version before upgrading: they don't move the tag.

Writes go on dedicated connections (not `db.write()`: that would bump `ps_epoch` and drop
every cache on every request).  On SQLite each event is one short transaction written
inline (the INSERT, chained onto the tail this process last wrote, whose trigger moves the head;
a seq taken by another process means re-read and retry).  On PostgreSQL writes are
group-committed: `append()` queues the event and one flush per event-loop turn writes
everything queued in ONE statement on a writer thread.

* SQLite: the trail has a database file of its own (kms_core/storage/audit_file.py: a
  SQLite file has one write lock, and the trail must not wait on the store's), one
  two connections per thread (WAL mode): `synchronous=NORMAL` for most records, FULL for
  the periodic durable commit that lets the outbox forget (see write_in_transaction: the
  record of a change commits with the change, in the store's `audit_outbox`).
  A committed audit event survives a crash of the server process; after a power loss or OS
  crash the last few audit commits of requests that changed nothing (those not yet followed
  by a WAL checkpoint or a FULL commit) may be lost, together with the head moves that came
  with them (the trail stays verifiable); those of changes are still in the outbox.  This
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
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import psycopg

from kms_core.crypto.keyed_hash import HmacSha256Key
from kms_core.storage import audit_file, audit_queries
from kms_core.storage.audit_queries import COLUMNS
from kms_core.storage.audit_file import GENESIS_MAC
from kms_core.storage.connect import is_timeout, postgres_connect_args, psycopg_dsn

log = logging.getLogger("paramstore.audit")



def _prepared(key: "bytes | HmacSha256Key") -> HmacSha256Key:
    """The writer prepares its keys once; verify() and tests may pass raw bytes."""
    return key if type(key) is HmacSha256Key else HmacSha256Key(key)  # type: ignore[arg-type]  # `type(x) is` does not narrow for mypy

#: the chain key of events written by this version (their macs mark them as such)
CHAIN_LABEL = b"audit-chain-v2"
#: the chain key of events written before the head was authenticated (verify() only)
LEGACY_CHAIN_LABEL = b"audit-chain-v1"
#: the key of the head's tag
HEAD_LABEL = b"audit-head-v1"
MAX_USER_AGENT = 512


_INSERT_SQLITE = ("INSERT INTO audit_event (" + ", ".join(COLUMNS) + ") VALUES ("
                  + ", ".join("?" * len(COLUMNS)) + ")")
_INSERT_PG = ("INSERT INTO audit_event (" + ", ".join(COLUMNS) + ") VALUES ("
              + ", ".join(["%s"] * len(COLUMNS)) + ")")
#: SQLite: a change's record goes into the store's `audit_outbox` in the change's own
#: transaction (see "The outbox" in AuditLog.write_in_transaction)
_OUTBOX_INSERT = ("INSERT INTO audit_outbox (" + ", ".join(audit_file.EVENT_FIELDS) + ") VALUES ("
                  + ", ".join("?" * len(audit_file.EVENT_FIELDS)) + ")")
#: moved records are made durable in the trail (a FULL commit, which syncs its whole WAL)
#: at least every this many records or seconds; only then do their outbox rows go
OUTBOX_SYNC_EVERY = 64
OUTBOX_SYNC_SECONDS = 1.0
#: an outbox row older than this (or 4 database timeouts, if longer) was not moved by the
#: process that wrote it (it died, or the trail refused the record): the sweeper moves it
OUTBOX_ORPHAN_SECONDS = 60.0
#: SQLite: the head moves inside each event's INSERT (a TEMP trigger: it lives on the audit
#: writer's connection, where the tag function is registered, and nowhere else).  A missing
#: head row (the migration makes it; nothing deletes it) is what verify() reports.
_HEAD_TRIGGER_SQLITE = (
    "CREATE TEMP TRIGGER IF NOT EXISTS paramstore_audit_head_follows AFTER INSERT ON main.audit_event BEGIN "
    "UPDATE audit_head SET last_seq = NEW.seq, last_mac = NEW.mac, "
    "head_mac = paramstore_audit_head_tag(NEW.seq, NEW.mac) WHERE id = {head_id}; END")
#: the event chain 0 records when another chain starts (verify() then requires that chain)
CHAIN_OPENED = "AuditChainOpened"
#: pg_advisory_lock class of the chain locks (objid: the chain)
_PG_CHAIN_LOCK_CLASS = 0x70617564
#: PostgreSQL: the newest event of one chain (base < seq < next base), and the head with it
_PG_TAIL = "SELECT seq, mac FROM audit_event WHERE seq > %s AND seq < %s ORDER BY seq DESC LIMIT 1"

_PG_CASTS = ("bigint", "float8") + ("text",) * 15
_PG_ROW = "(" + ", ".join(f"%s::{t}" for t in _PG_CASTS) + ")"
_pg_sql_cache: dict[int, str] = {}


def _pg_append_sql(n: int) -> str:
    sql = _pg_sql_cache.get(n)
    if sql is None:
        sql = ("WITH h AS (UPDATE audit_head SET last_seq = %s, last_mac = %s, head_mac = %s "
               "WHERE id = %s AND last_seq = %s AND last_mac = %s RETURNING id) "
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


def _resources_json(resources: Any) -> str:
    """`_json(list(resources))`, without the encoder for the usual case: ARNs that need no
    escaping (printable ASCII, no quote or backslash) give the same text joined directly."""
    items = list(resources)
    for item in items:
        if type(item) is not str or not (item.isascii() and item.isprintable()) or '"' in item or "\\" in item:
            return _json(items)
    return '["' + '","'.join(items) + '"]'


def _fields(e: AuditEvent) -> list:
    """The 14 stored fields event_time..detail (COLUMNS[1:15]) of an event.

    Fields a client controls (target, region, access key id, user agent) are cleaned; the
    request id, event source, account, principal ARN, source IP and error code are the
    server's own values."""
    return [
        float(e.event_time), e.request_id, e.event_source, _clean(e.event_name, 128),
        _clean(e.region, 32), e.account_id, e.principal_arn,
        _clean(e.access_key_id, 128), e.source_ip, _clean(e.user_agent, MAX_USER_AGENT),
        _resources_json(e.resources) if e.resources else None,
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


def compute_mac(key: "bytes | HmacSha256Key", prev_mac: str, seq: int, values: Any) -> str:
    return _prepared(key).digest(prev_mac.encode("ascii") + b"|" + _canonical(seq, values)).hex()


def head_tag(head_key: "bytes | HmacSha256Key", seq: int, mac: str) -> str:
    """The head's tag: binds the last seq to the last event's mac under a key of its own, so
    the tag can't be copied from (or computed out of) any event row."""
    return _prepared(head_key).digest(b"audit-head-v1|%d|%s" % (seq, mac.encode("ascii"))).hex()


# --- events written inside the change's own transaction ---------------------------------
class _Pending(threading.local):
    """The request running on this thread whose event is still to be written (a change
    commits it in its own transaction), and whether that happened."""

    log: "Optional[AuditLog]" = None
    make_event: "Optional[Callable[[], AuditEvent]]" = None
    written = False
    #: set while a request makes something on the side (a service key on first use)
    side_change: Optional[dict] = None


_pending = _Pending()


def begin_request(log: "AuditLog", make_event: Callable[[], AuditEvent]) -> None:
    """Before a request's handler runs on this thread: any write transaction it commits
    carries the request's event (`make_event()`, built at commit time)."""
    _pending.log, _pending.make_event, _pending.written = log, make_event, False


def end_request() -> bool:
    """After the handler: whether a committed transaction carried the request's event (then
    the caller appends it again only if the request ended in an error)."""
    written = _pending.written
    _pending.log = _pending.make_event = None
    return written


@contextmanager
def side_change(what: dict) -> Iterator[None]:
    """Write transactions inside this block make something the request needs on the way
    (an AWS-managed or service-owned key on first use): their record is the request's
    event with `detail.sideChange` and `detail.partOfRequest`, and the request's own event
    still goes with its own change."""
    outer, _pending.side_change = _pending.side_change, what
    try:
        yield
    finally:
        _pending.side_change = outer


def record_in_transaction(run: Callable[[str, tuple], Any], postgres: bool, service_events: Any = (),
                          service_log: "Optional[AuditLog]" = None) -> Optional[Callable[[], None]]:
    """Called by every write transaction just before its COMMIT, with `run(sql, params)`
    executing on that transaction (driver placeholders: `?` SQLite, `%s` PostgreSQL).
    Inside a request, the request's event goes with the change, in the same transaction
    (PostgreSQL: into the trail; SQLite: into the store's outbox, see
    `AuditLog.write_in_transaction`), and an audit insert refused rolls the change back.
    The first transaction of a request carries its event; later ones in the same
    request carry it again with `detail.partOfRequest` (and `detail.sideChange` for what
    `side_change` marks), so each committed change has a record of its own.

    `service_events`: what the service itself did in this transaction (a key deleted at the
    end of its waiting period, an automatic rotation, a parameter expired), written by
    `service_log` (the request's log if there is one).

    Returns what the caller runs once the transaction has committed (SQLite: the records
    move to the trail file), or None."""
    log, make_event = _pending.log, _pending.make_event
    staged: list = []
    if service_events:
        writer = log or service_log
        if writer is None:
            raise RuntimeError("a service change has no audit trail to go to")
        for service_event in service_events:
            staged.append(writer.write_in_transaction(run, postgres, _fields(service_event)))
    if log is not None and make_event is not None:
        event = make_event()
        side = _pending.side_change
        if side is not None:
            event.detail = {**(event.detail or {}), "sideChange": side, "partOfRequest": event.request_id}
        elif _pending.written:
            event.detail = {**(event.detail or {}), "partOfRequest": event.request_id}
        staged.append(log.write_in_transaction(run, postgres, _fields(event)))
        if side is None:
            _pending.written = True
    staged = [item for item in staged if item is not None]
    if not staged:
        return None
    writer = staged[0][0]  # one log per transaction: the request's, or the service's
    return lambda: writer.move_out([item[1:] for item in staged])


# --- the writer ------------------------------------------------------------------------
class AuditLog:
    """`await append(event)` returns once the event is committed (or, failing open, logged as lost)."""

    def __init__(self, db, root, clock, fail_closed: bool = True, chain: int = 0) -> None:
        self.db, self.root, self.clock, self.fail_closed = db, root, clock, fail_closed
        self._set_chain(chain)
        self._chain_lock: Optional[int] = None  # SQLite: the flock held on this chain's lock file
        self._claimed = False  # PostgreSQL: this log holds its chain's advisory lock
        self._key = HmacSha256Key(root.derive(CHAIN_LABEL))
        self._head_key = HmacSha256Key(root.derive(HEAD_LABEL))
        self._pending: list[tuple[list, Optional[asyncio.Future]]] = []
        self._scheduled = False
        self._conn: Any = None
        self._head: Optional[tuple[int, str]] = None  # PostgreSQL: the head as last written/seen
        self._inflight = False  # PostgreSQL: a batch is being written on the writer thread
        self._executor: Any = None
        self._last: Optional[tuple[int, str]] = None  # the chain's tail as last written/seen
        self._last_time = 0.0  # the latest event time appended by this process
        #: runs blocking work off the event loop (SQLite appends that must wait for the lock)
        self.worker: Any = None
        self._sqlite_conns = threading.local()  # SQLite: each thread's connection to the trail file
        self._all_sqlite_conns: list = []
        self._lock = threading.Lock()
        self._adopted = False
        # SQLite outbox: ids of rows whose records are in the trail (unsynced: not yet known
        # to be on disk there; synced: on disk, so the rows can go with the next change)
        self._outbox_unsynced: set[int] = set()
        self._outbox_synced: set[int] = set()
        self._outbox_synced_at = 0.0  # time.monotonic() of the last durable trail commit

    async def append(self, event: AuditEvent, wait: bool = True) -> None:
        """`wait=False`: don't wait for SQLite's write lock (the request already failed on
        a stalled database; waiting again would only double its time)."""
        values = self._not_before_last(_fields(event))
        if self.db.is_sqlite:
            # SQLite: write now, inline.  Batching across requests measured ~1.3 events per
            # commit even at 4 concurrent clients (handlers run to completion one at a time),
            # which doesn't pay for a future and an extra event-loop turn per request.
            # If the write lock is taken (a change in progress, another process), the
            # database worker waits for it instead of the event loop.
            try:
                try:
                    self.write_batch([values])
                except sqlite3.OperationalError as exc:
                    if self.worker is None or not wait or not is_timeout(exc):
                        raise
                    await self.worker.run(self._write_sqlite, [values])
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

    def _not_before_last(self, values: list) -> list:
        """Event times never go backwards within a process, even when the wall clock steps
        back (NTP, a VM resumed): the trail's order and its times agree."""
        if values[0] < self._last_time:
            values[0] = self._last_time
        else:
            self._last_time = values[0]
        return values

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

    def _set_chain(self, chain: int) -> None:
        """The chain this log appends to (see "Chains" in the module docstring)."""
        self.chain = chain
        self._base = audit_file.chain_base(chain)
        self._next_base = audit_file.chain_base(chain + 1)
        self._head_id = audit_file.head_id(chain)
        #: this thread-local's attribute names of the chain's two connections (per request: no formatting)
        self._conn_names = {False: f"conn_{chain}", True: f"durable_{chain}"}

    def _sqlite_connection(self, durable: bool, chain: Optional[int] = None) -> Any:
        """This thread's connection to the trail file (kms_core/storage/audit_file.py), with
        the busy_timeout the database gives this thread (`busy_timeout_for_thread`): on the
        event loop it doesn't wait for the file's write lock (the worker waits instead).
        A thread has two: `durable` commits with synchronous=FULL (a change's record), the
        other with NORMAL (a read's), each set once rather than switched per commit."""
        conns = self._sqlite_conns
        if chain is None:
            chain, name = self.chain, self._conn_names[durable]
        else:
            name = ("durable_" if durable else "conn_") + str(chain)
        conn = getattr(conns, name, None)
        if conn is not None:
            busy = self.db.busy_timeout_for_thread()
            if busy != getattr(conns, name + "_busy"):  # the loop, once its request has committed something
                conn.execute(f"PRAGMA busy_timeout={busy}")
                setattr(conns, name + "_busy", busy)
            return conn
        if not self._adopted:
            if not audit_file.trail_in_file(self.db):
                audit_file.adopt(self.db)
            self._adopted = True
        busy = self.db.busy_timeout_for_thread()
        setattr(conns, name + "_busy", busy)
        conn = audit_file.connect(audit_file.audit_file_path(self.db.sqlite_path, chain), busy, durable, chain)
        # The head follows every insert in the same statement (a trigger of this
        # connection, with the tag computed here): one autocommit INSERT per event, as
        # cheap as the INSERT alone was, and the head can't lag behind the events.
        head_key = self._head_key
        conn.create_function("paramstore_audit_head_tag", 2,
                             lambda seq, mac: head_tag(head_key, seq, mac), deterministic=True)
        conn.execute(_HEAD_TRIGGER_SQLITE.format(head_id=audit_file.head_id(chain)))
        setattr(conns, name, conn)
        with self._lock:
            self._all_sqlite_conns.append(conn)
        return conn

    def _write_sqlite(self, batch: list[list], durable: bool = False) -> None:
        """`durable`: the record of a change, on disk (FULL) before the change commits; a
        request's own record may wait for the next durable commit or checkpoint."""
        self._insert_sqlite(self._sqlite_connection(durable), batch)

    def _insert_sqlite(self, conn: Any, batch: list[list]) -> None:
        for _ in range(50):
            last = self._last  # a local: the loop and the worker may both append
            if last is None:
                row = conn.execute("SELECT seq, mac FROM audit_event ORDER BY seq DESC LIMIT 1").fetchone()
                last = (int(row[0]), row[1]) if row else (self._base, GENESIS_MAC)
            rows, last_seq, last_mac = self._chain(last[0], last[1], batch)
            try:
                if len(rows) == 1:
                    conn.execute(_INSERT_SQLITE, rows[0])
                else:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        conn.executemany(_INSERT_SQLITE, rows)
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
            except sqlite3.IntegrityError as exc:
                self._last = None
                if "UNIQUE" not in str(exc):
                    raise  # refused (a trigger, a constraint): not a race
                # Another writer (process or thread) extended the chain since we last
                # looked (its seq is taken): re-read the tail.
                continue
            except BaseException:
                self._last = None
                raise
            self._last = (last_seq, last_mac)
            return
        raise RuntimeError("audit chain kept moving; gave up")

    def _postgres_connection(self) -> Any:
        """The writer's own autocommit connection; it holds this chain's advisory lock (taken
        again after a reconnect; if another process took it meanwhile, both extend the chain
        through the head's compare-and-set, as with one shared chain)."""
        conn = self._conn
        if conn is None:
            conn = psycopg.connect(psycopg_dsn(self.db.url), autocommit=True, **postgres_connect_args(self.db.timeout))
            self._conn = conn
            self._head = None
            if self._claimed:
                conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_PG_CHAIN_LOCK_CLASS, self.chain))
        return conn

    def claim_chain(self) -> int:
        """A server process takes a chain no other running process writes (the first free
        one; chain 0 when it runs alone) so that processes don't contend for one head.
        A chain other than 0, started afresh, is first recorded in chain 0 (CHAIN_OPENED),
        so that verify() misses it if it is ever deleted whole.  Returns the chain."""
        chain = 0
        if self.db.is_sqlite:
            if self.db.sqlite_path is None:
                return 0
            self._sqlite_connection(durable=False, chain=0)  # chain 0's file exists (adopted)
            for candidate in range(audit_file.MAX_CHAINS):
                fd = audit_file.try_lock_chain(self.db.sqlite_path, candidate)
                if fd is not None:
                    chain, self._chain_lock = candidate, fd
                    break
            self._set_chain(chain)
            self._last = None
            if chain:
                audit_file.register_chain(self.db, chain)
            head = self._sqlite_connection(durable=False).execute(
                "SELECT last_seq FROM audit_head WHERE id = ?", (self._head_id,)).fetchone()
        else:
            conn = self._postgres_connection()
            for candidate in range(audit_file.MAX_CHAINS):
                if conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                (_PG_CHAIN_LOCK_CLASS, candidate)).fetchone()[0]:
                    chain = candidate
                    break
            self._set_chain(chain)
            self._claimed = True
            self._head = self._last = None
            conn.execute("INSERT INTO audit_head (id, last_seq, last_mac) VALUES (%s, %s, %s) "
                         "ON CONFLICT (id) DO NOTHING", (self._head_id, self._base, GENESIS_MAC))
            head = conn.execute("SELECT last_seq FROM audit_head WHERE id = %s", (self._head_id,)).fetchone()
        if chain and head is not None and int(head[0]) == self._base:
            opened = AuditEvent(event_time=self.clock(), request_id=str(uuid.uuid4()), event_source="paramstore",
                                event_name=CHAIN_OPENED, detail={"chain": chain})
            recorder = AuditLog(self.db, self.root, self.clock, chain=0)
            try:
                recorder.write_batch([_fields(opened)])
            finally:
                recorder.close()
        return chain

    def _write_postgres(self, batch: list[list]) -> None:
        """One autocommit statement per batch: a conditional UPDATE of the head (which takes
        its row lock, like SELECT ... FOR UPDATE) feeding the INSERT.  The macs are computed
        from the head as last seen; if another process moved it, the UPDATE matches no row
        (PostgreSQL re-checks the condition after waiting for the lock), nothing is inserted,
        and we re-read the head and try again.  (The chain continues from the last stored
        event, read with the head: normally the head itself, but a head written by an
        earlier version may lag behind it.)"""
        conn = self._postgres_connection()
        sql = _pg_append_sql(len(batch))
        with conn.cursor() as cur:
            for _ in range(50):
                if self._head is None:
                    cur.execute("SELECT h.last_seq, h.last_mac, t.seq, t.mac FROM audit_head h LEFT JOIN "
                                f"({_PG_TAIL}) t ON true WHERE h.id = %s",
                                (self._base, self._next_base, self._head_id))
                    head = cur.fetchone()
                    if head is None:
                        raise RuntimeError("audit_head row is missing")
                    self._head = (int(head[0]), head[1])
                    self._last = (int(head[2]), head[3]) if head[2] is not None else (self._base, GENESIS_MAC)
                seq, mac = self._head
                rows, last_seq, last_mac = self._chain(*(self._last or self._head), batch)
                params: list = [last_seq, last_mac, head_tag(self._head_key, last_seq, last_mac),
                                self._head_id, seq, mac]
                for row in rows:
                    params.extend(row)
                cur.execute(sql, params, prepare=True)
                if cur.rowcount == len(batch):
                    self._head = self._last = (last_seq, last_mac)
                    return
                self._head = None  # another writer extended the chain: re-read and retry
        raise RuntimeError("audit head kept moving; gave up")

    def write_in_transaction(self, run: Callable[[str, tuple], Any], postgres: bool,
                             values: list) -> Optional[tuple]:
        """Append one event for a change that is about to commit (see record_in_transaction).
        PostgreSQL: inside that transaction, whose COMMIT carries both; it takes the head's
        row lock until then, so the tail read here is the tail it extends.

        SQLite, the outbox.  The trail has its own file (kms_core/storage/audit_file.py),
        and two files can't share a commit.  So the record goes into the store's
        `audit_outbox`, in the change's own transaction: the change and its record commit
        together, with one fsync (a record in the trail file first cost a second one).
        Right after the commit, `move_out` appends it to the trail (the chain and head as
        for any event); the row is deleted by a later change's transaction once the trail
        holds the record on disk.  A process that dies in between, or a trail that refuses
        the record, leaves the row: the sweeper (`sweep_outbox`) moves it, once.  Returns
        what `move_out` needs (SQLite), or None."""
        values = self._not_before_last(values)
        if not postgres:
            with self._lock:
                cleared = tuple(sorted(self._outbox_synced)[:500])
            if cleared:
                run(f"DELETE FROM audit_outbox WHERE id IN ({', '.join('?' * len(cleared))})", cleared)
            return self, run(_OUTBOX_INSERT, tuple(values)).lastrowid, values, cleared
        head = run("SELECT last_seq, last_mac FROM audit_head WHERE id = %s FOR UPDATE", (self._head_id,)).fetchone()
        if head is None:
            raise RuntimeError("audit_head row is missing")
        # A statement of its own, after the lock, sees the latest committed tail.
        tail = run(_PG_TAIL, (self._base, self._next_base)).fetchone()
        last = (int(tail[0]), tail[1]) if tail else (self._base, GENESIS_MAC)
        rows, last_seq, last_mac = self._chain(last[0], last[1], [values])
        run(_INSERT_PG, rows[0])
        run("UPDATE audit_head SET last_seq = %s, last_mac = %s, head_mac = %s WHERE id = %s",
            (last_seq, last_mac, head_tag(self._head_key, last_seq, last_mac), self._head_id))
        # This process's group-commit writer holds the old head: its next append finds the
        # head moved, re-reads, and chains on.

    # --- SQLite: the outbox (see write_in_transaction) ---------------------------------
    def move_out(self, staged: list[tuple[int, list, tuple]]) -> None:
        """After a change's commit: its records (outbox id, values, ids its transaction
        deleted) into the trail.  A normal commit, except every OUTBOX_SYNC_EVERY records
        or OUTBOX_SYNC_SECONDS a FULL one, which puts all moved so far on disk.  A record
        the trail won't take now stays in the outbox for the sweeper: the change is
        committed and its record is safe, so the request is not failed for it."""
        now = time.monotonic()
        with self._lock:
            for item in staged:
                self._outbox_synced.difference_update(item[2])
            unsynced = set(self._outbox_unsynced)
            durable = (len(unsynced) + len(staged) >= OUTBOX_SYNC_EVERY
                       or now - self._outbox_synced_at >= OUTBOX_SYNC_SECONDS)
        try:
            self._write_sqlite([item[1] for item in staged], durable=durable)
        except Exception as exc:
            log.warning("audit: %d change record(s) left in the store's outbox for the sweeper (%s)",
                        len(staged), type(exc).__name__)
            return
        ids = {item[0] for item in staged}
        with self._lock:
            if durable:
                self._synced(unsynced | ids, now)
            else:
                self._outbox_unsynced |= ids

    def _synced(self, ids: set[int], at: float) -> None:
        """(under self._lock) `ids` are on disk in the trail: their rows may go."""
        self._outbox_unsynced -= ids
        self._outbox_synced |= ids
        self._outbox_synced_at = at

    def sweep_outbox(self) -> int:
        """The server's periodic sweep (SQLite): puts what this process moved on disk, and
        moves what nobody moved (outbox rows older than the orphan age that the trail
        doesn't hold), once even with several processes sweeping (under the trail's write
        lock).  Returns how many records it moved."""
        if not self.db.is_sqlite or self.db.sqlite_path is None:
            return 0
        now = time.monotonic()
        conn = self._sqlite_connection(durable=True)
        with self._lock:
            unsynced = set(self._outbox_unsynced)
        if unsynced:
            audit_file.sync_trail(conn)
            with self._lock:
                self._synced(unsynced, now)
        orphan_age = max(OUTBOX_ORPHAN_SECONDS, 4 * self.db.timeout)
        stale = audit_file.outbox_rows_before(self.db, self.clock() - orphan_age)
        with self._lock:  # rows this process moved and put on disk: just deleted
            settled = [row_id for row_id, _ in stale if row_id in self._outbox_synced]
            stale = [row for row in stale if row[0] not in self._outbox_synced]
        if settled:
            audit_file.delete_outbox_rows(self.db, settled)
            with self._lock:
                self._outbox_synced.difference_update(settled)
        if not stale:
            return 0
        # Chain 0's write lock serializes the sweepers of all processes; a record is looked
        # for in every chain (its writer may have moved it to its own).
        conn = self._sqlite_connection(durable=True, chain=0)
        conn.execute("BEGIN IMMEDIATE")
        try:
            missing = [values for _, values in stale if not audit_file.in_any_trail(self.db, conn, values, orphan_age)]
            if missing:
                tail = conn.execute("SELECT seq, mac FROM audit_event ORDER BY seq DESC LIMIT 1").fetchone()
                rows, last_seq, last_mac = self._chain(int(tail[0]) if tail else 0, tail[1] if tail else GENESIS_MAC,
                                                       missing)
                conn.executemany(_INSERT_SQLITE, rows)
            conn.execute("COMMIT")
        except BaseException:
            self._last = None
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._last = None  # re-read: the loop may have appended meanwhile on its own connection
        audit_file.delete_outbox_rows(self.db, [row_id for row_id, _ in stale])
        if missing:
            log.warning("audit: moved %d change record(s) left in the store's outbox to the trail", len(missing))
        return len(missing)

    def _close(self) -> None:
        """After a failed write: PostgreSQL reconnects (SQLite's connections stay; a failed
        autocommit statement leaves nothing open)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._close()
        with self._lock:
            conns, self._all_sqlite_conns = self._all_sqlite_conns, []
        self._sqlite_conns = threading.local()
        for conn in conns:
            try:
                conn.close()
            except Exception:
                pass
        lock, self._chain_lock = self._chain_lock, None
        if lock is not None:
            os.close(lock)  # releases the chain for the next process


# --- verification ------------------------------------------------------------------------
@dataclass
class VerifyResult:
    ok: bool
    count: int
    first_broken_seq: Optional[int] = None
    reason: Optional[str] = None
    #: on success: what the check could not cover (a head written by an earlier version)
    note: Optional[str] = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.count} events" + (f" ({self.note})" if self.note else "")
        return f"audit trail BROKEN at seq {self.first_broken_seq}: {self.reason}"


def _events(count: int) -> str:
    return "1 event" if count == 1 else f"{count} events"


class _ChainCheck:
    """The keys verify() checks macs and heads with."""

    def __init__(self, root: Any) -> None:
        self.key = HmacSha256Key(root.derive(CHAIN_LABEL))
        self.legacy_key = HmacSha256Key(root.derive(LEGACY_CHAIN_LABEL))
        self.head_key = HmacSha256Key(root.derive(HEAD_LABEL))


def _chain_opened(values: list) -> Optional[int]:
    """The chain a CHAIN_OPENED event of chain 0 records, if `values` is one."""
    if values[2] != "paramstore" or values[3] != CHAIN_OPENED or values[13] is None:
        return None
    try:
        chain = json.loads(values[13]).get("chain")
    except (ValueError, AttributeError):
        return None
    return chain if type(chain) is int else None


def verify(db, root) -> VerifyResult:
    """Walk each chain by seq; name the first broken link and why.  Then hold each chain's
    last event against its authenticated head (see the module docstring), and require every
    chain that chain 0 records as opened to be there."""
    check = _ChainCheck(root)
    heads, highest = audit_queries.chain_heads(db)
    if heads.get(0) is None:
        return VerifyResult(False, 0, 0, "the audit_head row is missing")
    opened: dict[int, int] = {}  # chain -> the seq of chain 0 that recorded its start
    result = _verify_chain(db, check, 0, heads[0], opened)
    total, note = result.count, result.note
    if not result.ok:
        return result
    for chain in sorted(set(heads) | set(opened)):
        if chain == 0:
            continue
        head = heads.get(chain)
        if head is None:
            where = f"seq {opened[chain]}" if chain in opened else "the store"
            return VerifyResult(False, total, audit_file.chain_base(chain) + 1,
                                f"audit chain {chain} (recorded at {where}) is missing: its trail file or head "
                                "was deleted, with every event in it")
        result = _verify_chain(db, check, chain, head, opened)
        if not result.ok:
            result.count += total
            result.reason = f"audit chain {chain}: {result.reason}"
            return result
        if result.count and chain not in opened:
            return VerifyResult(False, total, audit_file.chain_base(chain) + 1,
                                f"audit chain {chain} holds events but chain 0 does not record its start "
                                "(chain 0 was cut back, or an older copy of it was written back)")
        total += result.count
    if audit_file.chain_of(highest) not in heads:
        return VerifyResult(False, total, highest, f"seq {highest} belongs to audit chain "
                            f"{audit_file.chain_of(highest)}, which has no head (its head was deleted)")
    return VerifyResult(True, total, note=note)


def _verify_chain(db: Any, check: _ChainCheck, chain: int, head: tuple, opened: dict[int, int]) -> VerifyResult:
    """One chain: its events from the chain's base on, and its head.  Chain 0's CHAIN_OPENED
    events go into `opened`."""
    base = audit_file.chain_base(chain)
    head_seq, head_mac, tag = int(head[0]), head[1], head[2]
    stored_max = int(head[3]) if head[3] is not None else base
    sealed = tag is not None
    forged = sealed and not hmac.compare_digest(head_tag(check.head_key, head_seq, head_mac), tag)
    if not base <= head_seq < audit_file.chain_base(chain + 1):
        forged = True  # a head copied from another chain
    # A sealed head is the last event: an event beyond it in this snapshot was not written
    # with it.  (Later appends are beyond the snapshot and not walked.)  A forged head says
    # nothing: walk everything, and report it if the chain itself is intact.
    sealed = sealed and not forged
    upto = max(head_seq, min(stored_max, head_seq + 1)) if sealed else max(head_seq, stored_max)
    expected_seq, expected_prev, count = base + 1, GENESIS_MAC, 0
    v2 = False  # an event under the current chain key seen: no older one may follow
    for row in audit_queries.rows_upto(db, chain, upto):
        seq, values, prev_mac, mac = int(row[0]), list(row[1:15]), row[15], row[16]
        values[0] = float(values[0])
        if seq != expected_seq:
            missing = (f"seq {expected_seq}" if seq == expected_seq + 1
                       else f"seqs {expected_seq}..{seq - 1}")
            return VerifyResult(False, count, expected_seq,
                                f"{missing} missing (deleted); the next stored event is seq {seq}")
        if not v2 and chain == 0 and hmac.compare_digest(compute_mac(check.legacy_key, prev_mac, seq, values), mac):
            pass  # written by an earlier version
        elif hmac.compare_digest(compute_mac(check.key, prev_mac, seq, values), mac):
            v2 = True
        else:
            return VerifyResult(False, count, seq, "the event's contents or seq were altered (mac mismatch)")
        if prev_mac != expected_prev:
            return VerifyResult(False, count, seq, f"prev_mac does not match the mac of seq {seq - 1} "
                                "(an event was replaced, reordered or deleted)")
        if seq == head_seq and not forged and not hmac.compare_digest(mac, head_mac):
            return VerifyResult(False, count, seq, "the event at the head is not the one the head "
                                "recorded (the chain was rewritten from here)")
        if sealed and seq > head_seq:
            return VerifyResult(False, count, seq, f"events after seq {head_seq} are not covered by the "
                                "authenticated head (an older copy of the head was written back, or a "
                                "server that does not move the head wrote them)")
        if chain == 0:
            started = _chain_opened(values)
            if started is not None:
                opened.setdefault(started, seq)
        count += 1
        expected_seq, expected_prev = seq + 1, mac
    if forged:
        return VerifyResult(False, count, head_seq, "the audit head was altered: its tag does not match the seq "
                            "and mac it records (the head was rewritten without the root key)")
    if count < head_seq - base:
        gone = head_seq - base - count
        return VerifyResult(False, count, expected_seq,
                            f"{_events(gone)} deleted from the tail: the {'authenticated ' if sealed else ''}"
                            f"head records {_events(head_seq - base)} but the trail ends at seq {expected_seq - 1}")
    if not sealed and v2:
        return VerifyResult(False, count, expected_seq,
                            "the audit head is not authenticated although the trail holds events written "
                            "with an authenticated head (the head's tag was removed; events after seq "
                            f"{head_seq} may have been deleted)")
    if not sealed:
        if count == 0:
            return VerifyResult(True, 0, note="the head is not authenticated yet: no event recorded"
                                if chain == 0 else None)
        return VerifyResult(True, count, note=f"the head is not authenticated yet (written by an earlier "
                            f"version): removal of events after seq {head_seq} would go unnoticed until the "
                            "server records its next event")
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


def resource_needle(resource: str) -> str:
    """What `resources` (a JSON list) must contain for an event to touch `resource`: an ARN
    is matched exactly (the quoted list element); anything else is an SSM parameter name
    ("/myapp/prod/db-password" or "myapp/prod/db-password"), matched as any parameter ARN
    of that name in any region and account (`...:parameter/myapp/prod/db-password`)."""
    if resource.startswith("arn:"):
        return _json(resource)
    canonical = resource[1:] if resource.startswith("/") else resource
    # Names can't hold ':' or '"', so ':parameter/<name>"' only ends that parameter's ARN.
    return _json(":parameter/" + canonical)[1:]


def split_event_name(event_name: str) -> tuple[Optional[str], str]:
    """"kms:Decrypt" -> ("kms", "Decrypt") (as `paramstore audit ls` shows events);
    "Decrypt" -> (None, "Decrypt")."""
    service, sep, name = event_name.partition(":")
    if sep and name and service and all(c.isalnum() or c in "-." for c in service):
        return service, name
    return None, event_name


def query(db, since: Optional[float] = None, until: Optional[float] = None,
          principal: Optional[str] = None, key: Optional[str] = None, event_name: Optional[str] = None,
          limit: Optional[int] = None, resource: Optional[str] = None) -> list[dict]:
    """Matching events, oldest first; with `limit`, the most recent `limit` of them.

    `key`: a key ARN (matched exactly among the resources) or a key id (any key ARN ending
    in `:key/<id>`).  `resource`: an ARN or an SSM parameter name (`resource_needle`).
    `event_name`: "Decrypt", or "kms:Decrypt" for that event of that service only."""
    sources: tuple[str, ...] = ()
    name = None
    if event_name:
        service, name = split_event_name(event_name)
        if service is not None:
            # "kms" is kms.amazonaws.com; events of no known service have event_source "paramstore"
            service = service.lower()
            sources = (service if "." in service else service + ".amazonaws.com", service)
    needles = []
    if resource:
        needles.append(resource_needle(resource))
    if key:
        needles.append(_json(key) if key.startswith("arn:") else _json(":key/" + key)[1:])
    rows = audit_queries.matching_rows(db, since, until, principal, name, sources, tuple(needles), limit)
    return [_decode(r) for r in rows]
