"""Every value sealed under the root key, named in one place.

Root-key rotation rewraps them, `root-key status` counts them by root version, and
restore checks that each one opens.  A new table with a `*_wrapped` column must be
listed here, or rotation would leave it under a retired root."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from sqlmodel import Session, SQLModel, select

from kms_core.crypto.aes_gcm import DecryptionFailed
from kms_core.storage.tables import (AccessKeyTable, KeyMaterialTable, ServiceOwnedKeyTable,
                                     access_key_row_identity, material_row_identity,
                                     owned_key_row_identity)


@dataclass(frozen=True)
class WrappedColumn:
    table: type[SQLModel]
    column: str
    #: the AAD the value was sealed with: its row's identity
    identity: Callable[[Any], str]

    @property
    def name(self) -> str:
        return f"{self.table.__tablename__}.{self.column}"

    def value(self, row: Any) -> bytes:
        return getattr(row, self.column)


WRAPPED_COLUMNS: tuple[WrappedColumn, ...] = (
    WrappedColumn(KeyMaterialTable, "material_wrapped",
                  lambda r: material_row_identity(r.key_id, r.material_id)),
    WrappedColumn(AccessKeyTable, "secret_wrapped",
                  lambda r: access_key_row_identity(r.access_key_id, r.account_id)),
    WrappedColumn(ServiceOwnedKeyTable, "material_wrapped",
                  lambda r: owned_key_row_identity(r.service, r.account_id, r.region, r.generation)),
)


def rows(session: Session, column: WrappedColumn, batch: int = 500) -> Iterator[Any]:
    """Every row of `column`'s table, a batch at a time (bounded memory on a large store)."""
    offset = 0
    while True:
        chunk = session.exec(select(column.table).order_by(*column.table.__table__.primary_key.columns)
                             .offset(offset).limit(batch)).all()
        yield from chunk
        if len(chunk) < batch:
            return
        offset += batch


@dataclass
class OpenReport:
    """What `open_all` found: how many values opened, and the ones that did not."""

    opened: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def open_all(session: Session, root: Any) -> OpenReport:
    """Unwrap every sealed value (the plaintext is dropped at once): the proof a restored
    store, or a rotated one, is whole."""
    report = OpenReport()
    for column in WRAPPED_COLUMNS:
        for row in rows(session, column):
            identity = column.identity(row)
            try:
                root.unwrap(column.value(row), identity)
                report.opened += 1
            except (DecryptionFailed, ValueError):
                report.failed.append(identity)
    return report
