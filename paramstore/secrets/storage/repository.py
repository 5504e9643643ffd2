"""Secrets Manager rows inside a request's transaction (`SecretStore.write()` or a read
session): finding and locking a secret, its versions (and their quota) and labels, and
removing it."""

from __future__ import annotations

from typing import Optional

from sqlmodel import Session, delete, select, update

from paramstore.secrets.errors import LimitExceededException
from paramstore.secrets.storage.tables import AnySecret, SecretStageTable, SecretTable, SecretVersionTable

#: an open transaction, as the operations name it (SQL's types stay in this package)
Txn = Session
#: versions kept before unlabelled ones older than a day are removed (AWS's ~100 quota)
MAX_VERSIONS = 100
#: how old an unlabelled version must be before it may go (a day)
DEPRECATED_MIN_AGE = 86400.0


def find_secret(session: Session, account_id: str, region: str, name: str,
                lock: bool = False) -> Optional[SecretTable]:
    query = (select(SecretTable).where(SecretTable.account_id == account_id).where(SecretTable.region == region)
             .where(SecretTable.name == name))
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def secrets_in(session: Session, account_id: str, region: str) -> list[SecretTable]:
    return list(session.exec(select(SecretTable).where(SecretTable.account_id == account_id)
                             .where(SecretTable.region == region)))


def stages_of(session: Session, secret_id: int) -> dict[str, str]:
    """label -> version id."""
    return {r.stage: r.version_id for r in session.exec(
        select(SecretStageTable).where(SecretStageTable.secret_id == secret_id))}


def replace_stages(session: Session, secret_id: int, before: dict[str, str], after: dict[str, str]) -> None:
    """Write the difference between two label maps."""
    for stage in before.keys() - after.keys():
        row = session.get(SecretStageTable, (secret_id, stage))
        if row is not None:
            session.delete(row)
    for stage, version_id in after.items():
        if before.get(stage) == version_id:
            continue
        row = session.get(SecretStageTable, (secret_id, stage))
        if row is None:
            session.add(SecretStageTable(secret_id=secret_id, stage=stage, version_id=version_id))
        else:
            row.version_id = version_id
            session.add(row)
    session.flush()


def version_of(session: Session, secret_id: int, version_id: str) -> Optional[SecretVersionTable]:
    return session.get(SecretVersionTable, (secret_id, version_id))


def versions_of(session: Session, secret_id: int) -> list[SecretVersionTable]:
    """Oldest first."""
    return list(session.exec(select(SecretVersionTable).where(SecretVersionTable.secret_id == secret_id)
                             .order_by(SecretVersionTable.seq)))


def count_versions(session: Session, secret_id: int) -> int:
    return len(session.exec(select(SecretVersionTable.version_id).where(SecretVersionTable.secret_id == secret_id))
               .all())


def purge_deprecated(session: Session, secret: AnySecret, stages: dict[str, str], now: float,
                     refuse: bool = True) -> bool:
    """Over MAX_VERSIONS, the oldest unlabelled versions older than a day go; if that is not
    enough, the write is refused (AWS's version quota), or with refuse=False, False."""
    session.flush()
    versions = versions_of(session, secret.id)
    excess = len(versions) - MAX_VERSIONS
    if excess <= 0:
        return True
    labelled = set(stages.values())
    doomed = [v.version_id for v in versions if v.version_id not in labelled
              and now - v.created_date >= DEPRECATED_MIN_AGE][:excess]
    if len(doomed) < excess:
        if not refuse:
            return False
        raise LimitExceededException(f"You can't create more than {MAX_VERSIONS} versions of a secret. Versions "
                                     "without a staging label are removed once they are older than a day.")
    delete_versions(session, secret.id, doomed)
    return True


def delete_versions(session: Session, secret_id: int, version_ids: list[str]) -> None:
    if version_ids:
        session.exec(delete(SecretVersionTable).where(SecretVersionTable.secret_id == secret_id)
                     .where(SecretVersionTable.version_id.in_(version_ids)))


def delete_secret_rows(session: Session, secret_id: int) -> None:
    """A secret and everything that hangs off it."""
    session.exec(delete(SecretStageTable).where(SecretStageTable.secret_id == secret_id))
    session.exec(delete(SecretVersionTable).where(SecretVersionTable.secret_id == secret_id))
    session.exec(delete(SecretTable).where(SecretTable.id == secret_id))


def due_deletions(session: Session, now: float) -> list[SecretTable]:
    return list(session.exec(select(SecretTable).where(SecretTable.deleted_date <= now)
                             .with_for_update()))


def due_rotations(session: Session, now: float) -> list[SecretTable]:
    """Secrets whose rotation is due: a range on the next_rotation_date index (the date is
    set only while rotation is on and the secret is live)."""
    return list(session.exec(select(SecretTable).where(SecretTable.next_rotation_date <= now)
                             .with_for_update()))


def next_due(session: Session) -> Optional[float]:
    """The earliest scheduled deletion or rotation (each the first entry of its index)."""
    deletion = session.exec(select(SecretTable.deleted_date).where(SecretTable.deleted_date.is_not(None))
                            .order_by(SecretTable.deleted_date).limit(1)).first()
    rotation = session.exec(select(SecretTable.next_rotation_date)
                            .where(SecretTable.next_rotation_date.is_not(None))
                            .order_by(SecretTable.next_rotation_date).limit(1)).first()
    due = [t for t in (deletion, rotation) if t is not None]
    return min(due) if due else None


def set_last_accessed(session: Session, secret_id: int, version_id: Optional[str], day: float) -> None:
    session.exec(update(SecretTable).where(SecretTable.id == secret_id)
                 .values(last_accessed_date=day))
    if version_id is not None:
        session.exec(update(SecretVersionTable).where(SecretVersionTable.secret_id == secret_id)
                     .where(SecretVersionTable.version_id == version_id).values(last_accessed_date=day))


def stages_for(session: Session, secret_ids: list[int]) -> dict[int, dict[str, str]]:
    """Every label of these secrets in one query (a listing page)."""
    out: dict[int, dict[str, str]] = {secret_id: {} for secret_id in secret_ids}
    if secret_ids:
        for row in session.exec(select(SecretStageTable).where(SecretStageTable.secret_id.in_(secret_ids))):
            out[row.secret_id][row.stage] = row.version_id
    return out
