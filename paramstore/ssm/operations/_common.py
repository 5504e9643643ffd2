"""Helpers shared by the SSM operations: finding a parameter and a version, rendering the
response shapes, page tokens, authorization."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Optional

from kms_core.port import authorize_account
from kms_core.protocol.page_tokens import open_page_token, seal_page_token
from paramstore.ssm.context import SsmContext
from paramstore.ssm.envelope import SECURE_STRING, unseal
from paramstore.ssm.errors import InvalidNextToken, ParameterNotFound, ParameterVersionNotFound, ValidationException
from paramstore.ssm.names import INVALID_NAME, BadReference, Reference, arn_prefix, parameter_arn, parse_reference
from paramstore.ssm.storage.tables import ParameterTable, ParameterVersionTable


def authorize_ssm(ctx: SsmContext, action: str, resource: str) -> None:
    """ssm:* actions are decided by identity policies alone (parameters have no resource
    policy), on the parameter's ARN, so `parameter/app/prod/*` scopes a whole path.

    A parameter's tags are its aws:ResourceTag/<key> values (read only if a policy asks),
    and every parameter a request names is one of its audited resources, allowed or not."""
    prefix = arn_prefix(ctx.region, ctx.account_id)
    if not resource.startswith(prefix):
        authorize_account(ctx, action, resource)
        return
    if resource not in ctx.resources:
        ctx.resources.append(resource)
    canonical = resource[len(prefix):]
    authorize_account(ctx, action, resource,
                      lambda: ctx.ssm.tags(ctx.account_id, ctx.region, canonical))


def arn_of(ctx: SsmContext, canonical: str) -> str:
    return parameter_arn(ctx.region, ctx.account_id, canonical)


def reference(text: str) -> Reference:
    """A name, ARN or selector as GetParameter/GetParameterHistory take it."""
    try:
        return parse_reference(text)
    except BadReference:
        raise ValidationException(INVALID_NAME) from None


def not_found(name: str) -> ParameterNotFound:
    return ParameterNotFound(f"Parameter {name} not found.")


def find_parameter(ctx: SsmContext, ref: Reference) -> Optional[ParameterTable]:
    """The caller's parameter a reference names (ARNs of other accounts or regions: none)."""
    if (ref.account_id is not None and ref.account_id != ctx.account_id) or (
            ref.region is not None and ref.region != ctx.region):
        return None
    return ctx.ssm.parameter(ctx.account_id, ctx.region, ref.canonical)


def require_parameter(ctx: SsmContext, ref: Reference) -> ParameterTable:
    param = find_parameter(ctx, ref)
    if param is None:
        raise not_found(ref.name)
    return param


def selected_version(ctx: SsmContext, param: ParameterTable, ref: Reference) -> ParameterVersionTable:
    """The version a selector picks (the latest without one); never falls back."""
    if ref.label is not None:
        number = ctx.ssm.labels(param).get(ref.label)
        if number is None:  # AWS answers an unknown label as an unknown parameter
            raise not_found(f"{ref.name}{ref.selector}")
    else:
        number = ref.version if ref.version is not None else param.version
    row = ctx.ssm.version(param, number)
    if row is None:
        raise ParameterVersionNotFound(
            f"Systems Manager could not find version {number} of {ref.name}. Verify the version and try again.")
    return row


def stored_ciphertext(row: ParameterVersionTable) -> str:
    """What a SecureString read without WithDecryption shows: the stored ciphertext
    (sealed data key, then sealed value), base64 — never the plaintext."""
    blob = struct.pack(">H", len(row.data_key_sealed)) + row.data_key_sealed + row.value_sealed
    return base64.b64encode(blob).decode("ascii")


def value_of(ctx: SsmContext, param: ParameterTable, row: ParameterVersionTable, with_decryption: bool) -> str:
    if row.type == SECURE_STRING and not with_decryption:
        return stored_ciphertext(row)
    return unseal(ctx.ssm.kms_port, ctx, arn_of(ctx, param.canonical), row.version, row.type, row.key_id,
                  row.value_sealed, row.data_key_sealed, ctx.ssm.data_keys(), (param.id, row.version))


def parameter_shape(ctx: SsmContext, param: ParameterTable, row: ParameterVersionTable,
                    with_decryption: bool, selector: Optional[str] = None) -> dict:
    """The `Parameter` shape (GetParameter, GetParameters, GetParametersByPath)."""
    shape = {
        "Name": param.name,
        "Type": row.type,
        "Value": value_of(ctx, param, row, with_decryption),
        "Version": row.version,
        "LastModifiedDate": row.last_modified_date,
        "ARN": arn_of(ctx, param.canonical),
        "DataType": row.data_type,
    }
    if selector:
        shape["Selector"] = selector
    return shape


def version_metadata(row) -> dict:
    """The metadata fields ParameterMetadata (DescribeParameters) and ParameterHistory
    share, from a parameter row or a version row; optional fields only when set."""
    meta = {
        "Type": row.type,
        "LastModifiedDate": row.last_modified_date,
        "LastModifiedUser": row.last_modified_user,
        "Version": row.version,
        "Tier": row.tier,
        "Policies": inline_policies(row.policies),
        "DataType": row.data_type,
    }
    if row.key_id is not None:
        meta["KeyId"] = row.key_id
    if row.description is not None:
        meta["Description"] = row.description
    if row.allowed_pattern is not None:
        meta["AllowedPattern"] = row.allowed_pattern
    return meta


def inline_policies(policies: Optional[str]) -> list:
    return json.loads(policies) if policies else []


# --- page tokens -------------------------------------------------------------------------
def encode_token(ctx: SsmContext, operation: str, bound: Any, position: str) -> str:
    """The NextToken after `position`, sealed for this account, Region, operation and
    `bound` (the request's path and filters; kms_core/protocol/page_tokens.py)."""
    return seal_page_token(ctx, "ssm:" + operation, bound, position)


def decode_token(ctx: SsmContext, req: dict, operation: str, bound: Any) -> Optional[str]:
    """The position the request's NextToken carries, if this server issued it for exactly
    this listing; else InvalidNextToken."""
    token = req.get("NextToken")
    if token is None:
        return None
    position = open_page_token(ctx, "ssm:" + operation, bound, token)
    if position is None:
        raise InvalidNextToken("The specified token isn't valid.")
    return position
