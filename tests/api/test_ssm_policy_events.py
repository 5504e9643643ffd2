"""Parameter policies run on the server's clock: the notification policies are recorded as
events in the audit trail (once each), and Expiration deletes the parameter and records
that too.  The audit trail's chain stays intact across these service-made events."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from kms_core.audit import query, verify


def _events(server, arn: str, name: str) -> list[dict]:
    return [e for e in query(server.app.state.store.db, event_name=name) if arn in (e.get("resources") or [])]


def _wait_for(predicate, timeout: float = 5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    return predicate()


def test_notifications_and_expiration_become_audit_events(server):
    ssm = server.client("ssm")
    name = f"/events/{uuid.uuid4().hex[:8]}/token"
    expires = datetime.fromtimestamp(server.clock(), timezone.utc) + timedelta(days=3)
    policies = [
        {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": expires.isoformat()}},
        {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Before": "1", "Unit": "Days"}},
        {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "12", "Unit": "Hours"}},
    ]
    put = ssm.put_parameter(Name=name, Value="v", Type="SecureString", Tier="Advanced",
                            Policies=json.dumps(policies))
    assert put["Tier"] == "Advanced"
    arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
    statuses = {p["PolicyType"]: p["PolicyStatus"] for p in ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]["Policies"]}
    assert statuses == {"Expiration": "Pending", "ExpirationNotification": "Pending",
                        "NoChangeNotification": "Pending"}

    server.clock.advance(days=1)  # past "no change for 12 hours"
    assert _wait_for(lambda: _events(server, arn, "NoChangeNotification"))
    assert not _events(server, arn, "ExpirationNotification")
    server.clock.advance(days=1, seconds=60)  # within a day of expiring
    assert _wait_for(lambda: _events(server, arn, "ExpirationNotification"))
    statuses = {p["PolicyType"]: p["PolicyStatus"] for p in ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]["Policies"]}
    assert statuses["ExpirationNotification"] == "Finished"
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "v"

    server.clock.advance(days=1)  # expired: gone at once, and recorded
    try:
        ssm.get_parameter(Name=name)
        raise AssertionError("an expired parameter was still readable")
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ParameterNotFound"
    expired = _wait_for(lambda: _events(server, arn, "Expiration"))
    assert expired and expired[0]["event_source"] == "ssm.amazonaws.com"
    assert len(_events(server, arn, "NoChangeNotification")) == 1  # each fires once
    assert len(_events(server, arn, "ExpirationNotification")) == 1
    assert verify(server.app.state.store.db, server.app.state.store.root).ok


def test_overwriting_restarts_the_no_change_clock_but_not_expiration(server):
    ssm = server.client("ssm")
    name = f"/events/{uuid.uuid4().hex[:8]}/rotating"
    policies = [{"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "2", "Unit": "Days"}}]
    ssm.put_parameter(Name=name, Value="a", Type="String", Tier="Advanced", Policies=json.dumps(policies))
    arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
    server.clock.advance(days=1.5)
    ssm.put_parameter(Name=name, Value="b", Overwrite=True)  # policies carry over, the clock restarts
    server.clock.advance(days=1)
    ssm.get_parameter(Name=name)
    time.sleep(0.8)  # a sweep interval
    assert not _events(server, arn, "NoChangeNotification")
    server.clock.advance(days=1.1)
    assert _wait_for(lambda: _events(server, arn, "NoChangeNotification"))
