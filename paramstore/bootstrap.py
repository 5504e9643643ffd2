"""Opening the store: migrations, the root-key check, and the first account.

On first start with an empty store the server records the root key's check value and
creates account PARAMSTORE_ACCOUNT_ID with a root access key: the one given in
PARAMSTORE_ADMIN_ACCESS_KEY_ID / _SECRET_ACCESS_KEY, or a generated one written to
<data-dir>/credentials (AWS shared-credentials format, mode 0600).  Later starts refuse
to run under a different root key rather than fall back to anything.  Then a seed file
(settings.seed_file, paramstore/seed.py), if any, is applied.
"""

from __future__ import annotations

import logging
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from kms_core.crypto.root import ROOT_KEY_FILE, RootKeyError, RootKeyring
from kms_core.storage import root_versions
from paramstore import preflight
from paramstore.preflight import ROOT_CHECK, STORE_CREATED, STORE_ID, StartupError
from kms_core.runtime import Runtime
from kms_core.service import KmsCore
from kms_core.storage import audit_file, migrate, sqlite_snapshot
from kms_core.storage.session import Database
from kms_core.storage.connect import SQLITE_SIDE_FILES
from kms_core.storage.store_meta import bootstrapping
from kms_core.storage.unit_of_work import Conflict
from paramstore.settings import Settings

if TYPE_CHECKING:
    from paramstore.secrets.store import SecretStore
    from paramstore.ssm.store import ParameterStore

log = logging.getLogger("paramstore")




@dataclass
class Store:
    db: Database
    root: RootKeyring
    kms: KmsCore
    credentials_file: Optional[Path] = None
    params: Optional[ParameterStore] = None
    secrets: Optional[SecretStore] = None

    def sync(self) -> None:
        """Before every request: caches current, due lifecycle work done."""
        self.kms.sync()
        if self.params is not None:
            self.params.sync()
        if self.secrets is not None:
            self.secrets.sync()

    def close(self) -> None:
        """Release the database connections (a store opened only to prepare it)."""
        if self.params is not None:
            self.params.sql.dispose()
        self.db.dispose()


def open_store(settings: Settings, runtime: Optional[Runtime] = None) -> Store:
    """Open the store, or raise StartupError with a one-line reason (the cause chained, for
    --debug); a refused start leaves the data directory as it found it."""
    runtime = runtime or Runtime()
    url = settings.resolved_database_url()
    try:
        return _open_store(settings, runtime, url)
    except Exception as exc:
        reason = preflight.describe(exc, url, settings.data_dir)
        if reason is None:
            raise
        raise StartupError(reason) from exc


def _open_store(settings: Settings, runtime: Runtime, url: str) -> Store:
    preflight.check_url(url)
    preflight.check_writable(settings.data_dir)
    marker = preflight.read_marker(settings.data_dir)
    facts = preflight.inspect_database(url)
    new_store = preflight.refuse_damaged_store(settings.data_dir, url, facts, marker)
    store_id = (marker or {}).get("store_id") or facts.store_id
    settings.create_data_dir()
    if new_store and marker is None:
        # The marker goes first (marked "creating"): a start that dies before the store is
        # complete resumes it, and a lost database is never mistaken for a new place.
        store_id = str(uuid.uuid4())
        preflight.write_marker(settings.data_dir, store_id, runtime.wall_clock(), url, creating=True)
    db = Database(url, timeout=settings.db_timeout_seconds)
    try:
        if settings.ephemeral and new_store:  # made and thrown away each run: the migrations' result, at once
            sqlite_snapshot.create(db)
        elif settings.migrate:
            migrate.upgrade(db)
        else:
            migrate.require_current(db)
    except migrate.SchemaOutdated as exc:
        raise StartupError(str(exc)) from None
    try:
        # an ephemeral store's root key is its own (a key file in its directory), never PARAMSTORE_ROOT_KEY
        root, first_records = root_versions.open_keyring(db, settings.data_dir, {} if settings.ephemeral else None,
                                                         create=new_store, new_store_target=settings.root_key_uri)
    except RootKeyError as exc:
        raise StartupError(str(exc)) from None
    root_versions.guard(db, root)
    if settings.root_key_uri and not new_store and settings.root_key_uri.split("?")[0] != root.source:
        log.warning("PARAMSTORE_ROOT_KEY_URI only picks a new store's root key; this store's is %s "
                    "(move it with `paramstore admin rotate-root-key --to <uri>`)", root.source)
    for attempt in range(3):
        try:
            credentials_file, store_id, created_at = _check_root_and_bootstrap(
                db, root, settings, runtime, store_id or str(uuid.uuid4()), first_records)
            break
        except Conflict:
            # Several servers started at once on an empty database: another one won the
            # bootstrap; try again, and this time find its rows.
            if attempt == 2:
                raise
    try:
        audit_file.adopt(db)  # SQLite: the trail in its own file (kms_core/storage/audit_file.py)
    except audit_file.AuditFileError as exc:
        raise StartupError(str(exc)) from None
    if marker is None or marker.get("creating") or marker.get("store_id") != store_id:
        preflight.write_marker(settings.data_dir, store_id, created_at, url)
    from paramstore.secrets.rotation.targets import TargetsFileError, load_targets
    from paramstore.secrets.store import SecretStore
    from paramstore.ssm.store import ParameterStore

    try:
        rotation_targets = load_targets(settings.rotation_targets)
    except TargetsFileError as exc:
        raise StartupError(str(exc)) from None
    kms = KmsCore(db, root, runtime)
    store = Store(db, root, kms, credentials_file, ParameterStore(kms), SecretStore(kms, rotation_targets))
    warn_if_others_can_read(settings, db)
    if settings.seed_file is not None:
        apply_seed_file(store, settings.seed_file)
    return store


def warn_if_others_can_read(settings: Settings, db: Database) -> None:
    """A WARNING for the data directory, or a file the server keeps (root.key, credentials,
    the SQLite database and its -wal/-shm/-journal), that group or other users can reach.
    New ones are made 0700/0600; older ones are reported, not changed."""
    checks = [(settings.data_dir, "data directory", "chmod 700")]
    files = [settings.data_dir / name for name in (ROOT_KEY_FILE, "credentials", preflight.MARKER_FILE)]
    if db.sqlite_path is not None:
        for path in (db.sqlite_path, audit_file.audit_file_path(db.sqlite_path)):
            files += [path] + [Path(f"{path}{suffix}") for suffix in SQLITE_SIDE_FILES]
    checks += [(path, "file", "chmod 600") for path in files]
    for path, kind, fix in checks:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:  # not there (no SQLite, the root key from the environment, ...)
            continue
        if mode & 0o077:
            log.warning("%s %s is mode %04o: group or other users can reach it (%s it)", kind, path, mode, fix)


def apply_seed_file(store: Store, path: Path) -> None:
    """Apply a seed file (paramstore/seed.py); a bad one stops the start (StartupError)."""
    from paramstore.seed import SeedError, apply_seed

    try:
        report = apply_seed(store, Path(path))
    except SeedError as exc:
        raise StartupError(f"seed file {path}: {exc}") from None
    log.info("applied seed file %s: %s", path, report.summary())


def _check_root_and_bootstrap(db: Database, root: RootKeyring, settings: Settings, runtime: Runtime,
                              new_store_id: str, first_records: Optional[dict] = None
                              ) -> tuple[Optional[Path], str, float]:
    """Check the root key against the store's, and make what a store needs on first start:
    its id and creation time (also for a store made before they were recorded), the first
    account and its access key.  Returns (credentials file written, store id, created at)."""
    from kms_core.identity.store import IdentityStore

    identities = IdentityStore(db, root)
    written: Optional[Path] = None
    with bootstrapping(db) as meta:
        check = meta.get(ROOT_CHECK)
        if check is None:
            if meta.holds_keys():
                raise StartupError("the store holds keys but no root key check value; refusing to start")
            meta.put(ROOT_CHECK, root.check_value())
            for name, value in (first_records or {}).items():  # a store whose first root is in an HSM
                meta.put(name, value)
        elif not root.matches(check):
            raise StartupError(
                f"the root key from {root.source} is not the key this store was created with; "
                "refusing to start (restore the original root key file or PARAMSTORE_ROOT_KEY)")
        if meta.get(root_versions.CURRENT) is None:  # the row every wrapping write reads (root_versions)
            meta.put(root_versions.CURRENT, "1")
        now = runtime.clock()
        store_id, created_at = meta.get(STORE_ID), meta.get(STORE_CREATED)
        if store_id is None:
            store_id = new_store_id
            meta.put(STORE_ID, store_id)
        if created_at is None:
            created_at = repr(runtime.wall_clock())
            meta.put(STORE_CREATED, created_at)
        account = settings.account_id
        if not identities.account_exists(meta.txn, account):
            identities.create_account(meta.txn, account, now)
            if settings.admin_access_key_id and settings.admin_secret_access_key:
                identities.add_access_key(meta.txn, account, now, settings.admin_access_key_id,
                                          settings.admin_secret_access_key)
            else:
                akid, secret = identities.add_access_key(meta.txn, account, now)
                written = write_credentials_file(settings.data_dir / "credentials", akid, secret)
        elif (settings.admin_access_key_id and settings.admin_secret_access_key
              and not meta.access_key_exists(settings.admin_access_key_id)):
            identities.add_access_key(meta.txn, account, now, settings.admin_access_key_id,
                                      settings.admin_secret_access_key)
    if written:
        log.warning("created account %s; its root access key is in %s", settings.account_id, written)
    return written, store_id, float(created_at)


def write_credentials_file(path: Path, access_key_id: str, secret: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # before the secret goes in, should an older file be there
    with os.fdopen(fd, "w") as fh:
        fh.write(f"[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}\n")
    os.chmod(path, 0o600)
    return path
