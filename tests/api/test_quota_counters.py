"""Quotas from trigger-kept counters (ps_resource_count, migration a8c0ffee0008): exact under
concurrency on both databases, kept by every write path, and read as one row instead of a
count(*) over the account.  The quotas are lowered in the server (in this process) so that
a test can reach them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import text

from kms_core.domain import limits
from kms_core.storage.session import Database
from paramstore.ssm import tiers


@pytest.fixture
def live(fresh_server):
    return fresh_server


def _counts(server) -> dict:
    """The counters, and what count(*) says they should be."""
    db = Database(server.database_url)
    try:
        with db.engine.connect() as conn:
            kept = {(r[0], r[1]): r[2] for r in conn.execute(text(
                "SELECT region, resource, count FROM ps_resource_count WHERE count <> 0"))}
            truth = {(r[0], "ssm:" + r[1]): r[2] for r in conn.execute(text(
                "SELECT region, tier, count(*) FROM ssm_parameter GROUP BY region, tier"))}
            truth.update({(r[0], "kms:CustomerKey"): r[1] for r in conn.execute(text(
                "SELECT region, count(*) FROM kms_key WHERE key_manager = 'CUSTOMER' GROUP BY region"))})
        return {"kept": kept, "truth": truth}
    finally:
        db.dispose()


def _race(calls) -> tuple[int, list[str]]:
    """Run the calls on 8 threads: (how many succeeded, the error codes of the rest)."""
    def attempt(call):
        try:
            call()
            return None
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, calls))
    return outcomes.count(None), [o for o in outcomes if o is not None]


def test_parameter_quota_is_exact_under_concurrent_creates(live, monkeypatch):
    monkeypatch.setitem(tiers.MAX_PARAMETERS, tiers.STANDARD, 12)
    ssm = live.client("ssm")
    ok, errors = _race([lambda i=i: ssm.put_parameter(Name=f"/q/p{i}", Value="v", Type="SecureString")
                        for i in range(40)])
    assert ok == 12
    assert set(errors) == {"ParameterLimitExceeded"}
    assert len(ssm.describe_parameters(MaxResults=50)["Parameters"]) == 12
    # overwrites are not creates: they fit at the quota
    ssm.put_parameter(Name="/q/p0", Value="v2", Type="SecureString", Overwrite=True)
    # a delete frees a place, a move to Advanced frees another
    created = [p["Name"] for p in ssm.describe_parameters(MaxResults=50)["Parameters"]]
    ssm.delete_parameter(Name=created[0])
    ssm.put_parameter(Name=created[1], Value="v3", Overwrite=True, Tier="Advanced")
    ssm.put_parameter(Name="/q/after-delete", Value="v", Type="String")
    ssm.put_parameter(Name="/q/after-upgrade", Value="v", Type="String")
    with pytest.raises(ClientError) as exc:
        ssm.put_parameter(Name="/q/one-too-many", Value="v", Type="String")
    assert exc.value.response["Error"]["Code"] == "ParameterLimitExceeded"
    counts = _counts(live)
    assert counts["kept"] == counts["truth"]
    assert counts["kept"][("us-east-1", "ssm:Standard")] == 12


def test_deletes_in_bulk_and_expiry_keep_the_count(live):
    ssm = live.client("ssm")
    for i in range(6):
        ssm.put_parameter(Name=f"/bulk/p{i}", Value="v", Type="String")
    ssm.put_parameter(Name="/bulk/expiring", Value="v", Type="String", Tier="Advanced", Policies=(
        '[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00.000Z"}}]'))
    ssm.delete_parameters(Names=["/bulk/p0", "/bulk/p1", "/bulk/missing"])
    live.clock.advance(10 * 365 * 86400)
    ssm.describe_parameters()  # the expired one is gone for readers at once; the sweeper deletes it
    import time

    deadline = time.time() + 10
    while time.time() < deadline and _counts(live)["kept"].get(("us-east-1", "ssm:Advanced")):
        time.sleep(0.2)
    counts = _counts(live)
    assert counts["kept"] == counts["truth"]
    assert counts["kept"] == {("us-east-1", "ssm:Standard"): 4}


def test_key_quota_is_exact_under_concurrent_creates(live, monkeypatch):
    monkeypatch.setattr(limits, "MAX_CUSTOMER_KEYS", 7)
    kms = live.client("kms")
    ssm = live.client("ssm")
    ssm.put_parameter(Name="/uses-aws-ssm", Value="v", Type="SecureString")  # an AWS-managed key: not counted
    ok, errors = _race([lambda: kms.create_key() for _ in range(20)])
    assert ok == 7
    assert set(errors) == {"LimitExceededException"}
    counts = _counts(live)
    assert counts["kept"] == counts["truth"]
    # a second Region has its own quota
    assert live.client("kms", region="eu-west-1").create_key()["KeyMetadata"]["KeyId"]
