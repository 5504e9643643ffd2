"""Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from typing import Any, Optional

from kms_core.context import RequestContext
from kms_core.domain.arn import alias_arn, key_id_of_row, parse_key_ref
from kms_core.domain.key_states import require_state
from kms_core.domain.limits import MAX_ALIASES_PER_KEY
from kms_core.domain.model import Key
from kms_core.errors import (
    AlreadyExistsException,
    LimitExceededException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from kms_core.operations._common import decode_marker, page_limit, paged, read, write
from kms_core.operations._resolve import resolve_own_key
from kms_core.policy.authorize import authorize, authorize_account
from kms_core.protocol.shapes import validation_error
from kms_core.service_keys import PREDEFINED_KEY_SETS, SERVED_HERE
from kms_core.storage.tables import AliasTable
from kms_core.storage.unit_of_work import UnitOfWork

RESERVED_PREFIX = "alias/aws/"


def _check_alias_name(name: str) -> None:
    if not name.startswith("alias/"):
        raise ValidationException("Invalid identifier")
    if name.startswith(RESERVED_PREFIX):
        raise NotAuthorizedException(f"{name} is reserved for AWS managed keys.")
    if ":" in name:
        raise ValidationException(f"{name} contains invalid characters for an alias")
    if name == "alias/" or not all(c.isascii() and (c.isalnum() or c in "/_-") for c in name):
        raise validation_error([f"Value '{name}' at 'aliasName' failed to satisfy constraint: "
                                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"])


def _target_key(ctx: RequestContext, target: str, operation: str) -> Key:
    ref = parse_key_ref(target)
    if ref is not None and ref.is_alias:
        raise ValidationException("Aliases must refer to keys. Not aliases")
    entry = resolve_own_key(ctx, target, "kms:" + operation)
    key = entry.key
    authorize(ctx, "kms:" + operation, entry)
    require_state(key, operation)
    if key.key_manager != "CUSTOMER":
        raise NotAuthorizedException("Aliases can't be pointed at AWS managed keys.")
    return key


def _authorize_alias(ctx: RequestContext, action: str, name: str) -> None:
    """The alias is a resource of its own: IAM policies must allow `action` on the alias
    ARN as well as on each key involved (an alias has no resource policy), so a right over
    alias/dev-* never reaches alias/prod-db."""
    authorize_account(ctx, action, alias_arn(ctx.region, ctx.account_id, name))


def _authorize_current_target(ctx: RequestContext, action: str, target_id: str) -> None:
    target = ctx.kms.key(target_id)
    if target is not None:
        authorize(ctx, action, target)


def _alias_not_found(ctx: RequestContext, name: str) -> NotFoundException:
    return NotFoundException(f"Alias {alias_arn(ctx.region, ctx.account_id, name)} is not found.")


def check_alias_quota(work: UnitOfWork, key_id: str) -> None:
    if work.aliases.count_for_key(key_id) >= MAX_ALIASES_PER_KEY:
        raise LimitExceededException(f"A key can have at most {MAX_ALIASES_PER_KEY} aliases.")


def create_alias(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html"""
    name = req["AliasName"]
    _check_alias_name(name)
    _authorize_alias(ctx, "kms:CreateAlias", name)
    key = _target_key(ctx, req["TargetKeyId"], "CreateAlias")
    now = ctx.now()
    with write(ctx) as work:
        if work.aliases.get(ctx.account_id, ctx.region, name) is not None:
            raise AlreadyExistsException(
                f"An alias with the name {alias_arn(ctx.region, ctx.account_id, name)} already exists")
        check_alias_quota(work, key.row_id)
        work.aliases.add(AliasTable(account_id=ctx.account_id, region=ctx.region, alias_name=name,
                               target_key_id=key.row_id, creation_date=now, last_updated_date=now))
    return {}


def update_alias(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateAlias.html

    The new target must be the same type of key (symmetric / asymmetric / HMAC) with the
    same key usage as the old one."""
    name = req["AliasName"]
    _check_alias_name(name)
    _authorize_alias(ctx, "kms:UpdateAlias", name)
    new_key = _target_key(ctx, req["TargetKeyId"], "UpdateAlias")
    old_target = ctx.kms.alias_target(ctx.account_id, ctx.region, name)
    if old_target is None:
        raise _alias_not_found(ctx, name)
    old = ctx.kms.key(old_target)
    if old is not None:
        authorize(ctx, "kms:UpdateAlias", old)
        if (old.key.key_usage, old.key.key_spec) != (new_key.key_usage, new_key.key_spec):
            raise ValidationException(
                f"Alias {alias_arn(ctx.region, ctx.account_id, name)} cannot be changed from a "
                f"{old.key.key_spec} {old.key.key_usage} key to a {new_key.key_spec} {new_key.key_usage} key.")
    with write(ctx) as work:
        row = work.aliases.get(ctx.account_id, ctx.region, name)
        if row is None:
            raise _alias_not_found(ctx, name)
        if row.target_key_id != old_target:  # repointed since the check: check the key it has now
            _authorize_current_target(ctx, "kms:UpdateAlias", row.target_key_id)
        if row.target_key_id != new_key.row_id:
            check_alias_quota(work, new_key.row_id)
        row.target_key_id = new_key.row_id
        row.last_updated_date = ctx.now()
        work.aliases.save(row)
    return {}


def delete_alias(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteAlias.html"""
    name = req["AliasName"]
    if not name.startswith("alias/"):
        raise ValidationException("Invalid identifier")
    if name.startswith(RESERVED_PREFIX):
        raise NotAuthorizedException(f"{name} is reserved for AWS managed keys.")
    _authorize_alias(ctx, "kms:DeleteAlias", name)
    target_id = ctx.kms.alias_target(ctx.account_id, ctx.region, name)
    if target_id is None:
        raise _alias_not_found(ctx, name)
    _authorize_current_target(ctx, "kms:DeleteAlias", target_id)
    with write(ctx) as work:
        row = work.aliases.get(ctx.account_id, ctx.region, name)
        if row is None:
            raise _alias_not_found(ctx, name)
        if row.target_key_id != target_id:
            _authorize_current_target(ctx, "kms:DeleteAlias", row.target_key_id)
        work.aliases.delete(row)
    return {}


def list_aliases(ctx: RequestContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ListAliases.html"""
    limit = page_limit("ListAliases", req.get("Limit"))
    key_filter = None
    # IAM policy on "*" with or without KeyId (API reference: "kms:ListAliases (IAM policy)")
    authorize_account(ctx, "kms:ListAliases")
    if "KeyId" in req:
        key_filter = resolve_own_key(ctx, req["KeyId"], "kms:ListAliases").key.row_id
    after = decode_marker(ctx, req, "ListAliases", key_filter)
    with read(ctx) as work:
        rows: list = work.aliases.page(ctx.account_id, ctx.region, key_filter, after, limit + 1)
    if key_filter is None:
        rows = _with_predefined(rows, after, limit)
    page = {"Aliases": [_alias_entry(ctx, r) for r in rows[:limit]]}
    page.update(paged(ctx, "ListAliases", key_filter, rows, limit,
                      lambda r: r if isinstance(r, str) else r.alias_name))
    return page


#: the aliases AWS lists in every account and Region before the service's key exists (the
#: key is made on first use; until then the alias has no TargetKeyId): the predefined key
#: sets plus the two this server's own services register (paramstore/ssm, paramstore/secrets)
PREDEFINED_ALIASES = tuple(sorted(f"alias/aws/{service}" for service in
                                  (*PREDEFINED_KEY_SETS, *SERVED_HERE)))


def _with_predefined(rows: list, after: Optional[str], limit: int) -> list:
    """The stored aliases of a page (limit+1 of them, by name) merged with the predefined
    names not stored yet, in name order.  A predefined name past the last stored row of a
    full page lies beyond the page anyway, so the merge never needs more rows."""
    stored = {r.alias_name for r in rows}
    bound = rows[-1].alias_name if len(rows) > limit else None
    extra = [n for n in PREDEFINED_ALIASES if (after is None or n > after) and n not in stored
             and (bound is None or n < bound)]
    if not extra:
        return rows
    return sorted([*rows, *extra], key=lambda r: r if isinstance(r, str) else r.alias_name)[:limit + 1]


def _alias_entry(ctx: RequestContext, r: Any) -> dict:
    if isinstance(r, str):  # predefined, not made yet: no target, no dates
        return {"AliasName": r, "AliasArn": alias_arn(ctx.region, ctx.account_id, r)}
    return {"AliasName": r.alias_name, "AliasArn": alias_arn(ctx.region, ctx.account_id, r.alias_name),
            "TargetKeyId": key_id_of_row(r.target_key_id), "CreationDate": r.creation_date,
            "LastUpdatedDate": r.last_updated_date}
