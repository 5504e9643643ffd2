"""Load and save keys.  Material is unwrapped here, once per cache fill, and nowhere else."""

from __future__ import annotations

import json
import os
import uuid
from typing import Callable, Optional

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from kms_core.crypto import asymmetric as asymmetric_crypto
from kms_core.crypto.keyed_hash import HmacSha256Key
from kms_core.crypto.root import RootKeyring
from kms_core.domain import limits
from kms_core.domain.arn import key_arn, key_id_of_row, related_row_bounds
from kms_core.domain.model import Key, KeyManager, KeyMaterial, KeySpec, KeyState, KeyUsage, KeyWithMaterial, Origin
from kms_core.domain.grants import Grant, GrantSet
from kms_core.domain.specs import spec_of
from kms_core.storage.tables import (
    AliasTable,
    GrantTable,
    KeyMaterialTable,
    KeyTable,
    KeyTagTable,
    material_row_identity,
)

MATERIAL_BYTES = 32


def to_key(row: KeyTable, related_regions: tuple[str, ...] = ()) -> Key:
    """The domain key of a row; `related_regions` (multi-Region keys: every Region with a
    related key) only where MultiRegionConfiguration is shown."""
    key_id = key_id_of_row(row.key_id)
    return Key(
        key_id=key_id, account_id=row.account_id, region=row.region,
        arn=key_arn(row.region, row.account_id, key_id), description=row.description,
        key_usage=row.key_usage, key_spec=row.key_spec, origin=row.origin, key_manager=row.key_manager,
        state=row.key_state, creation_date=row.creation_date, deletion_date=row.deletion_date,
        pending_window_days=row.pending_window_days, rotation_enabled=row.rotation_enabled,
        rotation_period_days=row.rotation_period_days, next_rotation_date=row.next_rotation_date,
        on_demand_rotations=row.on_demand_rotations, current_material_id=row.current_material_id,
        multi_region=row.multi_region, expiration_model=row.expiration_model, valid_to=row.valid_to,
        row_id=row.key_id, primary_region=row.primary_region, related_regions=related_regions,
    )


def related_rows(session: Session, key_id: str, locked: bool = False) -> list[KeyTable]:
    """Every Region's row of multi-Region key `key_id` (public id), in Region order."""
    low, high = related_row_bounds(key_id)
    query = (select(KeyTable).where(col(KeyTable.key_id) >= low).where(col(KeyTable.key_id) < high)
             .order_by(col(KeyTable.key_id)))
    return list(session.exec(query.with_for_update() if locked else query))


def load_key(session: Session, root: RootKeyring, key_id: str,
             compile_policy: Callable[[str], object] = lambda text: None,
             load_grants: Callable[[Session, str], tuple] = lambda session, key_id: ()) -> Optional[KeyWithMaterial]:
    """Everything a request needs about one key, in one read transaction."""
    row = session.get(KeyTable, key_id)
    if row is None:
        return None
    materials: dict[str, KeyMaterial] = {}
    asymmetric = spec_of(row.key_spec).asymmetric
    for m in session.exec(select(KeyMaterialTable).where(KeyMaterialTable.key_id == key_id)):
        raw = root.unwrap(m.material_wrapped, material_row_identity(m.key_id, m.material_id))
        private = asymmetric_crypto.load_private(raw) if asymmetric else None
        kdf = None if asymmetric else HmacSha256Key(raw)
        materials[m.material_id] = KeyMaterial(m.material_id, raw, m.created_at, m.rotation_type, m.rotation_date,
                                               private, kdf)
    tags = {t.tag_key: t.tag_value for t in session.exec(select(KeyTagTable).where(KeyTagTable.key_id == key_id))}
    aliases = tuple(a.alias_name for a in session.exec(select(AliasTable).where(AliasTable.target_key_id == key_id)))
    related = tuple(r.region for r in related_rows(session, key_id_of_row(key_id))) if row.multi_region else ()
    return KeyWithMaterial(to_key(row, related), materials, {bytes.fromhex(k): v for k, v in materials.items()},
                           policy=compile_policy(row.policy), tags=tags, aliases=aliases,
                           grants=load_grants(session, key_id))


def grant_from_row(row: GrantTable) -> Grant:
    constraints = json.loads(row.constraints) if row.constraints else None
    return Grant(row.grant_id, row.key_id, row.name, row.grantee_principal, row.retiring_principal,
                 tuple(json.loads(row.operations)), constraints, row.issuing_account, row.creation_date)


def load_grants(session: Session, key_id: str) -> GrantSet:
    """All grants on the key, oldest first (what the key cache holds)."""
    rows = session.exec(select(GrantTable).where(GrantTable.key_id == key_id)
                        .order_by(col(GrantTable.creation_date), col(GrantTable.grant_id)))
    return GrantSet(grant_from_row(r) for r in rows)


# --- matching ---------------------------------------------------------------------------
def schedule_rotation(row: KeyTable, now: float, period_days: int) -> None:
    """Automatic rotation on, every `period_days`, the next one a period from `now` (the
    one rule for EnableKeyRotation, AWS-managed keys, seed files and each rotation done)."""
    row.rotation_enabled = True
    row.rotation_period_days = period_days
    row.next_rotation_date = now + period_days * limits.DAY_SECONDS


def stop_rotation(row: KeyTable) -> None:
    """Automatic rotation off (the period is kept, as AWS shows it again when re-enabled)."""
    row.rotation_enabled = False
    row.next_rotation_date = None


def new_key_id() -> str:
    return str(uuid.uuid4())


def new_multi_region_key_id() -> str:
    """AWS's form: "mrk-" and 32 hex digits (36 characters, like a UUID key id)."""
    return "mrk-" + uuid.uuid4().hex


def copy_materials(session: Session, root: RootKeyring, source_row_id: str, target_row_id: str) -> None:
    """Give a related multi-Region key every material version of `source_row_id` it lacks:
    the same bytes and material ids (so each decrypts the other's ciphertext), wrapped
    again bound to the target's row."""
    have = set(session.exec(select(KeyMaterialTable.material_id).where(KeyMaterialTable.key_id == target_row_id)))
    for m in session.exec(select(KeyMaterialTable).where(KeyMaterialTable.key_id == source_row_id)):
        if m.material_id in have:
            continue
        raw = root.unwrap(m.material_wrapped, material_row_identity(m.key_id, m.material_id))
        session.add(KeyMaterialTable(
            key_id=target_row_id, material_id=m.material_id,
            material_wrapped=root.wrap(raw, material_row_identity(target_row_id, m.material_id)),
            created_at=m.created_at, rotation_type=m.rotation_type, rotation_date=m.rotation_date))


def add_material(session: Session, root: RootKeyring, key_id: str, now: float,
                 rotation_type: Optional[str] = None, material: Optional[bytes] = None,
                 material_id: Optional[str] = None) -> str:
    """Wrap and store key material (default: a fresh 256-bit backing key); returns its
    material id (default: random)."""
    row = material_row(root, key_id, now, rotation_type, material, material_id)
    session.add(row)
    return row.material_id


def material_row(root: RootKeyring, key_id: str, now: float, rotation_type: Optional[str] = None,
                 material: Optional[bytes] = None, material_id: Optional[str] = None) -> KeyMaterialTable:
    """A key material row, the material wrapped by the root key and bound to the row."""
    material_id = material_id or os.urandom(32).hex()
    material = material if material is not None else os.urandom(MATERIAL_BYTES)
    return KeyMaterialTable(
        key_id=key_id, material_id=material_id,
        material_wrapped=root.wrap(material, material_row_identity(key_id, material_id)),
        created_at=now, rotation_type=rotation_type, rotation_date=now if rotation_type else None)


def new_key_row(key_id: str, account_id: str, region: str, now: float, policy: str, description: str = "",
                key_usage: str = KeyUsage.ENCRYPT_DECRYPT,
                key_spec: str = KeySpec.SYMMETRIC_DEFAULT, origin: str = Origin.AWS_KMS) -> KeyTable:
    """A new Enabled customer-managed key row (not yet added to a session), with its key
    policy (AWS's default one is policy/document.py's `default_key_policy`).  CreateKey
    and seed files (paramstore/seed.py) build their keys here and store them with
    `insert_key`."""
    return KeyTable(
        key_id=key_id, account_id=account_id, region=region, description=description,
        key_usage=key_usage, key_spec=key_spec, origin=origin,
        key_manager=KeyManager.CUSTOMER,
        key_state=KeyState.PENDING_IMPORT if origin == Origin.EXTERNAL else KeyState.ENABLED, creation_date=now,
        policy=policy)


def insert_key(session: Session, root: RootKeyring, row: KeyTable, now: float,
               tags: Optional[dict[str, str]] = None) -> KeyTable:
    """Store a new key row with fresh key material for its spec (none for Origin EXTERNAL:
    the customer imports it) and its tags (CreateKey, seed files)."""
    session.add(row)
    session.flush()
    if row.origin != Origin.EXTERNAL:
        row.current_material_id = add_material(session, root, row.key_id, now,
                                               material=asymmetric_crypto.generate_material(spec_of(row.key_spec)))
    for tag_key, tag_value in (tags or {}).items():
        session.add(KeyTagTable(key_id=row.key_id, tag_key=tag_key, tag_value=tag_value))
    return row


def delete_key_everywhere(session: Session, key_id: str) -> None:
    """The end of a deletion window: key, materials, aliases and tags go for good."""
    session.execute(delete(AliasTable).where(col(AliasTable.target_key_id) == key_id))
    session.execute(delete(GrantTable).where(col(GrantTable.key_id) == key_id))
    session.execute(delete(KeyTagTable).where(col(KeyTagTable.key_id) == key_id))
    session.execute(delete(KeyMaterialTable).where(col(KeyMaterialTable.key_id) == key_id))
    session.execute(delete(KeyTable).where(col(KeyTable.key_id) == key_id))


def next_due_time(session: Session) -> Optional[float]:
    """The earliest pending deletion, automatic rotation or expiry of imported key
    material, for the due-work trigger."""
    deletion = session.exec(select(func.min(KeyTable.deletion_date))
                            .where(KeyTable.key_state == "PendingDeletion")).one()
    rotation = session.exec(select(func.min(KeyTable.next_rotation_date))
                            .where(KeyTable.rotation_enabled == True)  # noqa: E712
                            .where(KeyTable.key_state == "Enabled")).one()
    expiry = session.exec(select(func.min(KeyTable.valid_to))).one()
    times = [t for t in (deletion, rotation, expiry) if t is not None]
    return min(times) if times else None


def delete_imported_material(session: Session, row: KeyTable) -> None:
    """DeleteImportedKeyMaterial, or the material's ValidTo passing: the material rows go,
    the key waits for the same material again (PendingImport; PendingDeletion is kept).
    `current_material_id` stays: it is what a re-import must match."""
    session.execute(delete(KeyMaterialTable).where(col(KeyMaterialTable.key_id) == row.key_id))
    row.expiration_model = None
    row.valid_to = None
    if row.key_state not in (KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION):
        row.key_state = KeyState.PENDING_IMPORT
    session.add(row)


def lock_key_row(session: Session, key_id: str) -> Optional[KeyTable]:
    """SELECT ... FOR UPDATE on PostgreSQL (SQLite write transactions are already exclusive)."""
    return session.exec(select(KeyTable).where(KeyTable.key_id == key_id).with_for_update()).first()
