"""Reading the audit trail back: the chain walk of `audit verify`, its head, and the
filtered listing of `audit query` (kms_core/audit.py decodes and checks what comes back).

Reads go on a connection of their own to wherever the trail lives (the SQLite trail file,
or the PostgreSQL database), never through a request's transaction."""

from __future__ import annotations

from typing import Any, Iterator, Optional

from sqlalchemy import and_, column, or_, select, table, text

from kms_core.storage import audit_file
from kms_core.storage.tables import AuditEventTable

#: column order for inserts, the canonical form and query results
COLUMNS: tuple[str, ...] = tuple(c.name for c in AuditEventTable.__table__.columns)  # type: ignore[attr-defined]  # SQLModel sets __table__ at class creation; mypy can't see it


def _connect(db: Any, chain: int = 0) -> Any:
    return audit_file.trail_engine(db, chain).connect()


def chains(db: Any) -> list[int]:
    """The store's chains: SQLite, one trail file each (those present); PostgreSQL, one
    head row each."""
    if audit_file.trail_in_file(db):
        return [chain for chain, path in audit_file.chain_files(db).items() if audit_file.inspect(path)[0]]
    with _connect(db) as conn:
        return [int(row[0]) - 1 for row in conn.execute(text("SELECT id FROM audit_head ORDER BY id"))]


def rows_upto(db: Any, chain: int, upto: int, page: int = 5000) -> Iterator[tuple]:
    """Every stored event of `chain` with seq <= `upto`, in seq order, a page at a time."""
    after = audit_file.chain_base(chain)
    upto = min(upto, audit_file.chain_base(chain + 1) - 1)
    sql = text("SELECT " + ", ".join(COLUMNS) + " FROM audit_event WHERE seq > :after AND seq <= :upto "
               "ORDER BY seq LIMIT :page")
    with _connect(db, chain) as conn:
        while True:
            rows = conn.execute(sql, {"after": after, "upto": upto, "page": page}).all()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]


#: one statement, one snapshot: each chain's head and its highest stored seq, and the
#: highest seq stored at all (an event of a chain without a head would be beyond them)
_HEADS = ("SELECT h.id, h.last_seq, h.last_mac, h.head_mac, "
          "(SELECT MAX(e.seq) FROM audit_event e WHERE e.seq > (h.id - 1) * :span AND e.seq < h.id * :span), "
          "(SELECT MAX(seq) FROM audit_event) FROM audit_head h")


def chain_heads(db: Any) -> tuple[dict[int, Optional[tuple]], int]:
    """({chain: (last_seq, last_mac, head_mac, highest stored seq of the chain) or None if
    its trail file is gone}, highest seq stored anywhere).  Each chain's row is read in
    one snapshot with its events: an append running meanwhile is wholly in it or out of it."""
    span = audit_file.chain_base(1)
    heads: dict[int, Optional[tuple]] = {}
    highest = 0
    if audit_file.trail_in_file(db):
        # Chain 0 last: a chain's start is recorded there before its first event, so a
        # chain read holding events has its record in chain 0 read after it.
        files = sorted(audit_file.chain_files(db).items(), key=lambda item: (item[0] == 0, item[0]))
        for chain, path in files:
            if not audit_file.inspect(path)[0]:
                heads[chain] = None
                continue
            with _connect(db, chain) as conn:
                for row in conn.execute(text(_HEADS), {"span": span}):
                    if int(row[0]) - 1 == chain:
                        heads[chain] = tuple(row[1:5])
                    highest = max(highest, int(row[5] or 0))
        return heads, highest
    with _connect(db) as conn:
        for row in conn.execute(text(_HEADS), {"span": span}):
            heads[int(row[0]) - 1] = tuple(row[1:5])
            highest = max(highest, int(row[5] or 0))
    return heads, highest


def matching_rows(db: Any, since: Optional[float] = None, until: Optional[float] = None,
                  principal: Optional[str] = None, event_name: Optional[str] = None,
                  event_sources: tuple[str, ...] = (), resource_needles: tuple[str, ...] = (),
                  limit: Optional[int] = None) -> list[tuple]:
    """Events matching every filter given, oldest first; with `limit`, the most recent
    `limit` of them.  `event_sources`: any of them; `resource_needles`: each must occur in
    the resources' JSON text."""
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
    if event_sources:
        conds.append(or_(*[t.c.event_source == source for source in event_sources]))
    for needle in resource_needles:
        conds.append(t.c.resources.contains(needle, autoescape=True))
    every = chains(db)
    rows: list = []
    for chain in every:
        where = list(conds)
        if len(every) > 1:  # each chain's seq range: its key's range scan
            where += [t.c.seq > audit_file.chain_base(chain), t.c.seq < audit_file.chain_base(chain + 1)]
        stmt = select(*[t.c[c] for c in COLUMNS])
        if where:
            stmt = stmt.where(and_(*where))
        stmt = stmt.order_by(t.c.seq.desc()).limit(limit) if limit is not None else stmt.order_by(t.c.seq)
        with _connect(db, chain) as conn:
            found = list(conn.execute(stmt).all())
        if limit is not None:
            found.reverse()
        rows += found
    if len(every) > 1:  # chains interleave in time; within one, seq order is time order
        rows.sort(key=lambda row: (row[1], audit_file.chain_of(row[0]), row[0]))
        if limit is not None:
            rows = rows[-limit:] if limit else []
    return rows
