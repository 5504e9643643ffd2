"""One request's transaction and the repositories over it.

KMS operations never see a session: `operations/_common.py` opens a `UnitOfWork` (a write
transaction that carries the request's audit record, or a read), and the operation asks
its repositories for rows.  Rows (storage/tables.py) are plain data to the operation; what
is queried, locked, counted and deleted, and how, is decided here.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from sqlalchemy import and_, delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from kms_core.audit import record_in_transaction
from kms_core.crypto.root import RootKeyring
from kms_core.domain.arn import key_id_of_row
from kms_core.domain.grants import Grant
from kms_core.domain.model import KeyState, KeyWithMaterial, Origin
from kms_core.storage import repository
from kms_core.storage.connect import Conflict
from kms_core.storage.identities import IdentityRepository
from kms_core.storage.session import Database, session_runner
from kms_core.storage.tables import (
    AliasTable,
    GrantTable,
    KeyMaterialTable,
    KeyTable,
    KeyTagTable,
    ResourceCountTable,
    ServiceOwnedKeyTable,
)




class KeyRepository:
    """Key rows and their material."""

    def __init__(self, session: Session, root: RootKeyring) -> None:
        self._session, self._root = session, root

    def get(self, key_id: str) -> Optional[KeyTable]:
        return self._session.get(KeyTable, key_id)

    def locked(self, key_id: str) -> Optional[KeyTable]:
        """The row, locked until the transaction ends (FOR UPDATE on PostgreSQL; SQLite
        write transactions are exclusive already)."""
        return repository.lock_key_row(self._session, key_id)

    def save(self, row: KeyTable) -> None:
        self._session.add(row)

    def insert(self, row: KeyTable, now: float, tags: Optional[dict[str, str]] = None) -> KeyTable:
        """A new key with fresh material for its spec (none for Origin EXTERNAL) and its tags."""
        return repository.insert_key(self._session, self._root, row, now, tags)

    def insert_replica(self, row: KeyTable, source_row_id: str, tags: dict[str, str]) -> None:
        """A new multi-Region replica with every material of `source_row_id` (none for
        Origin EXTERNAL: the customer imports the same material) and its own tags."""
        self._session.add(row)
        self._session.flush()
        if row.origin != Origin.EXTERNAL:
            self.copy_materials(source_row_id, row.key_id)
        for tag_key, tag_value in tags.items():
            self._session.add(KeyTagTable(key_id=row.key_id, tag_key=tag_key, tag_value=tag_value))

    def customer_keys_in(self, account_id: str, region: str) -> int:
        """How many customer-managed keys the account has in the Region, this transaction's
        inserts included (the CreateKey quota): the trigger-kept counter, one row read."""
        self._session.flush()
        row = self._session.get(ResourceCountTable, (account_id, region, "kms:CustomerKey"),
                                populate_existing=True)
        return row.count if row is not None else 0

    def ids_page(self, account_id: str, region: str, after: Optional[str], limit: int) -> list[str]:
        """Up to `limit` key ids of the account and Region after `after`, in id order."""
        query = select(KeyTable.key_id).where(KeyTable.account_id == account_id).where(KeyTable.region == region)
        if after is not None:
            query = query.where(KeyTable.key_id > after)
        return list(self._session.exec(query.order_by(KeyTable.key_id).limit(limit)))

    def add_material(self, key_id: str, now: float, rotation_type: Optional[str] = None,
                     material: Optional[bytes] = None, material_id: Optional[str] = None) -> str:
        """Wrap and store key material (default: a fresh backing key); its material id."""
        return repository.add_material(self._session, self._root, key_id, now, rotation_type, material,
                                       material_id)

    def related(self, key_id: str) -> list[KeyTable]:
        """Every Region's row of multi-Region key `key_id` (the public id), locked."""
        return repository.related_rows(self._session, key_id, locked=True)

    def copy_materials(self, source_row_id: str, target_row_id: str) -> None:
        repository.copy_materials(self._session, self._root, source_row_id, target_row_id)

    def rotate(self, row: KeyTable, now: float, rotation_type: str) -> str:
        """New current material for the key and, for a multi-Region primary, the same
        material for every related key (AWS syncs it; here it is one transaction, so no
        key ever encrypts with material a related key lacks)."""
        row.current_material_id = self.add_material(row.key_id, now, rotation_type)
        if row.multi_region:
            self._session.flush()
            for related in self.related(key_id_of_row(row.key_id)):
                if related.key_id != row.key_id:
                    self.copy_materials(row.key_id, related.key_id)
                    related.current_material_id = row.current_material_id
                    related.on_demand_rotations = row.on_demand_rotations
                    self._session.add(related)
        return row.current_material_id

    def mirror_rotation(self, row: KeyTable) -> None:
        """Copy a multi-Region primary's automatic-rotation setting to its related keys (a
        shared property).  Only the primary carries a NextRotationDate: it rotates them all."""
        for related in self.related(key_id_of_row(row.key_id)):
            if related.key_id != row.key_id:
                related.rotation_enabled = row.rotation_enabled
                related.rotation_period_days = row.rotation_period_days
                related.next_rotation_date = None
                self._session.add(related)

    def has_material(self, key_id: str, material_id: str) -> bool:
        return self._session.get(KeyMaterialTable, (key_id, material_id)) is not None

    def materials(self, key_id: str) -> list[KeyMaterialTable]:
        """The key's material rows (wrapped: nothing is unwrapped here)."""
        return list(self._session.exec(select(KeyMaterialTable).where(KeyMaterialTable.key_id == key_id)))

    def delete_imported_material(self, row: KeyTable) -> None:
        repository.delete_imported_material(self._session, row)

    def load(self, key_id: str, compile_policy: Callable[[str], Any]) -> Optional[KeyWithMaterial]:
        """Everything a request needs about the key (its material unwrapped), for the cache."""
        return repository.load_key(self._session, self._root, key_id, compile_policy, repository.load_grants)

    # --- time-driven transitions (KmsCore.process_due) -----------------------------------
    def next_due_time(self) -> Optional[float]:
        return repository.next_due_time(self._session)

    def due_for_deletion(self, now: float) -> list[str]:
        return list(self._session.exec(select(KeyTable.key_id)
                                       .where(KeyTable.key_state == KeyState.PENDING_DELETION)
                                       .where(col(KeyTable.deletion_date) <= now)))

    def due_for_rotation(self, now: float) -> list[str]:
        return list(self._session.exec(select(KeyTable.key_id).where(col(KeyTable.rotation_enabled) == True)  # noqa: E712
                                       .where(KeyTable.key_state == KeyState.ENABLED)
                                       .where(col(KeyTable.next_rotation_date) <= now)))

    def with_lapsed_material(self, now: float) -> list[str]:
        return list(self._session.exec(select(KeyTable.key_id).where(col(KeyTable.valid_to) <= now)))

    def delete_everywhere(self, key_id: str) -> None:
        """The end of a deletion window: key, materials, aliases, grants and tags go for good."""
        repository.delete_key_everywhere(self._session, key_id)


class AliasRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, account_id: str, region: str, name: str) -> Optional[AliasTable]:
        return self._session.get(AliasTable, (account_id, region, name))

    def count_for_key(self, key_id: str) -> int:
        return self._session.exec(select(func.count()).select_from(AliasTable)
                                  .where(AliasTable.target_key_id == key_id)).one()

    def add(self, row: AliasTable) -> None:
        self._session.add(row)

    def save(self, row: AliasTable) -> None:
        self._session.add(row)

    def delete(self, row: AliasTable) -> None:
        self._session.delete(row)

    def page(self, account_id: str, region: str, key_id: Optional[str], after: Optional[str],
             limit: int) -> list[AliasTable]:
        """Up to `limit` aliases of the account and Region (of one key, if given) after
        `after`, in name order."""
        query = select(AliasTable).where(AliasTable.account_id == account_id).where(AliasTable.region == region)
        if key_id is not None:
            query = query.where(AliasTable.target_key_id == key_id)
        if after is not None:
            query = query.where(AliasTable.alias_name > after)
        return list(self._session.exec(query.order_by(AliasTable.alias_name).limit(limit)))


class KeyTagRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def of_key(self, key_id: str) -> dict[str, KeyTagTable]:
        return {r.tag_key: r for r in self._session.exec(select(KeyTagTable).where(KeyTagTable.key_id == key_id))}

    def put(self, key_id: str, tags: dict[str, str]) -> None:
        """Add or overwrite each tag."""
        rows = self.of_key(key_id)
        for tag_key, tag_value in tags.items():
            row = rows.get(tag_key)
            if row is None:
                self._session.add(KeyTagTable(key_id=key_id, tag_key=tag_key, tag_value=tag_value))
            else:
                row.tag_value = tag_value
                self._session.add(row)

    def remove(self, key_id: str, tag_keys: list[str]) -> None:
        self._session.execute(delete(KeyTagTable).where(col(KeyTagTable.key_id) == key_id)
                              .where(col(KeyTagTable.tag_key).in_(tag_keys)))

    def page(self, key_id: str, after: Optional[str], limit: int) -> list[KeyTagTable]:
        query = select(KeyTagTable).where(KeyTagTable.key_id == key_id)
        if after is not None:
            query = query.where(KeyTagTable.tag_key > after)
        return list(self._session.exec(query.order_by(KeyTagTable.tag_key).limit(limit)))


class GrantRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def key_of(self, grant_id: str) -> Optional[str]:
        row = self._session.get(GrantTable, grant_id)
        return row.key_id if row is not None else None

    def named(self, key_id: str, name: str) -> list[Grant]:
        return [repository.grant_from_row(r) for r in self._session.exec(
            select(GrantTable).where(GrantTable.key_id == key_id).where(GrantTable.name == name))]

    def count_for_key(self, key_id: str) -> int:
        return self._session.exec(select(func.count()).select_from(GrantTable)
                                  .where(GrantTable.key_id == key_id)).one()

    def add(self, grant: Grant) -> None:
        self._session.add(GrantTable(
            grant_id=grant.grant_id, key_id=grant.key_id, name=grant.name,
            grantee_principal=grant.grantee_principal, retiring_principal=grant.retiring_principal,
            operations=json.dumps(list(grant.operations)),
            constraints=json.dumps(grant.constraints) if grant.constraints else None,
            issuing_account=grant.issuing_account, creation_date=grant.creation_date))

    def delete(self, key_id: str, grant_id: str) -> bool:
        """Delete the key's grant; False if it has no such grant (any more)."""
        row = self._session.get(GrantTable, grant_id)
        if row is None or row.key_id != key_id:
            return False
        self._session.delete(row)
        return True

    def retirable_page(self, retiring: str, region: str, after: Optional[tuple[float, str]],
                       limit: int) -> list[tuple[Grant, str, str]]:
        """Up to `limit` grants `retiring` may retire on keys in the Region, oldest first
        after `after` (creation date, grant id), each with its key's account and Region."""
        query = (select(GrantTable, KeyTable.account_id, KeyTable.region)
                 .join(KeyTable, col(KeyTable.key_id) == col(GrantTable.key_id))
                 .where(GrantTable.retiring_principal == retiring)
                 .where(KeyTable.region == region))
        if after is not None:
            created, gid = after
            query = query.where(or_(col(GrantTable.creation_date) > created,
                                    and_(col(GrantTable.creation_date) == created, col(GrantTable.grant_id) > gid)))
        rows = self._session.exec(query.order_by(col(GrantTable.creation_date), col(GrantTable.grant_id))
                                  .limit(limit))
        return [(repository.grant_from_row(g), account, region) for g, account, region in rows]


class ServiceOwnedKeyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def of(self, service: str, account_id: str, region: str) -> list[ServiceOwnedKeyTable]:
        """The service's owned key generations for the account and Region (wrapped)."""
        return list(self._session.exec(select(ServiceOwnedKeyTable)
                                       .where(ServiceOwnedKeyTable.service == service)
                                       .where(ServiceOwnedKeyTable.account_id == account_id)
                                       .where(ServiceOwnedKeyTable.region == region)))


class UnitOfWork:
    """The repositories over one transaction (a write, or a read)."""

    def __init__(self, session: Session, root: RootKeyring) -> None:
        self.keys = KeyRepository(session, root)
        self.aliases = AliasRepository(session)
        self.tags = KeyTagRepository(session)
        self.grants = GrantRepository(session)
        self.owned_keys = ServiceOwnedKeyRepository(session)
        self.identities = IdentityRepository(session)
        self._session = session

    def flush(self) -> None:
        """Write what is pending now, so the transaction's next reads (and rows that refer
        to these) see it."""
        self._session.flush()


@contextmanager
def writing(db: Database, root: RootKeyring, service_events: Optional[list] = None) -> Iterator[UnitOfWork]:
    """A write transaction (storage/session.py: the change token, the audit record it
    carries) and its repositories.  A unique row taken first by another transaction is a
    `Conflict`."""
    try:
        with db.write(service_events=service_events) as session:
            yield UnitOfWork(session, root)
    except IntegrityError as exc:
        raise Conflict() from exc


def add_service_owned_key(db: Database, row: ServiceOwnedKeyTable) -> None:
    """Commit a service-owned key row with the request's audit record.  The change token
    stays: no cache holds a key that did not exist (a `Conflict` if another process made
    it first)."""
    try:
        with db.write_session() as session:
            session.add(row)
            moved = record_in_transaction(session_runner(session), not db.is_sqlite)
            session.commit()
            db.committed(moved)
    except IntegrityError as exc:
        raise Conflict() from exc


@contextmanager
def reading(db: Database, root: RootKeyring) -> Iterator[UnitOfWork]:
    with db.session() as session:
        yield UnitOfWork(session, root)


def new_grant_id() -> str:
    return os.urandom(32).hex()
