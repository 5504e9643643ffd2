"""CloudTrail's LookupEvents over the audit trail, and the VerifyAuditChain extension,
through a real boto3 `cloudtrail` client (and SigV4-signed requests for the extension) on
SQLite and PostgreSQL.

Covered: the events of KMS and SSM calls with their fields and CloudTrail record; each
lookup attribute; time ranges; paging (MaxResults / NextToken: every event once, newest
first); bad input answered with CloudTrail's error codes, never a 5xx; other accounts' and
other Regions' events never shown; cloudtrail:LookupEvents enforced for IAM users; the
extension limited to the administrative account; the calls themselves recorded; no secret
value in any answer.  Each test works in a Region of its own, so the shared server's other
events stay out of its lookups.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import string
import uuid
from datetime import datetime, timezone

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.api.test_audit import event_for, request_id_of
from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, SECRET_ACCESS_KEY
from tests.helpers import expect_error, raw_request, second_account_key

PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"
OTHER_ACCOUNT = "565656565656"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"


# --- helpers ------------------------------------------------------------------------------
def new_region() -> str:
    """A Region no other test uses (any well-formed name can be signed for)."""
    return "tr-" + "".join(random.choices(string.ascii_lowercase, k=10)) + "-1"


@pytest.fixture
def region() -> str:
    return new_region()


def client(server, service: str, region: str, access_key_id: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY,
           validate: bool = True):
    return boto3.client(service, endpoint_url=server.url, region_name=region, aws_access_key_id=access_key_id,
                        aws_secret_access_key=secret,
                        config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate))


@pytest.fixture
def ct(server, region):
    return client(server, "cloudtrail", region)


@pytest.fixture
def kms(server, region):
    return client(server, "kms", region)


@pytest.fixture
def ssm(server, region):
    return client(server, "ssm", region)


def lookup_all(ct, page_size: int | None = None, **kwargs) -> list[dict]:
    """Every page of a lookup, by hand: no event twice, no page over its size."""
    return walk(ct, page_size, **kwargs)[0]


def walk(ct, page_size: int | None = None, **kwargs) -> tuple[list[dict], list[str]]:
    """(every event of a lookup, the request ids of its own calls)."""
    events, token, calls = [], None, []
    for _ in range(10_000):
        page = ct.lookup_events(**kwargs, **({"MaxResults": page_size} if page_size else {}),
                                **({"NextToken": token} if token else {}))
        calls.append(request_id_of(page))
        assert len(page["Events"]) <= (page_size or 50)
        events += page["Events"]
        token = page.get("NextToken")
        if token is None:
            ids = [e["EventId"] for e in events]
            assert len(ids) == len(set(ids)), "an event came twice"
            return events, calls
    raise AssertionError("paging did not end")


def attr(key: str, value: str) -> dict:
    return {"LookupAttributes": [{"AttributeKey": key, "AttributeValue": value}]}


def record(event: dict) -> dict:
    return json.loads(event["CloudTrailEvent"])


def by_request(events: list[dict], request_id: str) -> list[dict]:
    return [e for e in events if record(e)["requestID"] == request_id]


def one(events: list[dict], request_id: str) -> dict:
    """The request's event (not the records of what it made on the way: a service key)."""
    found = [e for e in by_request(events, request_id)
             if "sideChange" not in record(e).get("additionalEventData", {})]
    assert len(found) == 1, (request_id, [e["EventName"] for e in events])
    return found[0]


def user(server, region: str, statements: list[dict] | None, name: str | None = None):
    """A new IAM user of the main account with an inline policy of `statements` (None: no
    policy): (name, access key id, secret)."""
    iam = server.client("iam")
    name = name or "ct-" + uuid.uuid4().hex[:10]
    iam.create_user(UserName=name)
    if statements is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key["AccessKeyId"], key["SecretAccessKey"]


def signed_call(server, operation: str, region: str, access_key_id: str = ACCESS_KEY_ID,
                secret: str = SECRET_ACCESS_KEY, body: bytes = b"{}") -> httpx.Response:
    """A SigV4-signed call with a body of our own making: of an operation boto3's model
    does not have (VerifyAuditChain), or with members of the wrong JSON type."""
    request = AWSRequest(method="POST", url=server.url + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{PREFIX}.{operation}"})
    SigV4Auth(Credentials(access_key_id, secret), "cloudtrail", region).add_auth(request)
    return httpx.post(server.url + "/", content=body, headers=dict(request.headers.items()), timeout=120)


# --- what an event says ----------------------------------------------------------------------
def test_kms_and_ssm_calls_appear_with_their_fields(server, region, ct, kms, ssm):
    key_id = kms.create_key(Description="trail")["KeyMetadata"]["KeyId"]
    key_arn = f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}"
    context = {"tenant": "acme"}
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"hello", EncryptionContext=context)
    with pytest.raises(ClientError) as refused:
        kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"tenant": "other"})
    put = ssm.put_parameter(Name="/trail/app/db", Value="plain", Type="String")

    events = lookup_all(ct)
    assert [e["EventName"] for e in events][-1] == "CreateKey"  # newest first: the oldest is last
    assert all(record(e)["awsRegion"] == region for e in events)

    encrypt = one(events, request_id_of(encrypted))
    assert encrypt["EventName"] == "Encrypt" and encrypt["EventSource"] == "kms.amazonaws.com"
    assert encrypt["ReadOnly"] == "true" and encrypt["AccessKeyId"] == ACCESS_KEY_ID
    assert encrypt["Username"] == "root"
    assert isinstance(encrypt["EventTime"], datetime)
    assert encrypt["Resources"] == [{"ResourceType": "AWS::KMS::Key", "ResourceName": key_arn}]
    trail = record(encrypt)
    assert trail == {
        "eventVersion": "1.08",
        "userIdentity": {"type": "Root", "principalId": ACCOUNT_ID, "arn": ROOT_ARN, "accountId": ACCOUNT_ID,
                         "accessKeyId": ACCESS_KEY_ID},
        "eventTime": encrypt["EventTime"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "kms.amazonaws.com", "eventName": "Encrypt", "awsRegion": region,
        "sourceIPAddress": "127.0.0.1", "userAgent": trail["userAgent"],
        "requestParameters": {"encryptionContext": context}, "responseElements": None,
        "requestID": request_id_of(encrypted), "eventID": encrypt["EventId"], "readOnly": True,
        "resources": [{"ARN": key_arn, "accountId": ACCOUNT_ID, "type": "AWS::KMS::Key"}],
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT_ID,
        "eventCategory": "Management",
    }
    assert trail["userAgent"].startswith("Boto3/")

    failed = record(one(events, request_id_of(refused.value)))
    assert failed["errorCode"] == "InvalidCiphertextException" and failed["eventName"] == "Decrypt"
    assert failed["requestParameters"] == {"encryptionContext": {"tenant": "other"}}

    parameter = one(events, request_id_of(put))
    assert parameter["EventSource"] == "ssm.amazonaws.com" and parameter["ReadOnly"] == "false"
    assert parameter["Resources"] == [{"ResourceType": "AWS::SSM::Parameter",
                                       "ResourceName": f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter/trail/app/db"}]
    assert record(parameter)["requestParameters"] is None and "errorCode" not in record(parameter)
    # the first put in a Region makes the Parameter Store's service-owned key there: a record of its own
    side = [record(e) for e in by_request(events, request_id_of(put)) if e is not parameter]
    assert all(r["additionalEventData"]["partOfRequest"] == request_id_of(put) for r in side)
    created = [e for e in events if e["EventName"] == "CreateKey"]
    assert created and record(created[0])["readOnly"] is False


def test_the_lookups_themselves_are_recorded(server, region, ct):
    first = ct.lookup_events()
    later = ct.lookup_events(**attr("EventSource", "cloudtrail.amazonaws.com"))["Events"]
    own = one(later, request_id_of(first))
    assert own["EventName"] == "LookupEvents" and own["ReadOnly"] == "true"
    assert record(own)["eventSource"] == "cloudtrail.amazonaws.com"


def test_refused_cloudtrail_requests_are_recorded_under_cloudtrail(server, region):
    # unsigned: refused by the protocol, which splits the dotted target
    response = httpx.post(server.url + "/", content=b"{}", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{PREFIX}.LookupEvents"})
    assert response.status_code == 400 and response.json()["__type"] == "MissingAuthenticationTokenException"
    event = event_for(server, response.headers["x-amzn-requestid"])
    assert (event["event_source"], event["event_name"]) == ("cloudtrail.amazonaws.com", "LookupEvents")
    # too large: refused before any service, by the HTTP layer
    head = raw_request(server.url, ["Content-Type: application/x-amz-json-1.1", f"X-Amz-Target: {PREFIX}.LookupEvents",
                                    "Content-Length: 99999999"])
    request_id = next(line.split(":", 1)[1].strip() for line in head.decode("latin-1").split("\r\n")
                      if line.lower().startswith("x-amzn-requestid:"))
    event = event_for(server, request_id)
    assert (event["event_source"], event["event_name"]) == ("cloudtrail.amazonaws.com", "LookupEvents")


# --- lookup attributes and time ----------------------------------------------------------------
def test_each_lookup_attribute_filters(server, region, ct, kms, ssm):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    key_arn = f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}"
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"x")
    described = kms.describe_key(KeyId=key_id)
    put = ssm.put_parameter(Name="/trail/attr", Value="v", Type="String")
    name, akid, secret = user(server, region, [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}])
    as_user = client(server, "kms", region, akid, secret).describe_key(KeyId=key_arn)
    everything = lookup_all(ct)
    ids = {request_id_of(r) for r in (encrypted, described, put, as_user)}
    assert ids <= {record(e)["requestID"] for e in everything}

    def matching(key: str, value: str) -> list[dict]:
        found = lookup_all(ct, **attr(key, value))
        assert found, (key, value)
        return found

    encrypt_event = one(everything, request_id_of(encrypted))
    assert matching("EventId", encrypt_event["EventId"]) == [encrypt_event]

    found = matching("EventName", "DescribeKey")
    assert {e["EventName"] for e in found} == {"DescribeKey"} and len(found) == 2

    reads, writes = matching("ReadOnly", "true"), matching("ReadOnly", "false")
    assert {e["ReadOnly"] for e in reads} == {"true"} and {e["ReadOnly"] for e in writes} == {"false"}
    assert {e["EventName"] for e in writes} == {"CreateKey", "PutParameter"}
    assert len(reads) + len(writes) >= len(everything)  # lookups made since count as reads

    mine = matching("Username", name)
    assert [record(e)["requestID"] for e in mine] == [request_id_of(as_user)]
    assert record(mine[0])["userIdentity"] == {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/{name}",
                                               "accountId": ACCOUNT_ID, "accessKeyId": akid, "userName": name}
    roots = matching("Username", "root")
    assert all(e["Username"] == "root" for e in roots) and request_id_of(as_user) not in {
        record(e)["requestID"] for e in roots}
    assert matching("AccessKeyId", akid) == mine
    assert lookup_all(ct, **attr("Username", name.upper())) == []  # exact, as AWS compares

    parameters = matching("ResourceType", "AWS::SSM::Parameter")
    assert {record(e)["requestID"] for e in parameters} == {request_id_of(put)}
    keys = matching("ResourceType", "AWS::KMS::Key")
    assert {e["EventName"] for e in keys} == {"CreateKey", "Encrypt", "DescribeKey"}
    assert lookup_all(ct, **attr("ResourceType", "AWS::EC2::Instance")) == []

    by_key = matching("ResourceName", key_arn)
    assert all({"ResourceType": "AWS::KMS::Key", "ResourceName": key_arn} in e["Resources"] for e in by_key)
    assert len(by_key) == 4
    assert {record(e)["requestID"] for e in matching("ResourceName", "/trail/attr")} == {request_id_of(put)}
    assert matching("ResourceName", f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter/trail/attr") == \
        matching("ResourceName", "trail/attr")

    ssm_events = matching("EventSource", "ssm.amazonaws.com")
    assert {record(e)["requestID"] for e in ssm_events} == {request_id_of(put)}
    assert lookup_all(ct, **attr("EventSource", "SSM.amazonaws.com")) == []


def test_time_range(server, region, ct, kms, clock):
    times = []
    for _ in range(3):
        clock.advance(seconds=100)
        kms.generate_random(NumberOfBytes=8)
        times.append(math.floor(clock()))
    clock.advance(seconds=100)

    def names_between(start, end) -> list[float]:
        kwargs = {}
        if start is not None:
            kwargs["StartTime"] = datetime.fromtimestamp(start, timezone.utc)
        if end is not None:
            kwargs["EndTime"] = datetime.fromtimestamp(end, timezone.utc)
        found = lookup_all(ct, **attr("EventName", "GenerateRandom"), **kwargs)
        return [math.floor(e["EventTime"].timestamp()) for e in found]

    assert names_between(None, None) == times[::-1]
    assert names_between(times[1], times[1]) == [times[1]]  # both bounds inclusive, to the second
    assert names_between(times[1], None) == [times[2], times[1]]
    assert names_between(None, times[1]) == [times[1], times[0]]
    assert names_between(times[0] + 1, times[2] - 1) == [times[1]]
    assert names_between(times[2] + 1, None) == []


# --- paging -----------------------------------------------------------------------------------
def test_paging_returns_every_event_exactly_once_newest_first(server, region, ct, kms, clock):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    made = []
    for i in range(22):
        if i % 5 == 0:
            clock.advance(seconds=1)
        made.append(request_id_of(kms.describe_key(KeyId=key_id)))
    kms_only = attr("EventSource", "kms.amazonaws.com")
    whole = lookup_all(ct, **kms_only)
    assert [record(e)["requestID"] for e in whole][:22] == made[::-1] and len(whole) == 23
    times = [e["EventTime"] for e in whole]
    assert times == sorted(times, reverse=True)
    for size in (1, 4, 5, 22, 23, 50):
        assert lookup_all(ct, page_size=size, **kms_only) == whole, size
    paginated = [e for page in ct.get_paginator("lookup_events").paginate(
        **kms_only, PaginationConfig={"PageSize": 6}) for e in page["Events"]]
    assert paginated == whole
    # the page size may change from one page to the next; the walk is the same
    first = ct.lookup_events(MaxResults=3, **kms_only)
    second = ct.lookup_events(MaxResults=10, NextToken=first["NextToken"], **kms_only)
    assert first["Events"] + second["Events"] == whole[:13]
    # the first page fixes the walk: the lookup's own calls (recorded in this Region) are not in it
    events, calls = walk(ct, page_size=2)
    assert len(calls) > 20 and not {record(e)["requestID"] for e in events} & set(calls)


def test_a_next_token_works_only_for_its_own_lookup(server, region, ct):
    for _ in range(3):
        ct.lookup_events(MaxResults=1)
    page = ct.lookup_events(MaxResults=1, **attr("EventName", "LookupEvents"))
    token = page["NextToken"]
    ct.lookup_events(MaxResults=1, NextToken=token, **attr("EventName", "LookupEvents"))  # fine
    refused = [
        lambda: ct.lookup_events(NextToken=token),
        lambda: ct.lookup_events(NextToken=token, **attr("EventName", "Encrypt")),
        lambda: ct.lookup_events(NextToken=token, StartTime=datetime(2020, 1, 1), **attr("EventName", "LookupEvents")),
        lambda: client(server, "cloudtrail", new_region()).lookup_events(
            NextToken=token, **attr("EventName", "LookupEvents")),
        lambda: ct.lookup_events(NextToken=token[:-2], **attr("EventName", "LookupEvents")),
        lambda: ct.lookup_events(NextToken="x" * 40, **attr("EventName", "LookupEvents")),
        lambda: ct.lookup_events(NextToken=base64.urlsafe_b64encode(b'{"0": 5}').decode().rstrip("="),
                                 **attr("EventName", "LookupEvents")),
    ]
    akid, secret = second_account_key(server, OTHER_ACCOUNT)
    refused.append(lambda: client(server, "cloudtrail", region, akid, secret).lookup_events(
        NextToken=token, **attr("EventName", "LookupEvents")))
    for call in refused:
        expect_error(call, "InvalidNextTokenException")


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, code", [
    ({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "A"},
                           {"AttributeKey": "EventSource", "AttributeValue": "B"}]}, "InvalidLookupAttributesException"),
    (attr("Colour", "blue"), "InvalidLookupAttributesException"),
    (attr("EventName", ""), "InvalidLookupAttributesException"),
    (attr("EventName", "a" * 2001), "InvalidLookupAttributesException"),
    (attr("EventName", "_" * 1001), "InvalidLookupAttributesException"),  # '_' counts twice
    (attr("ReadOnly", "maybe"), "InvalidLookupAttributesException"),
    ({"LookupAttributes": [{"AttributeKey": "EventName"}]}, "InvalidLookupAttributesException"),
    ({"StartTime": datetime(2025, 1, 2), "EndTime": datetime(2025, 1, 1)}, "InvalidTimeRangeException"),
    ({"MaxResults": 0}, "InvalidMaxResultsException"),
    ({"MaxResults": 51}, "InvalidMaxResultsException"),
    ({"MaxResults": -5}, "InvalidMaxResultsException"),
    ({"EventCategory": "data"}, "InvalidEventCategoryException"),
    ({"NextToken": ""}, "InvalidNextTokenException"),
    ({"NextToken": "garbage!"}, "InvalidNextTokenException"),
    ({"NextToken": "A" * 5000}, "InvalidNextTokenException"),
])
def test_bad_input_gets_cloudtrails_errors(server, region, kwargs, code):
    raw = client(server, "cloudtrail", region, validate=False)
    with pytest.raises(ClientError) as error:
        raw.lookup_events(**kwargs)
    assert error.value.response["Error"]["Code"] == code
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_edge_inputs_that_are_fine(server, region, ct):
    assert ct.lookup_events(EventCategory="insight")["Events"] == []  # no Insights events here
    assert ct.lookup_events(**attr("EventName", "_" * 1000))["Events"] == []
    assert ct.lookup_events(**attr("EventId", "not-an-event-id"))["Events"] == []
    assert ct.lookup_events(**attr("EventId", str(uuid.uuid4())))["Events"] == []
    assert ct.lookup_events(LookupAttributes=[])["Events"] is not None
    same = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert ct.lookup_events(StartTime=same, EndTime=same)["Events"] == []
    wide = signed_call(server, "LookupEvents", region, body=b'{"StartTime": -1e15, "EndTime": 1e15}')
    assert wide.status_code == 200 and "Events" in wide.json()


@pytest.mark.parametrize("body", [b'{"MaxResults": "5"}', b'{"MaxResults": 1.5}', b'{"LookupAttributes": "EventName"}',
                                  b'{"LookupAttributes": [{"AttributeKey": 5, "AttributeValue": "x"}]}',
                                  b'{"StartTime": "yesterday"}', b'{"NextToken": 7}', b"[]", b'{"EndTime": 1e999}'])
def test_members_of_the_wrong_type_are_serialization_errors(server, region, body):
    answer = signed_call(server, "LookupEvents", region, body=body)
    assert answer.status_code == 400 and answer.json()["__type"] == "SerializationException", answer.text


# --- whose events -------------------------------------------------------------------------------
def test_other_accounts_and_regions_never_appear(server, region, ct, kms):
    elsewhere = new_region()
    mine = request_id_of(kms.generate_random(NumberOfBytes=8))
    mine_elsewhere = request_id_of(client(server, "kms", elsewhere).generate_random(NumberOfBytes=8))
    akid, secret = second_account_key(server, OTHER_ACCOUNT)
    other_kms = client(server, "kms", region, akid, secret)
    other_key = other_kms.create_key()["KeyMetadata"]["KeyId"]
    theirs = request_id_of(other_kms.describe_key(KeyId=other_key))

    events = lookup_all(ct)
    seen = {record(e)["requestID"] for e in events}
    assert mine in seen and mine_elsewhere not in seen and theirs not in seen
    assert {record(e)["recipientAccountId"] for e in events} == {ACCOUNT_ID}
    assert {record(e)["awsRegion"] for e in events} == {region}
    other_arn = f"arn:aws:kms:{region}:{OTHER_ACCOUNT}:key/{other_key}"
    assert lookup_all(ct, **attr("ResourceName", other_arn)) == []
    assert lookup_all(ct, **attr("AccessKeyId", akid)) == []
    assert lookup_all(ct, **attr("Username", "root")) and all(
        record(e)["userIdentity"]["accountId"] == ACCOUNT_ID for e in lookup_all(ct, **attr("Username", "root")))

    other_ct = client(server, "cloudtrail", region, akid, secret)
    theirs_seen = lookup_all(other_ct)
    assert theirs in {record(e)["requestID"] for e in theirs_seen}
    assert {record(e)["recipientAccountId"] for e in theirs_seen} == {OTHER_ACCOUNT}
    # an event id of another account's event finds nothing
    their_id = one(theirs_seen, theirs)["EventId"]
    assert lookup_all(ct, **attr("EventId", their_id)) == []
    assert one(lookup_all(other_ct, **attr("EventId", their_id)), theirs)
    # and another Region's event, by id, from this Region
    elsewhere_id = one(lookup_all(client(server, "cloudtrail", elsewhere)), mine_elsewhere)["EventId"]
    assert lookup_all(ct, **attr("EventId", elsewhere_id)) == []


# --- authorization ------------------------------------------------------------------------------
def test_iam_users_need_cloudtrail_lookup_events(server, region, kms):
    mine = request_id_of(kms.generate_random(NumberOfBytes=8))
    name, akid, secret = user(server, region, None)
    error = expect_error(lambda: client(server, "cloudtrail", region, akid, secret).lookup_events(),
                         "AccessDeniedException")
    assert error["Message"] == (f"User: arn:aws:iam::{ACCOUNT_ID}:user/{name} is not authorized to perform: "
                                "cloudtrail:LookupEvents on resource: * because no identity-based policy allows "
                                "the cloudtrail:LookupEvents action")
    _, akid, secret = user(server, region, [{"Effect": "Allow", "Action": "cloudtrail:LookupEvents",
                                             "Resource": "*"}])
    allowed = client(server, "cloudtrail", region, akid, secret)
    assert mine in {record(e)["requestID"] for e in lookup_all(allowed)}  # the account's events, not only its own
    _, akid, secret = user(server, region, [{"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"},
                                            {"Effect": "Deny", "Action": "cloudtrail:LookupEvents",
                                             "Resource": "*"}])
    expect_error(lambda: client(server, "cloudtrail", region, akid, secret).lookup_events(),
                 "AccessDeniedException", contains="with an explicit deny in an identity-based policy")


# --- VerifyAuditChain ----------------------------------------------------------------------------
def test_verify_audit_chain_for_the_administrative_account(server, region, ct):
    answer = signed_call(server, "VerifyAuditChain", region)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["Intact"] is True and result["EventCount"] > 0
    assert "FirstBrokenSeq" not in result and "Reason" not in result
    recorded = one(lookup_all(ct, **attr("EventName", "VerifyAuditChain")), answer.headers["x-amzn-requestid"])
    assert recorded["ReadOnly"] == "true" and recorded["EventSource"] == "cloudtrail.amazonaws.com"
    # an IAM user of the administrative account, with the permission
    _, akid, secret = user(server, region, [{"Effect": "Allow", "Action": "cloudtrail:VerifyAuditChain",
                                             "Resource": "*"}])
    assert signed_call(server, "VerifyAuditChain", region, akid, secret).json()["Intact"] is True


def test_verify_audit_chain_is_refused_to_everyone_else(server, region):
    def refused(akid: str, secret: str) -> str:
        answer = signed_call(server, "VerifyAuditChain", region, akid, secret)
        assert answer.status_code == 400 and answer.json()["__type"] == "AccessDeniedException", answer.text
        return answer.json()["message"]

    name, akid, secret = user(server, region, [{"Effect": "Allow", "Action": "cloudtrail:LookupEvents",
                                                "Resource": "*"}])
    assert "because no identity-based policy allows the cloudtrail:VerifyAuditChain action" in refused(akid, secret)
    # another account: refused even to its root, whatever its policies say
    akid, secret = second_account_key(server, OTHER_ACCOUNT)
    message = refused(akid, secret)
    assert message.startswith(f"User: arn:aws:iam::{OTHER_ACCOUNT}:root is not authorized to perform: "
                              "cloudtrail:VerifyAuditChain on resource: *")
    assert "administrative account" in message
    unknown = signed_call(server, "NoSuchOperation", region)
    assert unknown.status_code == 400 and unknown.json()["__type"] == "UnknownOperationException"


# --- secrets -------------------------------------------------------------------------------------
def forms(secret: bytes) -> list[str]:
    b64 = base64.b64encode(secret).decode()
    return [secret.decode("latin-1"), secret.hex(), secret.hex().upper(), b64, b64.rstrip("="),
            base64.urlsafe_b64encode(secret).decode().rstrip("=")]


def test_no_secret_value_in_any_lookup(server, region, ct, kms, ssm):
    value = "trail-canary-" + os.urandom(16).hex()
    plaintext = b"kms-canary-" + os.urandom(16).hex().encode()
    name = f"/trail/{uuid.uuid4().hex[:8]}/secret"
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", KeyId=key_id)
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == value
    ssm.get_parameters(Names=[name], WithDecryption=True)
    ssm.get_parameter_history(Name=name, WithDecryption=True)
    ssm.put_parameter(Name=name, Value=value + "-2", Type="SecureString", KeyId=key_id, Overwrite=True)
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext={"purpose": "canary"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "canary"})["Plaintext"] == plaintext
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
    sm = client(server, "secretsmanager", region)
    secret_string = "sm-canary-" + os.urandom(16).hex()
    sm.create_secret(Name="trail-" + uuid.uuid4().hex[:8], SecretString=secret_string)

    pages = []
    for attribute in (None, ("ReadOnly", "true"), ("ReadOnly", "false"), ("ResourceName", name)):
        token = None
        while True:
            page = ct.lookup_events(MaxResults=50, **(attr(*attribute) if attribute else {}),
                                    **({"NextToken": token} if token else {}))
            pages.append(page)
            token = page.get("NextToken")
            if token is None:
                break
    haystack = json.dumps(pages, default=str)
    assert "GetParameterHistory" in haystack and "GenerateDataKey" in haystack and "CreateSecret" in haystack
    needles = [value, value + "-2", secret_string, SECRET_ACCESS_KEY] + forms(plaintext) + forms(data_key) + [
        base64.b64encode(blob).decode()]
    leaks = [needle for needle in needles if needle in haystack]
    assert not leaks, leaks
