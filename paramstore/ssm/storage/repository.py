"""The Parameter Store's rows through the ORM: what its caches load (labels, tags,
settings, counts), the write transaction every change runs in (bumping the parameters'
change epoch and carrying the change's audit records), and what the service itself does
when a parameter policy falls due.  The hot paths' hand-written SQL is hot_sql.py."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator, Optional

from sqlalchemy import func, or_
from sqlmodel import Session, select

from kms_core.audit import AuditEvent
from kms_core.protocol.awsjson import new_request_id
from kms_core.storage.session import PARAMS_EPOCH, Database
from paramstore.ssm.names import parameter_arn
from paramstore.ssm.policies import fire_due, schedule
from paramstore.ssm.storage.hot_sql import DELETE_PARAMETER
from paramstore.ssm.storage.tables import (
    ParameterLabelTable,
    ParameterTable,
    ParameterTagTable,
    ServiceSettingTable,
)


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
        with self.db.session() as session:
            return session.exec(select(func.count()).select_from(ParameterTable)
                                .where(ParameterTable.account_id == account_id)
                                .where(ParameterTable.region == region)
                                .where(ParameterTable.tier == tier)).one()

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
