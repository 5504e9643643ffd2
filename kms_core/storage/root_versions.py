"""Root-key versions in the store: which exist, which is current, and the rewrap that
moves every wrapped value onto the current one (kms_core/crypto/root.py explains the
keyring and the wrapped format).

ps_meta holds, besides root_key_check:

    root_key.current   the version new wraps use ("1" until the first rotation)
    root_key.v<N>      {"kind": legacy|file|env|pkcs11, where it lives, "check": a blob only
                        that version opens, "state": active|retired, times}
    root_key.domain    the domain key, wrapped under the current version

None of it is secret.  A store without a `root_key.v1` record is one made before
versions existed: its version 1 is the key file or PARAMSTORE_ROOT_KEY, as always.

Why no write is left under an old version: a transaction that writes a wrapped value
reads root_key.current in that transaction (PostgreSQL: FOR SHARE, so a rotation's update
of that row waits for it, and it waits for the rotation) and rewraps its values if the
version moved on.  So once a rotation commits, no value under an older version can be
committed any more, and one pass of the rewrap after it finds every one there is.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from sqlalchemy import event, func, select as sa_select, text, tuple_, update
from sqlmodel import Session

from kms_core.crypto.root import (DOMAIN_KEY_IDENTITY, ROOT_KEY_BYTES, RootKey, RootKeyError, RootKeyring,
                                  RootProvider, load_root_key, new_key_file, open_under, opens_check_blob,
                                  read_key_env, read_key_file, seal_under, single_version, version_check_blob,
                                  wrapped_version)
from kms_core.storage.session import Database
from kms_core.storage.tables import MetaTable
from kms_core.storage.wrapped_rows import WRAPPED_COLUMNS

CURRENT = "root_key.current"
DOMAIN = "root_key.domain"
ACTIVE, RETIRED = "active", "retired"


def record_name(version: int) -> str:
    return f"root_key.v{version}"


# --- where a version's key lives --------------------------------------------------------
def describe_target(target: str, data_dir: Path, next_version: int) -> dict:
    """A rotation target as the operator names it: `file[:PATH]` (a new key file; made if
    missing), `env:VAR`, or a `pkcs11:` URI."""
    if target == "file" or target.startswith("file:"):
        path = target[len("file:"):] if target.startswith("file:") else f"root-v{next_version}.key"
        return {"kind": "file", "path": path}
    if target.startswith("env:") and len(target) > 4:
        return {"kind": "env", "var": target[4:]}
    if target.startswith("pkcs11:"):
        return {"kind": "pkcs11", "uri": target}
    raise RootKeyError(f"unknown root key target {target!r}: use file[:PATH], env:VAR or a pkcs11: URI")


def key_file_path(locator: dict, data_dir: Path) -> Path:
    path = Path(locator["path"])
    return path if path.is_absolute() else Path(data_dir) / path


def open_provider(locator: dict, data_dir: Path, environ: Optional[dict] = None,
                  create_file: bool = False, from_operator: bool = False) -> RootProvider:
    """`from_operator`: the locator comes from the command line or this process's settings,
    not from the database (see Pkcs11Uri.untrusted)."""
    kind = locator.get("kind")
    if kind == "legacy":
        return load_root_key(data_dir, environ)
    if kind == "file":
        path = key_file_path(locator, data_dir)
        if create_file and not path.exists():
            new_key_file(path)
        return read_key_file(path)
    if kind == "env":
        return read_key_env(locator["var"], environ)
    if kind == "pkcs11":
        from kms_core.crypto.pkcs11_root import Pkcs11Root, Pkcs11Uri

        uri = Pkcs11Uri.parse(locator["uri"])
        return Pkcs11Root(uri if from_operator else uri.untrusted(), environ)
    raise RootKeyError(f"unknown root key kind {kind!r} in the store")


def where(locator: dict) -> str:
    kind = locator.get("kind")
    return {"legacy": "root.key or $PARAMSTORE_ROOT_KEY", "file": f"file {locator.get('path')}",
            "env": f"${locator.get('var')}", "pkcs11": str(locator.get("uri", "")).split("?")[0]}.get(kind, str(kind))


# --- what the store records -------------------------------------------------------------
@dataclass
class StoredVersions:
    current: int = 1
    records: dict[int, dict] = field(default_factory=dict)
    domain: Optional[bytes] = None

    def live(self) -> dict[int, dict]:
        """Versions still in use: their rows may hold values, so their keys must load."""
        live = {v: r for v, r in self.records.items() if r.get("state") != RETIRED}
        if 1 not in self.records and self.current == 1:
            live[1] = {"kind": "legacy", "state": ACTIVE}
        return live


def read_versions(conn: Any) -> StoredVersions:
    return versions_from_rows(conn.execute(text("SELECT name, value FROM ps_meta WHERE name LIKE 'root_key.%'")).all())


def versions_from_rows(rows: Any) -> StoredVersions:
    """The versions ps_meta's `root_key.*` rows describe (a store's, or a backup's)."""
    stored = StoredVersions()
    for name, value in rows:
        if name == CURRENT:
            stored.current = int(value)
        elif name == DOMAIN:
            stored.domain = base64.b64decode(value)
        elif name.startswith("root_key.v"):
            stored.records[int(name[len("root_key.v"):])] = json.loads(value)
    if stored.current != 1 and stored.current not in stored.records:
        raise RootKeyError(f"the store names root key version {stored.current} current but has no record of it")
    return stored


def _put(session: Session, name: str, value: str) -> None:
    row = session.get(MetaTable, name)
    if row is None:
        session.add(MetaTable(name=name, value=value))
    else:
        row.value = value
        session.add(row)


# --- the keyring a process opens ---------------------------------------------------------
def open_keyring(db: Database, data_dir: Path, environ: Optional[dict] = None, create: bool = False,
                 new_store_target: Optional[str] = None) -> tuple[RootKeyring, Optional[dict]]:
    """The keyring for this store: every live version's key, checked against its record.

    A new store (`create`) gets version 1 from `new_store_target` (a pkcs11: URI) if given,
    else a key file as always.  Returns (keyring, what a new non-legacy store must record
    at bootstrap: `first_version_records`)."""
    with db.read_engine.connect() as conn:
        stored = read_versions(conn)
    keyring, first_records = keyring_for(stored, data_dir, environ, create, new_store_target)
    keyring.refresh = lambda: refresh_keyring(keyring, db, data_dir, environ)
    return keyring, first_records


def keyring_for(stored: StoredVersions, data_dir: Path, environ: Optional[dict] = None, create: bool = False,
                new_store_target: Optional[str] = None, carried: Optional[RootKey] = None
                ) -> tuple[RootKeyring, Optional[dict]]:
    """The keyring for `stored`.  `carried`: the current version's key from elsewhere (a
    backup that carries it), in place of where the record says it lives."""
    if not stored.records:
        if carried is not None:
            return single_version(carried), None
        if create and new_store_target:
            locator = describe_target(new_store_target, data_dir, 1)
            provider = open_provider(locator, data_dir, environ, create_file=True, from_operator=True)
            keyring = RootKeyring({1: provider}, 1, os.urandom(ROOT_KEY_BYTES))
            return keyring, first_version_records(keyring, locator, provider)
        return single_version(load_root_key(data_dir, environ, create=create)), None
    providers: dict[int, RootProvider] = {}
    for version, record in sorted(stored.live().items()):
        providers[version] = provider = (carried if carried is not None and version == stored.current
                                         else open_provider(record, data_dir, environ))
        if "check" in record and not opens_check_blob(provider, version, record["check"]):
            raise RootKeyError(f"the root key from {provider.source} is not version {version} of this store's "
                               "root key; refusing to start")
    if stored.domain is not None:
        domain_version = wrapped_version(stored.domain)
        if domain_version not in providers:
            raise RootKeyError(f"the domain key is wrapped under root key version {domain_version}, "
                               "which is not available")
        domain = open_under(providers[domain_version], stored.domain, DOMAIN_KEY_IDENTITY)
    else:
        legacy = providers.get(1)
        if not isinstance(legacy, RootKey):
            raise RootKeyError("the store has no domain key and no version 1 root key file")
        domain = legacy.legacy_domain_key()
    return RootKeyring(providers, stored.current, domain), None


def first_version_records(keyring: RootKeyring, locator: dict, provider: RootProvider) -> dict:
    """The ps_meta rows a store made with a non-legacy version 1 starts with."""
    return {record_name(1): json.dumps({**locator, "state": ACTIVE, "check": version_check_blob(provider, 1)}),
            CURRENT: "1",
            DOMAIN: base64.b64encode(seal_under(provider, 1, keyring.domain_key_for_rotation(),
                                                DOMAIN_KEY_IDENTITY)).decode()}


def refresh_keyring(keyring: RootKeyring, db: Database, data_dir: Path, environ: Optional[dict] = None) -> None:
    """Load versions another process added (a rotation), drop retired ones."""
    with db.read_engine.connect() as conn:
        stored = read_versions(conn)
    adopt(keyring, stored, data_dir, environ)


def adopt(keyring: RootKeyring, stored: StoredVersions, data_dir: Path, environ: Optional[dict] = None) -> None:
    held = keyring.versions
    providers: dict[int, RootProvider] = {}
    for version, record in stored.live().items():
        if version in held:
            providers[version] = held[version]
            continue
        provider = open_provider(record, data_dir, environ)
        if "check" in record and not opens_check_blob(provider, version, record["check"]):
            raise RootKeyError(f"the root key from {provider.source} is not version {version} of this store's root")
        providers[version] = provider
    keyring.adopt(providers, stored.current)


# --- the write guard -----------------------------------------------------------------------
_WRAPPED_TYPES = {column.table: column for column in WRAPPED_COLUMNS}
GUARD_KEY = "root_keyring"


def current_in_transaction(session: Session, postgres: bool) -> int:
    sql = "SELECT value FROM ps_meta WHERE name = :n" + (" FOR SHARE" if postgres else "")
    value = session.execute(text(sql), {"n": CURRENT}).scalar()
    return int(value) if value is not None else 1


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    keyring: Optional[RootKeyring] = session.info.get(GUARD_KEY)
    if keyring is None:
        return
    pending = [obj for obj in (*session.new, *session.dirty) if type(obj) in _WRAPPED_TYPES]
    if not pending:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    current = current_in_transaction(session, postgres)
    held = keyring.versions  # before a refresh drops a version retired meanwhile: the values here need it
    if current != keyring.current and keyring.refresh is not None:
        keyring.refresh()
    for obj in pending:
        column = _WRAPPED_TYPES[type(obj)]
        value = column.value(obj)
        version = wrapped_version(value)
        if version != current:
            identity = column.identity(obj)
            provider = held.get(version) if version is not None else None
            plain = open_under(provider, value, identity) if provider else keyring.unwrap(value, identity)
            setattr(obj, column.column, keyring.wrap(plain, identity))
            if wrapped_version(getattr(obj, column.column)) != current:
                raise RootKeyError(f"root key version {current} is not available to this process")


event.listen(Session, "before_flush", _before_flush)


def guard(db: Database, keyring: RootKeyring) -> None:
    """Every write session of `db` checks its wrapped values against the current version."""
    db.session_info[GUARD_KEY] = keyring


# --- rotation, rewrap, retirement ----------------------------------------------------------
@dataclass
class RotationStep:
    version: int
    locator: dict
    source: str


def rotate(db: Database, keyring: RootKeyring, target: str, data_dir: Path, now: float,
           environ: Optional[dict] = None, service_events: Optional[list] = None,
           make_event: Optional[Callable[[str, dict], Any]] = None) -> RotationStep:
    """Add a version and make it current (one transaction); the rewrap comes after."""
    with db.read_engine.connect() as conn:
        stored = read_versions(conn)
    version = max([stored.current, *stored.records]) + 1
    locator = describe_target(target, data_dir, version)
    provider = open_provider(locator, data_dir, environ, create_file=locator["kind"] == "file", from_operator=True)
    for held_version, held in keyring.versions.items():
        if getattr(held, "source", None) == provider.source:
            raise RootKeyError(f"{provider.source} already holds root key version {held_version}")
    events = service_events if service_events is not None else []
    with db.write(service_events=events) as session:
        current = current_in_transaction(session, not db.is_sqlite)  # FOR SHARE: no racing rotation
        if session.get(MetaTable, record_name(version)) is not None:
            raise RootKeyError("another rotation is under way; try again")
        if current == 1 and session.get(MetaTable, record_name(1)) is None:
            _put(session, record_name(1), json.dumps({"kind": "legacy", "state": ACTIVE, "created_at": None,
                                                      "check": version_check_blob(keyring.provider(1), 1)}))
        _put(session, record_name(version), json.dumps({**locator, "state": ACTIVE, "created_at": now,
                                                        "check": version_check_blob(provider, version)}))
        _put(session, DOMAIN, base64.b64encode(seal_under(provider, version, keyring.domain_key_for_rotation(),
                                                          DOMAIN_KEY_IDENTITY)).decode())
        _put(session, CURRENT, str(version))
        if make_event is not None:
            events.append(make_event("RotateRootKey", {"fromVersion": current, "toVersion": version,
                                                       "kind": locator["kind"], "where": where(locator)}))
    keyring.adopt({**keyring.versions, version: provider}, version)
    return RotationStep(version, locator, provider.source)


def _prefix_is(column: Any, version: int) -> Any:
    if version == 1:
        return func.substr(column, 1, 1) == b"\x01"
    return func.substr(column, 1, 3) == b"\x02" + version.to_bytes(2, "big")


@dataclass
class RewrapCursor:
    """How far one pass of the rewrap has come, per column (the last primary key seen), so
    each batch continues where the last stopped instead of scanning from the start: a
    pass reads each row once however large the store.  One pass is enough, since nothing
    under an older version can be written once the rotation committed."""

    version: int = 0
    after: dict[str, tuple] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    def start(self, version: int) -> None:
        if version != self.version:
            self.version, self.after, self.done = version, {}, set()


@dataclass
class Batch:
    """What one `rewrap_batch` did: rows looked at (0: the pass is over) and values moved."""

    visited: int = 0
    moved: int = 0


def rewrap_batch(db: Database, keyring: RootKeyring, limit: int = 200,
                 make_event: Optional[Callable[[str, dict], Any]] = None,
                 cursor: Optional[RewrapCursor] = None) -> Batch:
    """Move up to `limit` values onto the current version, in one audited transaction.  A
    compare-and-set per value, so servers and the CLI may rewrap side by side."""
    cursor = cursor if cursor is not None else RewrapCursor()
    batch = Batch()
    events: list = []
    with db.write(service_events=events) as session:
        current = current_in_transaction(session, not db.is_sqlite)
        if current != keyring.current and keyring.refresh is not None:
            keyring.refresh()
        if current != keyring.current:
            return batch
        cursor.start(current)
        for column in WRAPPED_COLUMNS:
            if column.name in cursor.done:
                continue
            target = getattr(column.table, column.column)
            pk = list(column.table.__table__.primary_key.columns)
            query = sa_select(column.table).where(~_prefix_is(target, current)).order_by(*pk)
            if column.name in cursor.after:
                query = query.where(tuple_(*pk) > tuple_(*cursor.after[column.name]))
            rows = session.execute(query.limit(limit - batch.visited)).scalars().all()
            for row in rows:
                old = column.value(row)
                new = keyring.rewrap(old, column.identity(row))
                if new is not None:
                    keys = [getattr(column.table, c.name) == getattr(row, c.name) for c in pk]
                    batch.moved += session.execute(update(column.table).where(*keys, target == old)
                                                   .values({column.column: new})
                                                   .execution_options(synchronize_session=False)).rowcount
                cursor.after[column.name] = tuple(getattr(row, c.name) for c in pk)
            batch.visited += len(rows)
            if batch.visited >= limit:
                break
            cursor.done.add(column.name)
        if batch.moved and make_event is not None:
            events.append(make_event("RewrapRootKey", {"values": batch.moved, "toVersion": current}))
    return batch


def counts(db: Database) -> dict[str, dict[int, int]]:
    """Rows per root version, per wrapped column (`root-key status`)."""
    out: dict[str, dict[int, int]] = {}
    with db.read_engine.connect() as conn:
        for column in WRAPPED_COLUMNS:
            target = getattr(column.table, column.column)
            per: dict[int, int] = {}
            legacy = conn.execute(sa_select(func.count()).select_from(column.table)
                                  .where(_prefix_is(target, 1))).scalar()
            if legacy:
                per[1] = legacy
            prefix = func.substr(target, 1, 3)
            for value, n in conn.execute(sa_select(prefix, func.count()).select_from(column.table)
                                         .where(func.substr(target, 1, 1) == b"\x02").group_by(prefix)):
                version = int.from_bytes(bytes(value)[1:3], "big")
                per[version] = per.get(version, 0) + n
            out[column.name] = per
    return out


def retire_finished(db: Database, keyring: RootKeyring, now: float, service_events: Optional[list] = None,
                    make_event: Optional[Callable[[str, dict], Any]] = None) -> list[int]:
    """Retire every older version no value needs any more; the versions retired."""
    per_column = counts(db)
    with db.read_engine.connect() as conn:
        stored = read_versions(conn)
    needed = {v for per in per_column.values() for v, n in per.items() if n}
    candidates = [v for v in stored.live() if v != stored.current and v not in needed]
    if not candidates or (stored.domain is not None and wrapped_version(stored.domain) != stored.current):
        return []
    events = service_events if service_events is not None else []
    with db.write(service_events=events) as session:
        if current_in_transaction(session, not db.is_sqlite) != stored.current:
            return []
        retired = []
        for version in candidates:
            row = session.get(MetaTable, record_name(version), with_for_update=True)  # one retirer per version
            record = json.loads(row.value) if row is not None else {"kind": "legacy"}
            if record.get("state") == RETIRED:
                continue  # another process (a sweeper, the command) was first
            retired.append(version)
            record.update(state=RETIRED, retired_at=now)
            _put(session, record_name(version), json.dumps(record))
            if make_event is not None:
                events.append(make_event("RetireRootKey", {"version": version, "where": where(record)}))
    live = _reread(db).live()
    keyring.adopt({v: p for v, p in keyring.versions.items() if v in live}, stored.current)
    return retired


def _reread(db: Database) -> StoredVersions:
    with db.read_engine.connect() as conn:
        return read_versions(conn)


def rewrap_pending(db: Database) -> bool:
    """Whether any version besides the current one is still live (a rewrap to do)."""
    stored = _reread(db)
    return any(v != stored.current for v in stored.live())
