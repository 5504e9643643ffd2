"""CloudTrail error codes, one class per AWS error shape this service answers with (names
verbatim from botocore's cloudtrail 2013-11-01 model, where none has an HTTP status of its
own: 400).  tests/unit/test_audit_lookup.py checks each against the model.

AccessDeniedException and ThrottlingException are the shared classes (kms_core/domain),
with the same codes; internal faults are the common InternalFailure (500): CloudTrail's
model names no error of its own for them."""

from __future__ import annotations

from kms_core.domain.errors import (  # noqa: F401  (re-exported: shared protocol errors)
    AccessDeniedException,
    AwsError,
    InternalFailure,
    ThrottlingException,
)


class TrailError(AwsError):
    """Base of the CloudTrail error shapes."""


def _define(code: str) -> type[TrailError]:
    return type(code, (TrailError,), {"code": code, "http_status": 400, "__doc__": f"CloudTrail {code}."})


InvalidLookupAttributesException = _define("InvalidLookupAttributesException")
InvalidTimeRangeException = _define("InvalidTimeRangeException")
InvalidMaxResultsException = _define("InvalidMaxResultsException")
InvalidNextTokenException = _define("InvalidNextTokenException")
InvalidEventCategoryException = _define("InvalidEventCategoryException")
