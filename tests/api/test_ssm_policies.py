"""Parameter policies (Advanced tier): Expiration, ExpirationNotification, NoChangeNotification.

REF = aws_api.md §5.8 and §6.  Expiration is driven by the server's FakeClock:
`server.clock.advance(days=…)`, then a bounded poll (≤ 3 s) for the background sweeper.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from tests.helpers import expect_error


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def expiration(epoch: float) -> dict:
    return {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": iso(epoch)}}


def notification(before: str = "5", unit: str = "Days") -> dict:
    return {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Before": before, "Unit": unit}}


def no_change(after: str = "30", unit: str = "Days") -> dict:
    return {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": after, "Unit": unit}}


def policies(*items: dict) -> str:
    return json.dumps(list(items))


def metadata(ssm, name: str) -> dict:
    found = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    assert len(found) == 1, found
    return found[0]


def gone(ssm, name: str, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            ssm.get_parameter(Name=name)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ParameterNotFound", e.response
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def far(server, days: float = 3650) -> float:
    return server.clock.now + days * 86400


# --- accepted policies and how they are reported ---------------------------------------------

def test_policies_reported_with_status(ssm, server, name):
    text = policies(expiration(far(server)), notification(), no_change())
    out = ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Advanced", Policies=text)
    assert out["Tier"] == "Advanced"
    meta = metadata(ssm, name)
    by_type = {p["PolicyType"]: p for p in meta["Policies"]}
    assert set(by_type) == {"Expiration", "ExpirationNotification", "NoChangeNotification"}
    for p in by_type.values():
        assert p["PolicyStatus"] in ("Pending", "InProgress", "Finished", "Failed")
        assert json.loads(p["PolicyText"])["Type"] == p["PolicyType"]
    assert by_type["Expiration"]["PolicyStatus"] == "Pending"
    assert json.loads(by_type["Expiration"]["PolicyText"])["Attributes"]["Timestamp"] == iso(far(server))
    hist = ssm.get_parameter_history(Name=name)["Parameters"]
    assert {p["PolicyType"] for p in hist[0]["Policies"]} == set(by_type)


def test_parameter_without_policies_has_none(ssm, name):
    ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Advanced")
    assert metadata(ssm, name).get("Policies", []) == []


@pytest.mark.parametrize("unit", ["Days", "Hours"])
def test_notification_units(ssm, server, name, unit):
    ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Advanced",
                      Policies=policies(expiration(far(server)), notification("2", unit), no_change("3", unit)))
    assert {p["PolicyType"] for p in metadata(ssm, name)["Policies"]} == {"Expiration", "ExpirationNotification",
                                                                           "NoChangeNotification"}


def test_intelligent_tiering_with_policies_becomes_advanced(ssm, server, name):
    out = ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Intelligent-Tiering",
                            Policies=policies(expiration(far(server))))
    assert out["Tier"] == "Advanced"
    assert metadata(ssm, name)["Tier"] == "Advanced"


def test_policies_rejected_on_standard_tier(ssm, server, name):
    with pytest.raises(ClientError):
        ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Standard",
                          Policies=policies(expiration(far(server))))
    expect_error(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")


def test_policies_persist_until_replaced_and_empty_list_clears(ssm, server, name):
    ssm.put_parameter(Name=name, Value="v1", Type="String", Tier="Advanced", Policies=policies(no_change()))
    ssm.put_parameter(Name=name, Value="v2", Overwrite=True)
    assert [p["PolicyType"] for p in metadata(ssm, name)["Policies"]] == ["NoChangeNotification"]
    ssm.put_parameter(Name=name, Value="v3", Overwrite=True, Policies=policies(expiration(far(server))))
    assert [p["PolicyType"] for p in metadata(ssm, name)["Policies"]] == ["Expiration"]
    ssm.put_parameter(Name=name, Value="v4", Overwrite=True, Policies="[]")
    assert metadata(ssm, name).get("Policies", []) == []


# --- validation --------------------------------------------------------------------------------

def test_more_than_ten_policies(ssm, name):
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Advanced",
                                           Policies=policies(*[no_change(str(i + 1)) for i in range(11)])),
                 "PoliciesLimitExceededException")


def test_ten_policies_accepted(ssm, server, name):
    items = [expiration(far(server))] + [notification(str(i + 1)) for i in range(4)] + \
            [no_change(str(i + 1)) for i in range(5)]
    ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Advanced", Policies=policies(*items))
    assert len(metadata(ssm, name)["Policies"]) == 10


def test_unknown_policy_type(ssm, name):
    expect_error(lambda: ssm.put_parameter(
        Name=name, Value="v", Type="String", Tier="Advanced",
        Policies=policies({"Type": "Rotation", "Version": "1.0", "Attributes": {"After": "1", "Unit": "Days"}})),
        "InvalidPolicyTypeException")


def test_two_expirations_are_incompatible(ssm, server, name):
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Advanced",
                                           Policies=policies(expiration(far(server)), expiration(far(server, 10)))),
                 "IncompatiblePolicyException")


@pytest.mark.parametrize("policy", [
    {"Type": "Expiration", "Version": "1.0", "Attributes": {}},
    {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "not-a-date"}},
    {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Before": "5", "Unit": "Weeks"}},
    {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Before": "five", "Unit": "Days"}},
    {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Unit": "Days"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "30", "Unit": "Minutes"}},
    {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"Unit": "Days"}},
], ids=["exp-missing", "exp-bad-date", "notif-unit", "notif-before", "notif-missing", "nochange-unit",
        "nochange-missing"])
def test_bad_policy_attributes(ssm, name, policy):
    expect_error(lambda: ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Advanced",
                                           Policies=policies(policy)),
                 "InvalidPolicyAttributeException")
    expect_error(lambda: ssm.get_parameter(Name=name), "ParameterNotFound")


# --- expiration ----------------------------------------------------------------------------------

def test_expiration_deletes_the_parameter(ssm, server, name):
    keep = name + "-keep"
    ssm.put_parameter(Name=name, Value="v1", Type="String", Tier="Advanced",
                      Policies=policies(expiration(server.clock.now + 86400)))
    ssm.put_parameter(Name=name, Value="v2", Overwrite=True)  # a new value does not move the expiration
    ssm.put_parameter(Name=keep, Value="v", Type="String", Tier="Advanced",
                      Policies=policies(expiration(server.clock.now + 30 * 86400)))
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "v2"
    server.clock.advance(days=2)
    assert gone(ssm, name), "parameter still readable after its expiration time"
    expect_error(lambda: ssm.get_parameter_history(Name=name), "ParameterNotFound")
    assert ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"] == []
    assert ssm.get_parameters(Names=[name])["InvalidParameters"] == [name]
    # the other one is untouched
    assert ssm.get_parameter(Name=keep)["Parameter"]["Value"] == "v"


def test_a_cached_listing_page_drops_a_parameter_once_it_expires(ssm, server, name):
    """Listing pages are cached until something is written; time alone writes nothing
    until the sweeper runs, so each read filters out what has expired since."""
    ssm.put_parameter(Name=name, Value="v", Type="String", Tier="Advanced",
                      Policies=policies(expiration(server.clock.now + 3600)))
    listing = [{"Key": "Name", "Values": [name]}]
    assert [p["Name"] for p in ssm.describe_parameters(ParameterFilters=listing)["Parameters"]] == [name]
    server.clock.advance(seconds=7200)
    assert ssm.describe_parameters(ParameterFilters=listing)["Parameters"] == []


def test_expired_name_can_be_reused(ssm, server, name):
    ssm.put_parameter(Name=name, Value="old", Type="String", Tier="Advanced",
                      Policies=policies(expiration(server.clock.now + 3600)))
    server.clock.advance(seconds=7200)
    assert gone(ssm, name)
    assert ssm.put_parameter(Name=name, Value="new", Type="String")["Version"] == 1
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "new"


def test_expiration_removes_the_policy_when_replaced(ssm, server, name):
    ssm.put_parameter(Name=name, Value="v1", Type="String", Tier="Advanced",
                      Policies=policies(expiration(server.clock.now + 3600)))
    ssm.put_parameter(Name=name, Value="v2", Overwrite=True, Policies=policies(no_change()))
    server.clock.advance(seconds=7200)
    assert not gone(ssm, name, timeout=1.5)
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "v2"
