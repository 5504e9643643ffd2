"""Server settings: command-line flags first, then PARAMSTORE_* environment variables."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Optional

DEFAULT_DATA_DIR = "paramstore-data"
DEFAULT_ACCOUNT_ID = "111122223333"
MAX_BODY_BYTES = 1024 * 1024
#: the data directory holds the root key, the generated credentials and the SQLite database
DATA_DIR_MODE = 0o700


def _path_env(name: str) -> Optional[Path]:
    return Path(os.environ[name]) if os.environ.get(name) else None


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("PARAMSTORE_DATA_DIR", DEFAULT_DATA_DIR)))
    database_url: Optional[str] = field(default_factory=lambda: os.environ.get("PARAMSTORE_DATABASE_URL"))
    account_id: str = field(default_factory=lambda: os.environ.get("PARAMSTORE_ACCOUNT_ID", DEFAULT_ACCOUNT_ID))
    admin_access_key_id: Optional[str] = field(
        default_factory=lambda: os.environ.get("PARAMSTORE_ADMIN_ACCESS_KEY_ID"))
    admin_secret_access_key: Optional[str] = field(
        default_factory=lambda: os.environ.get("PARAMSTORE_ADMIN_SECRET_ACCESS_KEY"), repr=False)
    migrate: bool = True
    max_body_bytes: int = MAX_BODY_BYTES
    #: how often an idle server checks for due deletions and rotations
    sweep_interval_seconds: float = 60.0
    #: refuse a request whose audit event can't be written (the default), or log and answer anyway
    audit_fail_closed: bool = field(default_factory=lambda: os.environ.get("PARAMSTORE_AUDIT_FAIL_OPEN") != "1")
    #: a seed file (paramstore/seed.py) applied at start, after migrations and bootstrap
    seed_file: Optional[Path] = field(
        default_factory=lambda: Path(os.environ["PARAMSTORE_SEED_FILE"]) if os.environ.get("PARAMSTORE_SEED_FILE")
        else None)
    log_level: str = "info"
    access_log: bool = False
    #: how long one database statement may wait (locks, a busy SQLite, a stalled PostgreSQL)
    #: before its request fails with a retryable error (kms_core/storage/session.py)
    db_timeout_seconds: float = field(default_factory=lambda: float(os.environ.get("PARAMSTORE_DB_TIMEOUT", "5")))
    #: on SIGTERM, how long in-flight requests may take to finish before the server exits
    shutdown_grace_seconds: float = field(
        default_factory=lambda: float(os.environ.get("PARAMSTORE_SHUTDOWN_GRACE", "30")))
    #: a new store's first root key in a PKCS#11 token (RFC 7512 URI; docs/operations.md);
    #: an existing store's root versions are recorded in the store itself
    root_key_uri: Optional[str] = field(default_factory=lambda: os.environ.get("PARAMSTORE_ROOT_KEY_URI"))
    #: TLS (paramstore/tls.py): the server's certificate chain and key (PEM), and for mutual
    #: TLS the CA whose certificates clients must present
    tls_cert: Optional[Path] = field(default_factory=lambda: _path_env("PARAMSTORE_TLS_CERT"))
    tls_key: Optional[Path] = field(default_factory=lambda: _path_env("PARAMSTORE_TLS_KEY"))
    tls_client_ca: Optional[Path] = field(default_factory=lambda: _path_env("PARAMSTORE_TLS_CLIENT_CA"))
    #: the operator's Secrets Manager rotation targets (paramstore/secrets/rotation/targets.py)
    rotation_targets: Optional[Path] = field(default_factory=lambda: _path_env("PARAMSTORE_ROTATION_TARGETS"))
    #: server processes sharing the port (paramstore/server.py, `run`)
    workers: int = 1
    #: a throwaway store in a temporary directory (paramstore/ephemeral.py): its schema from
    #: the migrations' snapshot, its root key made for it (never from the environment)
    ephemeral: bool = False
    #: AWS request quotas (kms_core/protocol/throttling.py): off unless turned on, or any quota is set
    throttle: bool = field(default_factory=lambda: os.environ.get("PARAMSTORE_THROTTLE", "").lower()
                           in ("1", "on", "true", "aws"))
    #: quota overrides, "NAME=RATE[,NAME=RATE...]" (requests per second)
    quotas: str = field(default_factory=lambda: os.environ.get("PARAMSTORE_QUOTAS", ""))
    #: this process's share of each quota: 1/workers in a worker of `serve --workers N`
    throttle_share: float = 1.0
    #: Prometheus metrics (paramstore/metrics.py): on `/metrics` of the main port, or on
    #: their own port (then the main port has none); off with PARAMSTORE_METRICS=off
    metrics: bool = field(default_factory=lambda: os.environ.get("PARAMSTORE_METRICS", "").lower()
                          not in ("0", "off", "false"))
    metrics_port: Optional[int] = field(
        default_factory=lambda: int(os.environ["PARAMSTORE_METRICS_PORT"]) if os.environ.get(
            "PARAMSTORE_METRICS_PORT") else None)

    @classmethod
    def for_place(cls, data_dir: Optional[Path], database_url: Optional[str]) -> "Settings":
        """Settings for the operator commands: the environment's, with --data-dir and
        --database-url applied where given."""
        settings = cls()
        if data_dir is not None:
            settings.data_dir = data_dir
        if database_url is not None:
            settings.database_url = database_url
        return settings

    def for_workers(self) -> str:
        """These settings for the worker processes, as JSON: the parent has migrated,
        bootstrapped and seeded, so a worker only opens the store (and refuses a schema
        that is not current).  Secrets stay out: a worker reads them where the parent did
        (the environment, the data directory)."""
        worker = replace(self, migrate=False, seed_file=None, workers=1, throttle_share=1 / self.workers)
        return json.dumps({f.name: str(v) if isinstance(v := getattr(worker, f.name), Path) else v
                           for f in fields(worker) if f.name != "admin_secret_access_key"})

    @classmethod
    def of_worker(cls, text: str) -> "Settings":
        values = json.loads(text)
        for name in ("data_dir", "seed_file", "tls_cert", "tls_key", "tls_client_ca", "rotation_targets"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        return cls(**values)

    def create_data_dir(self) -> bool:
        """Make the data directory, mode 0700 whatever the umask (missing parents as the umask
        gives), unless it exists; True if this call made it.  An existing directory's mode is
        left alone (paramstore.bootstrap warns when others can reach it)."""
        path = Path(self.data_dir)
        if path.is_dir():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=DATA_DIR_MODE)
        except FileExistsError:  # another process was first (or a file is in the way)
            if not path.is_dir():
                raise
            return False
        os.chmod(path, DATA_DIR_MODE)
        return True

    def resolved_database_url(self) -> str:
        from kms_core.storage.connect import sqlite_url

        return self.database_url or sqlite_url(self.data_dir)
