"""A bulk path for test fixtures and scale runs (tools/scale.py): many parameters, their
versions, labels and tags, written with executemany in large transactions.

Values are sealed exactly as PutParameter seals a String or StringList (a fresh data key
per version under the account's service-owned key, bound to the ARN and version), so every
row reads back through the API.  SecureString is not offered: its data keys come from a KMS
key as a caller, which is the API's job.  No audit records are written and no quota is
checked (the quota counters still count, through the store's triggers): this fills
fixtures, it is not a way to load production data.  Run it with no server writing the same
account's parameters (it numbers the rows itself); running servers see the rows at their
next request (the parameters' epoch moves).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Optional

from kms_core.port import KmsPort
from kms_core.storage.bulk import analyze, pause_counting, resume_counting
from kms_core.storage.session import Database
from paramstore.ssm.envelope import value_aad
from paramstore.ssm.names import canonical_of, parameter_arn, parent_of
from paramstore.ssm.storage.hot_sql import BUMP_EPOCH, INSERT_TAG, INSERT_VERSION, PARAM_COLUMNS


@dataclass
class BulkParameter:
    account_id: str
    region: str
    name: str
    #: one value per version, oldest first
    values: list[str]
    type: str = "String"
    tier: str = "Standard"
    labels: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: Optional[str] = None


def insert_parameters(db: Database, kms: KmsPort, parameters: Iterable[BulkParameter], now: float,
                      user: str, batch: int = 5000) -> int:
    """Insert the parameters (none may exist yet), `batch` to a transaction; returns how many."""
    raw = db.engine.raw_connection()

    def sql(statement: str) -> str:  # hot_sql's statements are written with SQLite's marks
        return statement if db.is_sqlite else statement.replace("?", "%s")

    insert_param = sql(f"INSERT INTO ssm_parameter ({', '.join(PARAM_COLUMNS)}) "
                       f"VALUES ({', '.join('?' for _ in PARAM_COLUMNS)})")  # the id too: numbered here
    insert_label = sql("INSERT INTO ssm_parameter_label (parameter_id, label, version) VALUES (?, ?, ?)")
    statements = (insert_param, sql(INSERT_VERSION), insert_label, sql(INSERT_TAG))
    total = 0
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT coalesce(max(id), 0) FROM ssm_parameter")
        next_id = int(cursor.fetchone()[0]) + 1
        rows: tuple[list, list, list, list] = ([], [], [], [])
        counts: Counter = Counter()  # PostgreSQL: what the paused count triggers would have counted

        def flush() -> None:
            if db.is_sqlite:  # its connections autocommit each statement otherwise
                cursor.execute("BEGIN IMMEDIATE")
            else:
                pause_counting(cursor.execute, "ssm_parameter")
            for statement, batch_rows in zip(statements, rows):
                if batch_rows:
                    cursor.executemany(statement, batch_rows)
                    batch_rows.clear()
            if db.is_sqlite:
                cursor.execute("COMMIT")
            else:
                resume_counting(cursor.execute, "ssm_parameter", counts)
                raw.commit()

        for p in parameters:
            canonical = canonical_of(p.name)
            arn = parameter_arn(p.region, p.account_id, canonical)
            latest = len(p.values)
            counts[(p.account_id, p.region, "ssm:" + p.tier)] += 1
            rows[0].append((next_id, p.account_id, p.region, canonical, p.name, parent_of(p.name), latest, p.type,
                            p.tier, "text", None, p.description, None, None, now, user, None, None, None))
            for version, value in enumerate(p.values, start=1):
                aad = value_aad(arn, version, p.type, None)
                data_key = kms.owned_data_key(p.account_id, p.region, aad)
                rows[1].append((next_id, version, p.type, p.tier, "text", None, p.description, None, None,
                                data_key.aead.seal(value.encode(), aad), data_key.sealed, now, user))
            rows[2].extend((next_id, label, version) for label, version in p.labels.items())
            rows[3].extend((next_id, key, value) for key, value in p.tags.items())
            next_id += 1
            total += 1
            if len(rows[0]) >= batch:
                flush()
        flush()
        if not db.is_sqlite:  # the id sequence continues after the rows numbered here
            cursor.execute("SELECT setval(pg_get_serial_sequence('ssm_parameter', 'id'), "
                           "(SELECT max(id) FROM ssm_parameter))")
        cursor.execute(BUMP_EPOCH)
        raw.commit()
        if not db.is_sqlite:
            analyze(cursor, raw, ("ssm_parameter", "ssm_parameter_version", "ssm_parameter_label",
                                  "ssm_parameter_tag", "ps_resource_count"))
    finally:
        raw.close()
    return total
