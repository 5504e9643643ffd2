"""Listing: GetParametersByPath (values) and DescribeParameters (metadata only).

Both page in the database (paramstore/ssm/storage/listing_sql.py: keyset pagination, every
filter in SQL); here the filters are checked and the pages shaped and cached.
"""

from __future__ import annotations

from paramstore.ssm.context import SsmContext
from paramstore.ssm.errors import (
    InvalidFilterKey,
    InvalidFilterOption,
    InvalidFilterValue,
    ValidationException,
)
from paramstore.ssm.storage.hot_sql import as_param_row, as_version_row
from paramstore.ssm.names import canonical_of, check_path, is_reserved
from paramstore.ssm.operations._common import (
    arn_of,
    authorize_ssm,
    decode_token,
    encode_token,
    parameter_shape,
    version_metadata,
)
from paramstore.ssm.storage import listing_sql
from paramstore.ssm.storage.tables import ParameterTable

_BY_PATH_FILTERS = {"Type": ("Equals", "BeginsWith"), "KeyId": ("Equals", "BeginsWith"), "Label": ("Equals",)}
_DESCRIBE_FILTERS = {
    "Path": ("Recursive", "OneLevel"),
    "Name": ("BeginsWith", "Equals", "Contains"),
    "Type": ("BeginsWith", "Equals"),
    "KeyId": ("BeginsWith", "Equals"),
    "Tier": ("Equals",),
    "DataType": ("Equals",),
}
#: values AWS checks for these keys (a wrong one is InvalidFilterOption, as AWS answers)
_KNOWN_VALUES = {"Type": ("String", "StringList", "SecureString"),
                 "Tier": ("Standard", "Advanced", "Intelligent-Tiering")}
_LISTED_KEYS = {"by-path": "Type, KeyId", "describe": "Path, Name, Type, KeyId, Tier"}
_TAG_OPTIONS = ("Equals", "BeginsWith")
_LEGACY_FILTERS = ("Name", "Type", "KeyId")


def get_parameters_by_path(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParametersByPath.html"""
    path = check_path(req["Path"])
    ctx.condition_values["ssm:recursive"] = bool(req.get("Recursive"))
    authorize_ssm(ctx, "ssm:GetParametersByPath", arn_of(ctx, canonical_of(path)))
    filters = _checked_filters(req.get("ParameterFilters") or [], _BY_PATH_FILTERS, allow_tags=False,
                               listed=_LISTED_KEYS["by-path"])
    limit = req.get("MaxResults") or 10
    recursive = bool(req.get("Recursive"))
    bound = [path, recursive, filters]
    after = decode_token(ctx, req, "GetParametersByPath", bound)
    if is_reserved(path) and path != "/":
        return {"Parameters": []}  # AWS's public parameters are not served here
    cache_key = ("path", ctx.account_id, ctx.region, path, recursive, repr(filters), after, limit)
    found = ctx.ssm.page(cache_key, lambda: [(as_param_row(p), as_version_row(v)) for p, v in listing_sql.by_path_page(
        ctx.ssm.db, _scope(ctx), path, recursive, filters, after, limit)])
    now = ctx.now()
    shown = [(p, v) for p, v in found[:limit] if p.expires_at is None or p.expires_at > now]
    with_decryption = bool(req.get("WithDecryption"))
    ctx.resources.extend(arn_of(ctx, p.canonical) for p, _ in shown)  # every value returned is audited
    ctx.ssm.remember_rows([p for p, _ in shown], [v for _, v in shown])
    result: dict = {"Parameters": [parameter_shape(ctx, p, v, with_decryption) for p, v in shown]}
    if len(found) > limit:
        result["NextToken"] = encode_token(ctx, "GetParametersByPath", bound, found[limit - 1][0].canonical)
    return result


def describe_parameters(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html"""
    authorize_ssm(ctx, "ssm:DescribeParameters", "*")
    if req.get("Filters") and req.get("ParameterFilters"):
        raise ValidationException("You can use either Filters or ParameterFilters in a single request.")
    if req.get("Shared"):
        return {"Parameters": []}  # no parameters are shared with this account
    filters = _legacy_filters(req["Filters"]) if req.get("Filters") else _checked_filters(
        req.get("ParameterFilters") or [], _DESCRIBE_FILTERS, allow_tags=True, listed=_LISTED_KEYS["describe"])
    limit = req.get("MaxResults") or 50
    after = decode_token(ctx, req, "DescribeParameters", filters)
    cache_key = ("describe", ctx.account_id, ctx.region, repr(filters), after, limit)
    rows = ctx.ssm.page(cache_key, lambda: [as_param_row(row) for row in listing_sql.describe_page(
        ctx.ssm.db, _scope(ctx), [{**f, "Option": f.get("Option") or _default_option(f["Key"])} for f in filters],
        after, limit)])
    now = ctx.now()  # a cached page may hold a parameter that has expired since
    result: dict = {"Parameters": [_metadata(ctx, row) for row in rows[:limit]
                                   if row.expires_at is None or row.expires_at > now]}
    if len(rows) > limit:
        result["NextToken"] = encode_token(ctx, "DescribeParameters", filters, rows[limit - 1].canonical)
    return result


def _metadata(ctx: SsmContext, row: ParameterTable) -> dict:
    """The ParameterMetadata shape: everything but the value."""
    return {"Name": row.name, "ARN": arn_of(ctx, row.canonical), **version_metadata(row)}


def _scope(ctx: SsmContext) -> listing_sql.Scope:
    return listing_sql.Scope(ctx.account_id, ctx.region, ctx.now())


def _default_option(key: str) -> str:
    return "OneLevel" if key == "Path" else "Equals"


def _checked_filters(filters: list, allowed: dict, allow_tags: bool, listed: str) -> list:
    """ParameterStringFilter list: known keys, no duplicates, valid options, values present."""
    seen: set[str] = set()
    for f in filters:
        key = f["Key"]
        is_tag = key.startswith("tag:") and allow_tags
        if not is_tag and key not in allowed:
            raise InvalidFilterKey(f"The following filter key is not valid: {key}. Valid filter keys include: "
                                   f"[{listed}].")
        if key in seen:
            raise InvalidFilterKey(f"The following filter is duplicated in the request: {key}. A request can "
                                   "contain only one occurrence of a specific filter.")
        seen.add(key)
        options = _TAG_OPTIONS if is_tag else allowed[key]
        option = f.get("Option")
        if option is not None and option not in options:
            raise InvalidFilterOption(f"The following filter option is not valid: {option}. Valid options include: "
                                      f"[{', '.join(options)}].")
        values = f.get("Values")
        if not is_tag and not values:
            raise InvalidFilterValue(f"The following filter values are missing : null for filter key {key}.")
        for value in values or ():
            known = _KNOWN_VALUES.get(key)
            if known is not None and value not in known:
                raise InvalidFilterOption(f"The following filter value is not valid: {value}. Valid values "
                                          f"include: [{', '.join(known)}].")
            if key == "Path":
                path = check_path(value)
                if is_reserved(path) and path != "/":
                    raise ValidationException(
                        'Filters for common parameters can\'t be prefixed with "aws" or "ssm" (case-insensitive). '
                        "When using global parameters, please specify within a global namespace.")
    return filters


def _legacy_filters(filters: list) -> list:
    """The older `Filters` (Name, Type, KeyId; Equals), as ParameterStringFilters."""
    converted = []
    for f in filters:
        if f["Key"] not in _LEGACY_FILTERS:
            raise InvalidFilterKey(f"The following filter key is not valid: {f['Key']}.")
        converted.append({"Key": f["Key"], "Option": "Equals", "Values": f["Values"]})
    return converted


