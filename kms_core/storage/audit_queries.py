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


def _connect(db: Any) -> Any:
    return audit_file.trail_engine(db).connect()


def rows_upto(db: Any, upto: int, page: int = 5000) -> Iterator[tuple]:
    """Every stored event with seq <= `upto`, in seq order, a page at a time."""
    after = -(1 << 62)
    sql = text("SELECT " + ", ".join(COLUMNS) + " FROM audit_event WHERE seq > :after AND seq <= :upto "
               "ORDER BY seq LIMIT :page")
    with _connect(db) as conn:
        while True:
            rows = conn.execute(sql, {"after": after, "upto": upto, "page": page}).all()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]


def head_and_highest_seq(db: Any) -> Optional[tuple]:
    """(last_seq, last_mac, head_mac, highest stored seq) in one statement, so one
    snapshot: an append running meanwhile is wholly in it or wholly out of it."""
    with _connect(db) as conn:
        return conn.execute(text("SELECT last_seq, last_mac, head_mac, (SELECT MAX(seq) FROM audit_event) "
                                 "FROM audit_head WHERE id = 1")).first()


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
    stmt = select(*[t.c[c] for c in COLUMNS])
    if conds:
        stmt = stmt.where(and_(*conds))
    stmt = stmt.order_by(t.c.seq.desc()).limit(limit) if limit is not None else stmt.order_by(t.c.seq)
    with _connect(db) as conn:
        rows = list(conn.execute(stmt).all())
    if limit is not None:
        rows.reverse()
    return rows
