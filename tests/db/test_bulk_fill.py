"""The bulk paths (tools/scale.py's fixtures) write rows the API reads back as its own:
values open, versions, labels and tags are there, keys encrypt under their aliases, grants
list, and the quota counters count what was filled."""

from __future__ import annotations

import pytest

from kms_core.storage.bulk import BulkKey, insert_keys
from paramstore.ssm.storage.bulk import BulkParameter, insert_parameters
from tests.conftest import ACCOUNT_ID, REGION


@pytest.fixture
def live(fresh_server):
    return fresh_server


def test_bulk_parameters_and_keys_read_back_through_the_api(live):
    store = live.app.state.store
    ssm, kms = live.client("ssm"), live.client("kms")
    ssm.put_parameter(Name="/made/by/api", Value="first", Type="String")  # ids continue after the API's
    now = live.clock()
    insert_parameters(store.db, store.params.kms_port, [
        BulkParameter(ACCOUNT_ID, REGION, "/bulk/a", ["a1", "a2", "a3"], labels={"stable": 2},
                      tags={"team": "blue"}),
        BulkParameter(ACCOUNT_ID, REGION, "/bulk/b", ["x,y"], type="StringList", tier="Advanced"),
        BulkParameter("444455556666", REGION, "/bulk/a", ["other account"]),
    ], now, f"arn:aws:iam::{ACCOUNT_ID}:root", batch=2)
    ids = insert_keys(store.db, store.root, [
        BulkKey(ACCOUNT_ID, REGION, alias="alias/bulk/one",
                grantees=[f"arn:aws:iam::{ACCOUNT_ID}:role/app"]),
        BulkKey(ACCOUNT_ID, REGION)], now, batch=1)

    assert ssm.get_parameter(Name="/bulk/a")["Parameter"]["Value"] == "a3"
    assert ssm.get_parameter(Name="/bulk/a:stable")["Parameter"]["Value"] == "a2"
    assert [v["Value"] for v in ssm.get_parameter_history(Name="/bulk/a")["Parameters"]] == ["a1", "a2", "a3"]
    assert ssm.get_parameter(Name="/bulk/b")["Parameter"]["Value"] == "x,y"
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/bulk/a")["TagList"]
    assert tags == [{"Key": "team", "Value": "blue"}]
    listed = ssm.describe_parameters(ParameterFilters=[{"Key": "tag:team", "Values": ["blue"]}])["Parameters"]
    assert [p["Name"] for p in listed] == ["/bulk/a"]
    ssm.put_parameter(Name="/made/by/api/later", Value="v", Type="String")  # a new id after the bulk ones
    ssm.put_parameter(Name="/bulk/a", Value="a4", Overwrite=True)
    assert ssm.get_parameter(Name="/bulk/a")["Parameter"]["Version"] == 4

    blob = kms.encrypt(KeyId="alias/bulk/one", Plaintext=b"hello")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    assert kms.describe_key(KeyId=ids[1])["KeyMetadata"]["KeyState"] == "Enabled"
    grants = kms.list_grants(KeyId=ids[0])["Grants"]
    assert [g["GranteePrincipal"] for g in grants] == [f"arn:aws:iam::{ACCOUNT_ID}:role/app"]

    counts = {(r.account_id, r.resource): r.count for r in _counts(store.db)}
    assert counts[(ACCOUNT_ID, "ssm:Standard")] == 3  # two by the API, one bulk
    assert counts[(ACCOUNT_ID, "ssm:Advanced")] == 1
    assert counts[("444455556666", "ssm:Standard")] == 1
    assert counts[(ACCOUNT_ID, "kms:CustomerKey")] == 2


def _counts(db) -> list:
    from sqlmodel import select

    from kms_core.storage.tables import ResourceCountTable

    with db.session() as session:
        return list(session.exec(select(ResourceCountTable).where(ResourceCountTable.region == REGION)))
