"""Errors every AWS JSON 1.1 service shares, rendered by protocol/awsjson.py.

Service error classes (kms_core/errors.py, paramstore/errors.py) subclass `AwsError`;
the renderer reads only `code`, `http_status` and the message, so operations never build
HTTP responses themselves.
"""

from __future__ import annotations


class AwsError(Exception):
    """An error the caller caused (or a typed internal fault), with its AWS error code."""

    code: str = "InternalFailure"
    http_status: int = 400
    #: botocore reads `message`; a few SSM shapes spell it `Message`.
    message_field: str = "message"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class InternalFailure(AwsError):
    code = "InternalFailure"
    http_status = 500


class ValidationException(AwsError):
    code = "ValidationException"


class SerializationException(AwsError):
    code = "SerializationException"


class UnknownOperationException(AwsError):
    code = "UnknownOperationException"


class AccessDeniedException(AwsError):
    code = "AccessDeniedException"


class ThrottlingException(AwsError):
    code = "ThrottlingException"


class RequestEntityTooLargeException(AwsError):
    code = "RequestEntityTooLargeException"
    http_status = 413


class MissingAuthenticationTokenException(AwsError):
    code = "MissingAuthenticationTokenException"


class IncompleteSignatureException(AwsError):
    code = "IncompleteSignatureException"


class UnrecognizedClientException(AwsError):
    code = "UnrecognizedClientException"


class InvalidSignatureException(AwsError):
    code = "InvalidSignatureException"


class ExpiredTokenException(AwsError):
    code = "ExpiredTokenException"
