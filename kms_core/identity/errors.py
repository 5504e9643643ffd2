"""IAM and STS error codes (AWS query protocol), as botocore's iam/sts models name them.

They subclass `AwsError`, so the query protocol (protocol/query.py) renders them like any
other error: `code` and `http_status` are what AWS answers.
"""

from __future__ import annotations

from kms_core.domain.errors import AwsError


class IamError(AwsError):
    """Base of the IAM/STS error shapes."""


def _define(code: str, status: int) -> type[IamError]:
    return type(code, (IamError,), {"code": code, "http_status": status, "__doc__": f"IAM/STS {code}."})


NoSuchEntity = _define("NoSuchEntity", 404)
EntityAlreadyExists = _define("EntityAlreadyExists", 409)
MalformedPolicyDocument = _define("MalformedPolicyDocument", 400)
LimitExceeded = _define("LimitExceeded", 409)
ValidationError = _define("ValidationError", 400)
InvalidInput = _define("InvalidInput", 400)
DeleteConflict = _define("DeleteConflict", 409)
AccessDenied = _define("AccessDenied", 403)
InvalidAction = _define("InvalidAction", 400)
ServiceFailure = _define("ServiceFailure", 500)
InvalidClientTokenId = _define("InvalidClientTokenId", 403)
SignatureDoesNotMatch = _define("SignatureDoesNotMatch", 403)
IncompleteSignature = _define("IncompleteSignature", 400)
MissingAuthenticationToken = _define("MissingAuthenticationToken", 403)
ExpiredToken = _define("ExpiredToken", 400)
InvalidParameterValue = _define("InvalidParameterValue", 400)
PackedPolicyTooLarge = _define("PackedPolicyTooLarge", 400)
