"""LookupEvents (AWS CloudTrail) and VerifyAuditChain (a paramstore extension).

Both read the audit trail (kms_core/audit.py) on the database worker, never on the event
loop (a page is a bounded scan, a verification walks the whole trail).  Both are recorded
in the trail like any other call, as read-only events.

What a caller sees of the trail: the events whose recipient account is its own (the
account of the principal that made the call, or, for what the service did by itself, of
the resource's owner) in the Region its request is signed for.  Everything in an event
comes from the stored row, which never holds a plaintext, a value, a data key or key
material (kms_core/audit.py); nothing is taken from the live request or the store.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from kms_core.audit import verify
from kms_core.audit_lookup import (
    EventIds,
    Query,
    TextMatch,
    cursor_text,
    is_read_only,
    lookup,
    parse_cursor,
    read_only_match,
)
from kms_core.port import ServiceRequest, authorize_account
from kms_core.protocol.page_tokens import open_page_token, seal_page_token
from paramstore.ssm.names import canonical_of, parameter_arn
from paramstore.trail.errors import (
    AccessDeniedException,
    InvalidEventCategoryException,
    InvalidLookupAttributesException,
    InvalidMaxResultsException,
    InvalidNextTokenException,
    InvalidTimeRangeException,
)

#: LookupEvents' AttributeKey values (botocore's LookupAttributeKey enum)
ATTRIBUTE_KEYS = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName",
                  "EventSource", "AccessKeyId")
#: AWS: "The maximum length for the AttributeValue is 2000 characters. The following
#: characters ('_', ' ', ',', '\\n') count as two characters towards the 2000 character limit."
MAX_ATTRIBUTE_VALUE = 2000
_DOUBLE_WEIGHT = frozenset("_ ,\n")
DEFAULT_MAX_RESULTS = MAX_MAX_RESULTS = 50
EVENT_VERSION = "1.08"

#: ResourceType -> (ARN service, resource kind): what the audit trail's resource ARNs are
RESOURCE_TYPES: dict[str, tuple[str, str]] = {
    "AWS::KMS::Key": ("kms", "key"),
    "AWS::KMS::Alias": ("kms", "alias"),
    "AWS::SSM::Parameter": ("ssm", "parameter"),
    "AWS::SSM::ServiceSetting": ("ssm", "servicesetting"),
    "AWS::SecretsManager::Secret": ("secretsmanager", "secret"),
    "AWS::IAM::User": ("iam", "user"),
    "AWS::IAM::Role": ("iam", "role"),
}
_TYPE_OF = {where: name for name, where in RESOURCE_TYPES.items()}


@dataclass
class Trail:
    """What the operations read: the store's database (where the trail is) and root keyring
    (its chain keys; the event-id key is derived from it), and the server's administrative
    account (PARAMSTORE_ACCOUNT_ID: the account made at bootstrap), None for none."""

    db: Any
    root: Any
    admin_account: Optional[str]

    def __post_init__(self) -> None:
        self.event_ids = EventIds(self.root)


@dataclass(slots=True)
class TrailContext(ServiceRequest):
    trail: Any = None  # Trail


# --- LookupEvents ----------------------------------------------------------------------------
def lookup_events(ctx: TrailContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html

    Authorization: `cloudtrail:LookupEvents` on `*` (the action has no resource type), by
    the caller's identity policies; an account's root may.  The events are the caller's
    account's in the request's Region only, newest first (kms_core/audit_lookup.py: a page
    may be short, or empty, with a NextToken, when few events match among many).  A
    NextToken is sealed for this account, Region and set of filters (MaxResults may change
    between pages).  EventCategory `insight`: no Insights events are recorded here, so none.

    Raises:
        AccessDeniedException, InvalidLookupAttributesException, InvalidTimeRangeException,
        InvalidMaxResultsException, InvalidNextTokenException, InvalidEventCategoryException.
    """
    ctx.trail.db.require_worker()
    authorize_account(ctx, "cloudtrail:LookupEvents")
    limit = req.get("MaxResults", DEFAULT_MAX_RESULTS)
    if not 1 <= limit <= MAX_MAX_RESULTS:
        raise InvalidMaxResultsException(f"Value {limit} for MaxResults is invalid: it must be between 1 and "
                                         f"{MAX_MAX_RESULTS}.")
    start, end = req.get("StartTime"), req.get("EndTime")
    if start is not None and end is not None and start > end:
        raise InvalidTimeRangeException("Start time must not be after end time.")
    category = req.get("EventCategory")
    if category is not None and category != "insight":
        raise InvalidEventCategoryException(f"Event category {category} is not valid. Valid value: insight.")
    attribute = _attribute(req.get("LookupAttributes"))
    bound = {"attribute": attribute, "start": start, "end": end, "category": category}
    cursor = None
    token = req.get("NextToken")
    if token is not None:
        position = open_page_token(ctx, "cloudtrail:LookupEvents", bound, token)
        cursor = parse_cursor(position) if position is not None else None
        if cursor is None:  # forged, damaged, or issued for other filters, account or Region
            raise InvalidNextTokenException("Invalid NextToken: it is not one this service issued for these "
                                            "lookup parameters.")
    query = _query(ctx, attribute, start, end)
    if category == "insight" or query is None:  # nothing can match
        return {"Events": []}
    page = lookup(ctx.trail.db, query, limit, cursor)
    out: dict = {"Events": [_event(ctx, event) for event in page.events]}
    if page.cursor is not None:
        out["NextToken"] = seal_page_token(ctx, "cloudtrail:LookupEvents", bound, cursor_text(page.cursor))
    return out


def _attribute(attributes: Optional[list]) -> Optional[tuple[str, str]]:
    """The one lookup attribute, (key, value), or None."""
    if not attributes:
        return None
    if len(attributes) > 1:
        raise InvalidLookupAttributesException("You can specify only one lookup attribute.")
    key, value = attributes[0].get("AttributeKey"), attributes[0].get("AttributeValue")
    if key not in ATTRIBUTE_KEYS:
        raise InvalidLookupAttributesException(
            f"Lookup attribute key {key} is not valid. Valid keys: {', '.join(ATTRIBUTE_KEYS)}.")
    if value is None or value == "":
        raise InvalidLookupAttributesException(f"The value of lookup attribute {key} must not be empty.")
    if sum(2 if c in _DOUBLE_WEIGHT else 1 for c in value) > MAX_ATTRIBUTE_VALUE:
        raise InvalidLookupAttributesException(
            f"The value of lookup attribute {key} is longer than {MAX_ATTRIBUTE_VALUE} characters.")
    if key == "ReadOnly" and value not in ("true", "false"):
        raise InvalidLookupAttributesException("The value of lookup attribute ReadOnly must be true or false.")
    return key, value


def _query(ctx: TrailContext, attribute: Optional[tuple[str, str]], start: Optional[float],
           end: Optional[float]) -> Optional[Query]:
    """The lookup in the caller's account and Region; None if nothing can match."""
    account, region = ctx.account_id, ctx.region
    # CloudTrail's times are whole seconds (and SDKs send StartTime / EndTime as such):
    # an event is "at" EndTime anywhere in that second
    base = {"account_id": account, "region": region, "since": None if start is None else float(math.floor(start)),
            "before": None if end is None else float(math.floor(end) + 1)}
    if attribute is None:
        return Query(**base)
    key, value = attribute
    if key == "EventId":
        seq = ctx.trail.event_ids.decode(value)
        return Query(**base, seq=seq) if seq is not None else None
    if key in ("EventName", "EventSource", "AccessKeyId"):
        column = {"EventName": "event_name", "EventSource": "event_source", "AccessKeyId": "access_key_id"}[key]
        return Query(**base, equals={column: value})
    if key == "ReadOnly":
        return Query(**base, event_names=read_only_match(value == "true"))
    if key == "Username":
        return Query(**base, principal=_username_match(account, value))
    if key == "ResourceName":
        arn = value if value.startswith("arn:") else parameter_arn(region, account, canonical_of(value))
        return Query(**base, resource_needles=(json.dumps(arn),))
    where = RESOURCE_TYPES.get(value)  # ResourceType
    if where is None:
        return None
    service, kind = where
    separator = ":" if service == "secretsmanager" else "/"
    # the database narrows by two substrings; `keep` is the exact test on each event's ARNs
    return Query(**base, resource_needles=(f'"arn:aws:{service}:', f":{kind}{separator}"),
                 keep=lambda event: any(_resource_type(arn) == value for arn in event["resources"]))


def _username_match(account: str, name: str) -> TextMatch:
    """The principals LookupEvents calls `name` (see `_username`): the account's root for
    "root", an IAM user of that name (any path), a role session of that name, or a service
    principal ("kms.amazonaws.com") that is the name itself."""
    exact = (name, f"arn:aws:iam::{account}:root") if name == "root" else (name,)
    if "/" in name:  # no user or session name holds one
        return TextMatch(exact=exact)
    return TextMatch(exact=exact, prefixes=(f"arn:aws:iam::{account}:user/", f"arn:aws:sts::{account}:assumed-role/"),
                     suffix="/" + name)


def _username(principal_arn: Optional[str]) -> Optional[str]:
    if not principal_arn:
        return None
    if not principal_arn.startswith("arn:"):
        return principal_arn  # a service acting by itself
    resource = principal_arn.split(":", 5)[-1]
    if resource == "root":
        return "root"
    return resource.rsplit("/", 1)[-1]


def _resource_type(arn: str) -> Optional[str]:
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    kind = parts[5].split("/", 1)[0].split(":", 1)[0]
    return _TYPE_OF.get((parts[2], kind))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user_identity(event: dict) -> dict:
    arn, account, akid = event["principal_arn"], event["account_id"], event["access_key_id"]
    if not arn or not arn.startswith("arn:"):
        return {"type": "AWSService", "invokedBy": arn}
    resource = arn.split(":", 5)[-1]
    identity: dict = {}
    if resource == "root":
        identity = {"type": "Root", "principalId": account}
    elif resource.startswith("user/"):
        identity = {"type": "IAMUser"}
    elif resource.startswith("assumed-role/"):
        identity = {"type": "AssumedRole"}
    else:
        identity = {"type": "Unknown"}
    identity.update({"arn": arn, "accountId": account})
    if akid:
        identity["accessKeyId"] = akid
    if identity["type"] == "IAMUser":
        identity["userName"] = _username(arn)
    return identity


def _request_parameters(event: dict) -> Optional[dict]:
    """What the trail stored of the request: its encryption context (AWS logs it in the
    clear; ReEncrypt's two as source and destination), nothing else."""
    context = event["encryption_context"]
    if context is None:
        return None
    pair = {"SourceEncryptionContext": "sourceEncryptionContext",
            "DestinationEncryptionContext": "destinationEncryptionContext"}
    if event["event_name"] == "ReEncrypt" and isinstance(context, dict) and context and set(context) <= set(pair):
        return {pair[name]: value for name, value in context.items()}
    return {"encryptionContext": context}


def _event(ctx: TrailContext, event: dict) -> dict:
    """One event as LookupEvents returns it, with its CloudTrail record (CloudTrailEvent)."""
    event_id = ctx.trail.event_ids.encode(event["seq"])
    read_only = is_read_only(event["event_name"])
    arns = [arn for arn in event["resources"] if isinstance(arn, str)]
    detail = event["detail"] if isinstance(event["detail"], dict) else {}
    record: dict = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": _user_identity(event),
        "eventTime": _iso(event["event_time"]),
        "eventSource": event["event_source"],
        "eventName": event["event_name"],
        "awsRegion": event["region"],
        "sourceIPAddress": event["source_ip"],
        "userAgent": event["user_agent"],
    }
    if event["error_code"] is not None:
        record["errorCode"] = event["error_code"]
        if isinstance(detail.get("errorMessage"), str):
            record["errorMessage"] = detail["errorMessage"]
    record["requestParameters"] = _request_parameters(event)
    record["responseElements"] = None
    extra = {k: v for k, v in detail.items() if k != "errorMessage"}
    if extra:  # the non-secret facts the operation recorded (a version id, a side change)
        record["additionalEventData"] = extra
    record.update({
        "requestID": event["request_id"],
        "eventID": event_id,
        "readOnly": read_only,
        "resources": [_record_resource(arn) for arn in arns],
        "eventType": "AwsApiCall" if record["userIdentity"]["type"] != "AWSService" else "AwsServiceEvent",
        "managementEvent": True,
        "recipientAccountId": event["account_id"],
        "eventCategory": "Management",
    })
    out: dict = {
        "EventId": event_id,
        "EventName": event["event_name"],
        "ReadOnly": "true" if read_only else "false",
        "EventTime": event["event_time"],
        "EventSource": event["event_source"],
        "Resources": [_resource(arn) for arn in arns],
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }
    if event["access_key_id"]:
        out["AccessKeyId"] = event["access_key_id"]
    username = _username(event["principal_arn"])
    if username:
        out["Username"] = username
    return out


def _resource(arn: str) -> dict:
    kind = _resource_type(arn)
    return {"ResourceType": kind, "ResourceName": arn} if kind else {"ResourceName": arn}


def _record_resource(arn: str) -> dict:
    parts = arn.split(":", 5)
    out: dict = {"ARN": arn}
    if len(parts) == 6 and parts[4]:
        out["accountId"] = parts[4]
    kind = _resource_type(arn)
    if kind:
        out["type"] = kind
    return out


# --- VerifyAuditChain (paramstore extension) --------------------------------------------------
def verify_audit_chain(ctx: TrailContext, req: dict) -> dict:
    """A paramstore extension, not an AWS operation: `paramstore audit verify` as an API
    call.  Walks every chain of the audit trail and its authenticated head
    (kms_core/audit.py, verify) and returns {"Intact", "EventCount", and when set
    "FirstBrokenSeq", "Reason", "Note"}.

    Authorization: `cloudtrail:VerifyAuditChain` on `*`, by the caller's identity policies
    (an account's root may), AND only for principals of the server's administrative account
    (PARAMSTORE_ACCOUNT_ID, the account the server bootstraps; the operator's).  Why the
    second rule: unlike LookupEvents, the answer is about the whole trail, every account's
    events (their count, the seq and reason of a break), and the walk costs time in
    proportion to the whole trail on the database worker (writes wait behind it).  A
    tenant account can't see or pay for that; its principals, root included, get
    AccessDeniedException, however their policies read.  With no administrative account
    configured (build_protocol without one), everyone is refused.

    Raises:
        AccessDeniedException.
    """
    trail: Trail = ctx.trail
    trail.db.require_worker()
    if trail.admin_account is None or ctx.account_id != trail.admin_account:
        raise AccessDeniedException(
            f"User: {ctx.principal.arn} is not authorized to perform: cloudtrail:VerifyAuditChain on resource: * "
            "because only principals of the server's administrative account may verify the audit trail")
    authorize_account(ctx, "cloudtrail:VerifyAuditChain")
    result = verify(trail.db, trail.root)
    out: dict = {"Intact": result.ok, "EventCount": result.count}
    if result.first_broken_seq is not None:
        out["FirstBrokenSeq"] = result.first_broken_seq
    if result.reason is not None:
        out["Reason"] = result.reason
    if result.note is not None:
        out["Note"] = result.note
    return out
