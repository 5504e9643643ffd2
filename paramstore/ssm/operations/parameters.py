"""The parameter lifecycle: PutParameter, GetParameter, GetParameters, GetParameterHistory,
DeleteParameter, DeleteParameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import regex

from kms_core.domain.errors import invalid
from kms_core.port import set_request_tags

from paramstore.ssm import tiers
from paramstore.ssm.context import SsmContext
from paramstore.ssm.envelope import DEFAULT_KEY_ID, SECURE_STRING, seal
from paramstore.ssm.errors import (
    InvalidAllowedPatternException,
    ParameterAlreadyExists,
    ParameterMaxVersionLimitExceeded,
    ParameterNotFound,
    ParameterPatternMismatchException,
    ParameterVersionNotFound,
    TooManyTagsError,
    TooManyUpdates,
    ValidationException,
)
from paramstore.ssm.names import (
    BadReference,
    canonical_of,
    check_name_for_write,
    check_name_syntax,
    parent_of,
    parse_reference,
)
from paramstore.ssm.operations import references
from paramstore.ssm.operations.tags import MAX_TAGS
from paramstore.ssm.operations._common import (
    arn_of,
    authorize_ssm,
    decode_token,
    encode_token,
    find_parameter,
    inline_policies,
    not_found,
    parameter_shape,
    reference,
    require_parameter,
    selected_version,
    value_of,
    version_metadata,
)
from paramstore.ssm.storage.hot_sql import INTEGRITY_ERRORS, ParamRow, VersionRow
from paramstore.ssm.policies import parse_policies, rearm_no_change, schedule
from paramstore.ssm.storage import repository
from paramstore.ssm.storage.repository import delete_parameter_rows, policies_json
from paramstore.ssm.storage.tables import ParameterTable, ParameterVersionTable

MAX_VERSIONS = 100
DATA_TYPES = ("text", "aws:ec2:image", "aws:ssm:integration")
_AMI_ID = regex.compile(r"ami-([0-9a-f]{8}|[0-9a-f]{17})")
#: AllowedPattern is the caller's regex run on our CPU: bound its time (no ReDoS hang)
_PATTERN_TIMEOUT_SECONDS = 0.2
_PUT_ATTEMPTS = 8


def put_parameter(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html"""
    name = check_name_for_write(req["Name"], ctx.region, ctx.account_id)
    canonical = canonical_of(name)
    arn = arn_of(ctx, canonical)
    if req.get("Tags"):
        set_request_tags(ctx, {tag["Key"]: tag["Value"] for tag in req["Tags"]})
    ctx.condition_values["ssm:overwrite"] = bool(req.get("Overwrite", False))
    if "Policies" in req:
        ctx.condition_values["ssm:policies"] = req["Policies"]
    authorize_ssm(ctx, "ssm:PutParameter", arn)
    if req.get("Tags"):  # creating with tags needs the right to tag (PutParameter API reference)
        authorize_ssm(ctx, "ssm:AddTagsToResource", arn)
    overwrite = bool(req.get("Overwrite", False))
    if req.get("Tags") and overwrite:
        raise ValidationException(
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please "
            "remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or "
            "RemoveTagsFromResource.")
    if len({tag["Key"] for tag in req.get("Tags", [])}) > MAX_TAGS:
        raise TooManyTagsError(f"A parameter can have at most {MAX_TAGS} tags.")
    value = req["Value"]
    if not value:
        raise ValidationException(invalid("value", "Member must have length greater than or equal to 1"))
    if "{{" in value and "}}" in value[value.index("{{"):]:
        raise ValidationException('Parameter value can\'t nest another parameter. Do not use "{{}}" in the value.')
    policies = parse_policies(req["Policies"], ctx.now()) if "Policies" in req else None
    if req.get("DataType") is not None and req["DataType"] not in DATA_TYPES:
        raise ValidationException(f"The following data type is not supported: {req['DataType'][:128]} "
                                  "(Data type names are all lowercase.)")
    if req.get("AllowedPattern") is not None:
        _compile_pattern(req["AllowedPattern"])

    # Seal before the write transaction (a key set's first use may itself write), for the
    # version we expect; if another writer got there first, the transaction re-plans and
    # re-seals under its row lock (the keys exist by then: no nested write).
    previous = ctx.ssm.parameter(ctx.account_id, ctx.region, canonical)
    if previous is not None and not overwrite:
        raise _already_exists()
    plan = _plan(ctx, req, previous, value, policies)
    sealed = seal(ctx.ssm.kms_port, ctx, arn, plan.version, plan.type, plan.key_id, value, plan.tier)
    for _ in range(_PUT_ATTEMPTS):
        try:
            return _store(ctx, req, name, canonical, arn, value, policies, plan, sealed, overwrite)
        except INTEGRITY_ERRORS:  # a concurrent create of the same name won: overwrite it (or refuse)
            ctx.ssm.changed()
    raise TooManyUpdates("There are concurrent updates for a resource that supports one update at a time.")


@dataclass(slots=True)
class _Plan:
    """The settled attributes of the version a put creates."""

    version: int
    type: str
    key_id: Optional[str]
    tier: str
    data_type: str
    description: Optional[str]
    allowed_pattern: Optional[str]
    policies: Optional[str]
    due: tuple
    parameter_id: Optional[int]


def _plan(ctx: SsmContext, req: dict, previous: Optional[ParameterTable], value: str, policies) -> _Plan:
    param_type = req.get("Type") or (previous.type if previous is not None else None)
    if param_type is None:
        raise ValidationException("A parameter type is required when you create a parameter.")
    key_id = req.get("KeyId")
    if key_id is not None and param_type != SECURE_STRING:
        raise ValidationException("KeyId is required for SecureString type parameter only.")
    if param_type == SECURE_STRING and key_id is None:
        key_id = previous.key_id if previous is not None and previous.type == SECURE_STRING else DEFAULT_KEY_ID
    data_type = req.get("DataType") or (previous.data_type if previous is not None else "text")
    if data_type != "text" and param_type != "String":
        raise ValidationException(f"The data type {data_type} is only supported for String parameters.")
    if data_type == "aws:ec2:image" and not _AMI_ID.fullmatch(value):
        raise ValidationException("Parameter value is not a valid Amazon Machine Image (AMI) ID. Use the format "
                                  "ami-12345678 or ami-1234567890abcdef0 for the aws:ec2:image data type.")
    pattern = req["AllowedPattern"] if "AllowedPattern" in req else (
        previous.allowed_pattern if previous is not None else None)
    if pattern:
        _check_pattern(pattern, value)
    if policies is not None:
        inline = policies.inline
    else:  # carried over; a change restarts NoChangeNotification clocks
        inline = rearm_no_change(inline_policies(previous.policies if previous is not None else None))
    tier = tiers.settle(ctx, req.get("Tier"), previous.tier if previous is not None else None, value, bool(inline),
                        creating=previous is None)
    due = schedule(inline, ctx.now())
    return _Plan(version=(previous.version + 1) if previous is not None else 1, type=param_type, key_id=key_id,
                 tier=tier, data_type=data_type,
                 description=req["Description"] if "Description" in req else (
                     previous.description if previous is not None else None),
                 allowed_pattern=pattern, policies=policies_json(inline), due=due,
                 parameter_id=previous.id if previous is not None else None)


def _store(ctx: SsmContext, req: dict, name: str, canonical: str, arn: str, value: str, policies, plan: _Plan,
           sealed: tuple[bytes, bytes], overwrite: bool) -> dict:
    """The put's one write transaction (plain SQL: paramstore/ssm/storage/hot_sql.py)."""
    now = ctx.now()
    user = ctx.principal.arn
    store = ctx.ssm
    with store.sql.transaction() as tx:
        row = tx.locked_parameter(ctx.account_id, ctx.region, canonical)
        if row is not None and row.expires_at is not None and now >= row.expires_at:
            tx.delete_parameter(row.id)  # expired but not yet swept: gone
            row = None
        if row is not None and not overwrite:
            raise _already_exists()
        if (row.id if row is not None else None) != plan.parameter_id or (
                row is not None and row.version + 1 != plan.version):
            plan = _plan(ctx, req, row, value, policies)
            sealed = seal(ctx.ssm.kms_port, ctx, arn, plan.version, plan.type, plan.key_id, value, plan.tier)
        updated = ParamRow(
            row.id if row is not None else 0, ctx.account_id, ctx.region, canonical,
            row.name if row is not None else name, parent_of(name), plan.version, plan.type, plan.tier,
            plan.data_type, plan.key_id, plan.description, plan.allowed_pattern, plan.policies, now, user, *plan.due)
        if row is None:
            updated = updated._replace(id=tx.insert_parameter(updated))
            for tag in req.get("Tags", []):
                tx.insert_tag(updated.id, tag["Key"], tag["Value"])
        else:
            tx.update_parameter(updated)
        if row is None or row.tier != plan.tier:  # counted by now (the store's triggers): may it stay?
            tiers.check_quota(tx.count_tier(ctx.account_id, ctx.region, plan.tier), plan.tier)
        version = VersionRow(updated.id, plan.version, plan.type, plan.tier, plan.data_type, plan.key_id,
                             plan.description, plan.allowed_pattern, plan.policies, sealed[0], sealed[1], now, user)
        tx.insert_version(version)
        oldest_kept = plan.version - MAX_VERSIONS + 1
        if oldest_kept > 1:  # history keeps 100 versions; a labelled oldest one blocks the put
            if tx.drop_versions_upto(updated.id, oldest_kept - 1) is not None:
                raise ParameterMaxVersionLimitExceeded(
                    f"You attempted to create a new version of {name} by calling the PutParameter API with the "
                    f"overwrite flag. Version {oldest_kept - 1}, the oldest version, can't be deleted because it "
                    "has a label associated with it. Move the label to another version of the parameter, and try "
                    "again.")
    store.wrote(tx.epoch, updated, version, dropped=oldest_kept - 1)
    return {"Version": plan.version, "Tier": plan.tier}


def _already_exists() -> ParameterAlreadyExists:
    return ParameterAlreadyExists("The parameter already exists. To overwrite this value, set the overwrite "
                                  "option in the request to true.")


def _compile_pattern(pattern: str):
    try:
        return regex.compile(pattern, regex.VERSION0)
    except (regex.error, ValueError, OverflowError, RecursionError):
        raise InvalidAllowedPatternException(
            f"The allowed pattern {pattern} is not a valid regular expression.") from None


def _check_pattern(pattern: str, value: str) -> None:
    compiled = _compile_pattern(pattern)
    try:
        matched = compiled.fullmatch(value, timeout=_PATTERN_TIMEOUT_SECONDS) is not None
    except TimeoutError:
        raise InvalidAllowedPatternException(
            f"The allowed pattern {pattern} is too complex to evaluate against the value.") from None
    if not matched:
        raise ParameterPatternMismatchException(
            f"Parameter value, cannot be validated against allowedPattern: {pattern}")


def get_parameter(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html"""
    if references.is_reference(req["Name"]):
        return {"Parameter": references.get_reference(ctx, req["Name"], bool(req.get("WithDecryption")),
                                                      "ssm:GetParameter")}
    ref = reference(req["Name"])
    authorize_ssm(ctx, "ssm:GetParameter", arn_of(ctx, ref.canonical))
    param = require_parameter(ctx, ref)
    row = selected_version(ctx, param, ref)
    return {"Parameter": parameter_shape(ctx, param, row, bool(req.get("WithDecryption")), ref.selector)}


def get_parameters(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameters.html

    Missing names and bad selectors go to InvalidParameters, not errors; the results are
    sorted by name and duplicates collapse."""
    with_decryption = bool(req.get("WithDecryption"))
    found: dict[str, dict] = {}
    invalid: list[str] = []
    for text in dict.fromkeys(req["Names"]):
        if references.is_reference(text):  # a secret: a missing one is reported, not raised
            try:
                found[text] = references.get_reference(ctx, text, with_decryption, "ssm:GetParameters")
            except ParameterNotFound:
                invalid.append(text)
            continue
        try:
            ref = parse_reference(text)
        except BadReference:
            invalid.append(text)
            continue
        authorize_ssm(ctx, "ssm:GetParameters", arn_of(ctx, ref.canonical))
        param = find_parameter(ctx, ref)
        if param is None:
            invalid.append(text)
            continue
        try:
            row = selected_version(ctx, param, ref)
        except (ParameterVersionNotFound, ParameterNotFound):  # a bad selector: reported, not raised
            invalid.append(text)
            continue
        found[text] = parameter_shape(ctx, param, row, with_decryption, ref.selector)
    return {"Parameters": [found[k] for k in sorted(found, key=lambda k: (found[k]["Name"], k))],
            "InvalidParameters": invalid}


def get_parameter_history(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameterHistory.html"""
    ref = reference(req["Name"])
    if ref.selector is not None:
        raise ValidationException(f"Parameter name {req['Name']} can't include a version or label selector "
                                  "for GetParameterHistory.")
    authorize_ssm(ctx, "ssm:GetParameterHistory", arn_of(ctx, ref.canonical))
    param = require_parameter(ctx, ref)
    limit = req.get("MaxResults") or 50
    position = decode_token(ctx, req, "GetParameterHistory", param.canonical)
    after = int(position) if position is not None else 0
    rows = ctx.ssm.rows.versions_after(param.id, after, limit + 1)
    labels_by_version: dict[int, list[str]] = {}
    for label, number in sorted(ctx.ssm.labels(param).items()):
        labels_by_version.setdefault(number, []).append(label)
    with_decryption = bool(req.get("WithDecryption"))
    page = [_history_entry(ctx, param, row, labels_by_version.get(row.version, []), with_decryption)
            for row in rows[:limit]]
    result: dict = {"Parameters": page}
    if len(rows) > limit:
        result["NextToken"] = encode_token(ctx, "GetParameterHistory", param.canonical, str(rows[limit - 1].version))
    return result


def _history_entry(ctx: SsmContext, param: ParameterTable, row: ParameterVersionTable, labels: list[str],
                   with_decryption: bool) -> dict:
    return {"Name": param.name, "Value": value_of(ctx, param, row, with_decryption), "Labels": labels,
            **version_metadata(row)}


def delete_parameter(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DeleteParameter.html"""
    name = req["Name"]
    check_name_syntax(name)
    canonical = canonical_of(name)
    authorize_ssm(ctx, "ssm:DeleteParameter", arn_of(ctx, canonical))
    if not _delete(ctx, [canonical]):
        raise not_found(name)
    return {}


def delete_parameters(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DeleteParameters.html"""
    valid: dict[str, str] = {}
    invalid: list[str] = []
    for name in dict.fromkeys(req["Names"]):
        try:
            check_name_syntax(name)
        except ValidationException:
            invalid.append(name)
            continue
        authorize_ssm(ctx, "ssm:DeleteParameters", arn_of(ctx, canonical_of(name)))
        valid[name] = canonical_of(name)
    deleted = set(_delete(ctx, list(valid.values()))) if valid else set()
    invalid += [name for name, canonical in valid.items() if canonical not in deleted]
    return {"DeletedParameters": [name for name, canonical in valid.items() if canonical in deleted],
            "InvalidParameters": invalid}


def _delete(ctx: SsmContext, canonicals: list[str]) -> list[str]:
    """Delete live parameters by canonical name; returns the ones that existed."""
    now = ctx.now()
    deleted: list[str] = []
    with ctx.ssm.write() as session:
        for row in repository.lock_parameters(session, ctx.account_id, ctx.region, canonicals):
            if row.expires_at is None or now < row.expires_at:
                deleted.append(row.canonical)
            delete_parameter_rows(session, row.id)
    return deleted
