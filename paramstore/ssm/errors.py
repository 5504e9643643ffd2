"""SSM error codes, one class per AWS error shape (names verbatim from botocore's model).

A few SSM shapes name their text `Message` rather than `message`; botocore reads either,
but the body follows the model so strict clients see what AWS sends.
tests/unit/test_ssm_errors.py checks this list against the generated model.
"""

from __future__ import annotations

from kms_core.domain.errors import (  # noqa: F401  (re-exported: shared protocol errors)
    AccessDeniedException,
    AwsError,
    ValidationException,
)


class SsmError(AwsError):
    """Base of the SSM-specific error shapes."""


def _define(code: str, status: int = 400, message_field: str = "message") -> type[SsmError]:
    return type(code, (SsmError,), {"code": code, "http_status": status, "message_field": message_field,
                                    "__doc__": f"AWS SSM {code}."})


HierarchyLevelLimitExceededException = _define("HierarchyLevelLimitExceededException")
HierarchyTypeMismatchException = _define("HierarchyTypeMismatchException")
IncompatiblePolicyException = _define("IncompatiblePolicyException")
InternalServerError = _define("InternalServerError", 500, "Message")
InvalidAllowedPatternException = _define("InvalidAllowedPatternException")
InvalidFilterKey = _define("InvalidFilterKey")
InvalidFilterOption = _define("InvalidFilterOption")
InvalidFilterValue = _define("InvalidFilterValue", message_field="Message")
InvalidKeyId = _define("InvalidKeyId")
InvalidNextToken = _define("InvalidNextToken", message_field="Message")
InvalidPolicyAttributeException = _define("InvalidPolicyAttributeException")
InvalidPolicyTypeException = _define("InvalidPolicyTypeException")
InvalidResourceId = _define("InvalidResourceId")
InvalidResourceType = _define("InvalidResourceType")
ParameterAlreadyExists = _define("ParameterAlreadyExists")
ParameterLimitExceeded = _define("ParameterLimitExceeded")
ParameterMaxVersionLimitExceeded = _define("ParameterMaxVersionLimitExceeded")
ParameterNotFound = _define("ParameterNotFound")
ParameterPatternMismatchException = _define("ParameterPatternMismatchException")
ParameterVersionLabelLimitExceeded = _define("ParameterVersionLabelLimitExceeded")
ParameterVersionNotFound = _define("ParameterVersionNotFound")
PoliciesLimitExceededException = _define("PoliciesLimitExceededException")
ServiceSettingNotFound = _define("ServiceSettingNotFound", message_field="Message")
TooManyTagsError = _define("TooManyTagsError")
TooManyUpdates = _define("TooManyUpdates", message_field="Message")
UnsupportedParameterType = _define("UnsupportedParameterType")
