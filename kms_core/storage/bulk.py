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
from dataclasses import dataclass, field
from typing import Iterable, Optional

from kms_core.crypto.root import RootKey
from kms_core.policy.document import default_key_policy
from kms_core.storage.repository import material_row, new_key_id, new_key_row
from kms_core.storage.session import Database, bump_epoch
from kms_core.storage.tables import AliasTable, GrantTable


@dataclass
class BulkKey:
    account_id: str
    region: str
    description: str = ""
    alias: Optional[str] = None
    #: grantee principal ARNs, one Encrypt/Decrypt grant each
    grantees: list[str] = field(default_factory=list)


def insert_keys(db: Database, root: RootKey, keys: Iterable[BulkKey], now: float, batch: int = 2000) -> list[str]:
    """Insert the keys; returns their ids in order."""
    ids: list[str] = []
    dependents: list = []  # materials, aliases and grants, added once their keys are flushed
    session = db.write_session()

    def commit() -> None:
        session.flush()
        session.add_all(dependents)
        dependents.clear()
        session.commit()

    try:
        for spec in keys:
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
    return ids
