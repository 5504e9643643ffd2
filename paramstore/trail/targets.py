"""The CloudTrail dispatch table:
"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Operation>" -> operation function.

The prefix, the SigV4 signing name `cloudtrail` and the shapes are botocore's cloudtrail
2013-11-01 model's (service-2.json: targetPrefix, endpointPrefix).  The input shapes keep
the model's member names and types but not its ranges and enums: AWS answers those with
CloudTrail's own errors (InvalidMaxResultsException, InvalidLookupAttributesException,
InvalidEventCategoryException), which the operation raises, not the generic
ValidationException the protocol layer would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from kms_core.domain.principal import Principal
from kms_core.protocol.awsjson import ServiceSpec
from paramstore.trail import operations
from paramstore.trail.errors import InternalFailure
from paramstore.trail.operations import Trail, TrailContext

if TYPE_CHECKING:
    from paramstore.bootstrap import Store

TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"
SIGNING_NAME = "cloudtrail"
EVENT_SOURCE = "cloudtrail.amazonaws.com"

HANDLERS: dict[str, Callable[[TrailContext, dict], dict]] = {
    "LookupEvents": operations.lookup_events,
    "VerifyAuditChain": operations.verify_audit_chain,  # paramstore extension
}

_STRING = {"type": "string"}
SHAPES: dict[str, dict] = {
    "LookupEvents": {"type": "structure", "required": [], "members": {
        "LookupAttributes": {"type": "list", "member": {"type": "structure", "required": [], "members": {
            "AttributeKey": _STRING, "AttributeValue": _STRING}}},
        "StartTime": {"type": "timestamp"},
        "EndTime": {"type": "timestamp"},
        "EventCategory": _STRING,
        "MaxResults": {"type": "integer"},
        "NextToken": _STRING,
    }},
    "VerifyAuditChain": {"type": "structure", "required": [], "members": {}},
}


def trail_service(store: "Store", admin_account: Optional[str]) -> ServiceSpec:
    """The service over a store's audit trail; `admin_account` may call VerifyAuditChain
    (operations.verify_audit_chain).  No operation is inline: both read the trail at length
    and run on the database worker."""
    trail = Trail(store.db, store.root, admin_account)
    kms = store.kms

    def make_context(principal: Principal, region: str, request_id: str, operation: str,
                     source_ip: Optional[str], secure: bool) -> TrailContext:
        return TrailContext(kms, principal, region, request_id, operation, source_ip=source_ip,
                            secure_transport=secure, trail=trail)

    spec = ServiceSpec(TARGET_PREFIX, SIGNING_NAME, EVENT_SOURCE, InternalFailure, make_context,
                       timeout_error=InternalFailure)
    for name, handler in HANDLERS.items():
        spec.add(name, handler, SHAPES[name])
    return spec
