"""`/aws/reference/secretsmanager/<secret-id>[:<version-id>|:<stage>]` in GetParameter and
GetParameters: a Secrets Manager secret read through Parameter Store.

Parameter Store keeps nothing of it: the read is Secrets Manager's GetSecretValue, made as
the caller (so its IAM and resource policies, the secret's KMS key through
secretsmanager.<region>.amazonaws.com, and its audit apply), after ssm:GetParameter(s) on
the reference's own parameter ARN.  The answer has AWS's shape: the full reference path as
Name, Type SecureString, the secret's ARN, the selector echoed, and SourceResult, the
GetSecretValue result as JSON."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Optional

from kms_core.domain.errors import AwsError
from paramstore.secrets.context import SecretsContext
from paramstore.secrets.operations import values as secret_values
from paramstore.secrets.operations._common import find_secret
from paramstore.ssm.context import SsmContext
from paramstore.ssm.errors import AccessDeniedException, InvalidKeyId, ParameterNotFound, ValidationException
from paramstore.ssm.operations._common import arn_of, authorize_ssm

PREFIX = "/aws/reference/secretsmanager/"
_STAGE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


def is_reference(name: str) -> bool:
    return name.startswith(PREFIX)


def _split(tail: str) -> tuple[str, Optional[str]]:
    """(secret id, selector): a secret's ARN has six colons of its own."""
    limit = 7 if tail.startswith("arn:") else 1
    parts = tail.split(":")
    if len(parts) <= limit:
        return tail, None
    return ":".join(parts[:limit]), ":".join(parts[limit:])


def get_reference(ctx: SsmContext, name: str, with_decryption: bool, action: str) -> dict:
    """The `Parameter` for a reference, or ParameterNotFound / the caller's refusal."""
    if not with_decryption:
        raise ValidationException("WithDecryption flag must be True for retrieving a Secret Manager secret.")
    secret_id, selector = _split(name[len(PREFIX):])
    path = PREFIX + secret_id
    authorize_ssm(ctx, action, arn_of(ctx, path.lstrip("/")))
    missing = ParameterNotFound(f"An error occurred (ParameterNotFound) when referencing Secrets Manager: Secret "
                                f"{path} not found.")
    if not secret_id or (selector is not None and (not selector or not set(selector) <= _STAGE_CHARS)):
        raise missing
    sctx = SecretsContext(ctx.kms, ctx.principal, ctx.region, ctx.request_id, "GetSecretValue",
                          source_ip=ctx.source_ip, resources=ctx.resources, secure_transport=ctx.secure_transport,
                          secrets=ctx.secrets)
    try:
        secret = find_secret(sctx, secret_id)
        request: dict = {"SecretId": secret_id}
        if selector is not None:
            version = ctx.secrets.version(secret, selector) if secret is not None else None
            request["VersionId" if version is not None else "VersionStage"] = selector
        result = secret_values.get_secret_value(sctx, request)
    except AwsError as error:
        raise _as_ssm_error(error, missing) from None
    shape = {"Name": path, "Type": "SecureString", "Value": _value_text(result),
             "LastModifiedDate": result["CreatedDate"], "ARN": result["ARN"],
             "SourceResult": _source_result(result)}
    if selector is not None:
        shape["Selector"] = ":" + selector
    return shape


def _value_text(result: dict) -> str:
    if "SecretString" in result:
        return result["SecretString"]
    return base64.b64encode(result["SecretBinary"]).decode("ascii")


def _source_result(result: dict) -> str:
    """GetSecretValue's answer as JSON (member names as AWS writes them here: lower camel
    case, except ARN)."""
    out: dict = {"ARN": result["ARN"], "name": result["Name"], "versionId": result["VersionId"]}
    if "SecretString" in result:
        out["secretString"] = result["SecretString"]
    else:
        out["secretBinary"] = base64.b64encode(result["SecretBinary"]).decode("ascii")
    out["versionStages"] = result["VersionStages"]
    out["createdDate"] = datetime.fromtimestamp(result["CreatedDate"], timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return json.dumps(out, separators=(",", ":"))


def _as_ssm_error(error: AwsError, missing: AwsError) -> AwsError:
    if error.code in ("ResourceNotFoundException", "ValidationException"):
        return missing
    if error.code == "AccessDeniedException":
        return AccessDeniedException(error.message)
    if error.code in ("DecryptionFailure", "EncryptionFailure"):
        return InvalidKeyId(error.message)
    return ValidationException(error.message)
