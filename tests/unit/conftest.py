"""Fixtures the audit trail's unit tests share: a migrated store on each backend and a
fresh root key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kms_core.crypto.root import RootKey
from kms_core.storage import migrate
from kms_core.storage.connect import sqlite_url
from kms_core.storage.session import Database


@pytest.fixture
def db(fresh_database, tmp_path: Path):
    """A migrated store: SQLite in the test's own directory, or a fresh PostgreSQL database
    (a module may override it, as test_audit_chain.py does with SQLite alone)."""
    database = Database(fresh_database[1] or sqlite_url(tmp_path))
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def root() -> RootKey:
    return RootKey(os.urandom(32), "test")
