"""Errors every AWS service here shares, at the bottom of the layers: the protocol renders
them (protocol/awsjson.py, protocol/query.py), every layer above raises them.

Service error classes (kms_core/errors.py, paramstore/ssm/errors.py, identity/errors.py)
subclass `AwsError`; the renderer reads only `code`, `http_status` and the message, so
operations never build HTTP responses themselves.  AWS's validation messages ("1
validation error detected: Value 'x' at 'keyId' failed to satisfy constraint: ...") are
written in one place: `violation` and `validation_message`.
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


#: `violation`'s value when AWS names no value ("Value at 'tags' failed ...")
NO_VALUE: object = object()


def violation(member: str, constraint: str, value: object = NO_VALUE) -> str:
    """One constraint a request member fails, as AWS words it: `value` None is "null"."""
    shown = "Value" if value is NO_VALUE else "Value null" if value is None else f"Value '{value}'"
    return f"{shown} at '{member}' failed to satisfy constraint: {constraint}"


def validation_message(violations: list[str]) -> str:
    """"1 validation error detected: ..." or "N validation errors detected: a; b"."""
    n = len(violations)
    head = "1 validation error detected: " if n == 1 else f"{n} validation errors detected: "
    return head + "; ".join(violations)


def invalid(member: str, constraint: str, value: object = NO_VALUE) -> str:
    """The message of a request with one violation."""
    return validation_message([violation(member, constraint, value)])


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
