"""The Parameter Store's rows through the ORM: what its caches load (labels, tags,
settings, counts), the write transaction every change runs in (bumping the parameters'
change epoch and carrying the change's audit records), and what the service itself does
when a parameter policy falls due.  The hot paths' hand-written SQL is hot_sql.py."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator, Optional

from sqlalchemy import or_
from sqlmodel import Session, select

from kms_core.audit import AuditEvent
from kms_core.protocol.awsjson import new_request_id
from kms_core.storage.session import PARAMS_EPOCH, Database
from kms_core.storage.tables import ResourceCountTable
from paramstore.ssm.names import parameter_arn
from paramstore.ssm.policies import fire_due, schedule
from paramstore.ssm.storage.hot_sql import DELETE_PARAMETER
from paramstore.ssm.storage.tables import (
    ParameterLabelTable,
    ParameterTable,
    ParameterTagTable,
    ParameterVersionTable,
    ServiceSettingTable,
)


#: an open transaction, as the functions below take it (what the operations name in their
#: signatures, so SQL's types stay in this package)
Txn = Session


class ParameterRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def write(self, service_events: Optional[list] = None) -> Iterator[Session]:
        """A write transaction of the parameters (other processes drop their parameter
        caches, not their key caches), with the request's audit record and
        `service_events` committed with it."""
        with self.db.write(PARAMS_EPOCH, service_events) as session:
            yield session

    def labels(self, parameter_id: int) -> dict[str, int]:
        with self.db.session() as session:
            return {r.label: r.version for r in session.exec(
                select(ParameterLabelTable).where(ParameterLabelTable.parameter_id == parameter_id))}

    def tags(self, parameter_id: int) -> dict[str, str]:
        with self.db.session() as session:
            return {r.tag_key: r.tag_value for r in session.exec(
                select(ParameterTagTable).where(ParameterTagTable.parameter_id == parameter_id))}

    def setting_row(self, account_id: str, region: str, setting_id: str) -> Optional[ServiceSettingTable]:
        with self.db.session() as session:
            return session.get(ServiceSettingTable, (account_id, region, setting_id))

    def count_parameters(self, account_id: str, region: str, tier: str) -> int:
        """The trigger-kept count (kms_core/storage/tables.py, ResourceCountTable)."""
        with self.db.session() as session:
            row = session.get(ResourceCountTable, (account_id, region, "ssm:" + tier))
            return row.count if row is not None else 0

    def versions_after(self, parameter_id: int, after: int, limit: int) -> list[ParameterVersionTable]:
        """Up to `limit` versions numbered above `after`, oldest first (history pages)."""
        with self.db.session() as session:
            return list(session.exec(select(ParameterVersionTable)
                                     .where(ParameterVersionTable.parameter_id == parameter_id)
                                     .where(ParameterVersionTable.version > after)
                                     .order_by(ParameterVersionTable.version).limit(limit)))

    def fire_due_policies(self, now: float) -> None:
        """Delete expired parameters; record due notifications (once, whichever process
        gets there first: the policy is marked Finished in the same transaction, which
        also carries the records)."""
        events: list[AuditEvent] = []
        with self.write(events) as session:
            due = session.exec(select(ParameterTable).where(or_(
                ParameterTable.expires_at <= now, ParameterTable.expiration_notice_at <= now,
                ParameterTable.no_change_notice_at <= now)).with_for_update()).all()
            for row in due:
                arn = parameter_arn(row.region, row.account_id, row.canonical)
                base = {"name": row.name, "version": row.version}
                inline, fired = fire_due(json.loads(row.policies or "[]"), row.last_modified_date, now)
                for kind in fired:
                    detail = ({**base, "expiresAt": row.expires_at} if kind == "ExpirationNotification"
                              else {**base, "lastModifiedDate": row.last_modified_date})
                    events.append(_policy_event(kind, row, arn, now, detail))
                if row.expires_at is not None and row.expires_at <= now:
                    events.append(_policy_event("Expiration", row, arn, now, base))
                    delete_parameter_rows(session, row.id)
                    continue
                row.policies = policies_json(inline)
                row.expires_at, row.expiration_notice_at, row.no_change_notice_at = schedule(
                    inline, row.last_modified_date)
                session.add(row)


# --- inside a request's transaction (`ParameterStore.write()` / `db.session()`) ----------
def live_parameter(session: Session, account_id: str, region: str, canonical: str,
                   now: float) -> Optional[ParameterTable]:
    """The parameter, unless it is absent or past its expiration."""
    row = session.exec(select(ParameterTable).where(ParameterTable.account_id == account_id)
                       .where(ParameterTable.region == region)
                       .where(ParameterTable.canonical == canonical)).first()
    if row is None or (row.expires_at is not None and now >= row.expires_at):
        return None
    return row


def lock_parameters(session: Session, account_id: str, region: str, canonicals: list[str]) -> list[ParameterTable]:
    """These parameters' rows (expired ones too), locked until the transaction ends."""
    return list(session.exec(select(ParameterTable).where(ParameterTable.account_id == account_id)
                             .where(ParameterTable.region == region)
                             .where(ParameterTable.canonical.in_(canonicals))  # type: ignore[attr-defined]  # a column, typed str
                             .with_for_update()).all())


def parameter_by_id(session: Session, parameter_id: int) -> Optional[ParameterTable]:
    return session.get(ParameterTable, parameter_id)


def has_version(session: Session, parameter_id: int, version: int) -> bool:
    return session.get(ParameterVersionTable, (parameter_id, version)) is not None


def put_label(session: Session, parameter_id: int, label: str, version: int) -> None:
    """Put `label` on `version` (moving it from another version if it was there)."""
    row = session.get(ParameterLabelTable, (parameter_id, label))
    if row is None:
        session.add(ParameterLabelTable(parameter_id=parameter_id, label=label, version=version))
    elif row.version != version:
        row.version = version
        session.add(row)


def labels_on_version(session: Session, parameter_id: int, version: int) -> int:
    session.flush()
    return len(session.exec(select(ParameterLabelTable.label).where(ParameterLabelTable.parameter_id == parameter_id)
                            .where(ParameterLabelTable.version == version)).all())


def remove_label(session: Session, parameter_id: int, label: str, version: int) -> bool:
    """Take `label` off `version`; False if it isn't there."""
    row = session.get(ParameterLabelTable, (parameter_id, label))
    if row is None or row.version != version:
        return False
    session.delete(row)
    return True


def tags_of(session: Session, parameter_id: int) -> dict[str, str]:
    """key -> value, in key order."""
    rows = session.exec(select(ParameterTagTable).where(ParameterTagTable.parameter_id == parameter_id)
                        .order_by(ParameterTagTable.tag_key)).all()
    return {r.tag_key: r.tag_value for r in rows}


def put_tags(session: Session, parameter_id: int, wanted: dict[str, str], limit: int) -> bool:
    """Add or overwrite tags; False (nothing written) if the parameter would then have more
    than `limit`."""
    current = {t.tag_key: t for t in session.exec(select(ParameterTagTable)
                                                  .where(ParameterTagTable.parameter_id == parameter_id))}
    if len(set(current) | set(wanted)) > limit:
        return False
    for key, value in wanted.items():
        row = current.get(key) or ParameterTagTable(parameter_id=parameter_id, tag_key=key)
        row.tag_value = value
        session.add(row)
    return True


def remove_tags(session: Session, parameter_id: int, keys: list[str]) -> None:
    for key in keys:
        row = session.get(ParameterTagTable, (parameter_id, key))
        if row is not None:
            session.delete(row)


def _policy_event(kind: str, row: ParameterTable, arn: str, now: float, detail: dict) -> AuditEvent:
    """A parameter policy firing ("ExpirationNotification", "NoChangeNotification",
    "Expiration"), by the service rather than a caller; never carries a value."""
    return AuditEvent(event_time=now, request_id=new_request_id(), event_source="ssm.amazonaws.com",
                      event_name=kind, region=row.region, account_id=row.account_id,
                      principal_arn="ssm.amazonaws.com", resources=[arn], detail=detail)


def delete_parameter_rows(session: Session, parameter_id: int) -> None:
    """A parameter and everything hanging off it (hot_sql.DELETE_PARAMETER)."""
    connection = session.connection()
    pg = connection.dialect.name == "postgresql"
    for statement in DELETE_PARAMETER:
        connection.exec_driver_sql(statement.replace("?", "%s") if pg else statement, (parameter_id,))


def policies_json(policies: Optional[list]) -> Optional[str]:
    return json.dumps(policies, separators=(",", ":")) if policies else None
