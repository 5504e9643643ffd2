"""Ephemeral stores: `paramstore serve --ephemeral` and the pytest plugin's server.

A store for one run, in a new temporary directory that is removed, with everything in it,
when the run ends (SIGTERM and SIGINT included; only SIGKILL leaves it behind, under the
system's temp dir, named paramstore-ephemeral-*).  Nothing is written anywhere else: the
SQLite store, its audit trail, the store marker and the root key all live there.  The root
key is made for the store (PARAMSTORE_ROOT_KEY and PARAMSTORE_ROOT_KEY_URI are ignored);
the first account's root access key is PARAMSTORE_ADMIN_ACCESS_KEY_ID /
_SECRET_ACCESS_KEY, or one made for the run and printed.

The start is kept short for tests (docs/testing-apps.md has the figures): the schema comes
from the migrations' snapshot (kms_core/storage/sqlite_snapshot.py) instead of replaying
every migration, so alembic is never imported, and the socket is bound before the app is
built, so a client that connects early waits in the listen queue instead of being refused.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TextIO

from paramstore.bootstrap import StartupError, Store, open_store
from paramstore.settings import Settings

if TYPE_CHECKING:
    from kms_core.runtime import Runtime

log = logging.getLogger("paramstore")

TEMP_PREFIX = "paramstore-ephemeral-"
REGION = "us-east-1"
#: the inline policy of each account's `admin` user (create_account): everything in its account
ADMIN_POLICY = json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@dataclass(frozen=True)
class Credentials:
    """An access key and whose it is."""

    account_id: str
    access_key_id: str
    secret_access_key: str
    principal_arn: str


class EphemeralStore:
    """A new store in a new temporary directory; close() removes the directory."""

    def __init__(self, settings: Optional[Settings] = None, runtime: Optional[Runtime] = None) -> None:
        from kms_core.identity.store import new_access_key_id, new_secret_access_key

        base = settings or Settings()
        #: True when the first account's access key was made here (and is to be shown)
        self.generated_key = not (base.admin_access_key_id and base.admin_secret_access_key)
        access_key_id, secret = ((new_access_key_id(), new_secret_access_key()) if self.generated_key
                                 else (base.admin_access_key_id, base.admin_secret_access_key))
        self.directory = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        self.settings = replace(base, data_dir=self.directory, database_url=None, root_key_uri=None, migrate=True,
                                workers=1, ephemeral=True, admin_access_key_id=access_key_id,
                                admin_secret_access_key=secret)
        try:
            self.store: Store = open_store(self.settings, runtime)
        except BaseException:
            self.remove()
            raise
        self.admin = Credentials(self.settings.account_id, access_key_id, secret,
                                 f"arn:aws:iam::{self.settings.account_id}:root")

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            self.remove()


def create_account(store: Store, account_id: Optional[str] = None) -> Credentials:
    """A new account with one IAM user, `admin`, whose inline policy allows everything, and
    an access key for it: the identity an application under test usually has (a principal
    of its account, under IAM policy), made in one write transaction with no request.
    Run it where the store's writes run (EphemeralServer.create_account does)."""
    from kms_core.identity.store import new_access_key_id, new_secret_access_key
    from kms_core.storage.identities import reading
    from paramstore.seed import AccessKeySpec, AccountSpec, Seed, UserSpec, apply_seed

    if account_id is None:
        with reading(store.db) as rows:
            while account_id is None or rows.account_exists(account_id):
                account_id = str(secrets.randbelow(9 * 10**11) + 10**11)  # 12 digits, no leading 0
    access_key_id, secret = new_access_key_id(), new_secret_access_key()
    where = f"account {account_id}"
    admin = UserSpec(where=f"{where} user admin", name="admin", policies={"AdministratorAccess": ADMIN_POLICY},
                     access_keys=[AccessKeySpec(where=f"{where} access key", id=access_key_id, secret=secret)])
    report = apply_seed(store, Seed(accounts=[AccountSpec(where=where, id=account_id, users=[admin])]))
    if f"account {account_id}" not in report.created:
        raise ValueError(f"account {account_id} already exists")
    return Credentials(account_id, access_key_id, secret, f"arn:aws:iam::{account_id}:user/admin")


class EphemeralServer:
    """An ephemeral store served by uvicorn on a socket bound at once (port 0: a free port),
    in the foreground (`serve --ephemeral`) or on a thread of this process (the pytest plugin)."""

    def __init__(self, settings: Optional[Settings] = None, runtime: Optional[Runtime] = None,
                 uvicorn_options: Optional[dict[str, Any]] = None) -> None:
        import uvicorn

        from paramstore import tls
        from paramstore.server import create_app

        base = settings or Settings(port=0)
        self.ephemeral = EphemeralStore(base, runtime)
        self.socket: Optional[socket.socket] = None
        try:
            try:
                options = tls.uvicorn_options(base)
            except tls.TlsError as exc:
                raise StartupError(str(exc)) from None
            self.socket = _listen(base.host, base.port)
            host, port = self.socket.getsockname()[:2]
            scheme = "https" if "ssl_certfile" in options else "http"
            self.url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
            self.app = create_app(self.ephemeral.settings, runtime, store=self.ephemeral.store)
            options.update(host=base.host, port=port, loop="uvloop", http="httptools", ws="none",
                           log_level=base.log_level, access_log=base.access_log, server_header=False,
                           proxy_headers=False, timeout_graceful_shutdown=base.shutdown_grace_seconds)
            options.update(uvicorn_options or {})
            self.server = uvicorn.Server(uvicorn.Config(self.app, **options))
        except BaseException:
            if self.socket is not None:
                self.socket.close()
            self.ephemeral.close()
            raise
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def admin(self) -> Credentials:
        return self.ephemeral.admin

    @property
    def store(self) -> Store:
        return self.ephemeral.store

    def run(self) -> None:
        """Serve in the foreground until the server is told to stop; then remove the store."""
        try:
            self.server.run(sockets=[self._socket()])
        finally:
            self._close_store()

    def start(self, timeout: float = 30) -> "EphemeralServer":
        """Serve on a thread of this process; return once the server answers."""
        started = threading.Event()

        def serve() -> None:
            with asyncio.Runner() as runner:
                self._loop = runner.get_loop()
                started.set()
                runner.run(self.server.serve(sockets=[self._socket()]))

        self._thread = threading.Thread(target=serve, name="paramstore-ephemeral", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        started.wait(timeout)
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the ephemeral paramstore server did not start")
            self._thread.join(0.005)
        return self

    def create_account(self, account_id: Optional[str] = None) -> Credentials:
        """create_account on the server's database worker, the thread where its writes and
        cache refills run, so requests in flight never see a cache half-way through one."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            return create_account(self.store, account_id)
        make = functools.partial(create_account, self.store, account_id)
        return asyncio.run_coroutine_threadsafe(self.app.db_worker.run(make), self._loop).result()

    def close(self) -> None:
        """Stop serving (a background server), then remove the store and its directory."""
        if self._thread is not None and self._thread.is_alive():
            self.server.should_exit = True
            self._thread.join(timeout=30)
        self._close_store()

    def _socket(self) -> socket.socket:
        assert self.socket is not None
        return self.socket

    def _close_store(self) -> None:
        if self.socket is not None:
            self.socket.close()
        self.ephemeral.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket, bound now (uvicorn serves it when it is ready)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def exports(url: str, admin: Credentials, show_secret: bool) -> str:
    """Shell lines that point the AWS SDKs, the AWS CLI and `paramstore params` at the server."""
    lines = [f"export AWS_ACCESS_KEY_ID={admin.access_key_id}"]
    if show_secret:
        lines.append(f"export AWS_SECRET_ACCESS_KEY={admin.secret_access_key}")
    else:
        lines.append("# AWS_SECRET_ACCESS_KEY: the value of PARAMSTORE_ADMIN_SECRET_ACCESS_KEY")
    lines += [f"export AWS_DEFAULT_REGION={REGION}", f"export AWS_ENDPOINT_URL_KMS={url}",
              f"export AWS_ENDPOINT_URL_SSM={url}", f"export AWS_ENDPOINT_URL_SECRETS_MANAGER={url}",
              f"export PARAMSTORE_ENDPOINT_URL={url}"]
    return "\n".join(lines) + "\n"


def serve(settings: Settings, out: TextIO = sys.stdout) -> None:
    """`paramstore serve --ephemeral`: make the store, print how to reach it, serve until
    SIGTERM or SIGINT, then remove it."""
    from paramstore.server import _log_setup

    if settings.workers > 1:
        raise StartupError("--ephemeral runs one server process (drop --workers)")
    _log_setup(settings)
    server: Optional[EphemeralServer] = None

    def stop(_signum: int, _frame: Any) -> None:
        # Before uvicorn takes the signals over, stop where the start is (the store's
        # directory is removed on the way out); after it gives them back, it re-raises the
        # one that stopped it: nothing more to do then.
        if server is None:
            raise SystemExit(0)
        server.server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    server = EphemeralServer(settings)
    try:
        out.write(exports(server.url, server.admin, server.ephemeral.generated_key))
        out.flush()
        log.info("paramstore ephemeral store in %s (removed on exit), listening on %s", server.ephemeral.directory,
                 server.url)
    except BaseException:
        server.close()
        raise
    server.run()
