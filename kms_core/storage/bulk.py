"""A bulk path for test fixtures and scale runs (tools/scale.py): many symmetric customer
keys, with an alias and grants, in large transactions.

Each key is what CreateKey makes (an Enabled SYMMETRIC_DEFAULT key with AWS's default key
policy and fresh material wrapped by the root key, bound to the key and material ids), so
every key works through the API.  No audit records are written and no quota is checked
(the quota counter still counts, through the store's trigger): this fills fixtures, it is
not a way to load production keys.  Running servers see the keys at their next request
(the keys' epoch moves)."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from kms_core.crypto.root import RootKeyring
from kms_core.policy.document import default_key_policy
from kms_core.storage.repository import material_row, new_key_id, new_key_row
from kms_core.storage.session import Database, bump_epoch
from kms_core.storage.tables import AliasTable, GrantTable


#: the row triggers that keep ps_resource_count (migration a8c0ffee0008), by table
COUNT_TRIGGERS = {"ssm_parameter": ("ps_count_parameter_rows", "ps_count_parameter_tier"),
                  "kms_key": ("ps_count_key_insert", "ps_count_key_delete")}
_ADD_COUNT = ("INSERT INTO ps_resource_count (account_id, region, resource, count) VALUES (%s, %s, %s, %s) "
              "ON CONFLICT (account_id, region, resource) DO UPDATE SET count = ps_resource_count.count + "
              "EXCLUDED.count")


def pause_counting(run: Callable[[str, tuple], Any], table: str) -> None:
    """PostgreSQL, inside a bulk transaction: the count triggers off until it ends.  A
    trigger bumping one counter row thousands of times in one transaction walks an ever
    longer chain of that row's versions (quadratic); `resume_counting` adds the batch's
    counts in one statement per counter instead.  The ALTERs are transactional: a batch
    that fails leaves the triggers on."""
    for trigger in COUNT_TRIGGERS[table]:
        run(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}", ())


def resume_counting(run: Callable[[str, tuple], Any], table: str, counts: Counter) -> None:
    for (account_id, region, resource), n in counts.items():
        run(_ADD_COUNT, (account_id, region, resource, n))
    counts.clear()
    for trigger in COUNT_TRIGGERS[table]:
        run(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}", ())


def analyze(cursor: Any, raw: Any, tables: tuple[str, ...]) -> None:
    """PostgreSQL, after a bulk fill: fresh planner statistics now.  Autovacuum gets there
    in its own time (or never, where it is off); until then the planner plans for the
    tables as they were, and a write on a million-row table was measured at 7x its p50."""
    for table in tables:
        cursor.execute(f"ANALYZE {table}")
    raw.commit()


@dataclass
class BulkKey:
    account_id: str
    region: str
    description: str = ""
    alias: Optional[str] = None
    #: grantee principal ARNs, one Encrypt/Decrypt grant each
    grantees: list[str] = field(default_factory=list)


def insert_keys(db: Database, root: RootKeyring, keys: Iterable[BulkKey], now: float, batch: int = 2000) -> list[str]:
    """Insert the keys; returns their ids in order."""
    ids: list[str] = []
    dependents: list = []  # materials, aliases and grants, added once their keys are flushed
    counts: Counter = Counter()
    session = db.write_session()

    def run(sql: str, params: tuple) -> None:
        session.connection().exec_driver_sql(sql, params)

    def commit() -> None:
        if not db.is_sqlite:
            pause_counting(run, "kms_key")
        session.flush()
        session.add_all(dependents)
        dependents.clear()
        if not db.is_sqlite:
            session.flush()
            resume_counting(run, "kms_key", counts)
        session.commit()

    try:
        for spec in keys:
            counts[(spec.account_id, spec.region, "kms:CustomerKey")] += 1
            key_id = new_key_id()
            row = new_key_row(key_id, spec.account_id, spec.region, now, default_key_policy(spec.account_id),
                              description=spec.description)
            material = material_row(root, key_id, now)
            row.current_material_id = material.material_id
            session.add(row)
            dependents.append(material)
            if spec.alias is not None:
                dependents.append(AliasTable(account_id=spec.account_id, region=spec.region, alias_name=spec.alias,
                                             target_key_id=key_id, creation_date=now, last_updated_date=now))
            for grantee in spec.grantees:
                dependents.append(GrantTable(grant_id=os.urandom(32).hex(), key_id=key_id, grantee_principal=grantee,
                                             operations=json.dumps(["Encrypt", "Decrypt"]),
                                             issuing_account=spec.account_id, creation_date=now))
            ids.append(key_id)
            if len(ids) % batch == 0:
                commit()
        bump_epoch(session)
        commit()
    finally:
        session.close()
    if not db.is_sqlite:
        raw = db.engine.raw_connection()
        try:
            analyze(raw.cursor(), raw, ("kms_key", "kms_key_material", "kms_alias", "kms_grant", "ps_resource_count"))
        finally:
            raw.close()
    return ids
