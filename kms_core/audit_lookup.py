"""One account's view of the audit trail, a page at a time (what CloudTrail's LookupEvents
serves, paramstore/trail): the events whose recipient account is the caller's, in one
Region, newest first, filtered, with a position to go on from.

Positions.  A lookup walks each chain (kms_core/audit.py, "Chains") downwards by seq.  Its
position is, per chain, the seq below which the walk goes on (`Cursor`); the first page
fixes each chain's top, so events recorded while a caller pages (its own lookups among
them) are not in that walk, and every event in it is returned exactly once whatever the
page sizes.  Chains interleave in time: a page merges them newest first (each chain in its
own seq order) and stops where a chain not yet walked far enough might still hold a newer
event, so the order holds across pages too.  Event times within a chain follow seq order
up to the small reorderings of records moved out of the SQLite outbox (kms_core/audit.py);
the merge is that exact, and never loses or repeats an event.

Cost.  The trail has no index but its primary key (kms_core/storage/tables.py,
AuditEventTable: every index is another B-tree written on every request, audited reads
included, and this lookup is an occasional operator call).  So each call examines at most
SCAN_ROWS events (split between the chains) by a backwards range scan of the primary key,
returns what matched, and names where it stopped: a lookup whose matches are sparse
(another account's traffic dominates, a rare event name, a time range far in the past)
returns short or even empty pages with a position to go on from, as CloudTrail may.
Walking a trail of N events costs about N / SCAN_ROWS calls.  Time bounds are filters, not
seek positions: seq order is only approximately time order, so a time range can't be
turned into a seq range without risking a missed event.

Event ids.  An event's public id is its seq, deterministically encrypted (SIV-style, under
a key derived from the root key) into 16 bytes written as a UUID: stable, opaque (it reveals
neither the seq nor how many events other accounts caused in between), and checked when
parsed, so an EventId lookup is one primary-key probe and a made-up id matches nothing.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from kms_core.crypto.keyed_hash import HmacSha256Key
from kms_core.storage import audit_file, audit_queries
from kms_core.storage.audit_queries import COLUMNS, TextMatch

#: events examined per call, at most (split between the chains, at least MIN_WINDOW each).
#: Measured on a 300,000-event trail, a call that finds nothing in its range (the worst
#: case: the whole range is scanned) takes 6-15 ms on SQLite and 14-25 ms on PostgreSQL,
#: on the database worker; one that fills its page early stops early (2-4 ms)
SCAN_ROWS = 20_000
MIN_WINDOW = 2_000

#: read-only operations (CloudTrail's `readOnly`): every Get*, List*, Describe*, Lookup*,
#: BatchGet* operation, and these, which return data without changing anything (KMS's
#: cryptographic operations are read-only events in CloudTrail)
READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Lookup", "BatchGet")
READ_ONLY_NAMES = frozenset({
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom", "GenerateMac", "VerifyMac",
    "Sign", "Verify", "DeriveSharedSecret", "ValidateResourcePolicy", "VerifyAuditChain",
})


def is_read_only(event_name: str) -> bool:
    return event_name in READ_ONLY_NAMES or event_name.startswith(READ_ONLY_PREFIXES)


def read_only_match(read_only: bool) -> TextMatch:
    """The event names `is_read_only` says `read_only` of, as a query filter."""
    return TextMatch(exact=tuple(sorted(READ_ONLY_NAMES)), prefixes=READ_ONLY_PREFIXES, negate=not read_only)


# --- event ids -------------------------------------------------------------------------------
_ID_LABEL = b"audit-event-id-v1"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class EventIds:
    """seq <-> EventId.  id = (seq XOR F(tag)) || tag with tag = G(seq), F and G HMAC-SHA256
    under one derived key with distinct prefixes, each cut to 8 bytes: a deterministic
    authenticated encryption of the 8-byte seq (SIV), so a guessed id opens with
    probability 2**-64."""

    def __init__(self, root: Any) -> None:
        self._key = HmacSha256Key(root.derive(_ID_LABEL))

    def encode(self, seq: int) -> str:
        plain = seq.to_bytes(8, "big")
        tag = self._key.digest(b"tag|" + plain)[:8]
        pad = self._key.digest(b"pad|" + tag)[:8]
        raw = bytes(a ^ b for a, b in zip(plain, pad)) + tag
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def decode(self, event_id: str) -> Optional[int]:
        """The seq an id this store issued names, else None (one spelling: lower-case hex)."""
        if not isinstance(event_id, str) or not _UUID.fullmatch(event_id):
            return None
        raw = bytes.fromhex(event_id.replace("-", ""))
        body, tag = raw[:8], raw[8:]
        pad = self._key.digest(b"pad|" + tag)[:8]
        plain = bytes(a ^ b for a, b in zip(body, pad))
        if not hmac.compare_digest(self._key.digest(b"tag|" + plain)[:8], tag):
            return None
        return int.from_bytes(plain, "big")


# --- the query and its pages ----------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """What to look up in one account's events of one Region (every field given must match).
    `keep`, if given, is an exact test of a decoded event applied after the database's
    (coarser) filters."""

    account_id: str
    region: str
    since: Optional[float] = None
    before: Optional[float] = None  # exclusive
    seq: Optional[int] = None
    equals: dict[str, str] = field(default_factory=dict)
    principal: Optional[TextMatch] = None
    event_names: Optional[TextMatch] = None
    resource_needles: tuple[str, ...] = ()
    keep: Optional[Callable[[dict], bool]] = None


#: chain -> the seq below which that chain's walk goes on (chains absent: walked to the end)
Cursor = dict[int, int]


@dataclass
class Page:
    events: list[dict]
    #: where the next page starts, or None when the walk is complete
    cursor: Optional[Cursor]


def cursor_text(cursor: Cursor) -> str:
    return json.dumps({str(c): below for c, below in sorted(cursor.items())}, separators=(",", ":"))


def parse_cursor(text: str) -> Optional[Cursor]:
    """A cursor `cursor_text` wrote, or None for anything else."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    cursor: Cursor = {}
    for key, below in raw.items():
        if not (isinstance(key, str) and key.isdigit() and type(below) is int):
            return None
        chain = int(key)
        if not (0 <= chain < audit_file.MAX_CHAINS
                and audit_file.chain_base(chain) + 1 < below <= audit_file.chain_base(chain + 1)):
            return None
        cursor[chain] = below
    return cursor


def decode_row(row: Any) -> dict:
    """A stored event as a dict of its columns, JSON columns parsed."""
    out = dict(zip(COLUMNS, row))
    for name in ("resources", "encryption_context", "detail"):
        if out[name] is not None:
            try:
                out[name] = json.loads(out[name])
            except ValueError:
                out[name] = None
    if not isinstance(out["resources"], list):
        out["resources"] = []
    return out


@dataclass
class _Walk:
    """One chain's part of a page: what its range scan found, and how far it looked."""

    chain: int
    below: int
    events: list[dict]
    #: every seq in [examined_low, below) was examined
    examined_low: int
    #: the chain holds nothing more for this lookup below examined_low
    done: bool
    #: the event time at examined_low (unseen events are older, give or take the outbox's
    #: reorderings); None when done
    bound: Optional[float] = None
    taken: int = 0


def lookup(db: Any, query: Query, limit: int, cursor: Optional[Cursor] = None,
           scan_rows: int = SCAN_ROWS, min_window: int = MIN_WINDOW) -> Page:
    """A page of at most `limit` events of `query`, newest first, from `cursor` (None: the
    first page, from the trail's current top), having examined at most about `scan_rows`
    events (`min_window` per chain at least)."""
    if cursor is None:
        cursor = {chain: top + 1 for chain, top in audit_queries.chain_tops(db).items()
                  if top > audit_file.chain_base(chain)}
    live = {c: below for c, below in cursor.items() if below > audit_file.chain_base(c) + 1}
    if query.seq is not None:
        return _by_seq(db, query, live)
    window = max(min_window, scan_rows // max(1, len(live)))
    walks = [_scan(db, query, chain, below, window, limit, several=len(live) > 1)
             for chain, below in sorted(live.items())]
    events = _merge(walks, limit)
    following: Cursor = {}
    for walk in walks:
        if walk.taken < len(walk.events):  # the first event not taken comes again next time
            below = walk.events[walk.taken]["seq"] + 1
        elif walk.done:
            continue
        else:  # everything it examined is returned: go on below that
            below = walk.examined_low
        if below > audit_file.chain_base(walk.chain) + 1:
            following[walk.chain] = below
    return Page(events, following or None)


def _by_seq(db: Any, query: Query, live: Cursor) -> Page:
    """An EventId lookup: one primary-key probe (the other filters still apply)."""
    seq = query.seq
    assert seq is not None
    chain = audit_file.chain_of(seq)
    if chain not in live or seq >= live[chain]:
        return Page([], None)
    rows = audit_queries.account_rows(db, chain, query.account_id, query.region, seq - 1, seq + 1, 1,
                                      **_filters(query))
    events = [decode_row(row) for row in rows]
    if query.keep is not None:
        events = [e for e in events if query.keep(e)]
    return Page(events, None)


def _filters(query: Query) -> dict:
    return {"since": query.since, "before": query.before, "equals": query.equals, "principal": query.principal,
            "event_names": query.event_names, "resource_needles": query.resource_needles}


def _scan(db: Any, query: Query, chain: int, below: int, window: int, limit: int, several: bool) -> _Walk:
    base = audit_file.chain_base(chain)
    above = max(base, below - 1 - window)  # seqs (above, below): at most `window` of them
    rows = audit_queries.account_rows(db, chain, query.account_id, query.region, above, below, limit,
                                      **_filters(query))
    if len(rows) == limit:  # the scan stopped at the last row it returned
        examined_low = int(rows[-1][0])
    else:
        examined_low = above + 1
    done = len(rows) < limit and above <= base
    events = [decode_row(row) for row in rows]
    if query.keep is not None:
        events = [e for e in events if query.keep(e)]
    bound = None
    if several and not done:
        bound = (float(rows[-1][1]) if len(rows) == limit
                 else audit_queries.first_time_above(db, chain, above))
    return _Walk(chain, below, events, examined_low, done, bound)


def _merge(walks: list[_Walk], limit: int) -> list[dict]:
    """Newest first across chains, each chain's events in its own (seq) order.  Stops
    before an event that a chain whose scanned events are all taken, and which is not done,
    might still be preceded by (its bound is newer)."""
    out: list[dict] = []
    while len(out) < limit:
        best: Optional[_Walk] = None
        for walk in walks:
            if walk.taken < len(walk.events):
                head = walk.events[walk.taken]
                if best is None or (head["event_time"], walk.chain) > (best.events[best.taken]["event_time"],
                                                                        best.chain):
                    best = walk
        if best is None:
            break
        event = best.events[best.taken]
        if any(w is not best and w.taken == len(w.events) and not w.done and w.bound is not None
               and w.bound > event["event_time"] for w in walks):
            break
        out.append(event)
        best.taken += 1
    return out
