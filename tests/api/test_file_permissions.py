"""The data directory is made 0700 and the files the server keeps in it 0600, whatever the
umask: the SQLite database (with its -wal and -shm) holds policies, names and the audit
trail; root.key and credentials are secrets.  Existing ones that others can reach are
reported at start, not changed."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest

from paramstore.bootstrap import Store, open_store, write_credentials_file
from paramstore.settings import Settings
from tests.conftest import ACCOUNT_ID, free_port

PRIVATE_FILES = ("paramstore.db", "paramstore.db-wal", "paramstore.db-shm", "paramstore-audit.db", "root.key",
                 "credentials")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(autouse=True)
def _no_paramstore_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("PARAMSTORE_")]:
        monkeypatch.delenv(name)


def _settings(data_dir: Path, database_url: Optional[str] = None) -> Settings:
    """No admin key given: the first start writes <data-dir>/credentials."""
    return Settings(data_dir=data_dir, database_url=database_url, account_id=ACCOUNT_ID,
                    admin_access_key_id=None, admin_secret_access_key=None)


def _open(data_dir: Path, database_url: Optional[str] = None) -> Store:
    return open_store(_settings(data_dir, database_url))


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "group or other users can reach it" in r.getMessage()]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000], ids=["umask022", "umask002", "umask000"])
def test_fresh_store_is_private_whatever_the_umask(tmp_path, caplog, umask):
    data_dir = tmp_path / "new" / "data"
    with _umask(umask), caplog.at_level(logging.WARNING, logger="paramstore"):
        store = _open(data_dir)
    try:
        assert store.credentials_file == data_dir / "credentials"
        assert _mode(data_dir) == 0o700
        for name in PRIVATE_FILES:  # -wal and -shm exist while the store has connections open
            assert (data_dir / name).exists(), name
            assert _mode(data_dir / name) == 0o600, (name, oct(_mode(data_dir / name)))
        assert _warnings(caplog) == []
    finally:
        store.db.dispose()


def test_fresh_store_on_postgres_keeps_the_key_and_credentials_private(tmp_path, fresh_postgres_url):
    data_dir = tmp_path / "data"
    with _umask(0o022):
        store = _open(data_dir, fresh_postgres_url)
    try:
        assert _mode(data_dir) == 0o700
        assert sorted(p.name for p in data_dir.iterdir()) == ["credentials", "root.key", "store.json"]
        assert _mode(data_dir / "root.key") == _mode(data_dir / "credentials") == _mode(data_dir / "store.json") \
            == 0o600
    finally:
        store.db.dispose()


def test_open_modes_are_reported_not_changed(tmp_path, caplog):
    data_dir = tmp_path / "data"
    with _umask(0o022):
        _open(data_dir).db.dispose()
        os.chmod(data_dir, 0o755)
        os.chmod(data_dir / "paramstore.db", 0o644)
        os.chmod(data_dir / "root.key", 0o640)
        with caplog.at_level(logging.WARNING, logger="paramstore"):
            store = _open(data_dir)
    try:
        warned = _warnings(caplog)
        assert f"data directory {data_dir} is mode 0755: group or other users can reach it (chmod 700 it)" in warned
        assert f"file {data_dir / 'paramstore.db'} is mode 0644: group or other users can reach it " \
               "(chmod 600 it)" in warned
        assert any(str(data_dir / "root.key") in w and "mode 0640" in w for w in warned), warned
        # SQLite gives the files it makes beside the database the database's mode
        assert any(str(data_dir / "paramstore.db-wal") in w and "mode 0644" in w for w in warned), warned
        assert not any(str(data_dir / "credentials") in w for w in warned), warned
        assert _mode(data_dir) == 0o755 and _mode(data_dir / "paramstore.db") == 0o644  # left alone
    finally:
        store.db.dispose()

    os.chmod(data_dir, 0o700)
    for name in ("paramstore.db", "root.key"):
        os.chmod(data_dir / name, 0o600)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="paramstore"):
        store = _open(data_dir)
    store.db.dispose()
    assert _warnings(caplog) == []


def test_credentials_file_rewritten_over_an_open_one_is_private(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("old\n")
    os.chmod(path, 0o644)
    write_credentials_file(path, "AKIAEXAMPLEEXAMPLE12", "secret")
    assert _mode(path) == 0o600
    assert "secret" in path.read_text()


def test_serve_makes_a_private_data_dir(tmp_path):
    """`paramstore serve` as an operator runs it, under umask 022, on a directory it creates."""
    data_dir = tmp_path / "serve" / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAMSTORE_")}
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "paramstore", "serve", "--port", str(port),
                                 "--data-dir", str(data_dir)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                umask=0o022)
        try:
            deadline = time.time() + 30
            while True:
                assert proc.poll() is None, log_path.read_text(errors="replace")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.time() < deadline, log_path.read_text(errors="replace")
                time.sleep(0.1)
            assert _mode(data_dir) == 0o700
            for name in PRIVATE_FILES:
                assert _mode(data_dir / name) == 0o600, (name, oct(_mode(data_dir / name)))
            assert _mode(data_dir.parent) == 0o755  # parents made as the umask says
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    assert "group or other users can reach it" not in log_path.read_text(errors="replace")
