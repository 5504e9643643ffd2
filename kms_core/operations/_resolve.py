"""KeyId resolution: key id | key ARN | alias name | alias ARN -> the key (and its material).

Which forms an operation accepts follows the API reference: crypto operations and
DescribeKey take all four; management operations take only a key id or key ARN.
"""

from __future__ import annotations

from kms_core.context import RequestContext
from kms_core.domain.arn import KEY_ID_RE, PARTITION, alias_arn, key_arn, key_id_of_row, parse_key_ref, row_id_for
from kms_core.domain.model import KeyWithMaterial
from kms_core.errors import AccessDeniedException, NotFoundException
from kms_core.policy.authorize import authorize


def resolve_key(ctx: RequestContext, key_id: str, *, allow_alias: bool) -> KeyWithMaterial:
    ref = parse_key_ref(key_id)
    if ref is None or (ref.partition is not None and ref.partition != PARTITION):
        # every key here lives in the "aws" partition: an aws-cn/aws-us-gov ARN names none
        raise NotFoundException(f"Invalid keyId '{key_id}'")
    if ref.is_alias and not allow_alias:
        raise NotFoundException(f"Invalid keyId '{key_id}'")
    region = ref.region if ref.region is not None else ctx.region
    account = ref.account_id if ref.account_id is not None else ctx.account_id
    if region != ctx.region:
        raise NotFoundException(f"Invalid arn {region}")
    if ref.is_alias:
        target = ctx.kms.alias_target(account, region, ref.value)
        if target is None and account == ctx.account_id:
            target = _managed_key_on_first_use(ctx, ref.value, region)
        if target is None:
            raise NotFoundException(f"Alias {alias_arn(region, account, ref.value)} is not found.")
        row_id = target  # aliases point at row ids
        ctx.request_alias = ref.value
    else:
        if not KEY_ID_RE.fullmatch(ref.value):
            raise NotFoundException(f"Invalid keyId '{key_id}'")
        row_id = row_id_for(ref.value, region)
    entry = ctx.kms.key(row_id)
    if entry is None or entry.key.account_id != account or entry.key.region != region:
        raise NotFoundException(f"Key '{key_arn(region, account, key_id_of_row(row_id))}' does not exist")
    ctx.resources.append(entry.key.arn)
    if ctx.charges is not None:
        ctx.charges.key_use(entry.key.key_spec)
    return entry


def _managed_key_on_first_use(ctx: RequestContext, alias_name: str, region: str) -> str | None:
    """`alias/aws/<service>` with no key yet: the service's first use makes it, and so
    does a customer's DescribeKey on the alias (as on AWS)."""
    key_set = ctx.kms.service_keys.for_alias(alias_name)
    if key_set is None:
        return None
    if ctx.via_service != key_set.via_service(region):
        if ctx.operation != "DescribeKey":
            return None
        # a customer's DescribeKey makes the key only if it may describe it: no writes for
        # a caller the new key's policy (and the caller's IAM policies) would refuse
        ctx.request_alias = alias_name
        authorize(ctx, "kms:DescribeKey", ctx.kms.service_keys.managed_key_probe(key_set, ctx.account_id, region))
    return ctx.kms.service_keys.ensure_managed_key(key_set, ctx.account_id, region)


def resolve_key_id_only(ctx: RequestContext, key_id: str) -> KeyWithMaterial:
    return resolve_key(ctx, key_id, allow_alias=False)


def resolve_own_key(ctx: RequestContext, key_id: str, action: str) -> KeyWithMaterial:
    """A key of the caller's own account, by key id or key ARN: for the operations AWS
    marks "Cross-account use: No" (key management).  Another account's key ARN is refused
    whatever that key's policy says, as on AWS."""
    entry = resolve_key(ctx, key_id, allow_alias=False)
    if entry.key.account_id != ctx.account_id:
        raise AccessDeniedException(
            f"User: {ctx.principal.arn} is not authorized to perform: {action} on resource: {entry.key.arn} "
            f"because cross-account use of {action} is not supported")
    return entry
