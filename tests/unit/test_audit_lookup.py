"""One account's view of the audit trail, a page at a time (kms_core/audit_lookup.py), on a
real store of each backend with two writer chains: paging returns every matching event
exactly once, newest first across the chains, whatever the page size and however small the
scan window; positions and event ids reject anything they did not make; the CloudTrail
error classes are the model's."""

from __future__ import annotations

import asyncio
import os

import botocore.session
import pytest

from kms_core.audit import AuditEvent, AuditLog
from kms_core.audit_lookup import (
    EventIds,
    Query,
    cursor_text,
    is_read_only,
    lookup,
    parse_cursor,
    read_only_match,
)
from kms_core.crypto.root import RootKey
from kms_core.storage.audit_file import chain_base
from kms_core.storage.audit_queries import TextMatch
from paramstore.trail import errors
from paramstore.trail.errors import TrailError

ACCOUNT, OTHER = "111122223333", "444455556666"
REGION, ELSEWHERE = "us-east-1", "eu-west-1"


def event(i: int, account: str = ACCOUNT, region: str = REGION, name: str = "Encrypt",
          principal: str | None = None) -> AuditEvent:
    return AuditEvent(event_time=1_700_000_000.0 + i, request_id=f"req-{i:04d}", event_source="kms.amazonaws.com",
                      event_name=name, region=region, account_id=account,
                      principal_arn=principal or f"arn:aws:iam::{account}:root",
                      resources=[f"arn:aws:kms:{region}:{account}:key/k{i % 3}"])


def append(log: AuditLog, *events: AuditEvent) -> None:
    async def go() -> None:
        for e in events:
            await log.append(e)

    asyncio.run(go())


def kind(i: int) -> tuple[str, str, str]:
    """Event i's (account, region, name): most are another account's or Region's."""
    account = ACCOUNT if i % 3 == 0 else OTHER
    region = ELSEWHERE if i % 7 == 0 else REGION
    name = "Decrypt" if i % 4 == 0 else "CreateKey" if i % 5 == 0 else "Encrypt"
    return account, region, name


@pytest.fixture
def two_chains(db, root):
    """Two writer processes' logs (chain 0 and chain 1) writing 200 events in time order,
    unevenly: bursts on one chain, then the other."""
    a, b = AuditLog(db, root, clock=lambda: 1_600_000_000.0), AuditLog(db, root, clock=lambda: 1_600_000_000.0)
    assert (a.claim_chain(), b.claim_chain()) == (0, 1)
    for i in range(1, 201):
        account, region, name = kind(i)
        writer = a if (i // 17) % 2 else b
        append(writer, event(i, account, region, name, principal=f"arn:aws:iam::{account}:user/team/u{i % 2}"))
    yield db
    a.close()
    b.close()


def walk(db, query: Query, limit: int, **kwargs) -> tuple[list[dict], int]:
    """Every page of a lookup: (events in order, number of pages)."""
    out, cursor, pages = [], None, 0
    while True:
        page = lookup(db, query, limit, cursor, **kwargs)
        pages += 1
        out += page.events
        if page.cursor is None:
            return out, pages
        assert pages < 1000, "the walk makes no progress"
        cursor = parse_cursor(cursor_text(page.cursor))


def expected(keep) -> list[str]:
    """Request ids of the matching events, newest first."""
    return [f"req-{i:04d}" for i in range(200, 0, -1) if keep(i, *kind(i))]


@pytest.mark.parametrize("limit", [1, 3, 7, 50])
@pytest.mark.parametrize("window", [5, 40, 10_000])
def test_pages_return_every_event_once_newest_first(two_chains, limit, window):
    events, pages = walk(two_chains, Query(ACCOUNT, REGION), limit, scan_rows=window, min_window=1)
    want = expected(lambda i, account, region, name: account == ACCOUNT and region == REGION)
    assert [e["request_id"] for e in events] == want
    assert all(e["account_id"] == ACCOUNT and e["region"] == REGION for e in events)
    assert pages <= len(want) + 2 * (200 // (window // 2) + 1) + 1  # each page returns events or moves on


def test_filters_apply_in_the_database(two_chains):
    by_name = Query(ACCOUNT, REGION, equals={"event_name": "Decrypt"})
    assert [e["request_id"] for e in walk(two_chains, by_name, 4, scan_rows=30, min_window=1)[0]] == expected(
        lambda i, account, region, name: account == ACCOUNT and region == REGION and name == "Decrypt")
    writes = Query(ACCOUNT, REGION, event_names=read_only_match(False))
    assert [e["request_id"] for e in walk(two_chains, writes, 5)[0]] == expected(
        lambda i, account, region, name: account == ACCOUNT and region == REGION and name == "CreateKey")
    user = Query(ACCOUNT, REGION, principal=TextMatch(prefixes=(f"arn:aws:iam::{ACCOUNT}:user/",), suffix="/u1"))
    assert [e["request_id"] for e in walk(two_chains, user, 50)[0]] == expected(
        lambda i, account, region, name: account == ACCOUNT and region == REGION and i % 2 == 1)
    # exact, case-sensitive comparisons (SQLite's LIKE would ignore case)
    upper = Query(ACCOUNT, REGION, principal=TextMatch(prefixes=(f"arn:aws:iam::{ACCOUNT}:user/",), suffix="/U1"))
    assert walk(two_chains, upper, 50)[0] == []
    timed = Query(ACCOUNT, REGION, since=1_700_000_050.0, before=1_700_000_121.0)
    assert [e["request_id"] for e in walk(two_chains, timed, 6, scan_rows=20, min_window=1)[0]] == expected(
        lambda i, account, region, name: account == ACCOUNT and region == REGION and 50 <= i <= 120)
    key = Query(ACCOUNT, REGION, resource_needles=(f'"arn:aws:kms:{REGION}:{ACCOUNT}:key/k1"',))
    assert [e["request_id"] for e in walk(two_chains, key, 50)[0]] == expected(
        lambda i, account, region, name: account == ACCOUNT and region == REGION and i % 3 == 1)


def test_the_first_page_fixes_the_walk(two_chains, root):
    """Events written while a caller pages are not in that walk (its own lookups among
    them); a new lookup sees them."""
    first = lookup(two_chains, Query(ACCOUNT, REGION), 5)
    log = AuditLog(two_chains, root, clock=lambda: 1_600_000_000.0)
    try:
        log.claim_chain()
        append(log, event(500))
    finally:
        log.close()
    cursor = first.cursor
    seen = [e["request_id"] for e in first.events]
    while cursor is not None:
        page = lookup(two_chains, Query(ACCOUNT, REGION), 5, cursor)
        seen += [e["request_id"] for e in page.events]
        cursor = page.cursor
    assert "req-0500" not in seen and len(seen) == len(set(seen))
    assert lookup(two_chains, Query(ACCOUNT, REGION), 1).events[0]["request_id"] == "req-0500"


def test_event_ids_are_stable_opaque_and_checked(root):
    ids = EventIds(root)
    seqs = [1, 2, 3, chain_base(1) + 1, 2**63 - 1]
    encoded = [ids.encode(s) for s in seqs]
    assert encoded == [ids.encode(s) for s in seqs]  # deterministic
    assert len(set(encoded)) == len(seqs)
    assert all(len(e) == 36 and e.count("-") == 4 for e in encoded)
    assert [ids.decode(e) for e in encoded] == seqs
    # consecutive seqs share no visible structure
    assert encoded[0][:8] != encoded[1][:8] and encoded[0][-12:] != encoded[1][-12:]
    other = EventIds(RootKey(os.urandom(32), "another store"))
    assert other.decode(encoded[0]) is None
    for bad in [encoded[0].upper(), encoded[0][:-1] + ("0" if encoded[0][-1] != "0" else "1"),
                encoded[0].replace("-", ""), "", "not-an-id", "0" * 8 + "-0000-0000-0000-" + "0" * 12, None, 7]:
        assert ids.decode(bad) is None  # type: ignore[arg-type]  # non-strings on purpose: decode refuses them


@pytest.mark.parametrize("text", ["", "[]", "null", '{"0": "5"}', '{"x": 5}', '{"-1": 5}', '{"64": 5}',
                                  '{"0": 0}', '{"0": 1}', '{"0": %d}' % (chain_base(1) + 1), '{"1": 5}',
                                  '{"0": true}', '{"0": 5.0}', "{", '{"0": 5}x'])
def test_positions_other_than_ours_are_refused(text):
    assert parse_cursor(text) is None


def test_positions_round_trip():
    cursor = {0: 12, 3: chain_base(3) + 7}
    assert parse_cursor(cursor_text(cursor)) == cursor


def test_read_only_names():
    for name in ("GetParameter", "ListKeys", "DescribeKey", "LookupEvents", "Decrypt", "GenerateDataKey",
                 "VerifyAuditChain", "BatchGetSecretValue"):
        assert is_read_only(name), name
    for name in ("PutParameter", "CreateKey", "ScheduleKeyDeletion", "getParameter", "AssumeRole"):
        assert not is_read_only(name), name


def test_error_classes_are_the_models_shapes():
    model = botocore.session.get_session().get_service_model("cloudtrail")
    defined = {name: value for name, value in vars(errors).items()
               if isinstance(value, type) and issubclass(value, TrailError) and value is not TrailError}
    shapes = {shape.name for shape in model.error_shapes}
    lookup_errors = {shape.name for shape in model.operation_model("LookupEvents").error_shapes}
    assert set(defined) <= lookup_errors <= shapes
    assert {"AccessDeniedException", "ThrottlingException"} <= shapes
    for name, error in defined.items():
        assert error.code == name and error.http_status == 400
    assert model.metadata["targetPrefix"] == "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"
    assert model.metadata["endpointPrefix"] == "cloudtrail"
    assert model.signing_name == "cloudtrail"
