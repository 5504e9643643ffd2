"""Reading the audit trail back: the chain walk of `audit verify`, its head, the
filtered listing of `audit query` (kms_core/audit.py decodes and checks what comes back),
and one account's events a bounded range at a time (kms_core/audit_lookup.py pages them).

Reads go on a connection of their own to wherever the trail lives (the SQLite trail file,
or the PostgreSQL database), never through a request's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional

from sqlalchemy import and_, column, false, func, not_, or_, select, table, text

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


# --- one account's events, a bounded range at a time (CloudTrail LookupEvents) ---------------
@dataclass(frozen=True)
class TextMatch:
    """A text column's value is one of `exact`, or starts with one of `prefixes` and ends
    with `suffix` ("": any ending); `negate` inverts the whole match.

    Compared exactly and case-sensitively on both databases (substr and `=`, not LIKE,
    which SQLite compares without case)."""

    exact: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    suffix: str = ""
    negate: bool = False


#: the columns `account_rows` compares for equality (nothing else is ever named by a caller)
_EQUALS = frozenset({"event_name", "event_source", "access_key_id"})


def _starts(col: Any, prefix: str) -> Any:
    return func.substr(col, 1, len(prefix)) == prefix


def _ends(col: Any, suffix: str) -> Any:
    # length() and substr() count characters on both databases; a value shorter than the
    # suffix gives a shorter substring, which can't be equal
    return func.substr(col, func.length(col) - len(suffix) + 1) == suffix


def _text_match(col: Any, match: TextMatch) -> Any:
    either = []
    if match.exact:
        either.append(col.in_(match.exact))
    if match.prefixes:
        starts = or_(*[_starts(col, p) for p in match.prefixes])
        either.append(and_(starts, _ends(col, match.suffix)) if match.suffix else starts)
    cond = or_(*either) if either else false()
    return not_(cond) if match.negate else cond


def _contains(db: Any, col: Any, needle: str) -> Any:
    """`needle` occurs in the column's text, exactly (instr / strpos: no LIKE wildcards, no
    case folding)."""
    return (func.instr(col, needle) if db.is_sqlite else func.strpos(col, needle)) > 0


def chain_tops(db: Any) -> dict[int, int]:
    """Each chain's highest stored seq (its base when it holds no event): where a lookup of
    the trail as it is now starts.  One primary-key probe per chain."""
    tops: dict[int, int] = {}
    sql = text("SELECT MAX(seq) FROM audit_event WHERE seq > :base AND seq < :next")
    for chain in chains(db):
        base = audit_file.chain_base(chain)
        with _connect(db, chain) as conn:
            top = conn.execute(sql, {"base": base, "next": audit_file.chain_base(chain + 1)}).scalar()
        tops[chain] = int(top) if top is not None else base
    return tops


def first_time_above(db: Any, chain: int, above: int) -> Optional[float]:
    """The event time of the chain's first event after seq `above` (a primary-key probe)."""
    sql = text("SELECT event_time FROM audit_event WHERE seq > :above AND seq < :next ORDER BY seq LIMIT 1")
    with _connect(db, chain) as conn:
        found = conn.execute(sql, {"above": above, "next": audit_file.chain_base(chain + 1)}).scalar()
    return float(found) if found is not None else None


def account_rows(db: Any, chain: int, account_id: str, region: str, above: int, below: int, limit: int,
                 since: Optional[float] = None, before: Optional[float] = None,
                 equals: Optional[dict[str, str]] = None, principal: Optional[TextMatch] = None,
                 event_names: Optional[TextMatch] = None, resource_needles: tuple[str, ...] = ()) -> list[tuple]:
    """One account's events in one Region whose seq is in (`above`, `below`), in chain
    `chain`, newest (highest seq) first, at most `limit`, matching every filter given
    (event time in [`since`, `before`)).

    Cost: audit_event has no index but its primary key (see AuditEventTable: an index is
    one more B-tree written per request), so the database walks the seq range backwards
    and tests each event; the caller bounds the range (kms_core/audit_lookup.py) and so
    the work of one call, whatever the trail's size.  `equals`: column -> value (only
    event_name, event_source, access_key_id); `principal` matches principal_arn,
    `event_names` event_name; each of `resource_needles` must occur in the resources' JSON
    text."""
    t = table("audit_event", *[column(c) for c in COLUMNS])
    where = [t.c.seq > max(above, audit_file.chain_base(chain)),
             t.c.seq < min(below, audit_file.chain_base(chain + 1)),
             t.c.account_id == account_id, t.c.region == region]
    if since is not None:
        where.append(t.c.event_time >= since)
    if before is not None:
        where.append(t.c.event_time < before)
    for name, value in (equals or {}).items():
        if name not in _EQUALS:
            raise ValueError(f"not a lookup column: {name}")
        where.append(t.c[name] == value)
    if principal is not None:
        where.append(_text_match(t.c.principal_arn, principal))
    if event_names is not None:
        where.append(_text_match(t.c.event_name, event_names))
    for needle in resource_needles:
        where.append(_contains(db, t.c.resources, needle))
    stmt = select(*[t.c[c] for c in COLUMNS]).where(and_(*where)).order_by(t.c.seq.desc()).limit(limit)
    with _connect(db, chain) as conn:
        return list(conn.execute(stmt).all())
