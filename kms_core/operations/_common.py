"""Helpers shared by the operation modules: metadata rendering, markers, and the one
pipeline every key management operation runs (`managed_key`, then `key_change`)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from kms_core.context import RequestContext
from kms_core.domain.arn import key_arn
from kms_core.domain.limits import LIST_LIMITS
from kms_core.domain.key_states import require_state
from kms_core.domain.model import Key, KeyState, KeyWithMaterial, Origin
from kms_core.domain.specs import SPECS
from kms_core.errors import (
    DryRunOperationException,
    InvalidMarkerException,
    NotFoundException,
    UnsupportedOperationException,
)
from kms_core.operations._resolve import resolve_key_id_only, resolve_own_key
from kms_core.policy.authorize import authorize
from kms_core.protocol.page_tokens import open_page_token, seal_page_token
from kms_core.storage.repository import to_key
from kms_core.storage.tables import KeyTable
from kms_core.storage.unit_of_work import UnitOfWork, reading, writing


def key_metadata(key: Key) -> dict:
    """The KeyMetadata shape (DescribeKey, CreateKey)."""
    meta = {
        "AWSAccountId": key.account_id,
        "KeyId": key.key_id,
        "Arn": key.arn,
        "CreationDate": key.creation_date,
        "Enabled": key.state == KeyState.ENABLED,
        "Description": key.description,
        "KeyUsage": key.key_usage,
        "KeyState": key.state,
        "Origin": key.origin,
        "KeyManager": key.key_manager,
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        "MultiRegion": key.multi_region,
    }
    if key.state == KeyState.PENDING_DELETION:
        meta["DeletionDate"] = key.deletion_date
    if key.state == KeyState.PENDING_REPLICA_DELETION:
        meta["PendingDeletionWindowInDays"] = key.pending_window_days
    spec = SPECS.get(key.key_spec)
    if spec is not None:
        meta.update(spec.algorithms(key.key_usage))
    if key.current_material_id:
        meta["CurrentKeyMaterialId"] = key.current_material_id
    if key.origin == Origin.EXTERNAL and key.expiration_model:  # while imported material is present
        meta["ExpirationModel"] = key.expiration_model
        if key.valid_to is not None:
            meta["ValidTo"] = key.valid_to
    if key.multi_region:
        meta["MultiRegionConfiguration"] = multi_region_configuration(key)
    return meta


def multi_region_configuration(key: Key) -> dict:
    """Which related key is the primary and which are replicas (every Region's key sees
    the same set; a replica lists itself among the replicas)."""
    primary = key.primary_region or key.region
    regions = key.related_regions or (key.region,)
    return {
        "MultiRegionKeyType": key.multi_region_key_type,
        "PrimaryKey": {"Arn": key_arn(primary, key.account_id, key.key_id), "Region": primary},
        "ReplicaKeys": [{"Arn": key_arn(region, key.account_id, key.key_id), "Region": region}
                        for region in regions if region != primary],
    }


@contextmanager
def write(ctx: RequestContext, service_events: Optional[list] = None) -> Iterator[UnitOfWork]:
    """The request's one write transaction (its audit record goes in with it, and any
    `service_events`); caches drop when it commits."""
    with writing(ctx.kms.db, ctx.kms.root, service_events) as work:
        yield work
    ctx.kms.changed()


@contextmanager
def read(ctx: RequestContext) -> Iterator[UnitOfWork]:
    """A read transaction, for what the caches don't hold (listings, the policy text)."""
    with reading(ctx.kms.db, ctx.kms.root) as work:
        yield work


#: the management operations AWS allows on another account's key (by key ARN)
CROSS_ACCOUNT_MANAGEMENT = frozenset({"GetKeyRotationStatus"})


def managed_key(ctx: RequestContext, req: dict, operation: str,
                before_authorize: Optional[Callable[[KeyWithMaterial], None]] = None) -> KeyWithMaterial:
    """The first half of every key management operation: resolve the KeyId (aliases are
    not accepted), authorize kms:<operation> on the key, and require a key state that
    allows the operation.  `before_authorize` checks the request's own fields and sets
    the condition values they give, once the key is known."""
    if operation in CROSS_ACCOUNT_MANAGEMENT:
        entry = resolve_key_id_only(ctx, req["KeyId"])
    else:
        entry = resolve_own_key(ctx, req["KeyId"], "kms:" + operation)
    if before_authorize is not None:
        before_authorize(entry)
    authorize(ctx, "kms:" + operation, entry)
    require_state(entry.key, operation)
    return entry


@contextmanager
def key_change(ctx: RequestContext, key: Key, operation: Optional[str] = None) -> Iterator[tuple[KeyTable, UnitOfWork]]:
    """The second half: one write transaction holding the key's row locked, its state
    checked again under the lock when `operation` is given (a concurrent request may
    have changed it since the cached read); the row is saved when the block ends."""
    with write(ctx) as work:
        row = work.keys.locked(key.row_id)
        if row is None:  # deleted between the cached read and the write
            raise NotFoundException(f"Key '{key.arn}' does not exist")
        if operation is not None:
            require_state(to_key(row), operation)
        yield row, work
        work.keys.save(row)


def page_limit(operation: str, requested: Optional[int]) -> int:
    default, maximum = LIST_LIMITS[operation]
    return default if requested is None else min(requested, maximum)


#: AWS's description of InvalidMarkerException
INVALID_MARKER = "The request was rejected because the marker that specifies where pagination should next begin " \
    "is not valid."


def encode_marker(ctx: RequestContext, operation: str, bound: Any, position: str) -> str:
    """The NextMarker after `position`, sealed for this listing (protocol/page_tokens.py):
    `operation` and `bound` (the request's filters) as `decode_marker` will be given them."""
    return seal_page_token(ctx, "kms:" + operation, bound, position)


def decode_marker(ctx: RequestContext, req: dict, operation: str, bound: Any = None) -> Optional[str]:
    """The position the request's Marker carries, if this server issued it for this account,
    Region, operation and `bound`; else InvalidMarkerException."""
    marker = req.get("Marker")
    if marker is None:
        return None
    position = open_page_token(ctx, "kms:" + operation, bound, marker)
    if position is None:
        raise InvalidMarkerException(INVALID_MARKER)
    return position


def paged(ctx: RequestContext, operation: str, bound: Any, items: list, limit: int,
          marker_of: Callable[[Any], str]) -> dict:
    """Given limit+1 rows, return the page fields Truncated/NextMarker."""
    if len(items) > limit:
        return {"Truncated": True, "NextMarker": encode_marker(ctx, operation, bound, marker_of(items[limit - 1]))}
    return {"Truncated": False}


def dry_run(req: dict) -> None:
    if req.get("DryRun"):
        raise DryRunOperationException("The request would have succeeded, but the DryRun option is set.")


def no_recipient(req: dict) -> None:
    if "Recipient" in req:
        raise UnsupportedOperationException("Recipient (Nitro Enclaves attestation) is not supported.")
